"""Tables as files for the command line: the input read, the output checked first, a run written out.

``check_output`` runs before anything starts: a format it does not know, or a folder it cannot
write, is an :class:`~anchorframe.errors.InputError` then, not after the whole scrape.
``write_run`` writes the rows where asked and the run's other frames beside them
(``prices.parquet`` -> ``prices.errors.parquet``, ``prices.sessions.parquet``,
``prices.attempts.parquet``), in the same format, so a pipeline keeps what failed and why.

Example:
    >>> check_output("prices.xlsx")
    Traceback (most recent call last):
    ...
    anchorframe.errors.InputError: The output prices.xlsx has an unknown format (.xlsx). ...
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError

__all__ = ["FORMATS", "INPUT_FORMATS", "beside", "check_output", "read_table", "write_run"]

#: Output formats by suffix.
FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
#: Input formats by suffix (also what an input with another suffix is read as: CSV).
INPUT_FORMATS = (".parquet", ".csv", ".jsonl", ".ndjson", ".json")
#: The run's frames written beside its rows.
COMPANIONS = ("errors", "sessions", "attempts")


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV, Parquet, JSON or JSON Lines file into a DataFrame (by its suffix; else CSV)."""
    source = Path(path)
    if not source.is_file():
        raise InputError(f"There is no input file {str(path)!r}.")
    suffix = source.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(source)
    if suffix in (".jsonl", ".ndjson"):
        return pd.read_json(source, lines=True, convert_dates=False)
    if suffix == ".json":
        return pd.read_json(source, convert_dates=False)
    return pd.read_csv(source)


def check_output(path: str | os.PathLike[str]) -> Path:
    """The output path, if its format is known and its folder can be written; else InputError."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"The output {target} has an unknown format ({suffix or 'no suffix'}). "
            f"Name it with one of {', '.join(sorted(set(FORMATS)))} (e.g. results.parquet)."
        )
    if target.is_dir():
        raise InputError(
            f"The output {target} is a directory; name a file in it (e.g. {target / 'results'}{suffix})."
        )
    folder = target.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"The output's folder {folder} cannot be made: {existing} is a file.")
    try:  # can a file be made there (the folder itself is made at the end, when it is missing)?
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".anchorframe-check-"):
            pass
    except OSError as exc:
        raise InputError(
            f"The output {target} cannot be written ({exc.strerror or exc}); choose a folder you can write."
        ) from None
    return target


def beside(path: str | os.PathLike[str], frame_name: str) -> Path:
    """Where a run's ``frame_name`` frame goes beside its rows at ``path``.

    Example:
        >>> str(beside("out/prices.parquet", "errors"))
        'out/prices.errors.parquet'
    """
    target = Path(path)
    return target.with_name(f"{target.stem}.{frame_name}{target.suffix}")


def write_run(result: Any, path: str | os.PathLike[str], nested: Any = "flatten") -> list[Path]:
    """Write the rows to ``path`` and the errors, sessions and attempts beside it; the files written."""
    target = check_output(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    kind = FORMATS[target.suffix.lower()]
    if kind == "parquet":
        result.to_parquet(target, nested=nested)
    elif kind == "csv":
        result.to_csv(target, nested=nested)
    else:
        result.to_json(target, nested=nested, lines=kind == "jsonl")
    written = [target]
    for name in COMPANIONS:
        frame = getattr(result, name)
        where = beside(target, name)
        _write_frame(frame, where, kind)
        written.append(where)
    return written


def _write_frame(frame: pd.DataFrame, path: Path, kind: str) -> None:
    from .export import write_csv, write_json, write_parquet

    if kind == "parquet":
        write_parquet(frame, path)
    elif kind == "csv":
        write_csv(frame, path)
    else:
        write_json(frame, path, lines=kind == "jsonl")
