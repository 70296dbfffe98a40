"""Reading a checkpoint back, of either kind: ``af.load_checkpoint`` builds its result from this.

A pandas input's checkpoint holds its rows in its own parts (:mod:`.checkpoint_files`); a dask
input's holds only its partitions' names, its rows being in ``out=``
(:mod:`.checkpoint_partitions`). This module tells them apart by the manifest.

Example:
    >>> contents = read_checkpoint("run.ckpt")  # doctest: +SKIP
    >>> contents.table.work[0].status  # doctest: +SKIP
    'ok'
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pandas as pd

from .._core.table import prepare_input
from ..errors import InputError
from .checkpoint_files import (
    _URL,
    INPUT,
    MANIFEST,
    CheckpointContents,
    _apply,
    _plan_from,
    _read_frames,
    _read_manifest,
    _records,
    read_evidence,
    read_records,
)
from .checkpoint_partitions import read_partition_checkpoint

__all__ = ["read_checkpoint"]


def read_checkpoint(path: str | os.PathLike[str]) -> CheckpointContents:
    """Read a checkpoint, also while a run is still writing it (``af.load_checkpoint`` builds the result)."""
    import pyarrow.parquet as pq

    root = Path(path)
    if not root.is_dir():
        raise InputError(f"There is no checkpoint at {root} (no such directory).")
    manifest = _read_manifest(root)
    if manifest is None:
        raise InputError(f"{root} is not an anchorframe checkpoint: it has no {MANIFEST}.")
    info = manifest.get("input", {})
    if manifest.get("kind") == "dask":  # its rows are in out=, its partitions named in the parts
        return read_partition_checkpoint(root, manifest)
    frame = pq.read_table(root / INPUT).to_pandas()
    runs = manifest.get("runs") or [{}]
    last = runs[-1]
    schemes = last.get("schemes") or ("http", "https")
    dedupe = bool(last.get("dedupe", True))
    url_column = _stored_column(frame, info.get("url_column", "url"), root)
    table = prepare_input(frame, url_column, schemes=schemes, dedupe=dedupe)
    records = read_records(root)
    unfinished = False
    for item in table.work:
        record = records.get(item.positions[0])
        if record is not None and record[_URL] == item.url:
            _apply(item, record)
        unfinished = unfinished or item.status is None
    return CheckpointContents(
        table=table,
        error_records=_records(_read_frames(root, "_errors-")),
        session_records=_records(_read_frames(root, "_sessions-")),
        plan=_plan_from(last.get("plan"), table),
        backend=str(last.get("backend") or "unknown"),
        run_id=str(last.get("run_id") or f"checkpoint-{len(runs)}"),
        elapsed=sum(float(r.get("elapsed") or 0.0) for r in runs),
        interrupted=bool(last.get("interrupted")) or last.get("ended") is None or unfinished,
        call={"url": url_column, "dedupe": dedupe, "schemes": schemes, "progress": None},
        out=last.get("out"),
        evidence_records=_evidence_not_ok(root, table),
    )


def _evidence_not_ok(root: Path, table: Any) -> list[dict[str, Any]]:
    """The runs' evidence of rows that are not ok now (a row ok since needs none)."""
    ok = {item.url for item in table.work if item.status == "ok"}
    return [record for record in _records(read_evidence(root)) if record.get("url") not in ok]


def _stored_column(frame: pd.DataFrame, name: Any, root: Path) -> Hashable:
    """The URL column of a stored input; a non-string column name was stored as text."""
    if name in frame.columns:
        return name  # type: ignore[no-any-return]
    for column in frame.columns:
        if str(column) == str(name):
            return column  # type: ignore[no-any-return]
    raise InputError(
        f"The checkpoint {root} is damaged: its input has no URL column {name!r} "
        f"(columns: {list(frame.columns)}). Start it afresh with checkpoint_overwrite=True."
    )
