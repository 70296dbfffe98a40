"""The emulator's records (batches, async requests, sessions) and their JSON shapes.

No I/O here: the provisioner changes these records on the server's event loop, and
the routes render them with the functions below, following the published schemas
(``shared/anchor-api/``): UUID ids, timezone-aware ISO 8601 times, counts and phases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import asyncio

    from ..backends._chromium import ChromiumProcess

SlotStatus = Literal["pending", "processing", "completed", "failed", "cancelled"]
Phase = Literal["queued", "provisioning", "configuring", "ready"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(eq=False)
class Slot:
    """One requested browser session: an item of a batch or the session of an async request."""

    index: int
    metadata: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    batch_id: str | None = None
    configuration: dict[str, Any] = field(default_factory=dict, repr=False)
    status: SlotStatus = "pending"
    phase: Phase = "queued"
    session_id: str | None = None
    chromium: ChromiumProcess | None = field(default=None, repr=False)
    cdp_url: str | None = field(default=None, repr=False)
    error: str | None = None
    retry_count: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    ending: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def live(self) -> bool:
        """Its Chromium runs, or is being ended and may not be gone yet."""
        if self.chromium is None:
            return False
        return self.ending or (self.ended_at is None and self.chromium.alive)


@dataclass(eq=False)
class BatchRecord:
    batch_id: str
    number: int
    configuration: dict[str, Any]
    metadata: dict[str, Any]
    created_at: datetime
    slots: list[Slot]
    cancelled: bool = False
    started: bool = False
    deleted: bool = False
    finished_at: datetime | None = None

    @property
    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        if not self.started:
            return "pending"
        if any(slot.status not in TERMINAL for slot in self.slots):
            return "processing"
        states = [slot.status for slot in self.slots]
        return "completed" if any(state == "completed" for state in states) else "failed"

    @property
    def phase(self) -> Phase:
        open_slots = [slot for slot in self.slots if slot.status not in TERMINAL]
        if not open_slots:
            return "ready"
        phases = {slot.phase for slot in open_slots}
        for phase in ("configuring", "provisioning"):
            if phase in phases:
                return phase  # type: ignore[return-value]
        return "queued"

    def counts(self) -> dict[str, int]:
        out = {"completed": 0, "failed": 0, "processing": 0, "pending": 0, "cancelled": 0}
        for slot in self.slots:
            out[slot.status] += 1
        return out

    def percentage(self) -> float:
        total = len(self.slots)
        done = sum(1 for slot in self.slots if slot.status in TERMINAL)
        return round(100.0 * done / total, 1) if total else 100.0

    def note_progress(self) -> None:
        """Record when the batch reached a terminal state (for actual_completion_time)."""
        terminal = self.status in TERMINAL
        if terminal and self.finished_at is None:
            self.finished_at = utcnow()
        elif not terminal:
            self.finished_at = None


@dataclass(eq=False)
class AsyncRecord:
    request_id: str
    number: int
    body: dict[str, Any]
    created_at: datetime
    slot: Slot

    @property
    def status(self) -> str:
        slot = self.slot
        if slot.status == "completed":
            return "completed" if slot.ended_at is not None else "ready"
        return slot.status


# --- JSON shapes ---------------------------------------------------------------------------


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


def slot_json(slot: Slot, live_view_base: str) -> dict[str, Any]:
    ready = slot.status == "completed" and slot.session_id is not None
    return _drop_none(
        {
            "item_index": slot.index,
            "session_id": slot.session_id,
            "status": slot.status,
            "cdp_url": slot.cdp_url if ready else None,
            "live_view_url": f"{live_view_base}/{slot.session_id}" if ready else None,
            "error": slot.error,
            "retry_count": slot.retry_count,
            "started_at": iso(slot.started_at),
            "completed_at": iso(slot.completed_at),
            "metadata": slot.metadata,
        }
    )


def batch_created_json(batch: BatchRecord) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "status": batch.status,
        "total_requests": len(batch.slots),
        "created_at": iso(batch.created_at),
    }


def batch_status_json(batch: BatchRecord, live_view_base: str, *, lenient: bool = False) -> dict[str, Any]:
    counts = batch.counts()
    failed = [slot.error for slot in batch.slots if slot.status == "failed" and slot.error]
    status = batch.status
    return _drop_none(
        {
            "batch_id": batch.batch_id,
            "status": status,
            "total_requests": len(batch.slots),
            "completed_requests": counts["completed"],
            "failed_requests": counts["failed"],
            "processing_requests": counts["processing"],
            "pending_requests": counts["pending"],
            "created_at": iso(batch.created_at),
            "actual_completion_time": iso(batch.finished_at),
            "error": (failed[0] if failed else "All sessions failed") if status == "failed" else None,
            "sessions": [slot_json(slot, live_view_base) for slot in batch.slots],
            "progress": {"percentage": batch.percentage(), "current_phase": batch.phase},
            # Not in the published schema: only a lenient emulator sends the request's metadata.
            "metadata": batch.metadata if lenient else None,
        }
    )


def batch_summary_json(batch: BatchRecord, *, lenient: bool = False) -> dict[str, Any]:
    counts = batch.counts()
    data = _drop_none(
        {
            "batch_id": batch.batch_id,
            "status": batch.status,
            "total_requests": len(batch.slots),
            "completed_requests": counts["completed"],
            "failed_requests": counts["failed"],
            "created_at": iso(batch.created_at),
            "actual_completion_time": iso(batch.finished_at),
        }
    )
    if lenient:  # not in the published list schema
        data["metadata"] = batch.metadata
    return data


def pagination_json(page: int, limit: int, total: int) -> dict[str, Any]:
    pages = math.ceil(total / limit) if total else 0
    return {
        "current_page": page,
        "total_pages": pages,
        "total_records": total,
        "has_next": page < pages,
        "has_prev": page > 1,
    }


def async_created_json(record: AsyncRecord) -> dict[str, Any]:
    return {"request_id": record.request_id, "status": "pending", "session_id": None}


def async_status_json(record: AsyncRecord, live_view_base: str, *, lenient: bool = False) -> dict[str, Any]:
    slot = record.slot
    status = record.status
    data: dict[str, Any] = {
        "request_id": record.request_id,
        "status": status,
        "created_at": iso(record.created_at),
        "progress": {"current_phase": slot.phase},
    }
    if slot.session_id is not None and slot.status == "completed":
        data["session"] = {
            "session_id": slot.session_id,
            # The published page shows "running"; the schema's item status has no such value.
            "status": "running" if lenient and status == "ready" else "completed",
            "cdp_url": slot.cdp_url,
            "live_view_url": f"{live_view_base}/{slot.session_id}",
        }
    elif slot.error:
        # The schema has no top-level error: a failed request says why in its session item.
        data["session"] = _drop_none(
            {"status": slot.status, "error": slot.error, "retry_count": slot.retry_count}
        )
    if slot.error and lenient:
        data["error"] = slot.error
    return data


# --- sessions (GET /v1/sessions, /v1/sessions/all/status, /v1/sessions/{id}) -----------------


def session_status(slot: Slot) -> str:
    """``running`` while its browser is up, then ``completed``."""
    return "running" if slot.ended_at is None and slot.live else "completed"


def session_status_json(slot: Slot) -> dict[str, Any]:
    """A ``SessionStatus`` item."""
    return {
        "session_id": slot.session_id,
        "status": session_status(slot),
        "tags": list(slot.tags),
        "created_at": iso(slot.completed_at),
    }


def _duration(slot: Slot) -> int:
    if slot.completed_at is None:
        return 0
    end = slot.ended_at or utcnow()
    return max(0, int((end - slot.completed_at).total_seconds()))


def session_history_json(slot: Slot) -> dict[str, Any]:
    """A ``SessionHistoryPageItem``."""
    running = session_status(slot) == "running"
    headless = (slot.configuration.get("browser") or {}).get("headless") or {}
    recording = (slot.configuration.get("session") or {}).get("recording") or {}
    return {
        "id": slot.session_id,
        "status": session_status(slot),
        "tags": list(slot.tags),
        "headless": bool(headless.get("active", True)) if isinstance(headless, dict) else True,
        "recording": bool(recording.get("active", True)) if isinstance(recording, dict) else True,
        "used_credits": "N/A" if running else 1,
        "duration": _duration(slot),
        "created_at": iso(slot.completed_at),
        "user_configuration": slot.configuration,
        "task_initiated": False,
        "task_executions_count": 0,
        "api_key_name": "emulator",
        "browser_ip": "127.0.0.1",
        "domains": [],
    }


def session_detail_json(slot: Slot) -> dict[str, Any]:
    """The ``data`` of ``GET /v1/sessions/{id}`` (its ``tags`` is an object there: left out)."""
    return {
        "session_id": slot.session_id,
        "status": session_status(slot),
        "duration": _duration(slot),
        "credits_used": 0 if session_status(slot) == "running" else 1,
        "configuration": slot.configuration,
        "playground": False,
        "proxy_bytes": 0,
        "steps": 0,
        "created_at": iso(slot.completed_at),
    }
