"""The two drivers: they carry out what a flow asks for, and nothing else.

``SyncDriver`` sends a flow's requests with an :class:`httpx.Client` and sleeps with
``time.sleep``; ``AsyncDriver`` sends them with an :class:`httpx.AsyncClient` and sleeps
with ``asyncio.sleep``. What a call does (retries, reconciliation, polling) is decided
by its flow (``_flows``, ``_creates``); what both drivers share (the configuration, the
log line, mapping a transport failure to an error) is in ``ClientBase``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

import httpx

from .._core.tls import shared_ssl_context
from ..errors import AnchorAPIError
from ._core import (
    ApiRequest,
    ApiResponse,
    ClientConfig,
    error_from_transport,
    resolve_api_key,
    resolve_base_url,
    safe_url,
)
from ._flows import Emit, Flow, Items, Notify, Op, Send, Sleep

__all__ = ["AsyncDriver", "ClientBase", "Seconds", "SyncDriver", "as_seconds"]

logger = logging.getLogger("anchorframe.client")

_T = TypeVar("_T")
_Sync = TypeVar("_Sync", bound="SyncDriver")
_Async = TypeVar("_Async", bound="AsyncDriver")

Seconds = float | timedelta
#: What a flow is sent back after an operation: a value, or an error to throw into it.
_Outcome = tuple[Any, AnchorAPIError | None]
_NOTHING: _Outcome = (None, None)


def as_seconds(value: Seconds, name: str) -> float:
    """``value`` in seconds; a negative duration is refused, naming the argument."""
    as_float = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if as_float < 0:
        raise ValueError(f"{name} must not be negative, got {as_float:g}.")
    return as_float


class ClientBase:
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
            timeout=as_seconds(timeout, "timeout"),
            max_retries=max_retries,
            retry_initial_delay=as_seconds(retry_initial_delay, "retry_initial_delay"),
            retry_max_delay=as_seconds(retry_max_delay, "retry_max_delay"),
            max_retry_after=as_seconds(max_retry_after, "max_retry_after"),
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
            "verify": shared_ssl_context(),
        }

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Cannot send a request, as the client has been closed. Create a new client.")

    def _log(self, request: ApiRequest, status: int | str, elapsed: float) -> None:
        logger.debug("%s -> %s in %.3f s", request.label, status, elapsed)

    def _answer(self, request: ApiRequest, response: httpx.Response, started: float) -> ApiResponse:
        elapsed = time.monotonic() - started
        self._log(request, response.status_code, elapsed)
        return ApiResponse.from_httpx(response, elapsed)

    def _transport_error(
        self, request: ApiRequest, exc: httpx.TransportError, started: float
    ) -> AnchorAPIError:
        self._log(request, type(exc).__name__, time.monotonic() - started)
        error = error_from_transport(request, exc, self._config.timeout)
        # Not chained to the httpx exception: it holds the request and so the key header.
        error.__suppress_context__ = True
        return error

    @staticmethod
    def _resume(flow: Flow[Any], outcome: _Outcome) -> Op:
        value, error = outcome
        return flow.throw(error) if error is not None else flow.send(value)


class SyncDriver(ClientBase):
    """Runs flows with an :class:`httpx.Client`, blocking."""

    def _open(self) -> None:
        self._http = httpx.Client(**self._http_options())

    def _send(self, request: ApiRequest) -> ApiResponse:
        self._check_open()
        started = time.monotonic()
        try:
            response = self._http.request(
                request.method, request.path, params=request.query(), json=request.json
            )
        except httpx.TransportError as exc:
            failure = self._transport_error(request, exc, started)
        else:
            return self._answer(request, response, started)
        # Raised outside the handler so that it has no __context__: httpx's exception holds
        # the request and its headers (the API key), and pickles that carry the chain
        # (tblib's, installed by Dask) would carry the key with it.
        raise failure

    def _perform(self, op: Op) -> _Outcome:
        if isinstance(op, Send):
            try:
                return self._send(op.request), None
            except AnchorAPIError as error:
                return None, error
        if isinstance(op, Sleep):
            time.sleep(op.seconds)
        elif isinstance(op, Notify):
            op.callback(op.payload)
        return _NOTHING

    def _run(self, flow: Flow[_T]) -> _T:
        outcome = _NOTHING
        while True:
            try:
                op = self._resume(flow, outcome)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if isinstance(op, Emit):
                raise RuntimeError("This call does not produce items; use an iter_* method.")
            outcome = self._perform(op)

    def _iterate(self, flow: Items[_T]) -> Iterator[_T]:
        outcome = _NOTHING
        while True:
            try:
                op = self._resume(flow, outcome)
            except StopIteration:
                return
            if isinstance(op, Emit):
                outcome = _NOTHING
                yield op.item
            else:
                outcome = self._perform(op)

    def close(self) -> None:
        """Close the connection pool. Idempotent."""
        self._closed = True
        self._http.close()

    def __enter__(self: _Sync) -> _Sync:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncDriver(ClientBase):
    """Runs flows with an :class:`httpx.AsyncClient`, awaiting; progress callbacks may be coroutines."""

    def _open(self) -> None:
        self._http = httpx.AsyncClient(**self._http_options())

    async def _send(self, request: ApiRequest) -> ApiResponse:
        self._check_open()
        started = time.monotonic()
        try:
            response = await self._http.request(
                request.method, request.path, params=request.query(), json=request.json
            )
        except httpx.TransportError as exc:
            failure = self._transport_error(request, exc, started)
        else:
            return self._answer(request, response, started)
        raise failure  # outside the handler, as in SyncDriver._send

    async def _perform(self, op: Op) -> _Outcome:
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
        return _NOTHING

    async def _run(self, flow: Flow[_T]) -> _T:
        outcome = _NOTHING
        while True:
            try:
                op = self._resume(flow, outcome)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if isinstance(op, Emit):
                raise RuntimeError("This call does not produce items; use an iter_* method.")
            outcome = await self._perform(op)

    async def _iterate(self, flow: Items[_T]) -> AsyncIterator[_T]:
        outcome = _NOTHING
        while True:
            try:
                op = self._resume(flow, outcome)
            except StopIteration:
                return
            if isinstance(op, Emit):
                outcome = _NOTHING
                yield op.item
            else:
                outcome = await self._perform(op)

    async def aclose(self) -> None:
        """Close the connection pool. Idempotent."""
        self._closed = True
        await self._http.aclose()

    async def __aenter__(self: _Async) -> _Async:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
