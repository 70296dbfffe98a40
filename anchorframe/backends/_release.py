"""One registry of what must be released when the interpreter exits.

Local Chromium processes and cloud session pools both register here while they
are live and leave when they are ended the normal way. At interpreter exit (and
from a signal handler that calls :func:`release_all`) whatever is still
registered is released with its blocking ``release`` function, newest first:
a pool opened after a browser may depend on it, never the other way round.

Example:
    >>> from anchorframe.backends._release import REGISTRY
    >>> class Thing:
    ...     def close(self): print("closed")
    >>> thing = Thing()
    >>> REGISTRY.add(thing, thing.close)
    >>> REGISTRY.release_all()
    closed
    >>> REGISTRY.snapshot()
    []
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["REGISTRY", "ExitRegistry", "release_all"]

log = logging.getLogger("anchorframe")


class ExitRegistry:
    """Live things and the blocking function that releases each. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, tuple[Any, Callable[[], Any]]] = {}

    def add(self, item: Any, release: Callable[[], Any]) -> None:
        """Remember ``item`` until :meth:`discard`; ``release()`` ends it at exit."""
        with self._lock:
            self._items[id(item)] = (item, release)

    def discard(self, item: Any) -> None:
        """Forget ``item`` (it was released the normal way). Idempotent."""
        with self._lock:
            self._items.pop(id(item), None)

    def snapshot(self, kind: type | None = None) -> list[Any]:
        """The items registered now (only instances of ``kind`` if given), oldest first."""
        with self._lock:
            items = [item for item, _ in self._items.values()]
        return [item for item in items if kind is None or isinstance(item, kind)]

    def release_all(self) -> None:
        """Release everything still registered, newest first; one failure does not stop the rest."""
        with self._lock:
            entries = list(self._items.values())[::-1]
            self._items.clear()
        for item, release in entries:
            try:
                release()
            except Exception as exc:  # at exit there is nobody left to raise to
                log.warning("Could not release %r at exit: %s", item, exc)


REGISTRY = ExitRegistry()


def release_all() -> None:
    """Release every live browser and cloud pool of this process now (atexit calls it too)."""
    REGISTRY.release_all()


atexit.register(release_all)
