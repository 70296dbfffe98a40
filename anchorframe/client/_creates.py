"""The two creates, made safe to retry: a batch or an async session is never created twice.

``POST /v1/batch-sessions`` and ``POST /v1/sessions/async`` are not idempotent. Each
create carries a request token, as the session tag ``anchorframe-request:<token>``.
When a create's outcome is unknown (a timeout, a dropped connection, a 5xx),
:func:`create_batch` looks for the batch by that tag (:func:`find_batch_by_token`)
before it sends the create again; :func:`create_async_session`, whose requests the
API cannot list, does not send it again and names the tag to reap instead.

Flows like those of ``_flows``: no I/O here.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from .._core.backoff import grow_interval
from ..errors import AnchorAPIError
from ._core import (
    REQUEST_TAG_PREFIX,
    REQUEST_TOKEN_KEY,
    ApiRequest,
    ClientConfig,
    error_from_response,
    is_retryable_error,
    may_have_been_processed,
)
from ._flows import Flow, Send, Sleep, call, list_batches, list_sessions
from ._models import AsyncSessionCreated, BatchCreated, BatchSummary

__all__ = ["RECONCILE_SECONDS", "create_async_session", "create_batch", "find_batch_by_token"]

logger = logging.getLogger("anchorframe.client")

# How far back a reconciliation looks for a batch it may have created: generous,
# as the client's and the server's clocks may disagree.
_RECONCILE_WINDOW = timedelta(minutes=15)
# How long a reconciliation waits for a candidate batch's first session, whose tags decide.
RECONCILE_SECONDS = 30.0


def _with_note(error: AnchorAPIError, note: str, **attrs: Any) -> AnchorAPIError:
    clone = copy.copy(error)
    clone.args = (f"{error} {note}",)
    for key, value in attrs.items():
        setattr(clone, key, value)
    return clone


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
