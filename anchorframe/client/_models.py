"""Typed answers of the Anchor REST API.

Why dataclasses rather than pydantic: the answers are small, flat and read-only;
the rules that matter (ids as ``str``, timezone-aware datetimes, unknown fields
kept, CDP URLs out of the repr) fit in one converter per field, and anchorframe
does not pin its users to a pydantic major version. Parsing is lenient on
purpose: a field the server adds later lands in ``extra`` (left out of the repr,
as it may hold URLs), a status the client does not know is kept as a string and
treated as not terminal, and a value of the wrong type becomes ``None`` rather
than failing a poll loop halfway through a paid batch.
"""

# ruff: noqa: RUF009  (_conv/_extra return dataclasses.field specs, not default values)
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

__all__ = [
    "ASYNC_TERMINAL_STATUSES",
    "BATCH_TERMINAL_STATUSES",
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

BATCH_TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
ASYNC_TERMINAL_STATUSES = frozenset({"ready", "completed", "failed", "cancelled"})

_T = TypeVar("_T")


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 string as an aware datetime (naive values are taken as UTC)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _str(value: Any) -> str | None:
    return None if value is None or isinstance(value, (dict, list)) else str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _list_of(model: type[_T]) -> Callable[[Any], list[_T]]:
    def convert(value: Any) -> list[_T]:
        if not isinstance(value, list):
            return []
        return [_parse(model, item) for item in value if isinstance(item, Mapping)]

    return convert


def _one(model: type[_T]) -> Callable[[Any], _T | None]:
    def convert(value: Any) -> _T | None:
        return _parse(model, value) if isinstance(value, Mapping) else None

    return convert


def _conv(fn: Callable[[Any], Any], *, repr: bool = True, default: Any = None) -> Any:
    if isinstance(default, (dict, list)):
        factory = type(default)
        return field(default_factory=factory, repr=repr, metadata={"parse": fn})
    return field(default=default, repr=repr, metadata={"parse": fn})


def _extra() -> Any:
    return field(default_factory=dict, repr=False, compare=False)


def _parse(model: type[_T], data: Mapping[str, Any]) -> _T:
    """Build ``model`` from a JSON object: known fields converted, the rest in ``extra``."""
    values: dict[str, Any] = {}
    known = set()
    for spec in dataclasses.fields(model):  # type: ignore[arg-type]
        if spec.name == "extra":
            continue
        source = spec.metadata.get("source", spec.name)
        known.add(source)
        if source in data:
            values[spec.name] = spec.metadata["parse"](data[source])
    values["extra"] = {key: value for key, value in data.items() if key not in known}
    return model(**values)


class _Model:
    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any]) -> _T:
        """Parse one JSON object of the API (the value under ``data``)."""
        return _parse(cls, data)


@dataclass(frozen=True)
class SessionItem(_Model):
    """One browser session of a batch, or the session behind an async request.

    ``cdp_url`` and ``live_view_url`` are secrets (the vendor's CDP URL carries the
    API key), so they are kept out of the repr.
    """

    item_index: int | None = _conv(_int)
    session_id: str | None = _conv(_str)
    status: str | None = _conv(_str)
    cdp_url: str | None = _conv(_str, repr=False)
    live_view_url: str | None = _conv(_str, repr=False)
    error: str | None = _conv(_str)
    retry_count: int | None = _conv(_int)
    started_at: datetime | None = _conv(parse_datetime)
    completed_at: datetime | None = _conv(parse_datetime)
    metadata: dict[str, Any] = _conv(_dict, default={})
    extra: dict[str, Any] = _extra()

    @property
    def is_ready(self) -> bool:
        """The session was created and can be reached over CDP."""
        return self.status in ("completed", "running") and bool(self.cdp_url)

    @property
    def is_failed(self) -> bool:
        return self.status == "failed"


@dataclass(frozen=True)
class BatchProgress(_Model):
    percentage: float | None = _conv(_float)
    current_phase: str | None = _conv(_str)
    extra: dict[str, Any] = _extra()


@dataclass(frozen=True)
class BatchCreated(_Model):
    """The answer to creating a batch (``POST /v1/batch-sessions``)."""

    batch_id: str = _conv(_str, default="")
    status: str | None = _conv(_str)
    total_requests: int | None = _conv(_int)
    created_at: datetime | None = _conv(parse_datetime)
    extra: dict[str, Any] = _extra()


@dataclass(frozen=True)
class Batch(_Model):
    """The status of a batch with its sessions (``GET /v1/batch-sessions/{id}``)."""

    batch_id: str = _conv(_str, default="")
    status: str | None = _conv(_str)
    total_requests: int | None = _conv(_int)
    completed_requests: int | None = _conv(_int)
    failed_requests: int | None = _conv(_int)
    processing_requests: int | None = _conv(_int)
    pending_requests: int | None = _conv(_int)
    created_at: datetime | None = _conv(parse_datetime)
    actual_completion_time: datetime | None = _conv(parse_datetime)
    error: str | None = _conv(_str)
    sessions: list[SessionItem] = _conv(_list_of(SessionItem), default=[])
    progress: BatchProgress | None = _conv(_one(BatchProgress))
    metadata: dict[str, Any] = _conv(_dict, default={})
    extra: dict[str, Any] = _extra()

    @property
    def is_terminal(self) -> bool:
        """The batch will not change on its own any more (completed, failed or cancelled)."""
        return self.status in BATCH_TERMINAL_STATUSES

    @property
    def ready_sessions(self) -> list[SessionItem]:
        return [item for item in self.sessions if item.is_ready]

    @property
    def failed_sessions(self) -> list[SessionItem]:
        return [item for item in self.sessions if item.is_failed]

    def describe(self) -> str:
        """One line on how far the batch got, e.g. '3 of 4 sessions ready, 1 failed'."""
        total = self.total_requests if self.total_requests is not None else len(self.sessions)
        ready = self.completed_requests
        if ready is None:
            ready = len(self.ready_sessions)
        failed = self.failed_requests
        if failed is None:
            failed = len(self.failed_sessions)
        text = f"{ready} of {total} sessions ready"
        if failed:
            text += f", {failed} failed"
        if self.progress is not None and self.progress.current_phase:
            text += f" (phase {self.progress.current_phase}"
            if self.progress.percentage is not None:
                text += f", {self.progress.percentage:g}%"
            text += ")"
        return text


@dataclass(frozen=True)
class BatchSummary(_Model):
    """One batch in a list answer (``GET /v1/batch-sessions``)."""

    batch_id: str = _conv(_str, default="")
    status: str | None = _conv(_str)
    total_requests: int | None = _conv(_int)
    completed_requests: int | None = _conv(_int)
    failed_requests: int | None = _conv(_int)
    created_at: datetime | None = _conv(parse_datetime)
    actual_completion_time: datetime | None = _conv(parse_datetime)
    metadata: dict[str, Any] | None = _conv(lambda v: _dict(v) if isinstance(v, Mapping) else None)
    extra: dict[str, Any] = _extra()


@dataclass(frozen=True)
class Pagination(_Model):
    current_page: int | None = _conv(_int)
    total_pages: int | None = _conv(_int)
    total_records: int | None = _conv(_int)
    has_next: bool | None = _conv(_bool)
    has_prev: bool | None = _conv(_bool)
    extra: dict[str, Any] = _extra()


@dataclass(frozen=True)
class BatchPage(_Model):
    """One page of batches, with the pagination the server reported."""

    batches: list[BatchSummary] = _conv(_list_of(BatchSummary), default=[])
    pagination: Pagination | None = _conv(_one(Pagination))
    extra: dict[str, Any] = _extra()

    @property
    def has_next(self) -> bool:
        if self.pagination is None:
            return False
        if self.pagination.has_next is not None:
            return self.pagination.has_next
        current, total = self.pagination.current_page, self.pagination.total_pages
        return current is not None and total is not None and current < total


@dataclass(frozen=True)
class BatchCancelled(_Model):
    """The answer to ``PATCH /v1/batch-sessions/{id}`` with status ``cancelled``."""

    batch_id: str = _conv(_str, default="")
    status: str | None = _conv(_str)
    cancelled_sessions: int | None = _conv(_int)
    message: str | None = _conv(_str)
    extra: dict[str, Any] = _extra()


@dataclass(frozen=True)
class BatchDeleted(_Model):
    """The answer to ``DELETE /v1/batch-sessions/{id}``."""

    batch_id: str = _conv(_str, default="")
    deleted_sessions: int | None = _conv(_int)
    failed_deletions: int | None = _conv(_int)
    errors: list[dict[str, Any]] = _conv(
        lambda v: [dict(e) for e in v if isinstance(e, Mapping)] if isinstance(v, list) else [],
        default=[],
    )
    message: str | None = _conv(_str)
    extra: dict[str, Any] = _extra()


@dataclass(frozen=True)
class BatchRetried(_Model):
    """The answer to ``POST /v1/batch-sessions/{id}/retry``."""

    batch_id: str = _conv(_str, default="")
    status: str | None = _conv(_str)
    retried_sessions: int | None = _conv(_int)
    message: str | None = _conv(_str)
    extra: dict[str, Any] = _extra()


@dataclass(frozen=True)
class AsyncSessionCreated(_Model):
    """The answer to ``POST /v1/sessions/async``: a request id to poll."""

    request_id: str = _conv(_str, default="")
    status: str | None = _conv(_str)
    session_id: str | None = _conv(_str)
    extra: dict[str, Any] = _extra()


def _phase(value: Any) -> str | None:
    return _str(value.get("current_phase")) if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class AsyncSessionStatus(_Model):
    """The status of an async session request (``GET /v1/sessions/async/{id}/status``)."""

    request_id: str = _conv(_str, default="")
    status: str | None = _conv(_str)
    created_at: datetime | None = _conv(parse_datetime)
    current_phase: str | None = field(default=None, metadata={"parse": _phase, "source": "progress"})
    session: SessionItem | None = _conv(_one(SessionItem))
    extra: dict[str, Any] = _extra()

    @property
    def is_ready(self) -> bool:
        return self.status == "ready" and self.session is not None and bool(self.session.cdp_url)

    @property
    def is_terminal(self) -> bool:
        """Waiting longer will not change the answer (ready, completed, failed, cancelled)."""
        return self.status in ASYNC_TERMINAL_STATUSES


@dataclass(frozen=True)
class SessionEnded(_Model):
    """The answer to ``DELETE /v1/sessions/{id}``."""

    status: str | None = _conv(_str)
    extra: dict[str, Any] = _extra()


#: Session statuses after which a session holds no browser any more.
SESSION_ENDED_STATUSES = frozenset(
    {"completed", "failed", "cancelled", "ended", "terminated", "stopped", "expired"}
)


def _tags(value: Any) -> list[str]:
    return [str(tag) for tag in value] if isinstance(value, list) else []


@dataclass(frozen=True)
class SessionSummary(_Model):
    """A session in a listing: ``GET /v1/sessions`` (``id``) or ``/v1/sessions/all/status``."""

    session_id: str | None = _conv(_str)
    status: str | None = _conv(_str)
    tags: list[str] = _conv(_tags, default=[])
    created_at: datetime | None = _conv(parse_datetime)
    extra: dict[str, Any] = _extra()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionSummary:  # type: ignore[override]
        """Parse either listing's item (the history page names the id ``id``)."""
        if "session_id" not in data and "id" in data:
            data = {("session_id" if key == "id" else key): value for key, value in data.items()}
        return _parse(cls, data)

    @property
    def is_live(self) -> bool:
        """Its browser may still run (and bill): any status but an ended one."""
        return (self.status or "").lower() not in SESSION_ENDED_STATUSES


def _summaries(value: Any) -> list[SessionSummary]:
    if not isinstance(value, list):
        return []
    return [SessionSummary.from_json(item) for item in value if isinstance(item, Mapping)]


@dataclass(frozen=True)
class SessionPage(_Model):
    """One page of ``GET /v1/sessions`` (the session history, filterable by tags and batch)."""

    sessions: list[SessionSummary] = _conv(_summaries, default=[])
    total: int | None = _conv(_int)
    page: int | None = _conv(_int)
    total_pages: int | None = _conv(_int)
    extra: dict[str, Any] = _extra()

    @property
    def has_next(self) -> bool:
        return self.page is not None and self.total_pages is not None and self.page < self.total_pages


@dataclass(frozen=True)
class SessionStatusList(_Model):
    """``GET /v1/sessions/all/status``: every session of the key matching the filters."""

    count: int | None = _conv(_int)
    items: list[SessionSummary] = _conv(_summaries, default=[])
    extra: dict[str, Any] = _extra()


@dataclass(frozen=True)
class SessionDetail(_Model):
    """``GET /v1/sessions/{id}``: one session's status, duration and configuration."""

    session_id: str | None = _conv(_str)
    status: str | None = _conv(_str)
    duration: int | None = _conv(_int)
    credits_used: float | None = _conv(_float)
    created_at: datetime | None = _conv(parse_datetime)
    configuration: dict[str, Any] = _conv(_dict, default={}, repr=False)
    extra: dict[str, Any] = _extra()
