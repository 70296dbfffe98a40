"""Results as files for pipelines: Parquet, CSV and JSON Lines, status columns kept.

``shape_for_export`` decides the columns (no I/O); ``write_*`` write them.
Dicts that a callable returned are flattened into ``column.key`` columns, or kept
as structs (Parquet) and objects (JSON) with ``nested="struct"``. What a format
cannot hold is written as text: bytes as base64 in CSV and JSON, and anything
Arrow cannot type as JSON text in Parquet.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..errors import InputError

__all__ = ["Nested", "arrow_table", "shape_for_export", "write_csv", "write_json", "write_parquet"]

Nested = Literal["flatten", "struct"]


def shape_for_export(frame: pd.DataFrame, nested: Nested = "flatten") -> pd.DataFrame:
    """``frame`` with dict columns spread into ``column.key`` columns (``nested="flatten"``).

    Example:
        >>> frame = pd.DataFrame({"url": ["u"], "shop": [{"name": "A", "geo": {"city": "B"}}]})
        >>> list(shape_for_export(frame).columns)
        ['url', 'shop.name', 'shop.geo.city']
    """
    if nested not in ("flatten", "struct"):
        raise InputError(f"nested must be 'flatten' or 'struct', not {nested!r}.")
    if nested == "struct":
        return frame
    pieces: dict[Any, pd.Series] = {}
    changed = False
    for column in frame.columns:
        series = frame[column]
        spread = _flatten(series, str(column)) if series.dtype == object else None
        if spread is None:
            pieces[column] = series
        else:
            changed = True
            pieces.update(spread)
    if not changed:
        return frame
    out = pd.DataFrame(pieces, index=frame.index)
    return out


def _flatten(series: pd.Series, name: str) -> dict[str, pd.Series] | None:
    values = series.tolist()
    present = [v for v in values if v is not None and not (isinstance(v, float) and v != v)]
    if not present or not all(isinstance(v, Mapping) for v in present):
        return None
    keys: dict[str, None] = {}
    for value in present:
        keys.update(dict.fromkeys(str(k) for k in value))
    out: dict[str, pd.Series] = {}
    for key in keys:
        column = pd.Series(
            [
                {str(k): v for k, v in value.items()}.get(key) if isinstance(value, Mapping) else None
                for value in values
            ],
            index=series.index,
            dtype=object,
        )
        deeper = _flatten(column, f"{name}.{key}")
        if deeper is None:
            out[f"{name}.{key}"] = _typed(column)
        else:
            out.update(deeper)
    return out


def _typed(column: pd.Series) -> pd.Series:
    """Whole numbers and booleans with gaps keep their kind (Int64, boolean), as in results."""
    present = column.dropna().tolist()
    if present and all(type(v) is int for v in present):
        return column.astype("Int64")
    if present and all(type(v) is bool for v in present):
        return column.astype("boolean")
    return column.infer_objects()


def _default_index(frame: pd.DataFrame) -> bool:
    index = frame.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None


def _as_text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, default=_json_default)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)


def _prepare(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str], *, nested: Nested = "flatten") -> None:
    """Write ``frame`` as one Parquet file; object columns Arrow cannot type become JSON text."""
    import pyarrow.parquet as pq

    pq.write_table(arrow_table(frame, nested=nested), _prepare(path))


def arrow_table(frame: pd.DataFrame, *, nested: Nested = "flatten", keep_index: bool = False) -> Any:
    """``frame`` as the Arrow table ``write_parquet`` writes (``keep_index``: always store the index)."""
    import pyarrow as pa

    shaped = shape_for_export(frame, nested).copy()
    for column in shaped.columns:
        if shaped[column].dtype != object:
            continue
        try:
            pa.array(shaped[column].tolist(), from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            shaped[column] = shaped[column].map(
                lambda v: None if v is None else json.dumps(v, default=_json_default)
            )
    if not all(isinstance(c, str) for c in shaped.columns):
        shaped.columns = [str(c) for c in shaped.columns]
    keep = True if keep_index or not _default_index(shaped) else None
    return pa.Table.from_pandas(shaped, preserve_index=keep)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], *, nested: Nested = "flatten") -> None:
    """Write ``frame`` as CSV: dicts and lists as JSON text, bytes as base64."""
    shaped = shape_for_export(frame, nested).copy()
    for column in shaped.columns:
        if shaped[column].dtype == object:
            shaped[column] = shaped[column].map(_as_text)
    shaped.to_csv(_prepare(path), index=not _default_index(shaped))


def write_json(
    frame: pd.DataFrame, path: str | os.PathLike[str], *, nested: Nested = "flatten", lines: bool = True
) -> None:
    """Write ``frame`` as JSON Lines (one object per row; ``lines=False``: one array)."""
    shaped = shape_for_export(frame, nested)
    if not _default_index(shaped):
        shaped = shaped.reset_index()
    shaped = shaped.copy()
    for column in shaped.columns:
        if shaped[column].dtype == object:
            shaped[column] = shaped[column].map(
                lambda v: (
                    base64.b64encode(bytes(v)).decode("ascii")
                    if isinstance(v, (bytes, bytearray, memoryview))
                    else v
                )
            )
    shaped.to_json(
        _prepare(path), orient="records", lines=lines, date_format="iso", default_handler=_json_default
    )
