"""Frames a builder already gave their final columns and dtypes: handing one back costs nothing.

A result's frames are shaped where they are built (``attempts_frame``, ``evidence_frame``,
``errors_frame``) and shaped again wherever a frame comes in from elsewhere (a checkpoint, a
merge of shards, a result built by hand). Each shaping is a few pandas operations, ~1-3 ms a
frame; a run that built its frames a moment ago paid it twice, and ~40 ms of a run's fixed
cost went to assembling its result (``benchmarks/orchestrator.py``). :class:`Shaped` remembers
the frames a builder made (weakly, by identity: a DataFrame is not hashable) until they are
handed back once (:meth:`Shaped.build`: from the builder to the result that keeps it; a frame
handed on from there is shaped, i.e. copied, again, so no two results share one), and keeps one
empty frame to copy.

Example:
    >>> shaped = Shaped(("a", "b"))
    >>> raw = lambda records: pd.DataFrame(records).reindex(columns=["a", "b"])
    >>> shape = lambda frame: frame.astype("Int64")
    >>> frame = shaped.build([{"a": 1, "b": 2}], raw, shape)
    >>> shaped.build(frame, raw, shape) is frame  # the builder's frame, handed to its result
    True
    >>> again = shaped.build(frame, raw, shape)  # handed on from there: shaped (copied) again
    >>> again is frame, again.equals(frame)
    (False, True)
    >>> again["c"] = 3  # changed since it was built: shaped again when handed back
    >>> list(shaped.build(again, raw, shape).columns)
    ['a', 'b']
    >>> empty = shaped.build([], raw, shape)
    >>> len(empty), list(empty.columns), empty is shaped.build(None, raw, shape)
    (0, ['a', 'b'], False)
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

    def build(
        self,
        records: Any,
        raw: Callable[[Any], pd.DataFrame],
        shape: Callable[[pd.DataFrame], pd.DataFrame],
    ) -> pd.DataFrame:
        """``shape(raw(records))``, noted as made; ``records`` itself when it is a frame this
        builder made and not yet handed back; for no records, a copy of the empty frame."""
        if self._take(records):
            return records  # type: ignore[no-any-return]
        if records is None or (isinstance(records, (list, tuple)) and not records):
            if self._empty is None:
                self._empty = shape(raw(()))
            return self._mark(self._empty.copy())
        return self._mark(shape(raw(records)))

    def _mark(self, frame: pd.DataFrame) -> pd.DataFrame:
        self._made[id(frame)] = frame
        return frame

    def _take(self, frame: Any) -> bool:
        """``frame`` was made here, not taken since and still has exactly its columns (it is
        then taken: handed back again, it is shaped again)."""
        if not isinstance(frame, pd.DataFrame) or self._made.pop(id(frame), None) is not frame:
            return False  # (two live objects never share an id: nothing else was popped)
        return tuple(frame.columns) == self.columns
