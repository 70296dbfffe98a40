"""``AnchorClient`` and ``AsyncAnchorClient``: every endpoint described once.

``_Endpoints`` holds one method per endpoint, with its typed signature and its
docstring; its body only builds the call's flow (``_flows``, ``_creates``), which does
no I/O. ``@endpoint`` and ``@listing`` (``_methods``) make each description a method of
both clients: ``AnchorClient`` runs the flow with an httpx.Client, ``AsyncAnchorClient``
awaits it with an httpx.AsyncClient (``_drivers``). Nothing is written out twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from . import _creates, _flows
from ._drivers import AsyncDriver, ClientBase, Seconds, SyncDriver, as_seconds
from ._flows import Flow, Items
from ._methods import endpoint, listing
from ._models import (
    AsyncSessionCreated,
    AsyncSessionStatus,
    Batch,
    BatchCancelled,
    BatchCreated,
    BatchDeleted,
    BatchPage,
    BatchRetried,
    BatchSummary,
    SessionDetail,
    SessionEnded,
    SessionPage,
    SessionStatusList,
    SessionSummary,
)

__all__ = ["AnchorClient", "AsyncAnchorClient"]

Tags = str | list[str] | tuple[str, ...] | None


class _Endpoints(ClientBase):
    """The endpoints of the API, each described once as the flow that carries it out.

    The docstrings are the sync client's; ``AsyncAnchorClient``'s methods point to them.
    """

    # --- batches ------------------------------------------------------------------------

    @endpoint
    def create_batch(
        self,
        count: int,
        *,
        configuration: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        request_token: str | None = None,
    ) -> Flow[BatchCreated]:
        """Create a batch of ``count`` sessions (1..1000); never creates it twice.

        Example:
            >>> client.create_batch(4, metadata={"run": "r1"}).batch_id  # doctest: +SKIP
            '3c90c3cc-0d44-4b50-8888-8dd25736052a'
        """
        return _creates.create_batch(
            self._config,
            count,
            configuration=configuration,
            metadata=metadata,
            request_token=request_token,
        )

    @endpoint
    def get_batch(self, batch_id: str) -> Flow[Batch]:
        """One poll of a batch: its status, counts, progress and sessions."""
        return _flows.get_batch(self._config, batch_id)

    @endpoint
    def list_batches(
        self,
        *,
        status: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> Flow[BatchPage]:
        """One page of batches, newest first on the emulator; ``limit`` is 1..100."""
        return _flows.list_batches(
            self._config,
            status=status,
            created_after=created_after,
            created_before=created_before,
            page=page,
            limit=limit,
        )

    @listing
    def iter_batches(
        self,
        *,
        status: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int = 100,
    ) -> Items[BatchSummary]:
        """Every batch matching the filters, page after page."""
        return _flows.iter_batches(
            self._config,
            status=status,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
        )

    @endpoint
    def cancel_batch(self, batch_id: str) -> Flow[BatchCancelled]:
        """Cancel a batch and end its running sessions (``PATCH`` status cancelled)."""
        return _flows.cancel_batch(self._config, batch_id)

    @endpoint
    def delete_batch(self, batch_id: str) -> Flow[BatchDeleted]:
        """End and delete every session of a batch."""
        return _flows.delete_batch(self._config, batch_id)

    @endpoint
    def retry_batch(
        self, batch_id: str, *, retry_failed_only: bool = True, max_retries: int = 1
    ) -> Flow[BatchRetried]:
        """Provision the failed sessions of a batch again (up to ``max_retries``, 1..3, each)."""
        return _flows.retry_batch(
            self._config, batch_id, retry_failed_only=retry_failed_only, max_retries=max_retries
        )

    @endpoint
    def wait_batch(
        self,
        batch_id: str,
        *,
        initial_interval: Seconds = 5.0,
        factor: float = 1.5,
        max_interval: Seconds = 30.0,
        timeout: Seconds = 600.0,
        on_progress: Callable[[Batch], Any] | None = None,
    ) -> Flow[Batch]:
        """Poll until the batch is completed, failed or cancelled (5 s, x1.5, up to 30 s).

        Raises:
            WaitTimeoutError: past ``timeout``, saying how many sessions were ready.
        """
        return _flows.wait_batch(
            self._config,
            batch_id,
            initial_interval=as_seconds(initial_interval, "initial_interval"),
            factor=factor,
            max_interval=as_seconds(max_interval, "max_interval"),
            timeout=as_seconds(timeout, "timeout"),
            on_progress=on_progress,
        )

    # --- async sessions and sessions -----------------------------------------------------

    @endpoint
    def create_async_session(
        self,
        *,
        session: Mapping[str, Any] | None = None,
        browser: Mapping[str, Any] | None = None,
        integrations: list[Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        request_token: str | None = None,
    ) -> Flow[AsyncSessionCreated]:
        """Ask for one session provisioned in the background; poll it by ``request_id``."""
        return _creates.create_async_session(
            self._config,
            session=session,
            browser=browser,
            integrations=integrations,
            extra_body=extra_body,
            request_token=request_token,
        )

    @endpoint
    def get_async_session(self, request_id: str) -> Flow[AsyncSessionStatus]:
        """One poll of an async session request."""
        return _flows.get_async_session(self._config, request_id)

    @endpoint
    def wait_async_session(
        self,
        request_id: str,
        *,
        initial_interval: Seconds = 3.0,
        factor: float = 1.5,
        max_interval: Seconds = 15.0,
        timeout: Seconds = 300.0,
        on_progress: Callable[[AsyncSessionStatus], Any] | None = None,
    ) -> Flow[AsyncSessionStatus]:
        """Poll until the request is ready (or completed, failed, cancelled)."""
        return _flows.wait_async_session(
            self._config,
            request_id,
            initial_interval=as_seconds(initial_interval, "initial_interval"),
            factor=factor,
            max_interval=as_seconds(max_interval, "max_interval"),
            timeout=as_seconds(timeout, "timeout"),
            on_progress=on_progress,
        )

    @endpoint
    def end_session(self, session_id: str) -> Flow[SessionEnded]:
        """End one browser session (``DELETE /v1/sessions/{id}``)."""
        return _flows.end_session(self._config, session_id)

    # --- session listings ----------------------------------------------------------------

    @endpoint
    def list_sessions(
        self,
        *,
        tags: Tags = None,
        status: str | None = None,
        batch_id: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
        page: int = 1,
        limit: int = 50,
    ) -> Flow[SessionPage]:
        """One page of sessions (``GET /v1/sessions``) having every tag in ``tags``; limit 10, 20 or 50.

        Example:
            >>> page = client.list_sessions(tags=["anchorframe-run-abc"])  # doctest: +SKIP
            >>> [s.session_id for s in page.sessions if s.is_live]  # doctest: +SKIP
        """
        return _flows.list_sessions(
            self._config,
            tags=tags,
            status=status,
            batch_id=batch_id,
            created_from=created_from,
            created_to=created_to,
            page=page,
            limit=limit,
        )

    @listing
    def iter_sessions(
        self,
        *,
        tags: Tags = None,
        status: str | None = None,
        batch_id: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
    ) -> Items[SessionSummary]:
        """Every session matching the filters, page after page."""
        return _flows.iter_sessions(
            self._config,
            tags=tags,
            status=status,
            batch_id=batch_id,
            created_from=created_from,
            created_to=created_to,
        )

    @endpoint
    def all_sessions_status(
        self,
        *,
        tags: Tags = None,
        batch_id: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
    ) -> Flow[SessionStatusList]:
        """Status of every session of the key with all of ``tags`` (``GET /v1/sessions/all/status``)."""
        return _flows.all_sessions_status(
            self._config, tags=tags, batch_id=batch_id, created_from=created_from, created_to=created_to
        )

    @endpoint
    def get_session(self, session_id: str) -> Flow[SessionDetail]:
        """One session's status, duration and configuration (``GET /v1/sessions/{id}``)."""
        return _flows.get_session(self._config, session_id)


class AnchorClient(_Endpoints, SyncDriver):
    """A typed client for the Anchor Browser batch and async-session API.

    Args:
        api_key: the key; else ``ANCHOR_API_KEY`` or ``ANCHORBROWSER_API_KEY``.
        base_url: else ``ANCHOR_BASE_URL`` or ``ANCHORBROWSER_BASE_URL``, else the vendor's.
        timeout: seconds for one HTTP request.
        max_retries: re-sends of a safe call after 429, 5xx or a connection failure.
        retry_initial_delay, retry_max_delay: the jittered backoff between attempts.

    Example:
        >>> with AnchorClient() as client:  # doctest: +SKIP
        ...     created = client.create_batch(4, metadata={"run": "r1"})
        ...     batch = client.wait_batch(created.batch_id, timeout=300)
        ...     urls = [s.cdp_url for s in batch.ready_sessions]
    """


class AsyncAnchorClient(_Endpoints, AsyncDriver):
    """The asyncio twin of :class:`AnchorClient`: same methods, awaited.

    ``on_progress`` callbacks may be plain functions or coroutine functions.

    Example:
        >>> async with AsyncAnchorClient() as client:  # doctest: +SKIP
        ...     created = await client.create_batch(4)
        ...     batch = await client.wait_batch(created.batch_id)
    """
