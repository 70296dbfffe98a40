"""What the engine tells observers (progress displays, logs) while it runs.

The engine updates a :class:`RunState` and calls ``observer(event, state)``;
it knows nothing of widgets or bars. Observers must be quick and must not
raise (a failing observer is disabled, never the run).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "Observer", "RunState", "SessionState"]

# Event names, in roughly the order a run emits them.
RUN_STARTED = "run_started"
PHASE = "phase"  # provisioning phase changed (queued, provisioning, configuring, ready)
SESSION_REQUESTED = "session_requested"
SESSION_READY = "session_ready"
SESSION_FAILED = "session_failed"  # provisioning, connect or setup failed, or the browser died
SESSION_ENDED = "session_ended"
ROW_RETRYING = "row_retrying"
ROW_DONE = "row_done"
RUN_FINISHED = "run_finished"


@dataclass
class SessionState:
    """Live counters of one session, as a progress table shows them."""

    session: str
    state: str = "starting"  # starting, ready, failed, lost, ended
    batch: str | None = None
    tabs: int = 0
    pages_ok: int = 0
    pages_failed: int = 0
    errors: int = 0
    ready_s: float | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None
    error: str | None = None


@dataclass
class RunState:
    """Live counters of a run. Rows count input rows (duplicates included)."""

    backend: str
    rows_total: int
    urls_total: int
    sessions_planned: int
    tabs: int
    batches: int = 1
    est_seconds: float = 0.0
    est_session_minutes: float = 0.0
    phase: str = "queued"
    rows_ok: int = 0
    rows_failed: int = 0
    rows_invalid: int = 0
    rows_skipped: int = 0
    retrying: int = 0
    sessions_requested: int = 0
    sessions_ready: int = 0
    sessions_failed: int = 0
    started: float = field(default_factory=time.monotonic)
    first_result_s: float | None = None
    finished: float | None = None
    sessions: dict[str, SessionState] = field(default_factory=dict)

    @property
    def rows_done(self) -> int:
        return self.rows_ok + self.rows_failed + self.rows_invalid + self.rows_skipped

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Scraped rows per second so far (invalid rows excluded)."""
        elapsed = self.elapsed
        scraped = self.rows_ok + self.rows_failed
        return scraped / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        rate = self.rate
        remaining = self.rows_total - self.rows_done
        if remaining <= 0:
            return 0.0
        return remaining / rate if rate > 0 else None


@dataclass(frozen=True)
class Event:
    name: str
    session: str | None = None
    detail: Any = None


Observer = Callable[[Event, RunState], None]
