"""Text progress: tqdm bars for a terminal, log lines for a pipeline.

Both are throttled to one refresh per ``REFRESH_SECONDS``. The notebook panel
(``_panel``) falls back to these bars when its widgets fail.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from .._core import events as ev
from .._core.events import Event, RunState

__all__ = ["REFRESH_SECONDS", "LogDisplay", "TqdmDisplay"]

log = logging.getLogger("anchorframe")
#: Where progress="log" writes its lines.
progress_log = logging.getLogger("anchorframe.progress")

#: Seconds between two refreshes of a display: a fast run must not flood a frontend.
REFRESH_SECONDS = 0.2


class _Throttled:
    def __init__(self) -> None:
        self._last = 0.0

    def due(self, event: Event) -> bool:
        now = time.monotonic()
        if event.name in (ev.ROW_DONE, ev.ROW_RETRYING) and now - self._last < REFRESH_SECONDS:
            return False
        self._last = now
        return True


class TqdmDisplay(_Throttled):
    """Two tqdm bars: sessions, then rows.

    ``plain`` forces text bars on stderr (the fallback when widgets are broken:
    tqdm's notebook bars would need the same widgets).
    """

    def __init__(self, *, plain: bool = False) -> None:
        super().__init__()
        self._plain = plain
        self._sessions: Any = None
        self._rows: Any = None

    def __call__(self, event: Event, state: RunState) -> None:
        if self._plain:
            from tqdm.std import tqdm
        else:
            from tqdm.auto import tqdm

        if self._rows is None:
            self._sessions = tqdm(
                total=state.sessions_planned,
                desc=f"sessions ({state.backend})",
                unit="session",
                leave=True,
                position=0,
            )
            self._rows = tqdm(total=state.rows_total, desc="rows", unit="row", leave=True, position=1)
        if not self.due(event) and event.name != ev.RUN_FINISHED:
            return
        self._update(state)

    def _update(self, state: RunState) -> None:
        self._sessions.total = max(state.sessions_requested, state.sessions_planned)
        self._sessions.n = state.sessions_ready
        saturated = " saturated" if state.saturation else ""
        self._sessions.set_postfix_str(
            f"failed={state.sessions_failed} phase={state.phase}{saturated}", refresh=False
        )
        self._sessions.refresh()
        self._rows.n = state.rows_done
        now = time.monotonic()
        paused = sum(1 for until in state.paused_sites.values() if until > now)
        self._rows.set_postfix_str(
            f"ok={state.rows_ok} failed={state.rows_failed} retrying={state.retrying}"
            + (f" paused_sites={paused}" if paused else ""),
            refresh=False,
        )
        self._rows.refresh()

    def close(self, state: RunState) -> None:
        if self._rows is not None:
            self._update(state)
            self._sessions.close()
            self._rows.close()


class LogDisplay(_Throttled):
    """Progress as log lines on the ``anchorframe.progress`` logger (for pipelines that want them).

    ``progress="log"`` asks for the lines, so they are shown also where logging was never set
    up: the logger logs at INFO unless given a level, and when no handler would take its
    records (no ``logging.basicConfig``), the display writes them to stderr itself for the run.
    """

    def __init__(self, every: float = 10.0) -> None:
        super().__init__()
        self._every = every
        self._last_line = 0.0
        self._handler: logging.Handler | None = None
        if progress_log.level == logging.NOTSET:
            progress_log.setLevel(logging.INFO)
        if not progress_log.hasHandlers():
            self._handler = logging.StreamHandler(sys.stderr)
            self._handler.setFormatter(logging.Formatter("%(asctime)s anchorframe: %(message)s"))
            progress_log.addHandler(self._handler)

    def __call__(self, event: Event, state: RunState) -> None:
        if event.name in (ev.SESSION_FAILED,):
            progress_log.info("session %s failed: %s", event.session, event.detail)
        elif event.name == ev.SITE_PAUSED:
            pause = event.detail
            progress_log.info("site %s paused for %.0f s (%s)", pause.site, pause.seconds, pause.reason)
        now = time.monotonic()
        if now - self._last_line >= self._every:
            self._last_line = now
            progress_log.info(
                "%d/%d rows (%d ok, %d failed), %d sessions ready, %.1f rows/s",
                state.rows_done,
                state.rows_total,
                state.rows_ok,
                state.rows_failed,
                state.sessions_ready,
                state.rate,
            )

    def close(self, state: RunState) -> None:
        progress_log.info(
            "done: %d rows (%d ok, %d failed, %d invalid, %d skipped) in %.1f s",
            state.rows_total,
            state.rows_ok,
            state.rows_failed,
            state.rows_invalid,
            state.rows_skipped,
            state.elapsed,
        )
        if self._handler is not None:
            progress_log.removeHandler(self._handler)
            self._handler = None
