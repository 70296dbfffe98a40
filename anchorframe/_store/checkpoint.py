"""Checkpoints: rows written as they finish, so that a rerun picks up where a run stopped.

A checkpoint is a directory (conventionally named like a Parquet file)::

    run.parquet/
      _manifest.json            input fingerprint, scraper identity, one entry per run
      _input.parquet            the input frame, so that load_checkpoint() can rebuild results
      part-0001-000001.parquet  rows finished in run 1, in small parts, never rewritten
      part-0002-000001.parquet  rows finished in run 2 (a resume); the latest record of a row wins
      _errors-0001.parquet      run 1's errors and sessions, written when it ended
      _sessions-0001.parquet    (not after a SIGKILL)

Every file is written under a hidden temporary name and renamed into place, so a
process killed at any moment leaves only whole files: it loses the rows in flight
and those finished in the last ``FLUSH_SECONDS``. Rows are buffered by an engine
observer and written by one background thread, never on the event loop.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .._core import events as ev
from .._core.events import Event, RunState
from .._core.plan import Plan
from .._core.secrets import mask_password
from .._core.table import InputTable, Work
from ..errors import InputError
from .checkpoint_files import (
    _URL,
    FLUSH_ROWS,
    FLUSH_SECONDS,
    FORMAT,
    INPUT,
    LOCK,
    MANIFEST,
    VERSION,
    CheckpointContents,
    _apply,
    _describe_scraper,
    _now,
    _ours,
    _plan_record,
    _read_manifest,
    _records,
    _root,
    _running_loop,
    _write_atomic,
    _write_parquet_atomic,
    encode_rows,
    input_fingerprint,
    read_evidence,
    read_records,
    scraper_identity,
)

__all__ = [
    "CheckpointContents",
    "CheckpointWriter",
    "input_fingerprint",
    "open_checkpoint",
    "scraper_identity",
]

log = logging.getLogger("anchorframe")


# ----------------------------------------------------------------- open / write
@dataclasses.dataclass
class Resume:
    """What a checkpoint already holds for a run about to start."""

    remaining: list[Work]
    rows_done: int  # input rows answered by kept 'ok' records
    previous_attempts: dict[int, int]


def open_checkpoint(
    path: str | os.PathLike[str],
    table: InputTable,
    scraper: Any,
    *,
    overwrite: bool = False,
    dedupe: bool = True,
    schemes: Iterable[str] = (),
) -> tuple[CheckpointWriter, Resume]:
    """Check (or create) the checkpoint at ``path`` for this input and fill in the rows it has.

    Rows recorded ``ok`` are filled in on their Work items and left out of ``Resume.remaining``.
    Raises InputError when the checkpoint was written for a different input.
    """
    root, lock, manifest = open_locked(path)
    try:
        fingerprint = input_fingerprint(table.frame, table.url_column)
        identity = scraper_identity(scraper)
        if manifest is not None and overwrite:
            _clear(root)
            manifest = None
        if manifest is not None:
            _check_same_input(root, manifest, table, fingerprint)
            _note_scraper_change(root, manifest, identity)
        if manifest is None:
            manifest = {
                "format": FORMAT,
                "version": VERSION,
                "created": _now(),
                "input": _store_input(root, table, fingerprint),
                "scraper": identity,
                "runs": [],
            }
        resume = _resume(root, table)
        writer = CheckpointWriter(root, manifest, lock, resume.previous_attempts)
        writer.start_run(identity, dedupe=dedupe, schemes=schemes)
    except BaseException:
        _release_lock(lock)
        raise
    return writer, resume


def open_locked(path: str | os.PathLike[str]) -> tuple[Path, Any, dict[str, Any] | None]:
    """The checkpoint directory at ``path`` (created), its lock (taken) and its manifest (None: new).

    Raises InputError, with the lock released, when another run holds it or it holds files
    that are not a checkpoint's.
    """
    root = _root(path)
    root.mkdir(parents=True, exist_ok=True)
    lock = _take_lock(root)
    try:
        manifest = _read_manifest(root)
        if manifest is None:
            strangers = [n for n in os.listdir(root) if not _ours(n)]
            if strangers:
                raise InputError(
                    f"The checkpoint directory {root} holds other files ({strangers[:3]}) and no "
                    f"{MANIFEST}. Pass a new path (it is created for you) or an empty directory."
                )
    except BaseException:
        _release_lock(lock)
        raise
    return root, lock, manifest


def _check_same_input(root: Path, manifest: Mapping[str, Any], table: InputTable, fingerprint: str) -> None:
    stored = manifest.get("input", {})
    if stored.get("fingerprint") == fingerprint:
        return
    rows = stored.get("rows")
    what = f"{rows} rows" if rows != table.rows else f"the same number of rows ({rows}) but other values"
    raise InputError(
        f"The checkpoint {root} was written for a different input ({what}, columns "
        f"{stored.get('columns')}); this input has {table.rows} rows and columns "
        f"{[str(c) for c in table.frame.columns]}. Results of two inputs are never mixed: pass a new "
        "checkpoint path, or checkpoint_overwrite=True to start this one "
        "afresh."
    )


def _note_scraper_change(root: Path, manifest: Mapping[str, Any], identity: Mapping[str, Any]) -> None:
    runs = manifest.get("runs") or [{}]
    last = runs[-1].get("scraper") or manifest.get("scraper") or {}
    if last and dict(last) != dict(identity):
        log.warning(
            "The scraper changed since the checkpoint %s was written (was %s, now %s): rows already ok "
            "keep the earlier scraper's outputs; the others are scraped with the new one.",
            root,
            _describe_scraper(last),
            _describe_scraper(identity),
        )


def _store_input(root: Path, table: InputTable, fingerprint: str) -> dict[str, Any]:
    import pyarrow as pa

    info: dict[str, Any] = {
        "rows": table.rows,
        "fingerprint": fingerprint,
        "columns": [str(c) for c in table.frame.columns],
        "url_column": str(table.url_column),
        "stored": "full",
    }
    frame = table.frame
    try:
        stored = pa.Table.from_pandas(frame, preserve_index=True)
    except Exception as exc:
        log.info("Storing only the URL column of the input in the checkpoint: %s", exc)
        urls = pd.DataFrame({"url": frame[table.url_column].astype(object).tolist()}, index=frame.index)
        try:
            stored = pa.Table.from_pandas(urls, preserve_index=True)
        except Exception:
            stored = pa.Table.from_pandas(urls.reset_index(drop=True), preserve_index=True)
        info.update(stored="url", url_column="url")
    _write_parquet_atomic(root / INPUT, stored)
    return info


def _resume(root: Path, table: InputTable) -> Resume:
    records = read_records(root)
    remaining: list[Work] = []
    previous: dict[int, int] = {}
    rows_done = 0
    for item in table.work:
        record = records.get(item.positions[0])
        if record is not None and record[_URL] == item.url and record["af_status"] == "ok":
            _apply(item, record)
            rows_done += len(item.positions)
            continue
        if record is not None and record[_URL] == item.url:
            previous[item.positions[0]] = int(record["af_attempts"] or 0)
        remaining.append(item)
    return Resume(remaining=remaining, rows_done=rows_done, previous_attempts=previous)


def _clear(root: Path) -> None:
    for name in os.listdir(root):
        if _ours(name) and name != LOCK:
            with contextlib.suppress(FileNotFoundError):
                (root / name).unlink()


def _take_lock(root: Path) -> Any:
    handle = open(root / LOCK, "a+b")  # noqa: SIM115 - held for the whole run
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no advisory locks on this platform
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise InputError(
            f"Another run is writing to the checkpoint {root} right now. Wait for it to end, "
            "or pass another checkpoint path."
        ) from None
    return handle


def _release_lock(handle: Any) -> None:
    with contextlib.suppress(Exception):
        handle.close()  # closing the file releases the flock


class CheckpointWriter:
    """An engine observer that writes finished rows to the checkpoint in small parts.

    ``__call__`` runs on the event loop and only appends to a buffer; a single
    background thread turns the buffer into Parquet parts, one at a time and in order.
    ``close()`` writes what is left (also on cancellation) and releases the directory.
    """

    def __init__(
        self, root: Path, manifest: dict[str, Any], lock: Any, previous_attempts: dict[int, int]
    ) -> None:
        self.root = root
        self.manifest = manifest
        self._lock = lock
        self._previous = previous_attempts
        self._buffer: list[tuple[Work, int]] = []
        self._parts = 0
        self._timer: Any = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="anchorframe-checkpoint")
        self._pending: list[concurrent.futures.Future[None]] = []
        self._errors = 0
        self._guard = threading.Lock()
        self._closed = False
        self.rows_written = 0
        self.run_number = 0
        #: Evidence records of earlier runs at the head of this run's result (not written again).
        self._evidence_before = 0

    # ------------------------------------------------------------------ run
    def start_run(self, identity: Mapping[str, Any], *, dedupe: bool, schemes: Iterable[str]) -> None:
        runs = self.manifest.setdefault("runs", [])
        self.run_number = len(runs) + 1
        runs.append(
            {
                "run": self.run_number,
                "started": _now(),
                "ended": None,
                "scraper": dict(identity),
                "dedupe": dedupe,
                "schemes": sorted(schemes),
            }
        )
        self._write_manifest()

    def describe_run(self, *, run_id: str, backend: str, plan: Plan, out: str | None = None) -> None:
        """Record the run's backend and plan, and ``out=`` (its rows' values are there, not here)."""
        run = self.manifest["runs"][-1]
        run.update(run_id=run_id, backend=backend, plan=_plan_record(plan))
        if out is not None:
            run["out"] = mask_password(out)
        self._write_manifest()

    def _write_manifest(self) -> None:
        _write_atomic(self.root / MANIFEST, json.dumps(self.manifest, indent=1, default=str).encode())

    # ------------------------------------------------------------- observer
    def __call__(self, event: Event, state: RunState) -> None:
        if event.name != ev.ROW_DONE or self._closed:
            return
        item = event.detail
        self._buffer.append((item, self._previous.get(item.positions[0], 0)))
        if len(self._buffer) >= FLUSH_ROWS:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = _running_loop().call_later(FLUSH_SECONDS, self.flush)
            except RuntimeError:  # no loop (a synchronous caller): write now
                self.flush()

    def flush(self) -> None:
        """Hand the buffered rows to the writing thread (returns at once)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        self._parts += 1
        name = f"part-{self.run_number:04d}-{self._parts:06d}.parquet"
        future = self._executor.submit(self._write_part, self.root / name, rows)
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(future)

    def _write_part(self, path: Path, rows: list[tuple[Work, int]]) -> None:
        try:
            _write_parquet_atomic(path, encode_rows(rows))
            self.rows_written += len(rows)
        except Exception as exc:
            with self._guard:
                self._errors += 1
                first = self._errors == 1
            # The run goes on: these rows are in the result, only a resume would redo them.
            log.error(
                "Could not write %d rows to the checkpoint %s: %s", len(rows), self.root, exc, exc_info=first
            )

    def drain(self) -> None:
        """Write every buffered row and wait until it is on disk; no rows are taken after this."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._executor.shutdown(wait=True)

    def previous_evidence(self, work: Iterable[Work]) -> list[dict[str, Any]]:
        """The evidence earlier runs kept of rows that are not ok now (after ``drain``)."""
        frame = read_evidence(self.root)
        if not len(frame):
            return []
        ok = {item.url for item in work if item.status == "ok"}
        records = [r for r in _records(frame) if r.get("url") not in ok]
        self._evidence_before = len(records)
        return records

    def add_previous_attempts(self, work: Iterable[Work]) -> None:
        """Count the attempts of earlier runs in this run's rows (after ``drain``)."""
        for item in work:
            item.attempts += self._previous.get(item.positions[0], 0)

    def close(
        self,
        *,
        errors: pd.DataFrame | None = None,
        sessions: pd.DataFrame | None = None,
        evidence: pd.DataFrame | None = None,
        elapsed: float | None = None,
        interrupted: bool = False,
    ) -> None:
        """Write the rows left, the run's errors, sessions and evidence, and release the checkpoint."""
        if self._lock is None:
            return
        self.drain()
        if evidence is not None and len(evidence) and self._evidence_before:
            evidence = evidence.iloc[self._evidence_before :]  # earlier runs' are in their own files
        try:
            for kind, frame in (("errors", errors), ("sessions", sessions), ("evidence", evidence)):
                if frame is not None and len(frame):
                    self._write_frame(kind, frame)
            run = self.manifest["runs"][-1]
            run.update(ended=_now(), elapsed=elapsed, interrupted=interrupted, rows_written=self.rows_written)
            self._write_manifest()
        except Exception as exc:
            log.error("Could not finish the checkpoint %s: %s", self.root, exc)
        finally:
            _release_lock(self._lock)
            self._lock = None

    def _write_frame(self, kind: str, frame: pd.DataFrame) -> None:
        write_run_frame(self.root, kind, self.run_number, frame)


def write_run_frame(root: Path, kind: str, run_number: int, frame: pd.DataFrame | None) -> None:
    """Store a run's ``errors`` or ``sessions`` frame as ``_<kind>-<run>.parquet`` (never raises)."""
    import pyarrow as pa

    if frame is None or not len(frame):
        return
    stored = frame.copy()
    if "stage" in stored:  # input checks are redone on load
        stored = stored[stored["stage"].astype(str) != "validate"]
        if not len(stored):
            return
    if "row" in stored:
        stored["row"] = stored["row"].map(lambda v: None if v is None else str(v))
    try:
        table = pa.Table.from_pandas(stored, preserve_index=False)
        _write_parquet_atomic(root / f"_{kind}-{run_number:04d}.parquet", table)
    except Exception as exc:
        log.info("The %s of run %d were not stored in the checkpoint: %s", kind, run_number, exc)
