"""Building results: the frames of a run, reruns of failed rows, and merges. No I/O.

Results are built here and only here: from a finished (or interrupted) run, from
a checkpoint's contents, and from a rerun merged into an earlier result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime, timezone
from typing import Any, cast

import numpy as np
import pandas as pd

from .._core.events import RunState
from .._core.evidence import evidence_frame
from .._core.frames import errors_frame, invalid_records, results_frame, sessions_frame
from .._core.options import is_sensitive
from .._core.plan import Plan
from .._core.table import ATTEMPTS, STATUS_COLUMNS, InputTable, Work
from .._display.timeline_data import attempts_frame
from .._scale.dask_input import counts_of
from ..errors import InputError
from .options import resolve_callable
from .result import ScrapeResult

__all__ = ["Rerun", "build_result", "merge_results", "rerun_for", "session_records"]

#: ``scrape`` itself, handed in by the module that defines it (a rerun is a new scrape).
Scrape = Callable[..., ScrapeResult]


def build_result(
    table: InputTable,
    *,
    error_records: list[dict[str, Any]],
    session_rows: list[dict[str, Any]],
    plan: Plan,
    backend: str,
    run_id: str,
    elapsed: float,
    first_result_s: float | None,
    interrupted: bool,
    skipped_reason: str,
    rerun: Any,
    attempt_records: list[tuple[Any, ...]] | None = None,
    evidence_records: list[dict[str, Any]] | None = None,
    out: str | None = None,
    resumed_rows: int = 0,
) -> ScrapeResult:
    """The ScrapeResult of ``table``, whose ``work`` items carry each row's outcome.

    With ``out`` (the rows are in that Parquet dataset) only the counts are kept.
    """
    counts = None
    if out is None:
        outcomes: list[Work | None] = [None] * table.rows
        for item in table.work:
            for position in item.positions:
                outcomes[position] = item
    else:
        counts = {"invalid": len(table.invalid)}
        for item in table.work:
            partition = counts_of(item.value)  # a dask input's partition: its rows by status
            for status, rows in (partition or {item.status or "skipped": len(item.positions)}).items():
                counts[status] = counts.get(status, 0) + rows
    return ScrapeResult(
        results=cast(pd.DataFrame, None)
        if out is not None
        else results_frame(table, outcomes, skipped_reason=skipped_reason),
        errors=errors_frame([*invalid_records(table), *error_records]),
        sessions=sessions_frame(session_rows),
        plan=plan,
        backend=backend,
        run_id=run_id,
        elapsed=elapsed,
        first_result_s=first_result_s,
        interrupted=interrupted,
        attempts=attempts_table(table, attempt_records or []),
        evidence=evidence_frame(evidence_records),
        _rerun=rerun,
        out=out,
        _counts=counts,
        resumed_rows=resumed_rows,
        _native=table.native,
    )


def attempts_table(table: InputTable, records: list[tuple[Any, ...]]) -> pd.DataFrame:
    """``result.attempts`` from the ledger's attempt tuples (wall-clock seconds, row positions)."""
    if not records:
        return attempts_frame()
    sessions, tabs, positions, urls, numbers, starts, ends, outcomes, renders = zip(*records, strict=True)
    frame = pd.DataFrame(
        {
            "session": sessions,
            "tab": tabs,
            "row": table.frame.index.take(list(positions)),
            "url": urls,
            "attempt": numbers,
            "start": pd.to_datetime(np.asarray(starts, dtype="float64"), unit="s", utc=True),
            "end": pd.to_datetime(np.asarray(ends, dtype="float64"), unit="s", utc=True),
            "outcome": outcomes,
            "render": renders,
        }
    )
    return attempts_frame(frame)


def session_records(state: RunState) -> list[dict[str, Any]]:
    """One record per session of a run (the rows of ``result.sessions``)."""
    now = time.time()
    records = []
    for s in state.sessions.values():
        ended = s.ended or now
        minutes = max(0.0, ended - s.started) / 60.0 if s.state not in ("failed",) or s.ready_s else 0.0
        records.append(
            {
                "session": s.session,
                "backend": state.backend,
                "batch": s.batch,
                "state": s.state,
                "tabs": s.tabs,
                "ready_s": s.ready_s,
                "pages_ok": s.pages_ok,
                "pages_failed": s.pages_failed,
                "errors": s.errors,
                "started": datetime.fromtimestamp(s.started, timezone.utc),
                "ended": datetime.fromtimestamp(ended, timezone.utc),
                "session_minutes": minutes,
                "error": s.error,
            }
        )
    return records


def rerun_for(table: InputTable, call: Mapping[str, Any], scrape: Scrape) -> Rerun:
    """The ``retry_failed`` hook of a result of ``table`` scraped with the options of ``call``."""
    return Rerun(table, dict(call), scrape)


class Rerun:
    """How a result scrapes its failed rows again: its input and the options it was scraped with.

    It travels with a pickled result (``portable``): the backend without its secrets (they are
    read from this process's environment again, as a shard does), or not at all when the
    scraper or the backend cannot travel; ``retry_failed()`` then says so.
    """

    def __init__(self, table: InputTable, call: dict[str, Any], scrape: Scrape) -> None:
        self.table, self.call, self.scrape = table, call, scrape

    def __call__(self, previous: ScrapeResult, fn: Any, overrides: dict[str, Any]) -> ScrapeResult:
        call = dict(self.call)
        backend = call.get("backend")
        if backend is not None and hasattr(backend, "arrived"):
            call["backend"] = backend.arrived()  # its secrets, if it travelled without them
        return _retry_failed(previous, self.table, call, fn, overrides, self.scrape)

    def portable(self) -> Rerun | None:
        """This rerun as it may be pickled (no secret in it), or None when it cannot travel."""
        import pickle

        call = dict(self.call)
        headers = call.get("headers") or {}
        if any(is_sensitive(str(name)) and value for name, value in dict(headers).items()):
            return None  # a credential in headers= never travels in a pickle
        backend = call.get("backend")
        if backend is not None and hasattr(backend, "for_another_process"):
            try:
                call["backend"], _ = backend.for_another_process(for_cluster=True)
            except InputError:
                return None
        try:  # the options (the scraper, setup=): the input table is plain data and always travels
            pickle.dumps(call)
        except Exception:  # a scraper defined in a cell, a lambda: the result travels without it
            return None
        return Rerun(self.table, call, self.scrape)


def _retry_failed(
    previous: ScrapeResult,
    table: InputTable,
    call: dict[str, Any],
    fn: Any,
    overrides: dict[str, Any],
    scrape: Scrape,
) -> ScrapeResult:
    if len(previous._frame) != table.rows:
        raise InputError(
            f"retry_failed() needs the result's {table.rows} rows, but it has {len(previous._frame)}; "
            "call it on the whole result, not on a filtered copy."
        )
    mask = previous._frame["af_status"].isin(["failed", "skipped"]).to_numpy()
    if not mask.any():
        return previous
    options = {**call, **overrides}
    options.pop("checkpoint", None)  # the checkpoint belongs to the first run's input
    options.pop("checkpoint_overwrite", None)
    scraper = fn if fn is not None else options.get("fn")
    options.pop("fn", None)
    if scraper is None and "extract" not in overrides:
        raise InputError(
            "This result does not know its scraper (it was loaded from a checkpoint). "
            "Pass it: result.retry_failed(scraper) or result.retry_failed(extract={...})."
        )
    if "extract" in overrides:
        scraper = None  # retry_failed(extract={...}) replaces the callable
    subset = table.frame[mask]
    again = scrape(subset, scraper, **options)
    later_call = {**options, "fn": resolve_callable(scraper, options.get("extract"))}
    later_call.pop("extract", None)
    return merge_results(previous, again, mask, rerun=rerun_for(table, later_call, scrape))


def merge_results(
    previous: ScrapeResult, again: ScrapeResult, mask: Any, *, rerun: Any = None
) -> ScrapeResult:
    """Replace the rows of ``previous`` selected by ``mask`` with those of ``again``; attempts add up.

    Index, order and the input columns of ``previous`` are kept; output columns of
    both runs are kept (missing values where a run did not produce one), with a
    dtype that holds both (whole numbers with gaps become Int64, not float).
    """
    old = previous._frame
    new = again._frame
    positions = np.asarray(mask).nonzero()[0]
    if len(new) != len(positions):
        raise InputError(f"merge_results(): {len(positions)} rows selected but the rerun has {len(new)}.")
    columns = list(dict.fromkeys([*old.columns, *new.columns]))
    status = [c for c in STATUS_COLUMNS if c in columns]
    columns = [c for c in columns if c not in STATUS_COLUMNS] + status
    merged: dict[Hashable, Any] = {}
    for column in columns:
        if column == ATTEMPTS:
            attempts = old[ATTEMPTS].to_numpy().copy()
            attempts[positions] += new[ATTEMPTS].to_numpy()
            merged[column] = pd.Series(attempts, dtype="int64")
            continue
        merged[column] = _merge_column(
            old[column] if column in old.columns else None,
            new[column] if column in new.columns else None,
            positions,
            len(old),
        )
    frame = pd.DataFrame(merged, columns=columns)
    frame.index = old.index
    errors = [f for f in (previous.errors, again.errors) if len(f)]
    sessions = [f for f in (previous.sessions, again.sessions) if len(f)]
    return ScrapeResult(
        results=frame,
        errors=pd.concat(errors, ignore_index=True)
        if len(errors) > 1
        else previous.errors
        if not errors
        else errors[0],
        sessions=pd.concat(sessions, ignore_index=True)
        if len(sessions) > 1
        else previous.sessions
        if not sessions
        else sessions[0],
        plan=again.plan,
        backend=previous.backend
        if previous.backend == again.backend
        else f"{previous.backend} + {again.backend}",
        run_id=f"{previous.run_id}+{again.run_id}",
        elapsed=previous.elapsed + again.elapsed,
        first_result_s=previous.first_result_s,
        interrupted=again.interrupted,
        attempts=pd.concat([previous.attempts, again.attempts], ignore_index=True),
        evidence=_concat_evidence(previous.evidence, again.evidence),
        _rerun=rerun,
        _native=previous._native,  # the rerun scraped pandas rows; the whole comes back as the input
    )


def _concat_evidence(*frames: pd.DataFrame) -> pd.DataFrame:
    """The evidence of both runs (a row that failed first and is ok now keeps its first failure's)."""
    kept = [frame for frame in frames if len(frame)]
    return evidence_frame(pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0] if kept else None)


def _nullable(column: pd.Series) -> pd.Series:
    """int64 and bool columns as Int64 and boolean, which can hold a gap."""
    if column.dtype == "int64":
        return column.astype("Int64")
    if column.dtype == "bool":
        return column.astype("boolean")
    return column


def _missing(like: pd.Series, length: int) -> pd.Series:
    if like.dtype == object:
        return pd.Series([None] * length, dtype=object)
    return _nullable(like).iloc[:0].reindex(range(length))


def _merge_column(old: pd.Series | None, new: pd.Series | None, positions: Any, length: int) -> pd.Series:
    if old is None:
        assert new is not None
        old = _missing(new, length)
    old = old.reset_index(drop=True)
    if new is None:
        new = _missing(old, len(positions))
    new = new.reset_index(drop=True)
    if old.dtype == new.dtype:
        merged = old.copy()
    else:
        old, new = _nullable(old), _nullable(new)
        if old.dtype == new.dtype:
            merged = old.copy()
        elif old.isna().all() and old.dtype == object:
            merged = _missing(new, length)  # only gaps before: take the new dtype
        elif new.isna().all() and new.dtype == object:
            merged, new = old.copy(), _missing(old, len(new))
        else:
            merged, new = old.astype(object), new.astype(object)
    if isinstance(merged.dtype, pd.CategoricalDtype):
        missing = set(new.dropna().unique()) - set(merged.cat.categories)
        if missing:
            merged = merged.cat.add_categories(sorted(missing, key=str))
    merged.iloc[positions] = new.array if merged.dtype == new.dtype else new.to_numpy()
    return merged
