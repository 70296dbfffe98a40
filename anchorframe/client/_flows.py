"""Every API call as a generator: one implementation for the sync and async clients.

A flow yields operations and receives their results, as httpx's ``auth_flow`` does:

- ``Send(request)`` -> an :class:`ApiResponse` (any status), or a transport failure
  thrown in as :class:`APITimeoutError` / :class:`APIConnectionError`;
- ``Sleep(seconds)`` -> None;
- ``Notify(callback, payload)`` -> None (a progress callback, awaited if it returns
  an awaitable under the async client);
- ``Emit(item)`` -> None (one item of an iterator, e.g. a batch of a listing).

A flow finishes by returning its result. It never touches a socket, a clock that
sleeps or an event loop, so it runs the same under both drivers and in tests.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import quote

from .._core.backoff import grow_interval
from ..errors import AnchorAPIError, WaitTimeoutError
from ._core import (
    REQUEST_TAG_PREFIX,
    REQUEST_TOKEN_KEY,
    ApiRequest,
    ApiResponse,
    ClientConfig,
    error_from_response,
    is_retryable_error,
    may_have_been_processed,
)
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
class Emit:
    item: Any


Op = Send | Sleep | Notify | Emit
Flow = Generator[Op, Any, _T]

# How far back a reconciliation looks for a batch it may have created: generous,
# as the client's and the server's clocks may disagree.
_RECONCILE_WINDOW = timedelta(minutes=15)
# How long a reconciliation waits for a candidate batch's first session, whose tags decide.
RECONCILE_SECONDS = 30.0
SESSION_PAGE_SIZES = (10, 20, 50)


def _path_id(value: str, what: str) -> str:
    text = str(value)
    if not text.strip():
        raise ValueError(f"Expected a non-empty {what}, got {value!r}.")
    return quote(text, safe="")


def _with_note(error: AnchorAPIError, note: str, **attrs: Any) -> AnchorAPIError:
    clone = copy.copy(error)
    clone.args = (f"{error} {note}",)
    for key, value in attrs.items():
        setattr(clone, key, value)
    return clone


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


def create_batch(
    config: ClientConfig,
    count: int,
    *,
    configuration: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    request_token: str | None = None,
) -> Flow[BatchCreated]:
    """Create a batch; never create it twice.

    The batch's metadata carries a request token. When the outcome of the create is
    unknown (a timeout, a dropped connection, a 5xx), the flow lists recent batches
    and returns the one with its token; only when none has it is the create re-sent.
    """
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, got {type(count).__name__}.")
    token = request_token or uuid.uuid4().hex
    tag = f"{REQUEST_TAG_PREFIX}{token}"
    body: dict[str, Any] = {"count": count, "configuration": _tagged(configuration, tag)}
    # The token rides in the request's metadata too, but no answer of the API returns a
    # batch's metadata: the session tag is what reconciliation finds it by.
    body["metadata"] = {**dict(metadata or {}), REQUEST_TOKEN_KEY: token}
    request = ApiRequest("POST", "/v1/batch-sessions", json=body, safe=False)
    since = datetime.now(timezone.utc) - _RECONCILE_WINDOW
    attempt = 0
    while True:
        try:
            response = yield Send(request)
        except AnchorAPIError as error:
            failure = error
        else:
            if response.status_code < 400:
                return BatchCreated.from_json(response.data())
            failure = error_from_response(request, response)
        more = attempt < config.max_retries and is_retryable_error(failure)
        if may_have_been_processed(failure):
            if more:
                # Give a slow server time to record the batch before looking for it.
                yield Sleep(config.backoff(attempt))
            try:
                found = yield from find_batch_by_token(config, token, count=count, since=since)
            except AnchorAPIError as lookup_error:
                raise _with_note(
                    failure,
                    f"The batch may or may not have been created, and listing batches to find "
                    f"out failed too ({type(lookup_error).__name__}); it was not created again. "
                    f"If it exists, its sessions carry the tag {tag!r}: end them with "
                    f"`anchorframe reap --tag {tag}`.",
                    request_token=token,
                    reap_tag=tag,
                ) from lookup_error
            except _Undecided as undecided:
                raise _with_note(
                    failure,
                    f"The batch may or may not have been created: {undecided} It was not created "
                    f"again. If it exists, its sessions carry the tag {tag!r}: end them with "
                    f"`anchorframe reap --tag {tag}`.",
                    request_token=token,
                    reap_tag=tag,
                ) from None
            if found is not None:
                logger.info(
                    "The create of batch %s had an unknown outcome (%s); found it by its "
                    "request token instead of creating another.",
                    found.batch_id,
                    type(failure).__name__,
                )
                return found
        if not more:
            raise _with_note(failure, "No batch was created.", request_token=token)
        if not may_have_been_processed(failure):
            yield Sleep(config.backoff(attempt, getattr(failure, "retry_after", None)))
        logger.info(
            "Creating the batch again after %s (retry %d of %d).",
            type(failure).__name__,
            attempt + 1,
            config.max_retries,
        )
        attempt += 1


class _Undecided(Exception):
    """Reconciliation could not tell whether a create took effect."""


def _tagged(configuration: Mapping[str, Any] | None, tag: str) -> dict[str, Any]:
    """A copy of ``configuration`` whose ``session.tags`` ends with ``tag``."""
    out = copy.deepcopy(dict(configuration or {}))
    session = dict(out.get("session") or {})
    tags = [str(t) for t in session.get("tags") or []]
    session["tags"] = [*tags, tag] if tag not in tags else tags
    out["session"] = session
    return out


def find_batch_by_token(
    config: ClientConfig,
    token: str,
    *,
    count: int | None = None,
    since: datetime | None = None,
    wait: float | None = None,
) -> Flow[BatchCreated | None]:
    """The batch whose sessions carry the tag ``anchorframe-request:<token>``, or None if none was made.

    No answer of the API returns a batch's metadata, so the batch is recognised by its
    sessions' tags: each recent batch of the same size is checked through the session
    listing filtered by ``batch_id`` and the tag. A candidate with sessions none of
    which carries the tag is someone else's. A candidate without any session yet
    cannot be told apart: the flow waits up to ``wait`` seconds (default
    ``RECONCILE_SECONDS``) for its sessions, then
    gives up with :class:`_Undecided` (the caller then must not create it again).
    """
    tag = f"{REQUEST_TAG_PREFIX}{token}"
    wait = RECONCILE_SECONDS if wait is None else wait
    deadline = time.monotonic() + wait
    interval = 0.25
    while True:
        undecided: list[str] = []
        page = 1
        while True:
            listing = yield from list_batches(config, created_after=since, page=page, limit=100)
            for summary in listing.batches:
                if count is not None and summary.total_requests not in (None, count):
                    continue
                tagged = yield from list_sessions(config, batch_id=summary.batch_id, tags=[tag], limit=10)
                if tagged.sessions:
                    return _created_from(summary)
                # Only sessions the listing shows can be told by their tags: a batch none of
                # whose sessions is listed yet (still provisioning) cannot be told apart. A
                # session may have appeared since the tagged query: its tags decide here too.
                listed = yield from list_sessions(config, batch_id=summary.batch_id, limit=10)
                if any(tag in session.tags for session in listed.sessions):
                    return _created_from(summary)
                if not listed.sessions:
                    undecided.append(summary.batch_id)
            if not listing.has_next:
                break
            page += 1
        if not undecided:
            return None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Undecided(
                f"{len(undecided)} recent batch(es) of this size had no session after {wait:g} s "
                "to check the tag on."
            )
        yield Sleep(min(interval, remaining))
        interval = grow_interval(interval, 2.0)


def _created_from(summary: BatchSummary) -> BatchCreated:
    return BatchCreated(
        batch_id=summary.batch_id,
        status=summary.status,
        total_requests=summary.total_requests,
        created_at=summary.created_at,
        extra={"reconciled": True},
    )


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
) -> Flow[None]:
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


def create_async_session(
    config: ClientConfig,
    *,
    session: Mapping[str, Any] | None = None,
    browser: Mapping[str, Any] | None = None,
    integrations: list[Any] | None = None,
    extra_body: Mapping[str, Any] | None = None,
    request_token: str | None = None,
) -> Flow[AsyncSessionCreated]:
    """Ask for one session provisioned in the background; never ask twice.

    The session carries the tag ``anchorframe-request:<token>``. The API has no way to
    list async requests, so a create whose outcome is unknown is not re-sent: the error
    says so and carries ``request_token`` (the tagged session, if any, can be reaped).
    """
    token = request_token or uuid.uuid4().hex
    session_body = dict(session or {})
    tags = [str(tag) for tag in session_body.get("tags") or []]
    session_body["tags"] = [*tags, f"{REQUEST_TAG_PREFIX}{token}"]
    body: dict[str, Any] = {**dict(extra_body or {}), "session": session_body}
    if browser is not None:
        body["browser"] = dict(browser)
    if integrations is not None:
        body["integrations"] = list(integrations)
    request = ApiRequest("POST", "/v1/sessions/async", json=body, safe=False)
    try:
        response = yield from call(config, request)
    except AnchorAPIError as failure:
        if may_have_been_processed(failure):
            tag = f"{REQUEST_TAG_PREFIX}{token}"
            raise _with_note(
                failure,
                "The session may or may not have been created, and the API cannot list async "
                f"requests, so it was not asked for again. If it exists it carries the tag {tag!r}: "
                f"end it with `anchorframe reap --tag {tag}`.",
                request_token=token,
                reap_tag=tag,
            ) from None
        raise
    return AsyncSessionCreated.from_json(response.data())


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


def iter_sessions(config: ClientConfig, **filters: Any) -> Flow[None]:
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
