"""The checkpoint of a run over a dask input: the run's identity and a lock, no rows.

Its rows are in the run's ``out=`` dataset, each part naming the partition it holds
(``_out.partitions_in``); a rerun with the same ``checkpoint=`` leaves those partitions
out (``_shards_run``). The directory holds only ``_manifest.json`` (``kind: "dask"``)::

    run.ckpt/
      _manifest.json   the input's token, partitions, columns and reading settings; each run
      _lock            held while a run uses it (an advisory lock)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .._core.plan import Plan
from .._core.secrets import mask_password
from .._core.table import InputTable, Work
from ..errors import InputError
from .checkpoint import _clear, _note_scraper_change, _release_lock, open_locked, write_run_frame
from .checkpoint_files import (
    FORMAT,
    MANIFEST,
    VERSION,
    CheckpointContents,
    _now,
    _plan_from,
    _plan_record,
    _read_frames,
    _records,
    _write_atomic,
    scraper_identity,
)

__all__ = ["PartitionCheckpoint", "open_partition_checkpoint", "read_partition_checkpoint"]


@dataclasses.dataclass
class PartitionCheckpoint:
    """The checkpoint of a run over a dask input: its identity and lock, no rows.

    Its rows are in the run's ``out=`` dataset, each part naming the partition it holds
    (``_out.partitions_in``): a resume leaves out the partitions written there. The
    manifest records the input's token (Dask's name for its task graph: the same
    files and steps, the same token), its partition count and columns, and each run.
    """

    root: Path
    manifest: dict[str, Any]
    _lock: Any = dataclasses.field(repr=False)
    _run: dict[str, Any] | None = dataclasses.field(default=None, repr=False)

    def describe_run(self, *, run_id: str, backend: str, out: str, plan: Plan, lengths: list[int]) -> None:
        """Record this run in the manifest (its ``out=`` with any password masked) and the
        input's rows per partition (for load_checkpoint)."""
        masked = mask_password(out)
        self._run = {
            "run_id": run_id,
            "started": _now(),
            "backend": backend,
            "out": masked,
            "plan": _plan_record(plan),
        }
        self.manifest["input"]["lengths"] = list(lengths)
        self.manifest["runs"].append(self._run)
        _write_atomic(self.root / MANIFEST, json.dumps(self.manifest, indent=2).encode())

    def close(
        self,
        *,
        interrupted: bool,
        counts: Mapping[str, int],
        errors: pd.DataFrame | None = None,
        sessions: pd.DataFrame | None = None,
        elapsed: float | None = None,
    ) -> None:
        """Record how this run ended (if it started), its errors and sessions, and release the
        directory. Idempotent."""
        try:
            if self._run is not None and self._lock is not None:
                number = len(self.manifest["runs"])
                write_run_frame(self.root, "errors", number, errors)
                write_run_frame(self.root, "sessions", number, sessions)
                self._run.update(ended=_now(), interrupted=interrupted, counts=dict(counts), elapsed=elapsed)
                _write_atomic(self.root / MANIFEST, json.dumps(self.manifest, indent=2).encode())
        finally:
            self.release()

    def release(self) -> None:
        """Release the directory (another run may open it). Idempotent."""
        lock, self._lock = self._lock, None
        if lock is not None:
            _release_lock(lock)


def open_partition_checkpoint(
    path: str | os.PathLike[str],
    *,
    token: str,
    partitions: int,
    columns: list[str],
    url_column: str,
    settings: Mapping[str, Any],
    scraper: Any,
    overwrite: bool = False,
) -> tuple[PartitionCheckpoint, bool]:
    """Check (or create) the checkpoint of a dask input's run; returns it and whether it resumes one.

    Raises InputError, before anything starts, when the checkpoint was written for another
    input (or for a pandas input), or another run holds it.

    Example:
        >>> import tempfile
        >>> where = tempfile.mkdtemp()
        >>> ckpt, resuming = open_partition_checkpoint(where, token="read-parquet-ab12", partitions=4,
        ...     columns=["url"], url_column="url", settings={"url": "url"}, scraper=print)
        >>> ckpt.close(interrupted=False, counts={}); resuming
        False
    """
    root, lock, manifest = open_locked(path)
    try:
        if manifest is not None and overwrite:
            _clear(root)
            manifest = None
        identity = scraper_identity(scraper)
        settings = json.loads(json.dumps(dict(settings), default=str))  # as the manifest keeps them
        if manifest is not None:
            stored = manifest.get("input", {})
            same = manifest.get("kind") == "dask" and stored.get("token") == token
            if same and stored.get("settings") != settings:
                raise InputError(
                    f"The checkpoint {root} was written for this dask input read with "
                    f"{stored.get('settings')}; this run reads it with {settings}. Results read two ways "
                    "are never mixed: pass the same url=, schemes= and dedupe=, or a new checkpoint path "
                    "(and out=)."
                )
            if not same:
                what = (
                    f"a dask input of {stored.get('partitions')} partitions"
                    if manifest.get("kind") == "dask"
                    else "a pandas input"
                )
                raise InputError(
                    f"The checkpoint {root} was written for another input ({what}, columns "
                    f"{stored.get('columns')}); this one is a dask input of {partitions} partitions, "
                    f"columns {columns}, whose task graph differs. Results of two inputs are never "
                    "mixed: pass a new checkpoint path (and out=), or checkpoint_overwrite=True to start "
                    "afresh."
                )
            _note_scraper_change(root, manifest, identity)
            manifest["scraper"] = identity
            return PartitionCheckpoint(root, manifest, lock), True
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "kind": "dask",
            "created": _now(),
            "input": {
                "token": token,
                "partitions": partitions,
                "columns": columns,
                "url_column": url_column,
                "settings": settings,
            },
            "scraper": identity,
            "runs": [],
        }
        _write_atomic(root / MANIFEST, json.dumps(manifest, indent=2).encode())
        return PartitionCheckpoint(root, manifest, lock), False
    except BaseException:
        _release_lock(lock)
        raise


def read_partition_checkpoint(root: Path, manifest: Mapping[str, Any]) -> CheckpointContents:
    """What ``af.load_checkpoint`` gives for a dask input's run: counts per partition, read from
    the footers of ``out=`` (so also after a killed run), its errors and sessions, and ``out``."""
    from .._core.table import ROWS
    from .out import partitions_in

    info = manifest.get("input", {})
    runs = manifest.get("runs") or [{}]
    last = runs[-1]
    out, lengths = last.get("out"), info.get("lengths")
    if not out or lengths is None:
        raise InputError(
            f"The checkpoint {root} is of a run over a dask input that never started: nothing to load."
        )
    try:
        held = partitions_in(out, str(info.get("token")))
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"The rows of the checkpoint {root} are in out={out!r}, which cannot be read here "
            f"({type(exc).__name__}: {exc}); read it where it can be, with pd.read_parquet(out)."
        ) from None
    work = [Work(key=i, url=f"partition {i}", positions=[i]) for i in range(int(info.get("partitions", 0)))]
    unfinished = False
    for item in work:
        counts = held.get(item.key)
        if counts is None:
            item.value = {ROWS: {"skipped": int(lengths[item.key])}}
            unfinished = True
        else:
            item.value = {ROWS: counts}
            item.status = "failed" if counts.get("failed") else "ok"
    columns = list(info.get("columns") or [])
    url_column = str(info.get("url_column") or "url")
    table = InputTable(
        frame=pd.DataFrame(columns=columns), url_column=url_column, urls=[], invalid={}, work=work
    )
    settings = info.get("settings") or {}
    return CheckpointContents(
        table=table,
        error_records=_records(_read_frames(root, "_errors-")),
        session_records=_records(_read_frames(root, "_sessions-")),
        plan=_plan_from(last.get("plan"), table),
        backend=str(last.get("backend") or "unknown"),
        run_id=str(last.get("run_id") or f"checkpoint-{len(runs)}"),
        elapsed=sum(float(r.get("elapsed") or 0.0) for r in runs),
        interrupted=bool(last.get("interrupted")) or last.get("ended") is None or unfinished,
        call={"url": url_column, "dedupe": settings.get("dedupe", True), "schemes": settings.get("schemes")},
        out=out,
    )
