"""scrape() / ascrape() / plan() / load_checkpoint(): check -> plan -> run -> frames.

Everything a user passes is checked (``_options``) before any checkpoint is
opened or any browser started; the run itself is one async engine, reached from
synchronous code through the portal (an event loop in its own thread).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from .._core.evidence import DEFAULT_EVIDENCE
from .._core.options import (
    CONTEXT_RENEW_ROWS,
    DEFAULT_PER_SITE,
    DEFAULT_SCHEMES,
    BackendName,
    ProgressKind,
    RenderMode,
    ScrapeFn,
    ScrapeOptions,
    Seconds,
    SetupFn,
)
from .._core.plan import Plan
from .._core.table import InputTable, prepare_input
from .._engine.portal import await_in_portal, run_in_portal
from .._scale.dask_input import is_dask_frame, partition_table
from ..backends._base import Backend
from ..errors import InputError, RunInterrupted
from .assemble import build_result, rerun_for
from .lifecycle import last_result, plan_for, run
from .options import check_options, refuses_unknown_options
from .result import ScrapeResult

__all__ = ["ascrape", "last_result", "load_checkpoint", "plan", "scrape"]

log = logging.getLogger("anchorframe")


@refuses_unknown_options
def plan(
    data: Any,
    fn: ScrapeFn | Mapping[str, str] | None = None,
    *,
    url: Hashable | None = None,
    extract: Mapping[str, str] | None = None,
    backend: BackendName | Backend | None = "auto",
    sessions: int | None = None,
    tabs: int | None = None,
    timeout: Seconds = 30.0,
    retries: int = 2,
    backoff: Seconds = 0.5,
    setup: SetupFn | None = None,
    block: Iterable[str] | bool | None = None,
    progress: bool | ProgressKind | None = None,
    dedupe: bool = True,
    schemes: Iterable[str] = DEFAULT_SCHEMES,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_overwrite: bool = False,
    reuse_pages: bool | None = None,
    max_replacements: int | None = None,
    allow_status: Iterable[int] | None = None,
    connect_timeout: Seconds = 30.0,
    seconds_per_url: float | None = None,
    target_seconds: float | None = None,
    max_sessions: int | None = None,
    max_session_minutes: float | None = None,
    render: RenderMode | None = None,
    per_site: int = DEFAULT_PER_SITE,
    min_delay: Seconds = 0.0,
    robots: bool = True,
    user_agent: str | None = None,
    headers: Mapping[str, str] | None = None,
    locale: str | None = None,
    timezone: str | None = None,
    renew_context_after: int | None = CONTEXT_RENEW_ROWS,
    evidence: int = DEFAULT_EVIDENCE,
    workers: int = 1,
    cluster: Any = None,
    out: str | os.PathLike[str] | None = None,
    probe: int = 0,
) -> Plan:
    """Check the input and every option, and size the run (no browser is started, unless ``probe=``).

    It takes the options of :func:`scrape` (same names, same defaults, same checks), so
    the plan is that of the run ``scrape()`` would make with them; with ``workers=1`` (the
    default) it says when one process cannot keep the sessions busy (see
    ``anchorframe._core.plan``).

    ``probe=N`` (opt-in: it makes N requests) fetches N of the URLs over plain HTTP, reads
    ``extract`` (or the page summary) from them, and says in ``explain()`` which share
    of rows would need a browser under ``render="auto"`` and what that costs
    (``plan.browser_share``). Where rows would go to a browser, it then runs those N rows
    with the scraper (and ``setup=``) in one local Chromium (none of the cloud's sessions;
    N more requests) and sizes the plan on the CPU a page cost this process and Playwright's
    driver (from 10 ok rows on), as a run here does: how many cloud sessions one process
    keeps busy, and ``workers=``.

    Example:
        >>> import anchorframe as af
        >>> urls = ["https://example.com/a", "https://example.com/b"]
        >>> print(af.plan(urls, backend="local"))  # doctest: +SKIP
        Plan (local): 2 rows, 2 URLs to scrape
          1 session(s) x 2 tab(s)
        ...
    """
    arguments = dict(locals())
    del arguments["probe"]
    options = check_options(arguments, estimate=True)  # scrape()'s checks; a cloud plan needs no key
    table = prepare_input(data, options.url, schemes=options.schemes, dedupe=options.dedupe)
    sized = plan_for(table, options.backend, **options.sizing.given())
    if not probe:
        return sized
    from .probe import probe_orchestrator, probe_plan

    probed = probe_plan(sized, table, probe, extract)
    if options.engine.render == "http" or (options.engine.render == "auto" and probed.browser_share == 0):
        return probed  # no row would go to a browser: its cost does not matter
    measured = probe_orchestrator(sized, table, probe, arguments, scrape)
    resized = plan_for(table, options.backend, **options.sizing.given())
    said = probed.reasons[len(sized.reasons) :]  # what the HTTP sample said
    return dataclasses.replace(
        resized, reasons=(*resized.reasons, *said, measured), browser_share=probed.browser_share
    )


@refuses_unknown_options
def scrape(
    data: Any,
    fn: ScrapeFn | Mapping[str, str] | None = None,
    *,
    url: Hashable | None = None,
    extract: Mapping[str, str] | None = None,
    backend: BackendName | Backend | None = "auto",
    sessions: int | None = None,
    tabs: int | None = None,
    timeout: Seconds = 30.0,
    retries: int = 2,
    backoff: Seconds = 0.5,
    setup: SetupFn | None = None,
    block: Iterable[str] | bool | None = None,
    progress: bool | ProgressKind | None = None,
    dedupe: bool = True,
    schemes: Iterable[str] = DEFAULT_SCHEMES,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_overwrite: bool = False,
    reuse_pages: bool | None = None,
    max_replacements: int | None = None,
    allow_status: Iterable[int] | None = None,
    connect_timeout: Seconds = 30.0,
    seconds_per_url: float | None = None,
    target_seconds: float | None = None,
    max_sessions: int | None = None,
    max_session_minutes: float | None = None,
    render: RenderMode | None = None,
    per_site: int = DEFAULT_PER_SITE,
    min_delay: Seconds = 0.0,
    robots: bool = True,
    user_agent: str | None = None,
    headers: Mapping[str, str] | None = None,
    locale: str | None = None,
    timezone: str | None = None,
    renew_context_after: int | None = CONTEXT_RENEW_ROWS,
    evidence: int = DEFAULT_EVIDENCE,
    workers: int = 1,
    cluster: Any = None,
    out: str | os.PathLike[str] | None = None,
) -> ScrapeResult:
    """Scrape every URL of ``data`` with real browsers and return DataFrames.

    Args:
        data: a DataFrame, a Series or a list of URLs; or a ``dask.dataframe.DataFrame``
            with ``cluster=`` and ``out=``: the workers read its partitions (this process
            never computes it) and write the rows to ``out``. A polars DataFrame or
            LazyFrame (collected once), or a pyarrow Table, gives ``results`` back as the same
            kind (``pip install 'anchorframe[polars]'`` or ``'anchorframe[arrow]'``); its rows
            are labelled 0, 1, 2... in ``errors`` and ``attempts``.
        fn: ``async def fn(page, row)`` with a Playwright page; returns a dict (one
            column per key), a scalar (a ``value`` column) or None. Default: a page
            summary (final URL, HTTP status, title, text length).
        url: the URL column (default: ``"url"``; without one, the error names a likely column).
        extract: a dict of column name -> CSS selector, instead of ``fn``.
        backend: "auto" (Anchor when ANCHOR_API_KEY is set, else local Chromium),
            "local", "anchor", or a Backend instance.
        sessions, tabs: override the plan (see ``af.plan``).
        timeout: seconds for one attempt at one row (``float`` or ``timedelta``).
        retries: further attempts after a failure that a retry may fix.
        backoff: seconds before the first retry of a row, doubled for each later one (with jitter).
        setup: ``async def setup(page)`` run once per session (log in, set cookies).
        block: resource types not to load, e.g. ``{"image", "font", "media"}`` (True: those three).
        progress: None picks a display by looking (notebook panel, terminal bars or
            nothing); True/False force it; or "widgets", "tqdm", "log".
        dedupe: scrape a URL once and answer every row that has it.
        schemes: URL schemes allowed (http and https; file:// and others are refused).
        checkpoint: a path (e.g. ``"run.parquet"``, created as a directory of Parquet
            parts) where rows are written as they finish. A rerun with the same path
            keeps the rows already ok and scrapes the rest; a different input raises
            InputError. ``af.load_checkpoint(path)`` reads it back. With a dask input
            it holds no rows (they are in ``out=``): a rerun keeps the partitions
            already written there and scrapes the others.
        checkpoint_overwrite: True starts the checkpoint afresh instead of resuming it.
        reuse_pages: keep one page per tab between rows. Default: only for the built-in
            extractors (they leave no state behind); a fresh page per row for your callable.
        max_replacements: how many lost or failed sessions may be replaced (default:
            twice the planned sessions, at least 2).
        allow_status: HTTP statuses of 400 and above that your scraper's pages may answer with
            and still be ok (e.g. ``{404, 410}``). Without it, such a page fails its row as
            ``http_error`` even when the scraper returned (4xx not retried, 5xx retried; 429
            and 503 pause the site). Every row's ``af_http_status`` says what its page answered.
        connect_timeout: seconds to connect to a session once it is provisioned.
        seconds_per_url, target_seconds, max_sessions, max_session_minutes: inputs of the
            sizing rule (see ``af.plan``).
        render: how the built-in extractors fetch pages: "auto" (HTTP first; a browser,
            started only then, for the rows that need one), "browser", or "http" (plain HTTP
            and an HTML parser, no browser at all; rows that need JavaScript fail as
            ``needs_browser``). ``result.results["af_render"]`` says which path fetched each
            row. Default (None): "auto", except with ``setup=`` (it logs the browser in) or a
            backend whose pages differ from this machine's (``backend.render_default``: a
            cloud session behind a proxy or with a profile), which keep "browser". A callable
            always runs in a browser.
        per_site: rows in flight at once per site (registered domain), across every session,
            tab and render path (default 8, as Scrapy's per-domain default). A 429 or 503
            pauses the site for its ``Retry-After`` (or an adaptive backoff) and lowers its
            limit for a while; rows waiting for a site keep their retries, and tabs take other
            sites' rows meanwhile. Each pause is a row of ``.errors`` with scope ``site``.
        min_delay: seconds between two starts at one site (a robots.txt ``Crawl-delay``, when
            longer, wins).
        robots: read each site's robots.txt once and skip the rows it disallows (status
            ``skipped``, reason ``robots_txt``; they are never fetched). False: do not ask.
        user_agent, headers: the User-Agent and extra request headers of every page request,
            on both render paths (header values are never shown in logs, errors or reprs).
        locale, timezone: e.g. ``"de-DE"``, ``"Europe/Berlin"``, for browsers this run makes
            (a cloud session's own context keeps its settings; headers still apply).
        renew_context_after: rows a session's tabs run in one browser context before they
            move to a fresh one (``setup`` runs again there), so that a long run's memory
            stays flat (Playwright frees a context's objects only when it closes). None:
            never; a cloud session with a saved profile keeps its own context.
        evidence: failed browser attempts of which a small viewport screenshot (JPEG) and
            the page's HTML, with the URL it ended on, are kept (default 50, at most 20 MB
            per run; 0: none): ``result.evidence``, ``result.show(label)``,
            ``result.explore()``, and the checkpoint and ``out=`` keep them. HTML and URLs
            are masked like every text a run shows; HTTP-path rows keep none.
        workers: driver processes on this machine, each with its own event loop, Playwright
            driver and share of the sessions (one process keeps about
            ``anchorframe._core.plan.PROCESS_PAGES_PER_SECOND`` pages/s going; ``af.plan`` says
            how many a run needs). One result comes back, every row once.
        cluster: a ``dask.distributed.Client`` or a scheduler address: the shards run as
            tasks on its workers (``pip install anchorframe[dask]``); rows of a lost worker
            are finished by the others.
        out: a directory or fsspec URL (``"s3://bucket/run/"``) every worker can write: the
            shards write the rows there as a Parquet dataset (one row per input row, with its
            index label and the columns of ``results``), and the result keeps only
            ``counts``, ``errors`` and ``sessions``; ``result.results`` then raises
            ResultsOnDiskError naming ``pd.read_parquet(out)`` / ``dd.read_parquet(out)``.
            It must be new or empty, unless ``checkpoint=`` resumes the run that wrote it
            (rows already in it are not written again). Works with ``workers=`` and ``cluster=``.

    Returns:
        A ScrapeResult with ``.results`` (one row per input row, same index and
        order, of the input's kind: pandas, polars or pyarrow), ``.errors`` and
        ``.sessions`` (pandas, whatever the input).

    Raises:
        InputError: an argument or the input cannot be used (the message names the fix);
            raised before anything starts.
        RunInterrupted: Ctrl-C or a kernel interrupt; ``af.last_result()`` holds the rows done.

    Example:
        >>> import anchorframe as af, pandas as pd
        >>> df = pd.DataFrame({"url": ["https://example.com"]})
        >>> async def title(page, row):
        ...     await page.goto(row.url)
        ...     return {"title": await page.title()}
        >>> af.scrape(df, title).results  # doctest: +SKIP
        >>> import polars as pl  # doctest: +SKIP
        >>> af.scrape(pl.scan_csv("urls.csv"), title).results  # a LazyFrame  # doctest: +SKIP
    """
    # In a notebook, the traceback of a stopped run or a refused option is the user's cell and
    # the message, not anchorframe's frames: IPython hides frames that set __tracebackhide__,
    # and the exceptions below are raised afresh here (their inner frames dropped).
    arguments = dict(locals())
    __tracebackhide__ = True
    try:
        table, options = _check(arguments)
        return run_in_portal(run(table, options, rerun_with=scrape))
    except (RunInterrupted, InputError) as error:
        raise error.with_traceback(None) from error.__cause__
    except KeyboardInterrupt:
        partial = last_result()
        raise RunInterrupted(_interrupted_message(partial), partial) from None


@refuses_unknown_options
async def ascrape(
    data: Any,
    fn: ScrapeFn | Mapping[str, str] | None = None,
    *,
    url: Hashable | None = None,
    extract: Mapping[str, str] | None = None,
    backend: BackendName | Backend | None = "auto",
    sessions: int | None = None,
    tabs: int | None = None,
    timeout: Seconds = 30.0,
    retries: int = 2,
    backoff: Seconds = 0.5,
    setup: SetupFn | None = None,
    block: Iterable[str] | bool | None = None,
    progress: bool | ProgressKind | None = None,
    dedupe: bool = True,
    schemes: Iterable[str] = DEFAULT_SCHEMES,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_overwrite: bool = False,
    reuse_pages: bool | None = None,
    max_replacements: int | None = None,
    allow_status: Iterable[int] | None = None,
    connect_timeout: Seconds = 30.0,
    seconds_per_url: float | None = None,
    target_seconds: float | None = None,
    max_sessions: int | None = None,
    max_session_minutes: float | None = None,
    render: RenderMode | None = None,
    per_site: int = DEFAULT_PER_SITE,
    min_delay: Seconds = 0.0,
    robots: bool = True,
    user_agent: str | None = None,
    headers: Mapping[str, str] | None = None,
    locale: str | None = None,
    timezone: str | None = None,
    renew_context_after: int | None = CONTEXT_RENEW_ROWS,
    evidence: int = DEFAULT_EVIDENCE,
    workers: int = 1,
    cluster: Any = None,
    out: str | os.PathLike[str] | None = None,
) -> ScrapeResult:
    """The async form of :func:`scrape` (same options), for ``await`` in a notebook or an async program.

    Example:
        >>> result = await af.ascrape(df, extract={"title": "h1"})  # doctest: +SKIP
    """
    arguments = dict(locals())
    __tracebackhide__ = True  # see scrape()
    try:
        table, options = _check(arguments)
    except InputError as error:
        raise error.with_traceback(None) from error.__cause__
    try:
        return await await_in_portal(run(table, options, rerun_with=scrape))
    except asyncio.CancelledError as cancelled:
        if cancelled.args:
            raise
        # Same words as scrape()'s RunInterrupted: where the partial result is.
        raise asyncio.CancelledError(_interrupted_message(last_result())) from None


def load_checkpoint(path: str | os.PathLike[str]) -> ScrapeResult:
    """Read a checkpoint back as a ScrapeResult, also while a run is still writing it.

    Rows that no run finished come back ``skipped``. ``errors`` and ``sessions`` hold
    those of the runs that ended (a killed run's are lost). ``retry_failed(scraper)``
    scrapes its failed and skipped rows again with the scraper you pass. The checkpoint
    of a run with ``out=`` gives what that run gave: counts, errors and sessions, and
    ``result.out``, the dataset that holds the rows (``pd.read_parquet(result.out)``); that
    of a dask input's run, its counts per partition as its ``out=`` holds them.

    Example:
        >>> import anchorframe as af
        >>> result = af.load_checkpoint("run.parquet")  # doctest: +SKIP
        >>> result.results.af_status.value_counts()  # doctest: +SKIP
    """
    from .._store.load import read_checkpoint

    contents = read_checkpoint(path)
    return build_result(
        contents.table,
        error_records=contents.error_records,
        session_rows=contents.session_records,
        plan=contents.plan,
        backend=contents.backend,
        run_id=contents.run_id,
        elapsed=contents.elapsed,
        first_result_s=None,
        interrupted=contents.interrupted,
        skipped_reason="not finished by any run of the checkpoint",
        rerun=None if contents.out is not None else rerun_for(contents.table, contents.call, scrape),
        out=contents.out,
        evidence_records=contents.evidence_records,
    )


def _check(arguments: dict[str, Any]) -> tuple[InputTable, ScrapeOptions]:
    """Every argument and the input, checked before anything is opened or started."""
    options = check_options(arguments)
    data = arguments["data"]
    if is_dask_frame(data):  # its partitions are read by the workers (``_dask_input.py``)
        table = partition_table(data, options.url, cluster=options.cluster, out=options.out)
        return table, dataclasses.replace(options, dask_input=data)
    table = prepare_input(data, options.url, schemes=options.schemes, dedupe=options.dedupe)
    plan_for(table, options.backend, **options.sizing.given())  # a sizing that cannot work fails here
    return table, options


def _interrupted_message(partial: ScrapeResult | None) -> str:
    if partial is None:
        return "The run was interrupted before it started."
    counts = partial.counts
    return (
        f"The run was interrupted: {counts['ok']} rows ok, {counts['failed']} failed, "
        f"{counts['skipped']} not finished (status 'skipped'). Every session was released. "
        "The partial result is af.last_result()."
    )
