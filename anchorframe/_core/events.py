"""What the engine tells observers (progress displays, logs) while it runs.

The engine updates a :class:`RunState` and calls ``observer(event, state)``;
it knows nothing of widgets or bars. Observers must be quick and must not
raise (a failing observer is disabled, never the run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Broadcast", "Event", "Observer", "RunState", "SessionState"]

log = logging.getLogger("anchorframe")

# Event names, in roughly the order a run emits them.
RUN_STARTED = "run_started"
PHASE = "phase"  # provisioning phase changed (queued, provisioning, configuring, ready)
SESSION_REQUESTED = "session_requested"
SESSION_READY = "session_ready"
SESSION_FAILED = "session_failed"  # provisioning, connect or setup failed, or the browser died
SESSION_ENDED = "session_ended"
ROW_RETRYING = "row_retrying"
ROW_DONE = "row_done"
SITE_PAUSED = "site_paused"  # a site answered 429/503: its rows wait (detail: the Pause)
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
    #: Rows robots.txt disallows (resolved ``skipped``, reason ``robots_txt``; never fetched).
    rows_disallowed: int = 0
    #: Sites paused now: site -> loop time it reopens (the progress display shows them).
    paused_sites: dict[str, float] = field(default_factory=dict)
    retrying: int = 0
    sessions_requested: int = 0
    sessions_ready: int = 0
    sessions_failed: int = 0
    started: float = field(default_factory=time.monotonic)
    first_result_s: float | None = None
    finished: float | None = None
    sessions: dict[str, SessionState] = field(default_factory=dict)
    #: While the orchestrator is saturated, what the panel shows (``_saturation.py``); else None.
    saturation: str | None = None
    #: CPU ms this process and its Playwright driver spent per row resolved, measured during
    #: the run by the saturation watch (None: not measured, e.g. no browser session started).
    orchestrator_ms_per_page: float | None = None

    @property
    def rows_done(self) -> int:
        return self.rows_ok + self.rows_failed + self.rows_invalid + self.rows_skipped + self.rows_disallowed

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


class Broadcast:
    """The engine's one observer: essential observers, then displays, with one failure policy.

    An essential observer (the checkpoint writer) is never switched off: an error
    in it is logged and it keeps receiving events. A display that raises is
    turned off for the rest of the run with one warning; the run and the
    essential observers go on.

    Example:
        >>> seen = []
        >>> def broken(event, state):
        ...     raise RuntimeError("frontend gone")
        >>> fan = Broadcast(essential=[lambda e, s: seen.append(e.name)], displays=[broken])
        >>> fan(Event("row_done"), None)  # logs one warning, turns the display off
        >>> fan(Event("row_done"), None)
        >>> seen, fan.displays
        (['row_done', 'row_done'], [])
    """

    def __init__(self, *, essential: list[Observer] | None = None, displays: list[Observer] | None = None):
        self.essential = [o for o in essential or [] if o is not None]
        self.displays = [o for o in displays or [] if o is not None]

    def __call__(self, event: Event, state: RunState) -> None:
        for observer in self.essential:
            try:
                observer(event, state)
            except Exception:
                log.error("An anchorframe observer failed on %s; it stays on.", event.name, exc_info=True)
        for display in list(self.displays):
            try:
                display(event, state)
            except Exception:
                log.warning("The progress display failed and was turned off for this run.", exc_info=True)
                self.displays.remove(display)
