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
import hashlib
import inspect
import json
import logging
import math
import os
import threading
import uuid
from collections.abc import Hashable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from . import _events as ev
from ._events import Event, RunState
from ._frames import InputTable, Work, prepare_input
from ._plan import Plan
from .errors import InputError

__all__ = [
    "CheckpointContents",
    "CheckpointWriter",
    "input_fingerprint",
    "open_checkpoint",
    "read_checkpoint",
    "scraper_identity",
]

log = logging.getLogger("anchorframe")

FORMAT = "anchorframe-checkpoint"
VERSION = 1
MANIFEST = "_manifest.json"
INPUT = "_input.parquet"
LOCK = "_lock"
#: A buffered row is written at the latest this many seconds after it finished...
FLUSH_SECONDS = 1.0
#: ...or as soon as this many rows wait, whichever comes first.
FLUSH_ROWS = 2000

_ROW = "af_row"  # position of the first input row a unique URL answers
_URL = "af_url"
_KEYS = "af_keys"  # the keys of the callable's dict, joined (None: it returned None)
_KEY_SEPARATOR = "\x1f"
_VALUE_PREFIX = "v."  # an output column stored as Parquet
_JSON_PREFIX = "j."  # an output column Arrow could not type, stored as JSON text
_FIELDS = ("af_status", "af_reason", "af_error", "af_attempts", "af_elapsed", "af_session")


# --------------------------------------------------------------------- identity
def input_fingerprint(frame: pd.DataFrame, url_column: Hashable) -> str:
    """A hash of the input's index, columns and cells: equal inputs, equal fingerprints.

    Example:
        >>> a = pd.DataFrame({"url": ["https://a.test"]})
        >>> input_fingerprint(a, "url") == input_fingerprint(a.copy(), "url")
        True
    """
    digest = hashlib.sha256()
    digest.update(json.dumps([str(c) for c in frame.columns] + [str(url_column), len(frame)]).encode())
    try:
        hashed = pd.util.hash_pandas_object(frame, index=True)
    except TypeError:  # unhashable cells (lists, dicts): hash their text instead
        hashed = pd.util.hash_pandas_object(frame.astype(str), index=True)
    digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()


def scraper_identity(fn: Any) -> dict[str, Any]:
    """The scraper's qualified name and a hash of its source code when it can be read."""
    target = getattr(fn, "func", fn)  # functools.partial
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = type(target)
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"
    try:
        source: str | None = inspect.getsource(target)
    except (OSError, TypeError):
        source = None
    digest = hashlib.sha256(source.encode()).hexdigest()[:16] if source else None
    return {"name": name, "source_sha256": digest}


def _describe_scraper(identity: Mapping[str, Any]) -> str:
    digest = identity.get("source_sha256")
    return f"{identity.get('name')}" + (f" (source {digest})" if digest else "")


# ---------------------------------------------------------------------- files
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _write_parquet_atomic(path: Path, table: Any) -> None:
    import pyarrow.parquet as pq

    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _read_manifest(root: Path) -> dict[str, Any] | None:
    path = root / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(
            f"The checkpoint manifest {path} cannot be read ({exc}). "
            "Pass a new checkpoint path, or checkpoint_overwrite=True to start it afresh."
        ) from exc
    if manifest.get("format") != FORMAT:
        raise InputError(f"{root} is not an anchorframe checkpoint (its {MANIFEST} is of another format).")
    return manifest  # type: ignore[no-any-return]


def _ours(name: str) -> bool:
    return (
        name in (MANIFEST, INPUT, LOCK)
        or (name.startswith(("part-", "_errors-", "_sessions-")) and name.endswith(".parquet"))
        or (name.startswith(".") and name.endswith(".tmp"))
    )


def _root(path: str | os.PathLike[str]) -> Path:
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise InputError(
            f"The checkpoint {root} is a file, not a checkpoint directory. "
            "Pass a path that does not exist yet (e.g. run.parquet): anchorframe creates a directory there."
        )
    return root


def _part_names(root: Path, prefix: str = "part-") -> list[Path]:
    try:
        names = sorted(n for n in os.listdir(root) if n.startswith(prefix) and n.endswith(".parquet"))
    except FileNotFoundError:
        return []
    return [root / n for n in names]


# -------------------------------------------------------------- encode / decode
def _arrow_column(values: list[Any]) -> tuple[str, Any]:
    import pyarrow as pa

    try:
        return _VALUE_PREFIX, pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        texts = [None if v is None else json.dumps(v, default=str) for v in values]
        return _JSON_PREFIX, pa.array(texts, type=pa.string())


def encode_rows(rows: list[tuple[Work, int]]) -> Any:
    """An Arrow table for resolved Work items (each with the attempts of earlier runs to add)."""
    import pyarrow as pa

    count = len(rows)
    first: list[int] = []
    urls: list[str] = []
    statuses: list[str | None] = []
    reasons: list[str | None] = []
    messages: list[str | None] = []
    attempts: list[int] = []
    elapsed: list[float | None] = []
    sessions: list[str | None] = []
    keys: list[str | None] = []
    outputs: dict[str, list[Any]] = {}
    for i, (item, extra) in enumerate(rows):
        first.append(item.positions[0])
        urls.append(item.url)
        statuses.append(item.status)
        reasons.append(item.reason)
        messages.append(item.message)
        attempts.append(item.attempts + extra)
        elapsed.append(item.elapsed)
        sessions.append(item.session)
        value = item.value if item.status == "ok" else None
        if value is None:
            keys.append(None)
            continue
        pairs = value.items() if isinstance(value, Mapping) else (("value", value),)
        names = []
        for key, cell in pairs:
            name = key if type(key) is str else str(key)
            names.append(name)
            column = outputs.get(name)
            if column is None:
                column = outputs[name] = [None] * count
            column[i] = cell
        keys.append(_KEY_SEPARATOR.join(names))
    columns: dict[str, Any] = {
        _ROW: pa.array(first, type=pa.int64()),
        _URL: pa.array(urls, type=pa.string()),
        "af_status": pa.array(statuses, type=pa.string()),
        "af_reason": pa.array(reasons, type=pa.string()),
        "af_error": pa.array(messages, type=pa.string()),
        "af_attempts": pa.array(attempts, type=pa.int64()),
        "af_elapsed": pa.array(elapsed, type=pa.float64()),
        "af_session": pa.array(sessions, type=pa.string()),
        _KEYS: pa.array(keys, type=pa.string()),
    }
    for name, values in outputs.items():
        prefix, array = _arrow_column(values)
        columns[prefix + name] = array
    return pa.table(columns)


def _decode_part(table: Any) -> list[dict[str, Any]]:
    names = table.column_names
    plain = {n: table.column(n).to_pylist() for n in (_ROW, _URL, *_FIELDS, _KEYS)}
    outputs: dict[str, list[Any]] = {}
    for name in names:
        if name.startswith(_VALUE_PREFIX):
            outputs[name[len(_VALUE_PREFIX) :]] = table.column(name).to_pylist()
        elif name.startswith(_JSON_PREFIX):
            texts = table.column(name).to_pylist()
            outputs[name[len(_JSON_PREFIX) :]] = [None if t is None else json.loads(t) for t in texts]
    layouts: dict[str, list[tuple[str, list[Any]]]] = {}
    fields = (_ROW, _URL, *_FIELDS)
    columns = [plain[f] for f in fields]
    records = []
    rows = zip(*columns, strict=True)
    for i, (row, key_text) in enumerate(zip(rows, plain[_KEYS], strict=True)):
        record = dict(zip(fields, row, strict=True))
        if key_text is None:
            record["value"] = None
        else:
            layout = layouts.get(key_text)
            if layout is None:
                wanted = key_text.split(_KEY_SEPARATOR) if key_text else []
                layout = layouts[key_text] = [(k, outputs[k]) for k in wanted if k in outputs]
            record["value"] = {k: values[i] for k, values in layout}
        records.append(record)
    return records


def read_records(root: Path) -> dict[int, dict[str, Any]]:
    """The latest record of each unique URL (by its first row), from every readable part."""
    import pyarrow.parquet as pq

    latest: dict[int, dict[str, Any]] = {}
    for part in _part_names(root):
        try:
            table = pq.read_table(part, use_threads=False)
        except Exception as exc:  # a part damaged outside anchorframe: its rows are redone
            log.warning("Skipping unreadable checkpoint part %s: %s", part, exc)
            continue
        for record in _decode_part(table):
            latest[record[_ROW]] = record
    return latest


def _apply(item: Work, record: Mapping[str, Any]) -> None:
    item.status = record["af_status"]
    item.reason = record["af_reason"]
    item.message = record["af_error"]
    item.attempts = int(record["af_attempts"] or 0)
    elapsed = record["af_elapsed"]
    item.elapsed = None if elapsed is None or math.isnan(elapsed) else float(elapsed)
    item.session = record["af_session"]
    item.value = record["value"]


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
        "checkpoint path, or checkpoint_overwrite=True (CLI: --overwrite-checkpoint) to start this one "
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

    def describe_run(self, *, run_id: str, backend: str, plan: Plan) -> None:
        run = self.manifest["runs"][-1]
        run.update(run_id=run_id, backend=backend, plan=_plan_record(plan))
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

    def add_previous_attempts(self, work: Iterable[Work]) -> None:
        """Count the attempts of earlier runs in this run's rows (after ``drain``)."""
        for item in work:
            item.attempts += self._previous.get(item.positions[0], 0)

    def close(
        self,
        *,
        errors: pd.DataFrame | None = None,
        sessions: pd.DataFrame | None = None,
        elapsed: float | None = None,
        interrupted: bool = False,
    ) -> None:
        """Write the rows left, the run's errors and sessions, and release the checkpoint."""
        if self._lock is None:
            return
        self.drain()
        try:
            for kind, frame in (("errors", errors), ("sessions", sessions)):
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
        import pyarrow as pa

        stored = frame.copy()
        if "stage" in stored:  # input checks are redone on load
            stored = stored[stored["stage"].astype(str) != "validate"]
            if not len(stored):
                return
        if "row" in stored:
            stored["row"] = stored["row"].map(lambda v: None if v is None else str(v))
        try:
            table = pa.Table.from_pandas(stored, preserve_index=False)
            _write_parquet_atomic(self.root / f"_{kind}-{self.run_number:04d}.parquet", table)
        except Exception as exc:
            log.info("The %s of run %d were not stored in the checkpoint: %s", kind, self.run_number, exc)


def _running_loop() -> Any:
    import asyncio

    return asyncio.get_running_loop()


def _plan_record(plan: Plan) -> dict[str, Any]:
    return dataclasses.asdict(plan)


def _plan_from(record: Mapping[str, Any] | None, table: InputTable) -> Plan:
    if record:
        fields = {f.name for f in dataclasses.fields(Plan)}
        values = {k: v for k, v in record.items() if k in fields}
        values["batches"] = tuple(values.get("batches", ()))
        values["reasons"] = tuple(values.get("reasons", ()))
        with contextlib.suppress(TypeError):
            return Plan(**values)
    from ._plan import plan_sessions

    return plan_sessions(len(table.work), rows=table.rows, invalid=len(table.invalid))


# ----------------------------------------------------------------------- load
@dataclasses.dataclass
class CheckpointContents:
    """What a checkpoint holds: the input with each row's latest record applied, and its runs."""

    table: InputTable
    error_records: list[dict[str, Any]]
    session_records: list[dict[str, Any]]
    plan: Plan
    backend: str
    run_id: str
    elapsed: float
    interrupted: bool
    call: dict[str, Any]


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
    )


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


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in record.items()} for record in frame.to_dict("records")]


def _read_frames(root: Path, prefix: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    frames = []
    for part in _part_names(root, prefix):
        try:
            frames.append(pq.read_table(part, use_threads=False).to_pandas())
        except Exception as exc:
            log.warning("Skipping unreadable checkpoint file %s: %s", part, exc)
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
