"""Every API call as a generator: one implementation for the sync and async clients.

A flow yields operations and receives their results, as httpx's ``auth_flow`` does:

- ``Send(request)`` -> an :class:`ApiResponse` (any status), or a transport failure
  thrown in as :class:`APITimeoutError` / :class:`APIConnectionError`;
- ``Sleep(seconds)`` -> None;
- ``Notify(callback, payload)`` -> None (a progress callback, awaited if it returns
  an awaitable under the async client);
- ``Emit(item)`` -> None (one item of an iterator, e.g. a batch of a listing).

A flow finishes by returning its result (a ``Flow[T]``); a listing's flow emits its
items and returns None (an ``Items[T]``). It never touches a socket, a clock that
sleeps or an event loop, so it runs the same under both drivers (``_drivers``) and in
tests. The two creates that must never create twice have their flows in ``_creates``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from .._core.backoff import grow_interval
from ..errors import AnchorAPIError, WaitTimeoutError
from ._core import (
    ApiRequest,
    ApiResponse,
    ClientConfig,
    error_from_response,
    is_retryable_error,
    may_have_been_processed,
)
from ._models import (
    AsyncSessionStatus,
    Batch,
    BatchCancelled,
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

logger = logging.getLogger("anchorframe.client")

_T = TypeVar("_T")
_P = TypeVar("_P")


@dataclass(frozen=True)
class Send:
    request: ApiRequest


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Notify:
    callback: Callable[[Any], Any]
    payload: Any


@dataclass(frozen=True)
class Emit(Generic[_T]):
    item: _T


Op = Send | Sleep | Notify | Emit[Any]
#: A call: it returns a ``_T``.
Flow = Generator[Op, Any, _T]
#: A listing: it emits ``_T`` items, one at a time, and returns None.
Items = Generator[Send | Sleep | Notify | Emit[_T], Any, None]

SESSION_PAGE_SIZES = (10, 20, 50)


def _path_id(value: str, what: str) -> str:
    text = str(value)
    if not text.strip():
        raise ValueError(f"Expected a non-empty {what}, got {value!r}.")
    return quote(text, safe="")


def call(config: ClientConfig, request: ApiRequest) -> Flow[ApiResponse]:
    """Send ``request``; retry it after 429, 5xx or a connection failure when that is safe.

    Safe requests are re-sent after any retryable failure. Others only when the
    failure proves the server did not act on them (429, or no connection at all).
    """
    attempt = 0
    while True:
        try:
            response = yield Send(request)
        except AnchorAPIError as error:
            failure = error
        else:
            if response.status_code < 400:
                return response
            failure = error_from_response(request, response)
        resend_ok = request.safe or not may_have_been_processed(failure)
        if attempt >= config.max_retries or not resend_ok or not is_retryable_error(failure):
            raise failure
        delay = config.backoff(attempt, getattr(failure, "retry_after", None))
        logger.info(
            "Retrying %s in %.2f s after %s (retry %d of %d).",
            request.label,
            delay,
            type(failure).__name__,
            attempt + 1,
            config.max_retries,
        )
        yield Sleep(delay)
        attempt += 1


# --- batches -------------------------------------------------------------------------


def get_batch(config: ClientConfig, batch_id: str) -> Flow[Batch]:
    path = f"/v1/batch-sessions/{_path_id(batch_id, 'batch_id')}"
    response = yield from call(config, ApiRequest("GET", path))
    return Batch.from_json(response.data())


def list_batches(
    config: ClientConfig,
    *,
    status: str | None = None,
    created_after: datetime | str | None = None,
    created_before: datetime | str | None = None,
    page: int = 1,
    limit: int = 20,
) -> Flow[BatchPage]:
    if not 1 <= limit <= 100:
        raise ValueError(f"limit must be between 1 and 100, got {limit}.")
    if page < 1:
        raise ValueError(f"page must be 1 or more, got {page}.")
    params = {
        "status": status,
        "created_after": created_after,
        "created_before": created_before,
        "page": page,
        "limit": limit,
    }
    response = yield from call(config, ApiRequest("GET", "/v1/batch-sessions", params=params))
    return BatchPage.from_json(response.data())


def iter_batches(
    config: ClientConfig,
    *,
    status: str | None = None,
    created_after: datetime | str | None = None,
    created_before: datetime | str | None = None,
    limit: int = 100,
) -> Items[BatchSummary]:
    """Emit every batch of every page, in the server's order."""
    page = 1
    while True:
        listing = yield from list_batches(
            config,
            status=status,
            created_after=created_after,
            created_before=created_before,
            page=page,
            limit=limit,
        )
        for summary in listing.batches:
            yield Emit(summary)
        if not listing.has_next or not listing.batches:
            return None
        page += 1


def cancel_batch(config: ClientConfig, batch_id: str) -> Flow[BatchCancelled]:
    path = f"/v1/batch-sessions/{_path_id(batch_id, 'batch_id')}"
    request = ApiRequest("PATCH", path, json={"status": "cancelled"})
    response = yield from call(config, request)
    return BatchCancelled.from_json(response.data())


def delete_batch(config: ClientConfig, batch_id: str) -> Flow[BatchDeleted]:
    path = f"/v1/batch-sessions/{_path_id(batch_id, 'batch_id')}"
    response = yield from call(config, ApiRequest("DELETE", path))
    return BatchDeleted.from_json(response.data())


def retry_batch(
    config: ClientConfig, batch_id: str, *, retry_failed_only: bool = True, max_retries: int = 1
) -> Flow[BatchRetried]:
    if not 1 <= max_retries <= 3:
        raise ValueError(f"max_retries must be between 1 and 3, got {max_retries}.")
    path = f"/v1/batch-sessions/{_path_id(batch_id, 'batch_id')}/retry"
    body = {"retry_failed_only": retry_failed_only, "max_retries": max_retries}
    response = yield from call(config, ApiRequest("POST", path, json=body, safe=False))
    return BatchRetried.from_json(response.data())


def wait_batch(
    config: ClientConfig,
    batch_id: str,
    *,
    initial_interval: float,
    factor: float,
    max_interval: float,
    timeout: float,
    on_progress: Callable[[Batch], Any] | None = None,
) -> Flow[Batch]:
    """Poll until the batch is completed, failed or cancelled, with growing intervals."""

    def too_late(batch: Batch) -> WaitTimeoutError:
        error = WaitTimeoutError(
            f"Batch {batch.batch_id or batch_id} was still {batch.status} after {timeout:g} s: "
            f"{batch.describe()}. Wait longer (timeout=...), or use the ready sessions "
            "and cancel the batch.",
            method="GET",
            path=f"/v1/batch-sessions/{batch_id}",
        )
        # Counts only: the last Batch itself holds CDP URLs, which are secrets.
        error.batch_id = batch.batch_id or batch_id  # type: ignore[attr-defined]
        error.status = batch.status  # type: ignore[attr-defined]
        error.ready_sessions = len(batch.ready_sessions)  # type: ignore[attr-defined]
        error.failed_sessions = len(batch.failed_sessions)  # type: ignore[attr-defined]
        error.total_sessions = batch.total_requests  # type: ignore[attr-defined]
        return error

    return (
        yield from _poll(
            lambda: get_batch(config, batch_id),
            too_late,
            initial_interval=initial_interval,
            factor=factor,
            max_interval=max_interval,
            timeout=timeout,
            on_progress=on_progress,
        )
    )


def get_async_session(config: ClientConfig, request_id: str) -> Flow[AsyncSessionStatus]:
    path = f"/v1/sessions/async/{_path_id(request_id, 'request_id')}/status"
    response = yield from call(config, ApiRequest("GET", path))
    return AsyncSessionStatus.from_json(response.data())


def wait_async_session(
    config: ClientConfig,
    request_id: str,
    *,
    initial_interval: float,
    factor: float,
    max_interval: float,
    timeout: float,
    on_progress: Callable[[AsyncSessionStatus], Any] | None = None,
) -> Flow[AsyncSessionStatus]:
    """Poll until the request is ready, completed, failed or cancelled."""

    def too_late(status: AsyncSessionStatus) -> WaitTimeoutError:
        return WaitTimeoutError(
            f"Async session request {request_id} was still {status.status} "
            f"(phase {status.current_phase}) after {timeout:g} s. Wait longer (timeout=...).",
            method="GET",
            path=f"/v1/sessions/async/{request_id}/status",
        )

    return (
        yield from _poll(
            lambda: get_async_session(config, request_id),
            too_late,
            initial_interval=initial_interval,
            factor=factor,
            max_interval=max_interval,
            timeout=timeout,
            on_progress=on_progress,
        )
    )


def _poll(
    fetch: Callable[[], Flow[_P]],
    too_late: Callable[[_P], WaitTimeoutError],
    *,
    initial_interval: float,
    factor: float,
    max_interval: float,
    timeout: float,
    on_progress: Callable[[_P], Any] | None,
) -> Flow[_P]:
    """Fetch until the answer ``is_terminal``, sleeping x``factor`` longer each time, up to a deadline."""
    deadline = time.monotonic() + timeout
    interval = initial_interval
    while True:
        answer = yield from fetch()
        if on_progress is not None:
            yield Notify(on_progress, answer)
        if answer.is_terminal:  # type: ignore[attr-defined]
            return answer
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise too_late(answer)
        yield Sleep(min(interval, remaining))
        interval = grow_interval(interval, max_interval, factor)


def end_session(config: ClientConfig, session_id: str) -> Flow[SessionEnded]:
    path = f"/v1/sessions/{_path_id(session_id, 'session_id')}"
    response = yield from call(config, ApiRequest("DELETE", path))
    return SessionEnded.from_json(response.data())


# --- session listings -------------------------------------------------------------------


def _csv(values: str | list[str] | tuple[str, ...] | None) -> str | None:
    if values is None:
        return None
    if isinstance(values, str):
        return values
    return ",".join(str(value) for value in values) or None


def list_sessions(
    config: ClientConfig,
    *,
    tags: str | list[str] | tuple[str, ...] | None = None,
    status: str | None = None,
    batch_id: str | None = None,
    created_from: datetime | str | None = None,
    created_to: datetime | str | None = None,
    sort_by: str | None = None,
    sort_order: str | None = None,
    page: int = 1,
    limit: int = 50,
) -> Flow[SessionPage]:
    """One page of ``GET /v1/sessions``; a session matches when it has every tag in ``tags``."""
    if limit not in SESSION_PAGE_SIZES:
        raise ValueError(f"limit must be 10, 20 or 50 (the API's page sizes), got {limit}.")
    if page < 1:
        raise ValueError(f"page must be 1 or more, got {page}.")
    params = {
        "tags": _csv(tags),
        "status": status,
        "batch_id": batch_id,
        "created_from": created_from,
        "created_to": created_to,
        "sort_by": sort_by,
        "sort_order": sort_order,
        "page": page,
        "limit": limit,
    }
    response = yield from call(config, ApiRequest("GET", "/v1/sessions", params=params))
    return SessionPage.from_json(response.data())


def iter_sessions(config: ClientConfig, **filters: Any) -> Items[SessionSummary]:
    """Emit every session of every page of ``GET /v1/sessions`` (filters as :func:`list_sessions`)."""
    page = 1
    while True:
        listing = yield from list_sessions(config, page=page, **filters)
        for item in listing.sessions:
            yield Emit(item)
        if not listing.has_next or not listing.sessions:
            return None
        page += 1


def all_sessions_status(
    config: ClientConfig,
    *,
    tags: str | list[str] | tuple[str, ...] | None = None,
    batch_id: str | None = None,
    created_from: datetime | str | None = None,
    created_to: datetime | str | None = None,
) -> Flow[SessionStatusList]:
    """``GET /v1/sessions/all/status``: every session of the key with all of ``tags``."""
    params = {
        "tags": _csv(tags),
        "batch_id": batch_id,
        "created_from": created_from,
        "created_to": created_to,
    }
    response = yield from call(config, ApiRequest("GET", "/v1/sessions/all/status", params=params))
    return SessionStatusList.from_json(response.data())


def get_session(config: ClientConfig, session_id: str) -> Flow[SessionDetail]:
    path = f"/v1/sessions/{_path_id(session_id, 'session_id')}"
    response = yield from call(config, ApiRequest("GET", path))
    return SessionDetail.from_json(response.data())
