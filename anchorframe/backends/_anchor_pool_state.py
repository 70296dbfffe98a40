"""What one run's Anchor pool holds, and how it lets all of it go.

Owns the pool's state (its client, the batches it created with their last known status,
the sessions live now, the async session requests still coming, the retry bookkeeping)
and its release: every session the run saw is ended, batches still provisioning are
cancelled, on success, error, cancellation and at interpreter exit (the pool is in the
exit registry while it is open).

The layers above add to this class: :mod:`._anchor_replace` the replacement of failed
sessions, :mod:`._anchor_pool` the provisioning of batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from ..client import AsyncAnchorClient
from ..errors import AnchorAPIError
from ._base import SessionHandle, SessionPool
from ._release import REGISTRY

if TYPE_CHECKING:
    from .._core.plan import Plan
    from .anchor import AnchorBackend

__all__ = ["TERMINAL", "AnchorPoolState"]

log = logging.getLogger("anchorframe")

#: The statuses after which a batch starts no more sessions.
TERMINAL = {"completed", "failed", "cancelled"}


class AnchorPoolState(SessionPool):
    """The state of one run's pool and its release (provisioning is left to subclasses)."""

    def __init__(self, backend: AnchorBackend, run_id: str, plan: Plan | None) -> None:
        self._backend = backend
        self._run_id = run_id
        self._plan = plan
        self._configuration = backend.batch_configuration(run_id, plan)
        self._client: AsyncAnchorClient | None = None
        self._batches: dict[str, str] = {}  # batch id -> last known status
        self._live: dict[str, float] = {}  # session id -> ready time
        self._ended: set[str] = set()
        self._async_requests: set[str] = set()
        self._retry_wanted: dict[str, int] = {}
        self._retries_done: dict[str, int] = {}
        self._closed = False
        # Set when the account refused to spend more (402/403): nothing more is asked for.
        self._cost_stopped = False
        REGISTRY.add(self, self.end_all_sync)

    @property
    def client(self) -> AsyncAnchorClient:
        if self._client is None:
            self._client = self._backend.client()
        return self._client

    async def _end(self, session_id: str) -> None:
        if session_id in self._ended:
            return
        self._ended.add(session_id)
        self._live.pop(session_id, None)
        try:
            if self._client is None and self._closed:
                # Seen after the pool closed (a late poll): end it with a short-lived client.
                async with self._backend.client() as client:
                    await client.end_session(session_id)
            else:
                await self.client.end_session(session_id)
        except AnchorAPIError as exc:
            if exc.status_code in (401, 404):
                return  # already gone: the API answers 401 "Invalid API Key or browser session ID"
            log.warning("Could not end Anchor session %s: %s", session_id, exc)

    async def end_session(self, handle: SessionHandle) -> None:
        await self._end(handle.session_id)

    async def aclose(self) -> None:
        if self._closed and self._client is None:
            return
        self._closed = True
        try:
            if self._client is not None:
                for batch_id, status in list(self._batches.items()):
                    if status not in TERMINAL:
                        with contextlib.suppress(AnchorAPIError):
                            await self.client.cancel_batch(batch_id)
                await asyncio.gather(*(self._end(s) for s in list(self._live)), return_exceptions=True)
                await self._settle()
        finally:
            if self._client is not None:
                await self._client.aclose()
                self._client = None
            REGISTRY.discard(self)

    async def _settle(self) -> None:
        """End sessions that became ready after the cancel, and async sessions still coming."""
        for batch_id in list(self._batches):
            with contextlib.suppress(AnchorAPIError):
                batch = await self.client.get_batch(batch_id)
                for item in batch.sessions:
                    if item.session_id and (item.status or "").lower() == "completed":
                        await self._end(item.session_id)
        for request_id in list(self._async_requests):
            with contextlib.suppress(AnchorAPIError):
                status = await self.client.get_async_session(request_id)
                if status.session is not None and status.session.session_id:
                    await self._end(status.session.session_id)

    def end_all_sync(self) -> None:
        """Blocking release for interpreter exit (the event loop may be gone)."""
        if self._closed and not self._live:
            return
        self._closed = True
        with contextlib.suppress(Exception), self._backend.sync_client() as client:
            for batch_id, status in list(self._batches.items()):
                if status not in TERMINAL:
                    with contextlib.suppress(AnchorAPIError):
                        client.cancel_batch(batch_id)
            for session_id in list(self._live):
                with contextlib.suppress(AnchorAPIError):
                    client.end_session(session_id)
