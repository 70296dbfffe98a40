"""A typed client for Anchor Browser's batch, async-session and session-listing REST API.

``AnchorClient`` (sync) and ``AsyncAnchorClient`` (asyncio) share one implementation:
the calls are generator flows (``_flows``, ``_creates``) over a sans-I/O core
(``_core``); each endpoint is described once (``_client``) and becomes a method of both
clients (``_methods``), whose two thin drivers carry out the flows' I/O (``_drivers``).
Errors are the classes of :mod:`anchorframe.errors`.
"""

from ._client import AnchorClient, AsyncAnchorClient
from ._core import DEFAULT_BASE_URL, REQUEST_TAG_PREFIX, REQUEST_TOKEN_KEY
from ._models import (
    AsyncSessionCreated,
    AsyncSessionStatus,
    Batch,
    BatchCancelled,
    BatchCreated,
    BatchDeleted,
    BatchPage,
    BatchProgress,
    BatchRetried,
    BatchSummary,
    Pagination,
    SessionDetail,
    SessionEnded,
    SessionItem,
    SessionPage,
    SessionStatusList,
    SessionSummary,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "REQUEST_TAG_PREFIX",
    "REQUEST_TOKEN_KEY",
    "AnchorClient",
    "AsyncAnchorClient",
    "AsyncSessionCreated",
    "AsyncSessionStatus",
    "Batch",
    "BatchCancelled",
    "BatchCreated",
    "BatchDeleted",
    "BatchPage",
    "BatchProgress",
    "BatchRetried",
    "BatchSummary",
    "Pagination",
    "SessionDetail",
    "SessionEnded",
    "SessionItem",
    "SessionPage",
    "SessionStatusList",
    "SessionSummary",
]
