"""The frames of a result: ``results``, ``errors`` and ``sessions``, from the run's records. No I/O.

``results_frame`` puts each row's outcome beside its input row (same index, same order),
``errors_frame`` and ``sessions_frame`` give the failure and session records their fixed
columns. The input side (:class:`~anchorframe._core.table.InputTable`, :class:`Work`) is
in :mod:`anchorframe._core.table`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import pandas as pd

from .shaped import Shaped
from .table import (
    ATTEMPTS,
    ELAPSED,
    ERROR,
    HTTP_STATUS,
    REASON,
    RENDER,
    SESSION,
    STATUS,
    STATUS_COLUMNS,
    STATUSES,
    InputTable,
    Work,
)

log = logging.getLogger("anchorframe")

__all__ = [
    "ERROR_COLUMNS",
    "SESSION_COLUMNS",
    "errors_frame",
    "invalid_records",
    "results_frame",
    "sessions_frame",
]

#: Suffix for an output column whose name an input column already has.
OUTPUT_SUFFIX = "_scraped"
VALUE_COLUMN = "value"

ERROR_COLUMNS: tuple[str, ...] = (
    "scope",
    "session",
    "row",
    "url",
    "attempt",
    "stage",
    "reason",
    "error_type",
    "message",
    "time",
    "render",
    "site",
)
_ERRORS = Shaped(ERROR_COLUMNS)
SESSION_COLUMNS: tuple[str, ...] = (
    "session",
    "backend",
    "batch",
    "state",
    "tabs",
    "ready_s",
    "pages_ok",
    "pages_failed",
    "errors",
    "started",
    "ended",
    "session_minutes",
    "error",
)


def _output_columns(values: list[Any]) -> dict[str, list[Any]]:
    """Spread per-row outputs (dict, scalar or None) into columns, keys in first-seen order."""
    n = len(values)
    columns: dict[str, list[Any]] = {}
    for position, value in enumerate(values):
        if value is None:
            continue
        items = value.items() if isinstance(value, Mapping) else ((VALUE_COLUMN, value),)
        for key, item in items:
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * n
            column[position] = item
    return columns


def _column(values: list[Any]) -> Any:
    """A column for ``values``: whole numbers and booleans with gaps keep their kind (Int64, boolean)."""
    present = [v for v in values if v is not None]
    if present and len(present) < len(values):
        if all(type(v) is int for v in present):
            return pd.array(values, dtype="Int64")
        if all(type(v) is bool for v in present):
            return pd.array(values, dtype="boolean")
    return values


def invalid_records(table: InputTable) -> list[dict[str, Any]]:
    """Error records for the rows refused by the input checks (stage ``validate``)."""
    index = table.frame.index
    raw = table.column(table.url_column)
    checked_at = table.checked_at
    return [
        {
            "scope": "url",
            "session": None,
            "row": index[position],
            "url": raw[position] if isinstance(raw[position], str) else None,
            "attempt": 0,
            "stage": "validate",
            "reason": "invalid_url",
            "error_type": "InputError",
            "message": reason,
            "time": checked_at,
        }
        for position, reason in table.invalid.items()
    ]


def results_frame(
    table: InputTable, outcomes: Sequence[Work | None], skipped_reason: str = "not run"
) -> pd.DataFrame:
    """One row per input row, same index and order: input columns, outputs, status columns.

    ``outcomes[i]`` is the Work that answered row ``i`` (None for invalid rows).
    """
    n = table.rows
    status: list[str] = [""] * n
    reason: list[str | None] = [None] * n
    error: list[str | None] = [None] * n
    attempts: list[int] = [0] * n
    elapsed: list[float] = [math.nan] * n
    session: list[str | None] = [None] * n
    render: list[str | None] = [None] * n
    http_status: list[int | None] = [None] * n
    values: list[Any] = [None] * n
    for position in range(n):
        item = outcomes[position]
        if item is None:
            status[position] = "invalid"
            reason[position] = "invalid_url"
            error[position] = table.invalid.get(position, "invalid URL")
            continue
        status[position] = item.status or "skipped"
        if item.status is None:
            reason[position] = "skipped"
            error[position] = skipped_reason
        else:
            reason[position] = item.reason
            error[position] = item.message
        attempts[position] = item.attempts
        elapsed[position] = math.nan if item.elapsed is None else item.elapsed
        session[position] = item.session
        render[position] = item.render
        http_status[position] = item.http_status
        if item.status == "ok":
            values[position] = item.value
    outputs = _output_columns(values)
    taken = set(table.frame.columns) | set(STATUS_COLUMNS)
    named: dict[Hashable, list[Any]] = {}
    renamed: list[str] = []
    for key, column in outputs.items():
        name: Hashable = key
        while name in taken or name in named:
            name = f"{name}{OUTPUT_SUFFIX}"
        if name != key:
            renamed.append(f"{key!r} -> {name!r}")
        named[name] = column
    if renamed:  # said once per result, so that nobody looks for the value under the input's name
        log.warning(
            "The scraper returned column(s) named like input or status columns; they are kept as %s. "
            "Rename them in the scraper to choose their names.",
            ", ".join(renamed),
        )
    out = pd.DataFrame({name: _column(values) for name, values in named.items()}, index=pd.RangeIndex(n))
    out[STATUS] = pd.Categorical(status, categories=STATUSES)
    out[REASON] = pd.Series(reason, dtype="object")
    out[ERROR] = pd.Series(error, dtype="object")
    out[ATTEMPTS] = pd.Series(attempts, dtype="int64")
    out[ELAPSED] = pd.Series(elapsed, dtype="float64")
    out[SESSION] = pd.Series(session, dtype="object")
    out[RENDER] = pd.Series(render, dtype="object")
    out[HTTP_STATUS] = pd.array(http_status, dtype="Int64")
    base = table.frame.reset_index(drop=True)
    frame = pd.concat([base, out], axis=1) if len(base.columns) else out
    frame.index = table.frame.index
    return frame


def errors_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per failure event, with the fixed columns of ``ERROR_COLUMNS``."""
    return _ERRORS.build(list(records), _raw_errors, _shape_errors)


def _raw_errors(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(records), columns=list(ERROR_COLUMNS))


def _shape_errors(frame: pd.DataFrame) -> pd.DataFrame:
    frame["attempt"] = frame["attempt"].astype("Int64")
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for column in ("scope", "stage", "reason"):
        frame[column] = frame[column].astype("category")
    return frame


def sessions_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per browser session, with the fixed columns of ``SESSION_COLUMNS``."""
    frame = pd.DataFrame(list(records), columns=list(SESSION_COLUMNS))
    for column in ("tabs", "pages_ok", "pages_failed", "errors"):
        frame[column] = frame[column].astype("Int64")
    for column in ("ready_s", "session_minutes"):
        frame[column] = frame[column].astype("float64")
    for column in ("started", "ended"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
