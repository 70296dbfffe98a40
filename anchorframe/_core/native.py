"""Frames that are not pandas: a polars DataFrame or LazyFrame, a pyarrow Table, in and back out. No I/O.

The engine works on pandas. :func:`read_native` turns a polars or pyarrow frame (or Series)
into pandas for it, and keeps the user's frame as a :class:`NativeFrame`;
:meth:`NativeFrame.results` hands a run's rows back in the user's library: the user's own
columns as they came in (the same values and dtypes, never through pandas and back), with
the scraped and status columns converted beside them, same rows, same order. A polars
LazyFrame is collected once (the rows must be read to be scraped) and comes back as a
LazyFrame over the result.

Conversions go through narwhals, a maintained compatibility layer between frame libraries.
It is an optional dependency (``pip install 'anchorframe[polars]'`` or
``'anchorframe[arrow]'``), imported only when such a frame is handed in: pandas input never
imports it.

Example:
    >>> import polars as pl
    >>> frame, native = read_native(pl.LazyFrame({"url": ["https://a.test/1"], "n": [1]}))
    >>> type(frame).__module__, frame["n"].tolist(), type(native.frame).__name__, native.lazy
    ('pandas', [1], 'DataFrame', True)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from ..errors import InputError

__all__ = ["FRAME_LIBRARIES", "NativeFrame", "is_native", "read_native"]

log = logging.getLogger("anchorframe")

#: Libraries whose frames come back as their own kind, and the extra that brings narwhals for them.
FRAME_LIBRARIES: dict[str, str] = {"polars": "polars", "pyarrow": "arrow"}


def _library(data: Any) -> str:
    return type(data).__module__.partition(".")[0]


def is_native(data: Any) -> bool:
    """Whether ``data`` is a frame (or series) of a library listed in ``FRAME_LIBRARIES``.

    It looks at the type's module only, so a pandas or list input imports nothing.

    Example:
        >>> is_native(pd.DataFrame({"url": []})), is_native(["https://a.test"])
        (False, False)
    """
    return _library(data) in FRAME_LIBRARIES


def _narwhals(data: Any) -> Any:
    library = _library(data)
    try:
        import narwhals.stable.v2 as nw
    except ImportError:
        raise InputError(
            f"A {library} {type(data).__name__} is read and given back through narwhals, which is not "
            f"installed. Install it: pip install 'anchorframe[{FRAME_LIBRARIES[library]}]' "
            "(or pass a pandas DataFrame: data.to_pandas())."
        ) from None
    return nw


@dataclass(frozen=True, eq=False)
class NativeFrame:
    """The user's frame, kept to give a result back in its library (see the module docstring)."""

    #: The user's rows in their own library, eager (a LazyFrame collected), without ``af_*`` columns.
    frame: Any
    #: The user handed a LazyFrame: results come back as one.
    lazy: bool = False

    def _wrapped(self) -> Any:
        return _narwhals(self.frame).from_native(self.frame, eager_only=True)

    def without(self, columns: Iterable[Hashable]) -> NativeFrame:
        """This frame without ``columns`` (an earlier result's status columns handed back in)."""
        return replace(self, frame=self._wrapped().drop([str(c) for c in columns]).to_native())

    def results(self, frame: pd.DataFrame) -> Any:
        """``frame`` (a result's pandas rows) in the user's library: their columns, then the rest.

        Example:
            >>> import polars as pl
            >>> native = NativeFrame(pl.DataFrame({"url": ["https://a.test/1"]}))
            >>> native.results(pd.DataFrame({"url": ["https://a.test/1"], "h1": ["A"]})).to_dicts()
            [{'url': 'https://a.test/1', 'h1': 'A'}]
        """
        nw = _narwhals(self.frame)
        user = self._wrapped()
        theirs = set(user.columns)
        scraped = frame.drop(columns=[c for c in frame.columns if c in theirs]).reset_index(drop=True)
        scraped.columns = [str(c) for c in scraped.columns]  # Arrow names columns with text
        try:
            arrow = nw.from_native(scraped, eager_only=True).to_arrow()
        except _arrow_refuses():  # a column of mixed types: given as JSON text, and said
            arrow = nw.from_native(_as_json_text(scraped), eager_only=True).to_arrow()
        converted = nw.from_arrow(arrow, backend=user.implementation)
        joined = nw.concat([user, converted], how="horizontal")
        return (joined.lazy() if self.lazy else joined).to_native()

    def rows_with(self, results: Any, column: str, values: list[str]) -> Any:
        """The rows of ``results`` (a frame :meth:`results` made) whose ``column`` is one of ``values``."""
        nw = _narwhals(self.frame)
        return nw.from_native(results).filter(nw.col(column).is_in(values)).to_native()


def read_native(data: Any) -> tuple[pd.DataFrame | pd.Series, NativeFrame]:
    """``data`` (a polars or pyarrow frame or series) as pandas, and the frame to give results back as.

    Raises:
        InputError: narwhals is not installed (the message names the extra), or ``data`` is
            of a kind that cannot be read as rows (a lazy frame other than polars').
    """
    nw = _narwhals(data)
    wrapped = nw.from_native(data, pass_through=True, allow_series=True)
    if isinstance(wrapped, nw.LazyFrame):
        if _library(data) != "polars":
            raise InputError(
                f"scrape() reads a lazy frame of polars only, not {type(data).__name__}. "
                "Collect it first (data.collect()) or pass a pandas DataFrame."
            )
        eager = wrapped.collect()
        return eager.to_pandas(), NativeFrame(eager.to_native(), lazy=True)
    if isinstance(wrapped, nw.Series):
        return wrapped.to_pandas(), NativeFrame(wrapped.to_frame().to_native())
    if isinstance(wrapped, nw.DataFrame):
        return wrapped.to_pandas(), NativeFrame(wrapped.to_native())
    raise InputError(
        f"scrape() takes a DataFrame, a Series or a list of URLs (pandas, polars or pyarrow), "
        f"not {type(data).__name__}. Convert it to a table: e.g. pa.table({{'url': [...]}})."
    )


def _arrow_refuses() -> tuple[type[BaseException], ...]:
    """What Arrow raises for a column it cannot type (pyarrow imported only here, when needed)."""
    import pyarrow as pa

    return (pa.ArrowException, TypeError, ValueError, OverflowError)


def _as_json_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each column Arrow cannot type (values of mixed types) as JSON text.

    A scraper may return a value of one type on some rows and another elsewhere (a price as
    a number, then as text); Arrow (under polars and pyarrow) needs one type per column. As
    ``to_parquet`` does, such a column is given as JSON text, and the log says which.
    """
    import pyarrow as pa

    mixed = []
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        try:
            pa.array(frame[column], from_pandas=True)
        except _arrow_refuses():
            mixed.append(column)
    if not mixed:
        return frame
    log.warning(
        "The scraper returned values of different types in column(s) %s; they come back as JSON text. "
        "Return one type per column to keep their values typed.",
        mixed,
    )
    frame = frame.copy()
    for column in mixed:
        frame[column] = frame[column].map(lambda v: None if _missing(v) else json.dumps(v, default=str))
    return frame


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)
