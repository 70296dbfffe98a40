"""Engine events -> a progress display that fits where the code runs.

``progress=None`` looks, as tqdm.autonotebook does: a Jupyter kernel with a
widget frontend gets the ipywidgets panel, a terminal gets tqdm bars, and
output that nobody watches (a pipeline, CI, a redirected stream) gets nothing.
``True`` forces a display, ``False`` turns it off. A display that fails is
replaced by nothing with a one-line hint; it never breaks the run.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Protocol

from . import _events as ev
from ._events import Event, RunState

__all__ = ["Display", "choose_display", "in_notebook"]

log = logging.getLogger("anchorframe")

#: Seconds between two refreshes of a display: a fast run must not flood a frontend.
REFRESH_SECONDS = 0.2


class Display(Protocol):
    def __call__(self, event: Event, state: RunState) -> None: ...

    def close(self, state: RunState) -> None: ...


def in_notebook() -> bool:
    """True inside a Jupyter kernel, false in the IPython terminal and in scripts.

    Looks at the running shell rather than at imports: a kernel's shell is a
    ZMQInteractiveShell or a subclass of it (Colab's, VS Code's), with a kernel.
    """
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ipython = shell.get_ipython()  # type: ignore[attr-defined]
    except Exception:
        return False
    if ipython is None or getattr(ipython, "kernel", None) is None:
        return False
    return any(cls.__name__ == "ZMQInteractiveShell" for cls in type(ipython).__mro__)


def _stream_watched(stream: Any) -> bool:
    if os.environ.get("CI") and not os.environ.get("ANCHORFRAME_PROGRESS"):
        return False
    try:
        return bool(stream.isatty())
    except Exception:
        return False


def choose_display(progress: bool | str | None) -> Display | None:
    """The display for ``progress`` (None: by looking; True/False: forced; "text"/"widgets"/"tqdm")."""
    if progress is False:
        return None
    kind = progress if isinstance(progress, str) else None
    if kind is None:
        if in_notebook():
            kind = "widgets"
        elif _stream_watched(sys.stderr) or progress is True:
            kind = "tqdm"
        else:
            return None
    if kind == "widgets":
        try:
            from ._panel import Panel

            return Panel()
        except Exception as exc:
            log.warning(
                "The progress panel is unavailable (%s: %s); showing text progress instead. "
                "Fix: pip install 'ipywidgets>=8' in the kernel's environment, then restart the kernel.",
                type(exc).__name__,
                str(exc).strip().splitlines()[0] if str(exc).strip() else "",
            )
            return TqdmDisplay(plain=True)
    if kind == "tqdm":
        return TqdmDisplay()
    if kind == "log":
        return LogDisplay()
    raise ValueError(f"progress must be None, True, False, 'widgets', 'tqdm' or 'log', not {progress!r}.")


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
        self._sessions.set_postfix_str(f"failed={state.sessions_failed} phase={state.phase}", refresh=False)
        self._sessions.refresh()
        self._rows.n = state.rows_done
        self._rows.set_postfix_str(
            f"ok={state.rows_ok} failed={state.rows_failed} retrying={state.retrying}", refresh=False
        )
        self._rows.refresh()

    def close(self, state: RunState) -> None:
        if self._rows is not None:
            self._update(state)
            self._sessions.close()
            self._rows.close()


class LogDisplay(_Throttled):
    """Progress as log lines on the ``anchorframe`` logger (for pipelines that want them)."""

    def __init__(self, every: float = 10.0) -> None:
        super().__init__()
        self._every = every
        self._last_line = 0.0

    def __call__(self, event: Event, state: RunState) -> None:
        if event.name in (ev.SESSION_FAILED,):
            log.info("session %s failed: %s", event.session, event.detail)
        now = time.monotonic()
        if now - self._last_line >= self._every:
            self._last_line = now
            log.info(
                "%d/%d rows (%d ok, %d failed), %d sessions ready, %.1f rows/s",
                state.rows_done,
                state.rows_total,
                state.rows_ok,
                state.rows_failed,
                state.sessions_ready,
                state.rate,
            )

    def close(self, state: RunState) -> None:
        log.info(
            "done: %d rows (%d ok, %d failed, %d invalid, %d skipped) in %.1f s",
            state.rows_total,
            state.rows_ok,
            state.rows_failed,
            state.rows_invalid,
            state.rows_skipped,
            state.elapsed,
        )
