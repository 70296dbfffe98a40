"""scrape() / ascrape() / plan(): validate -> plan -> run -> frames."""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import time
import uuid
from collections.abc import Hashable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from ._engine import Engine, EngineOptions, ScrapeFn, SetupFn
from ._events import RunState
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

__all__ = ["ascrape", "last_result", "plan", "resolve_backend", "scrape"]

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
        advanced: ``backoff`` (seconds, default 0.5), ``max_replacements``,
            ``reuse_pages``, ``seconds_per_url``, ``target_seconds``,
            ``max_sessions``, ``max_session_minutes``.

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
    run_plan = _plan_for(
        table,
        chosen,
        sessions=sessions,
        tabs=tabs,
        **{
            k: advanced[k]
            for k in ("seconds_per_url", "target_seconds", "max_sessions", "max_session_minutes")
            if k in advanced
        },
    )
    options = EngineOptions(
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        max_replacements=advanced.get("max_replacements"),
        setup=setup,
        block=_block_set(block),
        reuse_pages=bool(advanced.get("reuse_pages", False)),
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
        **{k: v for k, v in advanced.items() if k != "_previous"},
    }
    return await await_in_portal(_run(table, scraper, chosen, run_plan, options, progress, call))


async def _run(
    table: InputTable,
    scraper: ScrapeFn,
    backend: Backend,
    run_plan: Plan,
    options: EngineOptions,
    progress: bool | str | None,
    call: dict[str, Any],
) -> ScrapeResult:
    run_id = uuid.uuid4().hex[:12]
    display = choose_display(progress) if table.rows else None
    secrets = tuple(s for s in (getattr(backend, "api_key", None),) if s)
    engine = Engine(
        table, scraper, backend, run_plan, options, run_id=run_id, observer=display, secrets=secrets
    )
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
        result = _result(engine, table, run_plan, backend, run_id, interrupted, call)
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
        _rerun=lambda previous, fn, overrides: _retry_failed(previous, table, call, fn, overrides),
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


def _retry_failed(
    previous: ScrapeResult, table: InputTable, call: dict[str, Any], fn: Any, overrides: dict[str, Any]
) -> ScrapeResult:
    mask = previous.results["af_status"].isin(["failed", "skipped"]).to_numpy()
    if not mask.any():
        return previous
    subset = table.frame[mask]
    options = {**call, **overrides}
    scraper = fn if fn is not None else options.pop("fn")
    options.pop("fn", None)
    options["progress"] = overrides.get("progress", call.get("progress"))
    again = scrape(subset, scraper, **options)
    return merge_results(previous, again, mask)


def merge_results(previous: ScrapeResult, again: ScrapeResult, mask: Any) -> ScrapeResult:
    """Replace the rows of ``previous`` selected by ``mask`` with those of ``again``; attempts add up."""
    old = previous.results
    new = again.results
    merged_columns = list(dict.fromkeys([*old.columns, *new.columns]))
    status = [c for c in STATUS_COLUMNS if c in merged_columns]
    merged_columns = [c for c in merged_columns if c not in STATUS_COLUMNS] + status
    merged = old.reindex(columns=merged_columns).reset_index(drop=True)
    positions = mask.nonzero()[0]
    replacement = new.reindex(columns=merged_columns).reset_index(drop=True)
    replacement[ATTEMPTS] = replacement[ATTEMPTS].to_numpy() + old[ATTEMPTS].to_numpy()[positions]
    for column in merged_columns:
        if column == "af_status":
            continue
        if merged[column].dtype != replacement[column].dtype:
            merged[column] = merged[column].astype(object)
        merged.loc[positions, column] = replacement[column].to_numpy()
    merged["af_status"] = pd.Categorical(
        [*old["af_status"].astype(str)], categories=old["af_status"].cat.categories
    )
    codes = merged["af_status"].astype(object).to_numpy()
    codes[positions] = new["af_status"].astype(str).to_numpy()
    merged["af_status"] = pd.Categorical(codes, categories=old["af_status"].cat.categories)
    merged.index = old.index
    return ScrapeResult(
        results=merged,
        errors=pd.concat([previous.errors, again.errors], ignore_index=True)
        if len(again.errors)
        else previous.errors,
        sessions=pd.concat([previous.sessions, again.sessions], ignore_index=True)
        if len(again.sessions)
        else previous.sessions,
        plan=previous.plan,
        backend=previous.backend,
        run_id=f"{previous.run_id}+{again.run_id}",
        elapsed=previous.elapsed + again.elapsed,
        first_result_s=previous.first_result_s,
        interrupted=again.interrupted,
        _rerun=again._rerun and (lambda prev, fn, overrides: _rerun_merged(prev, again, fn, overrides)),
    )


def _rerun_merged(
    prev: ScrapeResult, again: ScrapeResult, fn: Any, overrides: dict[str, Any]
) -> ScrapeResult:
    raise RuntimeError("retry_failed() on a merged result is not supported yet; retry the original result.")
