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
from typing import Any, Protocol

from .._core.events import Event, RunState
from ..errors import InputError
from .bars import LogDisplay, TqdmDisplay

__all__ = ["Display", "choose_display", "in_notebook"]

log = logging.getLogger("anchorframe")


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
            from .panel import Panel

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
    raise InputError(f"progress must be None, True, False, 'widgets', 'tqdm' or 'log', not {progress!r}.")
