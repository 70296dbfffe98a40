"""``AnchorClient`` and ``AsyncAnchorClient``: thin drivers around the flows.

Each public method builds a flow from ``_flows`` and hands it to a driver that sends
its requests with httpx and sleeps with ``time.sleep`` or ``asyncio.sleep``. The
logic of a call (retries, reconciliation, polling) lives once, in the flow; the two
classes only spell out the typed signatures.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ..errors import AnchorAPIError
from . import _flows
from ._core import (
    ApiRequest,
    ApiResponse,
    ClientConfig,
    error_from_transport,
    resolve_api_key,
    resolve_base_url,
    safe_url,
)
from ._flows import Emit, Flow, Notify, Op, Send, Sleep
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

Tags = str | list[str] | tuple[str, ...] | None

__all__ = ["AnchorClient", "AsyncAnchorClient"]

logger = logging.getLogger("anchorframe.client")

_T = TypeVar("_T")
Seconds = float | timedelta


def _seconds(value: Seconds, name: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise ValueError(f"{name} must not be negative, got {seconds:g}.")
    return seconds


class _ClientBase:
    """Configuration shared by both clients; no I/O."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: Seconds = 30.0,
        max_retries: int = 3,
        retry_initial_delay: Seconds = 0.5,
        retry_max_delay: Seconds = 8.0,
        max_retry_after: Seconds = 60.0,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}.")
        self._config = ClientConfig(
            api_key=resolve_api_key(api_key),
            base_url=resolve_base_url(base_url),
            timeout=_seconds(timeout, "timeout"),
            max_retries=max_retries,
            retry_initial_delay=_seconds(retry_initial_delay, "retry_initial_delay"),
            retry_max_delay=_seconds(retry_max_delay, "retry_max_delay"),
            max_retry_after=_seconds(max_retry_after, "max_retry_after"),
        )
        self._closed = False
        self._open()

    def _open(self) -> None:
        raise NotImplementedError  # pragma: no cover

    @property
    def base_url(self) -> str:
        return self._config.base_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={safe_url(self._config.base_url)!r})"

    def _http_options(self) -> dict[str, Any]:
        return {
            "base_url": self._config.base_url,
            "headers": self._config.headers(),
            "timeout": httpx.Timeout(self._config.timeout),
            "follow_redirects": False,
        }

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Cannot send a request, as the client has been closed. Create a new client.")

    def _log(self, request: ApiRequest, status: int | str, elapsed: float) -> None:
        logger.debug("%s -> %s in %.3f s", request.label, status, elapsed)

    def _transport_error(
        self, request: ApiRequest, exc: httpx.TransportError, elapsed: float
    ) -> AnchorAPIError:
        self._log(request, type(exc).__name__, elapsed)
        error = error_from_transport(request, exc, self._config.timeout)
        # Not chained to the httpx exception: it holds the request and so the key header.
        error.__suppress_context__ = True
        return error

    @staticmethod
    def _start(flow: Flow[Any], value: Any, error: BaseException | None) -> Op:
        return flow.throw(error) if error is not None else flow.send(value)


class AnchorClient(_ClientBase):
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

    def _open(self) -> None:
        self._http = httpx.Client(**self._http_options())

    # --- the driver ---------------------------------------------------------------------

    def _send(self, request: ApiRequest) -> ApiResponse:
        self._check_open()
        started = time.monotonic()
        failure: AnchorAPIError | None = None
        try:
            response = self._http.request(
                request.method, request.path, params=request.query(), json=request.json
            )
        except httpx.TransportError as exc:
            failure = self._transport_error(request, exc, time.monotonic() - started)
        if failure is not None:
            # Raised outside the handler so that it has no __context__: httpx's exception holds
            # the request and its headers (the API key), and pickles that carry the chain
            # (tblib's, installed by Dask) would carry the key with it.
            raise failure
        elapsed = time.monotonic() - started
        self._log(request, response.status_code, elapsed)
        return ApiResponse.from_httpx(response, elapsed)

    def _perform(self, op: Op) -> tuple[Any, BaseException | None]:
        if isinstance(op, Send):
            try:
                return self._send(op.request), None
            except AnchorAPIError as error:
                return None, error
        if isinstance(op, Sleep):
            time.sleep(op.seconds)
        elif isinstance(op, Notify):
            op.callback(op.payload)
        return None, None

    def _run(self, flow: Flow[_T]) -> _T:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = self._start(flow, value, error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if isinstance(op, Emit):
                raise RuntimeError("This call does not produce items; use an iter_* method.")
            value, error = self._perform(op)

    def _iterate(self, flow: Flow[Any]) -> Iterator[Any]:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = self._start(flow, value, error)
            except StopIteration:
                return
            if isinstance(op, Emit):
                value, error = None, None
                yield op.item
            else:
                value, error = self._perform(op)

    def close(self) -> None:
        """Close the connection pool. Idempotent."""
        self._closed = True
        self._http.close()

    def __enter__(self) -> AnchorClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- batches ------------------------------------------------------------------------

    def create_batch(
        self,
        count: int,
        *,
        configuration: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        request_token: str | None = None,
    ) -> BatchCreated:
        """Create a batch of ``count`` sessions (1..1000); never creates it twice.

        Example:
            >>> client.create_batch(4, metadata={"run": "r1"}).batch_id  # doctest: +SKIP
            '3c90c3cc-0d44-4b50-8888-8dd25736052a'
        """
        return self._run(
            _flows.create_batch(
                self._config,
                count,
                configuration=configuration,
                metadata=metadata,
                request_token=request_token,
            )
        )

    def get_batch(self, batch_id: str) -> Batch:
        """One poll of a batch: its status, counts, progress and sessions."""
        return self._run(_flows.get_batch(self._config, batch_id))

    def list_batches(
        self,
        *,
        status: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> BatchPage:
        """One page of batches, newest first on the emulator; ``limit`` is 1..100."""
        return self._run(
            _flows.list_batches(
                self._config,
                status=status,
                created_after=created_after,
                created_before=created_before,
                page=page,
                limit=limit,
            )
        )

    def iter_batches(
        self,
        *,
        status: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int = 100,
    ) -> Iterator[BatchSummary]:
        """Every batch matching the filters, page after page."""
        return self._iterate(
            _flows.iter_batches(
                self._config,
                status=status,
                created_after=created_after,
                created_before=created_before,
                limit=limit,
            )
        )

    def cancel_batch(self, batch_id: str) -> BatchCancelled:
        """Cancel a batch and end its running sessions (``PATCH`` status cancelled)."""
        return self._run(_flows.cancel_batch(self._config, batch_id))

    def delete_batch(self, batch_id: str) -> BatchDeleted:
        """End and delete every session of a batch."""
        return self._run(_flows.delete_batch(self._config, batch_id))

    def retry_batch(
        self, batch_id: str, *, retry_failed_only: bool = True, max_retries: int = 1
    ) -> BatchRetried:
        """Provision the failed sessions of a batch again (up to ``max_retries``, 1..3, each)."""
        return self._run(
            _flows.retry_batch(
                self._config, batch_id, retry_failed_only=retry_failed_only, max_retries=max_retries
            )
        )

    def wait_batch(
        self,
        batch_id: str,
        *,
        initial_interval: Seconds = 5.0,
        factor: float = 1.5,
        max_interval: Seconds = 30.0,
        timeout: Seconds = 600.0,
        on_progress: Callable[[Batch], Any] | None = None,
    ) -> Batch:
        """Poll until the batch is completed, failed or cancelled (5 s, x1.5, up to 30 s).

        Raises:
            WaitTimeoutError: past ``timeout``, saying how many sessions were ready.
        """
        return self._run(
            _flows.wait_batch(
                self._config,
                batch_id,
                initial_interval=_seconds(initial_interval, "initial_interval"),
                factor=factor,
                max_interval=_seconds(max_interval, "max_interval"),
                timeout=_seconds(timeout, "timeout"),
                on_progress=on_progress,
            )
        )

    # --- async sessions and sessions -----------------------------------------------------

    def create_async_session(
        self,
        *,
        session: Mapping[str, Any] | None = None,
        browser: Mapping[str, Any] | None = None,
        integrations: list[Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        request_token: str | None = None,
    ) -> AsyncSessionCreated:
        """Ask for one session provisioned in the background; poll it by ``request_id``."""
        return self._run(
            _flows.create_async_session(
                self._config,
                session=session,
                browser=browser,
                integrations=integrations,
                extra_body=extra_body,
                request_token=request_token,
            )
        )

    def get_async_session(self, request_id: str) -> AsyncSessionStatus:
        """One poll of an async session request."""
        return self._run(_flows.get_async_session(self._config, request_id))

    def wait_async_session(
        self,
        request_id: str,
        *,
        initial_interval: Seconds = 3.0,
        factor: float = 1.5,
        max_interval: Seconds = 15.0,
        timeout: Seconds = 300.0,
        on_progress: Callable[[AsyncSessionStatus], Any] | None = None,
    ) -> AsyncSessionStatus:
        """Poll until the request is ready (or completed, failed, cancelled)."""
        return self._run(
            _flows.wait_async_session(
                self._config,
                request_id,
                initial_interval=_seconds(initial_interval, "initial_interval"),
                factor=factor,
                max_interval=_seconds(max_interval, "max_interval"),
                timeout=_seconds(timeout, "timeout"),
                on_progress=on_progress,
            )
        )

    def end_session(self, session_id: str) -> SessionEnded:
        """End one browser session (``DELETE /v1/sessions/{id}``)."""
        return self._run(_flows.end_session(self._config, session_id))

    # --- session listings ----------------------------------------------------------------

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
    ) -> SessionPage:
        """One page of sessions (``GET /v1/sessions``) having every tag in ``tags``; limit 10, 20 or 50.

        Example:
            >>> page = client.list_sessions(tags=["anchorframe-run-abc"])  # doctest: +SKIP
            >>> [s.session_id for s in page.sessions if s.is_live]  # doctest: +SKIP
        """
        return self._run(
            _flows.list_sessions(
                self._config,
                tags=tags,
                status=status,
                batch_id=batch_id,
                created_from=created_from,
                created_to=created_to,
                page=page,
                limit=limit,
            )
        )

    def iter_sessions(
        self,
        *,
        tags: Tags = None,
        status: str | None = None,
        batch_id: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
    ) -> Iterator[SessionSummary]:
        """Every session matching the filters, page after page."""
        return self._iterate(
            _flows.iter_sessions(
                self._config,
                tags=tags,
                status=status,
                batch_id=batch_id,
                created_from=created_from,
                created_to=created_to,
            )
        )

    def all_sessions_status(
        self,
        *,
        tags: Tags = None,
        batch_id: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
    ) -> SessionStatusList:
        """Status of every session of the key with all of ``tags`` (``GET /v1/sessions/all/status``)."""
        return self._run(
            _flows.all_sessions_status(
                self._config, tags=tags, batch_id=batch_id, created_from=created_from, created_to=created_to
            )
        )

    def get_session(self, session_id: str) -> SessionDetail:
        """One session's status, duration and configuration (``GET /v1/sessions/{id}``)."""
        return self._run(_flows.get_session(self._config, session_id))


class AsyncAnchorClient(_ClientBase):
    """The asyncio twin of :class:`AnchorClient`: same methods, awaited.

    ``on_progress`` callbacks may be plain functions or coroutine functions.

    Example:
        >>> async with AsyncAnchorClient() as client:  # doctest: +SKIP
        ...     created = await client.create_batch(4)
        ...     batch = await client.wait_batch(created.batch_id)
    """

    def _open(self) -> None:
        self._http = httpx.AsyncClient(**self._http_options())

    # --- the driver ---------------------------------------------------------------------

    async def _send(self, request: ApiRequest) -> ApiResponse:
        self._check_open()
        started = time.monotonic()
        failure: AnchorAPIError | None = None
        try:
            response = await self._http.request(
                request.method, request.path, params=request.query(), json=request.json
            )
        except httpx.TransportError as exc:
            failure = self._transport_error(request, exc, time.monotonic() - started)
        if failure is not None:
            # Raised outside the handler so that it has no __context__: httpx's exception holds
            # the request and its headers (the API key), and pickles that carry the chain
            # (tblib's, installed by Dask) would carry the key with it.
            raise failure
        elapsed = time.monotonic() - started
        self._log(request, response.status_code, elapsed)
        return ApiResponse.from_httpx(response, elapsed)

    async def _perform(self, op: Op) -> tuple[Any, BaseException | None]:
        if isinstance(op, Send):
            try:
                return await self._send(op.request), None
            except AnchorAPIError as error:
                return None, error
        if isinstance(op, Sleep):
            await asyncio.sleep(op.seconds)
        elif isinstance(op, Notify):
            result = op.callback(op.payload)
            if inspect.isawaitable(result):
                await result
        return None, None

    async def _run(self, flow: Flow[_T]) -> _T:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = self._start(flow, value, error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if isinstance(op, Emit):
                raise RuntimeError("This call does not produce items; use an iter_* method.")
            value, error = await self._perform(op)

    async def _iterate(self, flow: Flow[Any]) -> AsyncIterator[Any]:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = self._start(flow, value, error)
            except StopIteration:
                return
            if isinstance(op, Emit):
                value, error = None, None
                yield op.item
            else:
                value, error = await self._perform(op)

    async def aclose(self) -> None:
        """Close the connection pool. Idempotent."""
        self._closed = True
        await self._http.aclose()

    async def __aenter__(self) -> AsyncAnchorClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- batches ------------------------------------------------------------------------

    async def create_batch(
        self,
        count: int,
        *,
        configuration: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        request_token: str | None = None,
    ) -> BatchCreated:
        """See :meth:`AnchorClient.create_batch`."""
        return await self._run(
            _flows.create_batch(
                self._config,
                count,
                configuration=configuration,
                metadata=metadata,
                request_token=request_token,
            )
        )

    async def get_batch(self, batch_id: str) -> Batch:
        """See :meth:`AnchorClient.get_batch`."""
        return await self._run(_flows.get_batch(self._config, batch_id))

    async def list_batches(
        self,
        *,
        status: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> BatchPage:
        """See :meth:`AnchorClient.list_batches`."""
        return await self._run(
            _flows.list_batches(
                self._config,
                status=status,
                created_after=created_after,
                created_before=created_before,
                page=page,
                limit=limit,
            )
        )

    def iter_batches(
        self,
        *,
        status: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int = 100,
    ) -> AsyncIterator[BatchSummary]:
        """See :meth:`AnchorClient.iter_batches` (use with ``async for``)."""
        return self._iterate(
            _flows.iter_batches(
                self._config,
                status=status,
                created_after=created_after,
                created_before=created_before,
                limit=limit,
            )
        )

    async def cancel_batch(self, batch_id: str) -> BatchCancelled:
        """See :meth:`AnchorClient.cancel_batch`."""
        return await self._run(_flows.cancel_batch(self._config, batch_id))

    async def delete_batch(self, batch_id: str) -> BatchDeleted:
        """See :meth:`AnchorClient.delete_batch`."""
        return await self._run(_flows.delete_batch(self._config, batch_id))

    async def retry_batch(
        self, batch_id: str, *, retry_failed_only: bool = True, max_retries: int = 1
    ) -> BatchRetried:
        """See :meth:`AnchorClient.retry_batch`."""
        return await self._run(
            _flows.retry_batch(
                self._config, batch_id, retry_failed_only=retry_failed_only, max_retries=max_retries
            )
        )

    async def wait_batch(
        self,
        batch_id: str,
        *,
        initial_interval: Seconds = 5.0,
        factor: float = 1.5,
        max_interval: Seconds = 30.0,
        timeout: Seconds = 600.0,
        on_progress: Callable[[Batch], Any] | None = None,
    ) -> Batch:
        """See :meth:`AnchorClient.wait_batch`."""
        return await self._run(
            _flows.wait_batch(
                self._config,
                batch_id,
                initial_interval=_seconds(initial_interval, "initial_interval"),
                factor=factor,
                max_interval=_seconds(max_interval, "max_interval"),
                timeout=_seconds(timeout, "timeout"),
                on_progress=on_progress,
            )
        )

    # --- async sessions and sessions -----------------------------------------------------

    async def create_async_session(
        self,
        *,
        session: Mapping[str, Any] | None = None,
        browser: Mapping[str, Any] | None = None,
        integrations: list[Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        request_token: str | None = None,
    ) -> AsyncSessionCreated:
        """See :meth:`AnchorClient.create_async_session`."""
        return await self._run(
            _flows.create_async_session(
                self._config,
                session=session,
                browser=browser,
                integrations=integrations,
                extra_body=extra_body,
                request_token=request_token,
            )
        )

    async def get_async_session(self, request_id: str) -> AsyncSessionStatus:
        """See :meth:`AnchorClient.get_async_session`."""
        return await self._run(_flows.get_async_session(self._config, request_id))

    async def wait_async_session(
        self,
        request_id: str,
        *,
        initial_interval: Seconds = 3.0,
        factor: float = 1.5,
        max_interval: Seconds = 15.0,
        timeout: Seconds = 300.0,
        on_progress: Callable[[AsyncSessionStatus], Any] | None = None,
    ) -> AsyncSessionStatus:
        """See :meth:`AnchorClient.wait_async_session`."""
        return await self._run(
            _flows.wait_async_session(
                self._config,
                request_id,
                initial_interval=_seconds(initial_interval, "initial_interval"),
                factor=factor,
                max_interval=_seconds(max_interval, "max_interval"),
                timeout=_seconds(timeout, "timeout"),
                on_progress=on_progress,
            )
        )

    async def end_session(self, session_id: str) -> SessionEnded:
        """See :meth:`AnchorClient.end_session`."""
        return await self._run(_flows.end_session(self._config, session_id))

    # --- session listings ----------------------------------------------------------------

    async def list_sessions(
        self,
        *,
        tags: Tags = None,
        status: str | None = None,
        batch_id: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
        page: int = 1,
        limit: int = 50,
    ) -> SessionPage:
        """See :meth:`AnchorClient.list_sessions`."""
        return await self._run(
            _flows.list_sessions(
                self._config,
                tags=tags,
                status=status,
                batch_id=batch_id,
                created_from=created_from,
                created_to=created_to,
                page=page,
                limit=limit,
            )
        )

    def iter_sessions(
        self,
        *,
        tags: Tags = None,
        status: str | None = None,
        batch_id: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
    ) -> AsyncIterator[SessionSummary]:
        """See :meth:`AnchorClient.iter_sessions` (use with ``async for``)."""
        return self._iterate(
            _flows.iter_sessions(
                self._config,
                tags=tags,
                status=status,
                batch_id=batch_id,
                created_from=created_from,
                created_to=created_to,
            )
        )

    async def all_sessions_status(
        self,
        *,
        tags: Tags = None,
        batch_id: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
    ) -> SessionStatusList:
        """See :meth:`AnchorClient.all_sessions_status`."""
        return await self._run(
            _flows.all_sessions_status(
                self._config, tags=tags, batch_id=batch_id, created_from=created_from, created_to=created_to
            )
        )

    async def get_session(self, session_id: str) -> SessionDetail:
        """See :meth:`AnchorClient.get_session`."""
        return await self._run(_flows.get_session(self._config, session_id))
