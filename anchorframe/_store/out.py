"""``out=``: the results of a sharded run written by the shards as a Parquet dataset.

The dataset has one row per input row, with the columns of ``ScrapeResult.results``
(input columns, outputs flattened as ``to_parquet`` does, the ``af_*`` status
columns) and the row's index label. ``pd.read_parquet(out)`` or
``dd.read_parquet(out)`` reads it back::

    out/
      part-<run>-<shard>-<n>.parquet   rows, written by the shard that scraped them
      _common_metadata                 the dataset's schema (written when the run ends)
      _staging/                        parts written but not yet accepted by the caller
      _evidence-<run>.parquet          what failed rows' pages showed (``result.evidence``)

Exactly once: a shard writes a part under ``_staging/`` and then reports its rows;
the caller moves the part into place only when every one of its rows is still
unresolved, and only then counts the rows. A shard killed before its report leaves
an orphan in ``_staging/`` (removed at the end; readers skip ``_``-names), and its
rows are handed to another shard. Each part names the input rows it holds in its
footer (``anchorframe.rows``), so a resume (``checkpoint=``) skips rows already in
the dataset even when the checkpoint missed their last seconds.

Paths: a local path, or a URL an fsspec filesystem handles (``s3://``, ``gs://``,
``file://``...), reached by the caller and by every worker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Sequence
from typing import Any

from .._core.frames import results_frame
from .._core.secrets import mask_password
from .._core.table import STATUS_COLUMNS, InputTable, Work
from ..errors import InputError

__all__ = [
    "PART_ROWS",
    "PART_SECONDS",
    "check_out",
    "commit",
    "discard",
    "finish",
    "mark_partition",
    "part_table",
    "partitions_in",
    "rows_in",
    "stage",
    "write_evidence",
]

log = logging.getLogger("anchorframe")

#: A shard writes a part when it holds this many resolved rows, or this many seconds after the first:
#: rows are reported with their part, so a killed shard loses (and another redoes) at most that much.
PART_ROWS = 1000
PART_SECONDS = 1.0

STAGING = "_staging"
ROWS_KEY = b"anchorframe.rows"
#: A dask input's part: which partition it holds, of which input, and its rows by status.
PARTITION_KEY = b"anchorframe.partition"
_TYPES = {"af_attempts": "int64", "af_elapsed": "float64", "af_http_status": "int64"}  # the rest: text


def _filesystem(out: str) -> tuple[Any, str]:
    """The pyarrow filesystem and the path in it for ``out`` (a local path or an fsspec URL)."""
    from pyarrow import fs

    if "://" not in out:
        return fs.LocalFileSystem(), os.path.abspath(os.path.expanduser(out))
    try:
        import fsspec
    except ImportError:
        return fs.FileSystem.from_uri(out)  # pyarrow's own: file://, s3://, gs://, hdfs://
    filesystem, path = fsspec.core.url_to_fs(out)
    return fs.PyFileSystem(fs.FSSpecHandler(filesystem)), path


def check_out(out: Any, *, resuming: bool) -> str:
    """``out`` as a string, after checking it can be written; InputError (with the fix) if not.

    It must be empty (or not exist) unless the run resumes a checkpoint (``resuming``).

    Example:
        >>> import tempfile
        >>> check_out(tempfile.mkdtemp(), resuming=False).startswith("/")
        True
    """
    if not isinstance(out, (str, os.PathLike)):
        raise InputError(f"out must be a path or a URL such as 's3://bucket/run/', not {type(out).__name__}.")
    text = os.fspath(out)
    try:
        filesystem, path = _filesystem(text)
    except Exception as exc:
        raise InputError(f"out={text!r} is not a path or URL anchorframe can write to: {exc}.") from None
    from pyarrow import fs

    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.File:
        raise InputError(f"out={text!r} is a file; out= takes a directory (the dataset's parts go in it).")
    if info.type == fs.FileType.Directory and not resuming:
        held = [
            i.base_name for i in filesystem.get_file_info(fs.FileSelector(path)) if i.base_name != STAGING
        ]
        if held:
            raise InputError(
                f"out={text!r} already holds {held[:3]}; its rows would mix with this run's. Pass a new "
                "or empty directory, or the checkpoint= of the run that wrote it to resume that run."
            )
    probe = f"{path}/{STAGING}/.probe-{uuid.uuid4().hex[:8]}"
    try:
        filesystem.create_dir(f"{path}/{STAGING}", recursive=True)
        with filesystem.open_output_stream(probe) as stream:
            stream.write(b"")
        filesystem.delete_file(probe)
    except Exception as exc:
        raise InputError(
            f"out={text!r} cannot be written ({type(exc).__name__}: {exc}). Pass a directory this "
            "process and every worker can write (a shared disk, or a bucket URL such as s3://...)."
        ) from None
    return text if "://" in text else path


# ------------------------------------------------------------------ a part (shard side)
def part_table(table: InputTable, positions: Sequence[int], outcomes: Sequence[Work | None]) -> Any:
    """The Arrow table of one part: the result rows at ``positions`` (``outcomes[i]`` answered row i).

    No I/O. The footer names the rows (their Work's first position and status) for resumes.
    """
    import pyarrow as pa

    from .export import arrow_table

    sub = InputTable(
        frame=table.frame.iloc[list(positions)], url_column=table.url_column, urls=[], invalid={}, work=[]
    )
    sub.invalid.update({i: table.invalid.get(p, "invalid URL") for i, p in enumerate(positions)})
    frame = results_frame(sub, list(outcomes))
    frame["af_status"] = frame["af_status"].astype(object)  # plain text: the same type in every part
    arrow = arrow_table(frame, keep_index=True)
    for name in STATUS_COLUMNS:  # a column of Nones would be typed "null" in this part only
        at = arrow.schema.get_field_index(name)
        if at >= 0:
            arrow = arrow.set_column(at, name, arrow.column(name).cast(_TYPES.get(name, pa.string())))
    firsts = {}
    for position, item in zip(positions, outcomes, strict=True):
        first = item.positions[0] if item is not None else position
        firsts[first] = item.status if item is not None else "invalid"
    rows = {"first": list(firsts), "status": list(firsts.values())}
    return arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), ROWS_KEY: json.dumps(rows)})


def mark_partition(arrow: Any, *, key: int, token: str, counts: dict[str, int]) -> Any:
    """``arrow`` with a footer naming the dask input's partition it holds (for resumes)."""
    mark = json.dumps({"key": key, "input": token, "counts": counts})
    return arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), PARTITION_KEY: mark})


def stage(out: str, arrow: Any, name: str) -> None:
    """Write ``arrow`` as ``_staging/<name>`` (a shard; a killed one leaves at most an orphan there)."""
    import pyarrow.parquet as pq

    filesystem, path = _filesystem(out)
    pq.write_table(arrow, f"{path}/{STAGING}/{name}", filesystem=filesystem)


# ------------------------------------------------------------------ the caller
def commit(out: str, name: str) -> None:
    """Move a staged part into the dataset (a rename on a local disk)."""
    filesystem, path = _filesystem(out)
    filesystem.move(f"{path}/{STAGING}/{name}", f"{path}/part-{name}")


def discard(out: str, name: str) -> None:
    filesystem, path = _filesystem(out)
    with contextlib.suppress(Exception):
        filesystem.delete_file(f"{path}/{STAGING}/{name}")


def _parts(filesystem: Any, path: str) -> list[str]:
    from pyarrow import fs

    infos = filesystem.get_file_info(fs.FileSelector(path, allow_not_found=True))
    return sorted(
        i.path for i in infos if i.base_name.startswith("part-") and i.base_name.endswith(".parquet")
    )


def rows_in(out: str) -> dict[int, str]:
    """Rows the dataset already holds: the first position of each Work -> its status (from footers)."""
    import pyarrow.parquet as pq

    filesystem, path = _filesystem(out)
    held: dict[int, str] = {}
    for part in _parts(filesystem, path):
        with filesystem.open_input_file(part) as source:
            meta = pq.read_schema(source).metadata or {}
        rows = json.loads(meta.get(ROWS_KEY, b'{"first": [], "status": []}'))
        held.update(zip(rows["first"], rows["status"], strict=True))
    return held


def partitions_in(out: str, token: str) -> dict[int, dict[str, int]]:
    """The dask input's partitions the dataset already holds: key -> rows by status (from footers).

    Raises InputError if it holds parts of another input (or rows of a pandas input's run).
    """
    import pyarrow.parquet as pq

    filesystem, path = _filesystem(out)
    held: dict[int, dict[str, int]] = {}
    for part in _parts(filesystem, path):
        with filesystem.open_input_file(part) as source:
            meta = pq.read_schema(source).metadata or {}
        mark = json.loads(meta.get(PARTITION_KEY, b"{}"))
        if mark.get("input") != token:
            raise InputError(
                f"out={mask_password(out)!r} holds {part.rsplit('/', 1)[-1]}, which is not of this dask "
                "input's run; "
                "its rows would mix with this run's. Pass the out= that this checkpoint's run wrote, "
                "or a new checkpoint and a new out=."
            )
        held[int(mark["key"])] = {k: int(v) for k, v in mark["counts"].items()}
    return held


def finish(out: str) -> None:
    """One schema for the whole dataset: parts that lack a column or typed it null are rewritten to it.

    Readers take the schema of one part (pandas) or require the same columns in all
    (Dask); a part whose rows all failed has no output columns. ``_common_metadata``
    gets the schema; ``_staging/`` (parts of killed shards, never accepted) is removed.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    filesystem, path = _filesystem(out)
    with contextlib.suppress(Exception):
        filesystem.delete_dir(f"{path}/{STAGING}")
    parts = _parts(filesystem, path)
    if not parts:
        return
    schemas = []
    for part in parts:
        with filesystem.open_input_file(part) as source:
            schemas.append(pq.read_schema(source))
    try:
        unified = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowException, TypeError) as exc:
        log.warning("The parts of %s disagree on a column's type (%s); read them one by one.", out, exc)
        return
    shared = {k: v for k, v in (unified.metadata or {}).items() if k not in (ROWS_KEY, PARTITION_KEY)}
    unified = unified.with_metadata(shared)
    for part, schema in zip(parts, schemas, strict=True):
        if schema.remove_metadata().equals(unified.remove_metadata()):
            continue
        with filesystem.open_input_file(part) as source:
            table = pq.read_table(source)
        columns = [
            table.column(f.name).cast(f.type)
            if f.name in table.column_names
            else pa.nulls(len(table), f.type)
            for f in unified
        ]
        own = {
            **shared,
            **{k: v for k, v in (schema.metadata or {}).items() if k in (ROWS_KEY, PARTITION_KEY)},
        }
        fixed = pa.Table.from_arrays(columns, schema=unified.with_metadata(own))
        temporary = f"{path}/{STAGING}/{uuid.uuid4().hex}.parquet"
        filesystem.create_dir(f"{path}/{STAGING}", recursive=True)
        pq.write_table(fixed, temporary, filesystem=filesystem)
        filesystem.move(temporary, part)
    pq.write_metadata(unified, f"{path}/_common_metadata", filesystem=filesystem)
    with contextlib.suppress(Exception):
        filesystem.delete_dir(f"{path}/{STAGING}")


def write_evidence(out: str, frame: Any, run_id: str) -> None:
    """Store a run's ``result.evidence`` beside its rows as ``_evidence-<run>.parquet`` (never raises).

    Readers of the dataset skip it (``_``-names); ``pd.read_parquet(f"{out}/_evidence-<run>.parquet")``
    reads it back.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        filesystem, path = _filesystem(out)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, f"{path}/_evidence-{run_id}.parquet", filesystem=filesystem)
    except Exception as exc:
        log.warning("The evidence of run %s was not stored in %s: %s", run_id, mask_password(out), exc)
