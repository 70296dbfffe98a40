"""Frames a builder already gave their final columns and dtypes: handing one back costs nothing.

A result's frames are shaped where they are built (``attempts_frame``, ``evidence_frame``,
``errors_frame``) and shaped again wherever a frame comes in from elsewhere (a checkpoint, a
merge of shards, a result built by hand). Each shaping is a few pandas operations, ~1-3 ms a
frame; a run that built its frames a moment ago paid it twice, and ~40 ms of a run's fixed
cost went to assembling its result (``benchmarks/orchestrator.py``). :class:`Shaped` remembers
the frames a builder made (weakly, by identity: a DataFrame is not hashable) until they are
handed back once (:meth:`Shaped.take`: from the builder to the result that keeps it; a frame
handed on from there is shaped, i.e. copied, again, so no two results share one), and keeps one
empty frame to copy.

Example:
    >>> shaped = Shaped(("a", "b"))
    >>> frame = shaped.mark(pd.DataFrame({"a": [1], "b": [2]}))
    >>> shaped.take(frame), shaped.take(frame), shaped.take(pd.DataFrame({"a": [1], "b": [2]}))
    (True, False, False)
    >>> frame = shaped.mark(frame)
    >>> frame["c"] = 3  # changed since: shaped again when handed back
    >>> shaped.take(frame)
    False
    >>> empty = shaped.empty(lambda: pd.DataFrame(columns=["a", "b"]))
    >>> shaped.take(empty), len(empty), empty is shaped.empty(lambda: pd.DataFrame())
    (True, 0, False)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

__all__ = ["Shaped"]


class Shaped:
    """The frames one builder made with ``columns`` (see the module's docstring)."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self._made: weakref.WeakValueDictionary[int, pd.DataFrame] = weakref.WeakValueDictionary()
        self._empty: pd.DataFrame | None = None

    def mark(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Note ``frame`` as shaped; returns it."""
        self._made[id(frame)] = frame
        return frame

    def take(self, frame: Any) -> bool:
        """``frame`` was made by the builder, not taken since and still has exactly its columns
        (it is then taken: handed back again, it is shaped again)."""
        if not isinstance(frame, pd.DataFrame) or self._made.pop(id(frame), None) is not frame:
            return False  # (two live objects never share an id: nothing else was popped)
        return tuple(frame.columns) == self.columns

    def empty(self, build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """A copy of the empty frame ``build()`` makes (built once per process), marked shaped."""
        if self._empty is None:
            self._empty = build()
        return self.mark(self._empty.copy())
