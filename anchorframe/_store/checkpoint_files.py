"""The checkpoint's files: names, atomic writes, the manifest, rows as Parquet, what a checkpoint holds.

No run logic here (:mod:`.checkpoint` opens, resumes, locks and writes while a run goes);
this module knows how a checkpoint directory is laid out and how rows are encoded;
:mod:`.load` reads one back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import json
import logging
import math
import os
import uuid
from collections.abc import Hashable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .._core.plan import Plan
from .._core.table import InputTable, Work
from ..errors import InputError

__all__ = ["CheckpointContents", "input_fingerprint", "read_evidence", "read_records", "scraper_identity"]

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
    # An object's own __qualname__ first: an extractor names its selectors (``css({...})``).
    qualname = vars(fn).get("__qualname__") if hasattr(fn, "__dict__") and target is not fn else None
    name = f"{getattr(target, '__module__', '?')}.{qualname or getattr(target, '__qualname__', repr(target))}"
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
        or (name.startswith(("part-", "_errors-", "_sessions-", "_evidence-")) and name.endswith(".parquet"))
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
    renders: list[str | None] = []
    http_statuses: list[int | None] = []
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
        renders.append(item.render)
        http_statuses.append(item.http_status)
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
        "af_render": pa.array(renders, type=pa.string()),
        "af_http_status": pa.array(http_statuses, type=pa.int64()),
        _KEYS: pa.array(keys, type=pa.string()),
    }
    for name, values in outputs.items():
        prefix, array = _arrow_column(values)
        columns[prefix + name] = array
    return pa.table(columns)


def _decode_part(table: Any) -> list[dict[str, Any]]:
    names = table.column_names
    plain = {n: table.column(n).to_pylist() for n in (_ROW, _URL, *_FIELDS, _KEYS)}
    # Columns added in later releases of format 1: parts written before them have none.
    for added in ("af_render", "af_http_status"):
        plain[added] = table.column(added).to_pylist() if added in names else [None] * table.num_rows
    outputs: dict[str, list[Any]] = {}
    for name in names:
        if name.startswith(_VALUE_PREFIX):
            outputs[name[len(_VALUE_PREFIX) :]] = table.column(name).to_pylist()
        elif name.startswith(_JSON_PREFIX):
            texts = table.column(name).to_pylist()
            outputs[name[len(_JSON_PREFIX) :]] = [None if t is None else json.loads(t) for t in texts]
    layouts: dict[str, list[tuple[str, list[Any]]]] = {}
    fields = (_ROW, _URL, *_FIELDS, "af_render", "af_http_status")
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
    item.render = record.get("af_render")
    item.http_status = record.get("af_http_status")
    item.value = record["value"]


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
    from .._core.plan import plan_sessions

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
    #: The ``out=`` dataset of the last run (its rows' values are there, not in the checkpoint).
    out: str | None = None
    #: What failed rows' pages showed (``result.evidence``'s rows), of rows not ok since.
    evidence_records: list[dict[str, Any]] = dataclasses.field(default_factory=list)


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


def read_evidence(root: Path) -> pd.DataFrame:
    """Every run's evidence (``_evidence-<run>.parquet``), oldest first; empty when none was kept."""
    return _read_frames(root, "_evidence-")
