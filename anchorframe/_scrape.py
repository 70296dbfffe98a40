"""scrape() / ascrape() / plan(): validate -> plan -> run -> frames."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import math
import os
import time
import uuid
from collections.abc import Hashable, Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._engine import Engine, EngineOptions, ScrapeFn, SetupFn
from ._events import Event, Observer, RunState
from ._frames import (
    ATTEMPTS,
    DEFAULT_SCHEMES,
    STATUS_COLUMNS,
    InputTable,
    errors_frame,
    invalid_records,
    prepare_input,
    results_frame,
    sessions_frame,
)
from ._plan import Plan, plan_sessions
from ._portal import await_in_portal, run_in_portal
from ._progress import choose_display
from ._result import ScrapeResult
from .backends._base import Backend
from .backends.local import LocalBackend
from .errors import InputError, RunInterrupted
from .extract import css, page_summary

if TYPE_CHECKING:
    from ._checkpoint import CheckpointWriter

__all__ = ["ascrape", "last_result", "plan", "resolve_backend", "scrape"]

log = logging.getLogger("anchorframe")

_LAST: list[ScrapeResult] = []
_API_KEY_VARIABLES = ("ANCHOR_API_KEY", "ANCHORBROWSER_API_KEY")


def last_result() -> ScrapeResult | None:
    """The result of the latest run in this process, also when it was interrupted.

    Example:
        >>> af.scrape(df, scraper)  # doctest: +SKIP
        KeyboardInterrupt
        >>> partial = af.last_result()  # every row there, unfinished ones 'skipped'  # doctest: +SKIP
    """
    return _LAST[-1] if _LAST else None


def resolve_backend(backend: str | Backend | None) -> Backend:
    """Turn ``backend=`` into a Backend: "auto" (Anchor when a key is set, else local), "local", "anchor"."""
    if isinstance(backend, Backend):
        return backend
    if backend is None or backend == "auto":
        if any(os.environ.get(name) for name in _API_KEY_VARIABLES):
            return _anchor_backend()
        return LocalBackend()
    if backend == "local":
        return LocalBackend()
    if backend == "anchor":
        return _anchor_backend()
    raise InputError(f"backend must be 'auto', 'local', 'anchor' or a Backend instance, not {backend!r}.")


def _anchor_backend() -> Backend:
    try:
        from .backends.anchor import AnchorBackend
    except ImportError as exc:  # pragma: no cover - the Anchor backend ships with the package
        raise InputError(f"The Anchor backend is not available: {exc}") from exc
    return AnchorBackend()  # type: ignore[no-any-return]


def _resolve_callable(fn: Any, extract: Mapping[str, str] | None) -> ScrapeFn:
    if fn is not None and extract is not None:
        raise InputError("Pass either a callable or extract={...}, not both.")
    if extract is not None:
        return css(extract)  # type: ignore[no-any-return]
    if fn is None:
        return page_summary
    if isinstance(fn, Mapping):
        return css(fn)  # type: ignore[no-any-return]
    if not callable(fn):
        raise TypeError(
            f"The scraper must be an async function (page, row) -> dict, not {type(fn).__name__}."
        )
    if not _is_async(fn):
        name = getattr(fn, "__name__", "scraper")
        raise TypeError(
            f"{name}() is a plain function, but anchorframe drives Playwright's async API and needs "
            "an async one. Write it as:\n\n"
            f"    async def {name}(page, row):\n"
            "        await page.goto(row.url)\n"
            "        return {'title': await page.title()}\n"
        )
    return fn  # type: ignore[no-any-return]


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def _number(name: str, value: Any, *, minimum: float, integer: bool = False) -> Any:
    from datetime import timedelta

    if isinstance(value, timedelta) and not integer:
        value = value.total_seconds()
    bad = (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and not isinstance(value, int))
    )
    if bad or (isinstance(value, float) and math.isnan(value)) or value < minimum:
        kind = "a whole number" if integer else "a number of seconds"
        raise InputError(f"{name} must be {kind} >= {minimum:g}, not {value!r}.")
    return value


def _block_set(block: Iterable[str] | str | bool | None) -> frozenset[str]:
    from ._engine import RESOURCE_TYPES

    if block is None or block is False:
        return frozenset()
    if block is True:
        return frozenset({"image", "font", "media"})
    items = frozenset([block] if isinstance(block, str) else block)
    unknown = items - RESOURCE_TYPES
    if unknown:
        raise InputError(
            f"block= has unknown resource types {sorted(unknown)}; use some of {sorted(RESOURCE_TYPES)}."
        )
    return items


def plan(
    data: Any,
    *,
    url: Hashable | None = None,
    backend: str | Backend | None = "auto",
    sessions: int | None = None,
    tabs: int | None = None,
    seconds_per_url: float | None = None,
    target_seconds: float | None = None,
    max_sessions: int | None = None,
    max_session_minutes: float | None = None,
    dedupe: bool = True,
    schemes: Iterable[str] = DEFAULT_SCHEMES,
) -> Plan:
    """Check the input and size the run without starting any browser.

    Example:
        >>> import anchorframe as af
        >>> urls = ["https://example.com/a", "https://example.com/b"]
        >>> print(af.plan(urls, backend="local"))  # doctest: +SKIP
        Plan (local): 2 rows, 2 URLs to scrape
          1 session(s) x 2 tab(s)
        ...
    """
    table = prepare_input(data, url, schemes=schemes, dedupe=dedupe)
    chosen = resolve_backend(backend)
    return _plan_for(
        table,
        chosen,
        sessions=sessions,
        tabs=tabs,
        seconds_per_url=seconds_per_url,
        target_seconds=target_seconds,
        max_sessions=max_sessions,
        max_session_minutes=max_session_minutes,
    )


def _plan_for(table: InputTable, backend: Backend, **sizing: Any) -> Plan:
    return plan_sessions(
        len(table.work), kind=backend.kind, rows=table.rows, invalid=len(table.invalid), **sizing
    )


def scrape(
    data: Any,
    fn: ScrapeFn | Mapping[str, str] | None = None,
    *,
    url: Hashable | None = None,
    extract: Mapping[str, str] | None = None,
    backend: str | Backend | None = "auto",
    sessions: int | None = None,
    tabs: int | None = None,
    timeout: float = 30.0,
    retries: int = 2,
    setup: SetupFn | None = None,
    block: Iterable[str] | bool | None = None,
    progress: bool | str | None = None,
    dedupe: bool = True,
    schemes: Iterable[str] = DEFAULT_SCHEMES,
    checkpoint: str | os.PathLike[str] | None = None,
    **advanced: Any,
) -> ScrapeResult:
    """Scrape every URL of ``data`` with real browsers and return DataFrames.

    Args:
        data: a DataFrame, a Series or a list of URLs.
        fn: ``async def fn(page, row)`` with a Playwright page; returns a dict (one
            column per key), a scalar (a ``value`` column) or None. Default: a page
            summary (final URL, HTTP status, title, text length).
        url: the URL column (default: a column named url/link/href...).
        extract: a dict of column name -> CSS selector, instead of ``fn``.
        backend: "auto" (Anchor when ANCHOR_API_KEY is set, else local Chromium),
            "local", "anchor", or a Backend instance.
        sessions, tabs: override the plan (see ``af.plan``).
        timeout: seconds for one attempt at one row (``float`` or ``timedelta``).
        retries: further attempts after a failure that a retry may fix.
        setup: ``async def setup(page)`` run once per session (log in, set cookies).
        block: resource types not to load, e.g. ``{"image", "font", "media"}`` (True: those three).
        progress: None picks a display by looking (notebook panel, terminal bars or
            nothing); True/False force it.
        dedupe: scrape a URL once and answer every row that has it.
        schemes: URL schemes allowed (http and https; file:// and others are refused).
        checkpoint: a path (e.g. ``"run.parquet"``, created as a directory of Parquet
            parts) where rows are written as they finish. A rerun with the same path
            keeps the rows already ok and scrapes the rest; a different input raises
            InputError. ``af.load_checkpoint(path)`` reads it back.
        advanced: ``backoff`` (seconds, default 0.5), ``max_replacements``,
            ``reuse_pages`` (keep one page per tab; default: only for the built-in
            extractors, a fresh page per row for your callable), ``seconds_per_url``, ``target_seconds``,
            ``max_sessions``, ``max_session_minutes``, ``checkpoint_overwrite``
            (True: start the checkpoint afresh instead of resuming it).

    Returns:
        A ScrapeResult with ``.results`` (one row per input row, same index and
        order), ``.errors`` and ``.sessions``.

    Example:
        >>> import anchorframe as af, pandas as pd
        >>> df = pd.DataFrame({"url": ["https://example.com"]})
        >>> async def title(page, row):
        ...     await page.goto(row.url)
        ...     return {"title": await page.title()}
        >>> af.scrape(df, title).results  # doctest: +SKIP
    """
    coro = ascrape(
        data,
        fn,
        url=url,
        extract=extract,
        backend=backend,
        sessions=sessions,
        tabs=tabs,
        timeout=timeout,
        retries=retries,
        setup=setup,
        block=block,
        progress=progress,
        dedupe=dedupe,
        schemes=schemes,
        checkpoint=checkpoint,
        **advanced,
    )
    try:
        return run_in_portal(_run_here(coro))
    except RunInterrupted:
        raise
    except KeyboardInterrupt:
        partial = last_result()
        raise RunInterrupted(_interrupted_message(partial), partial) from None


async def _run_here(coro: Any) -> ScrapeResult:
    return await coro  # type: ignore[no-any-return]


def _interrupted_message(partial: ScrapeResult | None) -> str:
    if partial is None:
        return "The run was interrupted before it started."
    counts = partial.counts
    return (
        f"The run was interrupted: {counts['ok']} rows ok, {counts['failed']} failed, "
        f"{counts['skipped']} not finished (status 'skipped'). Every session was released. "
        "The partial result is af.last_result()."
    )


async def ascrape(
    data: Any,
    fn: ScrapeFn | Mapping[str, str] | None = None,
    *,
    url: Hashable | None = None,
    extract: Mapping[str, str] | None = None,
    backend: str | Backend | None = "auto",
    sessions: int | None = None,
    tabs: int | None = None,
    timeout: float = 30.0,
    retries: int = 2,
    setup: SetupFn | None = None,
    block: Iterable[str] | bool | None = None,
    progress: bool | str | None = None,
    dedupe: bool = True,
    schemes: Iterable[str] = DEFAULT_SCHEMES,
    checkpoint: str | os.PathLike[str] | None = None,
    **advanced: Any,
) -> ScrapeResult:
    """The async form of :func:`scrape`, for ``await`` in a notebook or an async program.

    Example:
        >>> result = await af.ascrape(df, extract={"title": "h1"})  # doctest: +SKIP
    """
    known = {
        "backoff",
        "max_replacements",
        "reuse_pages",
        "seconds_per_url",
        "target_seconds",
        "max_sessions",
        "max_session_minutes",
        "connect_timeout",
        "checkpoint_overwrite",
        "_previous",
    }
    unknown = set(advanced) - known
    if unknown:
        raise TypeError(
            f"scrape() got unexpected keyword argument(s) {sorted(unknown)}; "
            f"the advanced ones are {sorted(known - {'_previous'})}."
        )
    scraper = _resolve_callable(fn, extract)
    timeout = float(_number("timeout", timeout, minimum=0.001))
    retries = _number("retries", retries, minimum=0, integer=True)
    backoff = float(_number("backoff", advanced.get("backoff", 0.5), minimum=0))
    if setup is not None and not _is_async(setup):
        raise TypeError("setup must be an async function: async def setup(page): ...")
    table = prepare_input(data, url, schemes=schemes, dedupe=dedupe)
    chosen = resolve_backend(backend)
    sizing = {
        k: advanced[k]
        for k in ("seconds_per_url", "target_seconds", "max_sessions", "max_session_minutes")
        if k in advanced
    }
    run_plan = _plan_for(table, chosen, sessions=sessions, tabs=tabs, **sizing)
    options = EngineOptions(
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        max_replacements=advanced.get("max_replacements"),
        setup=setup,
        block=_block_set(block),
        reuse_pages=None if advanced.get("reuse_pages") is None else bool(advanced["reuse_pages"]),
        connect_timeout=float(advanced.get("connect_timeout", 30.0)),
    )
    call = {
        "fn": scraper,
        "url": url,
        "backend": chosen,
        "sessions": sessions,
        "tabs": tabs,
        "timeout": timeout,
        "retries": retries,
        "setup": setup,
        "block": block,
        "progress": progress,
        "dedupe": dedupe,
        "schemes": schemes,
        **{k: v for k, v in advanced.items() if k not in ("_previous", "checkpoint_overwrite")},
    }
    writer: CheckpointWriter | None = None
    todo = table
    if checkpoint is not None:
        writer, todo = await _open_checkpoint(
            checkpoint, table, scraper, bool(advanced.get("checkpoint_overwrite", False)), dedupe, schemes
        )
        try:
            run_plan = _plan_for(todo, chosen, sessions=sessions, tabs=tabs, **sizing)
        except BaseException:
            writer.close()
            raise
    try:
        return await await_in_portal(
            _run(table, scraper, chosen, run_plan, options, progress, call, todo=todo, writer=writer)
        )
    except asyncio.CancelledError as cancelled:
        if cancelled.args:
            raise
        # Same words as scrape()'s RunInterrupted: where the partial result is.
        raise asyncio.CancelledError(_interrupted_message(last_result())) from None


async def _open_checkpoint(
    path: str | os.PathLike[str],
    table: InputTable,
    scraper: ScrapeFn,
    overwrite: bool,
    dedupe: bool,
    schemes: Iterable[str],
) -> tuple[CheckpointWriter, InputTable]:
    """Open the checkpoint (reading its parts off the event loop) and list the work left."""
    from ._checkpoint import open_checkpoint

    writer, resume = await asyncio.to_thread(
        open_checkpoint, path, table, scraper, overwrite=overwrite, dedupe=dedupe, schemes=schemes
    )
    if resume.rows_done:
        log.info(
            "Resuming from the checkpoint %s: %d rows already ok are kept, %d URLs left to scrape.",
            path,
            resume.rows_done,
            len(resume.remaining),
        )
    return writer, dataclasses.replace(table, work=resume.remaining)


class _FanOut:
    """The checkpoint writer and the progress display, as the engine's one observer.

    A display that fails is turned off with a warning; the checkpoint goes on.
    """

    def __init__(self, writer: Observer, display: Observer | None) -> None:
        self.writer = writer
        self.display = display

    def __call__(self, event: Event, state: RunState) -> None:
        self.writer(event, state)
        if self.display is not None:
            try:
                self.display(event, state)
            except Exception:
                log.warning("The progress display failed and was turned off for this run.", exc_info=True)
                self.display = None


async def _run(
    table: InputTable,
    scraper: ScrapeFn,
    backend: Backend,
    run_plan: Plan,
    options: EngineOptions,
    progress: bool | str | None,
    call: dict[str, Any],
    *,
    todo: InputTable | None = None,
    writer: CheckpointWriter | None = None,
) -> ScrapeResult:
    """Run the engine over ``todo`` (the rows a checkpoint does not have yet) and assemble ``table``."""
    todo = table if todo is None else todo
    run_id = uuid.uuid4().hex[:12]
    display = choose_display(progress) if todo.rows and todo.work else None
    observer: Observer | None = display if writer is None else _FanOut(writer, display)
    secrets = backend.secrets()
    try:
        engine = Engine(
            todo, scraper, backend, run_plan, options, run_id=run_id, observer=observer, secrets=secrets
        )
        kept = table.rows - len(todo.invalid) - sum(len(w.positions) for w in todo.work)
        engine.state.rows_total -= kept  # progress counts this run's rows, not the checkpoint's
        if writer is not None:
            writer.describe_run(run_id=run_id, backend=backend.describe(), plan=run_plan)
    except BaseException:
        if writer is not None:
            writer.close()
        raise
    interrupted = False
    try:
        await engine.run()
    except asyncio.CancelledError:
        interrupted = True
        raise
    finally:
        if display is not None:
            try:
                display.close(engine.state)
            except Exception:
                pass
        if writer is not None:
            # After the engine, also when it was cancelled: the rows it finished are written.
            writer.drain()
            writer.add_previous_attempts(todo.work)
        result = _result(engine, table, run_plan, backend, run_id, interrupted, call)
        if writer is not None:
            writer.close(
                errors=result.errors,
                sessions=result.sessions,
                elapsed=result.elapsed,
                interrupted=interrupted,
            )
        _LAST[:] = [result]
    return result


def _result(
    engine: Engine,
    table: InputTable,
    run_plan: Plan,
    backend: Backend,
    run_id: str,
    interrupted: bool,
    call: dict[str, Any],
) -> ScrapeResult:
    outcomes: list[Any] = [None] * table.rows
    for item in table.work:
        for position in item.positions:
            outcomes[position] = item
    skipped = "the run was interrupted before this row finished" if interrupted else "not run"
    results = results_frame(table, outcomes, skipped_reason=skipped)
    errors = errors_frame(invalid_records(table) + engine.error_records)
    sessions = sessions_frame(_session_records(engine.state))
    state = engine.state
    return ScrapeResult(
        results=results,
        errors=errors,
        sessions=sessions,
        plan=run_plan,
        backend=backend.describe(),
        run_id=run_id,
        elapsed=state.elapsed,
        first_result_s=state.first_result_s,
        interrupted=interrupted,
        _rerun=rerun_for(table, call),
    )


def _session_records(state: RunState) -> list[dict[str, Any]]:
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


def rerun_for(table: InputTable, call: Mapping[str, Any]) -> Any:
    """The ``retry_failed`` hook of a result of ``table`` scraped with the options of ``call``."""

    def rerun(previous: ScrapeResult, fn: Any, overrides: dict[str, Any]) -> ScrapeResult:
        return _retry_failed(previous, table, dict(call), fn, overrides)

    return rerun


def _retry_failed(
    previous: ScrapeResult, table: InputTable, call: dict[str, Any], fn: Any, overrides: dict[str, Any]
) -> ScrapeResult:
    if len(previous.results) != table.rows:
        raise InputError(
            f"retry_failed() needs the result's {table.rows} rows, but it has {len(previous.results)}; "
            "call it on the whole result, not on a filtered copy."
        )
    mask = previous.results["af_status"].isin(["failed", "skipped"]).to_numpy()
    if not mask.any():
        return previous
    options = {**call, **overrides}
    options.pop("checkpoint_overwrite", None)  # the checkpoint belongs to the first run's input
    scraper = fn if fn is not None else options.get("fn")
    options.pop("fn", None)
    if scraper is None:
        raise InputError(
            "This result does not know its scraper (it was loaded from a checkpoint). "
            "Pass it: result.retry_failed(scraper) or result.retry_failed(extract={...})."
        )
    if "extract" in overrides:
        scraper = None  # retry_failed(extract={...}) replaces the callable
    subset = table.frame[mask]
    again = scrape(subset, scraper, **options)
    later_call = {**options, "fn": again_scraper(scraper, options)}
    later_call.pop("extract", None)
    return merge_results(previous, again, mask, rerun=rerun_for(table, later_call))


def again_scraper(scraper: Any, options: Mapping[str, Any]) -> Any:
    """The callable a rerun used: the one passed, or the one ``extract=`` made."""
    return _resolve_callable(scraper, options.get("extract"))


def merge_results(
    previous: ScrapeResult, again: ScrapeResult, mask: Any, *, rerun: Any = None
) -> ScrapeResult:
    """Replace the rows of ``previous`` selected by ``mask`` with those of ``again``; attempts add up.

    Index, order and the input columns of ``previous`` are kept; output columns of
    both runs are kept (missing values where a run did not produce one), with a
    dtype that holds both (whole numbers with gaps become Int64, not float).
    """
    old = previous.results
    new = again.results
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
        _rerun=rerun,
    )


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
