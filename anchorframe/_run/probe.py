"""``af.plan(..., probe=N)``: sample N URLs to estimate the browser share and what a page costs here.

Opt-in (it makes N requests to the user's sites, twice). The sample is spread evenly over
the unique URLs (deterministic: the same input gives the same sample). Two steps:

* :func:`probe_plan`: the sample over plain HTTP says which share of rows would need a
  browser under ``render="auto"`` and what that means for the time and the
  session-minutes. The plan keeps its sessions and tabs (sized for every row, as
  ``render="browser"`` needs).
* :func:`probe_orchestrator`: when rows would go to a browser, the sample's rows run with
  the scraper in one local Chromium, and the run's own measure of this process's and
  Playwright's driver's CPU per page (the orchestrator, which decides how many cloud
  sessions one process keeps busy) is kept for the plans that follow in this process; the
  plan is then sized again on it. A cloud run pays for sessions, so a probe spends none:
  what the driver does per page is the same over a local Chromium's CDP socket.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from .._core.plan import Plan, _duration
from .._core.table import InputTable
from .._engine.portal import run_in_portal
from ..errors import BrowserNotFoundError, InputError

__all__ = ["probe_orchestrator", "probe_plan"]


def sample_urls(table: InputTable, count: int) -> list[str]:
    """``count`` unique URLs spread evenly over the input.

    Example:
        >>> from anchorframe._core.table import prepare_input
        >>> sample_urls(prepare_input([f"https://a.example/{n}" for n in range(10)], None), 3)
        ['https://a.example/0', 'https://a.example/3', 'https://a.example/6']
    """
    urls = [item.url for item in table.work]
    if count >= len(urls):
        return urls
    step = len(urls) / count
    return [urls[int(i * step)] for i in range(count)]


def probe_plan(
    plan: Plan, table: InputTable, count: int, extract: Mapping[str, str] | None, timeout: float = 15.0
) -> Plan:
    """``plan`` with a reason that says what ``count`` URLs fetched over HTTP showed."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InputError(f"probe={count!r}: pass the number of URLs to try over HTTP (e.g. probe=20), or 0.")
    if count == 0 or not table.work:
        return plan
    from .._render.http import probe

    sample = sample_urls(table, count)
    summary = run_in_portal(probe(sample, dict(extract) if extract is not None else None, timeout=timeout))
    share = summary.browser_share
    text = (
        f"probe: {len(sample)} URLs tried over HTTP: {summary.done} read without a browser, "
        f"{summary.needs_browser} need one, {summary.failed} failed"
    )
    if summary.reasons:
        text += " (" + ", ".join(f"{n} x {reason}" for reason, n in summary.reasons.items()) + ")"
    if share is None:
        text += "; no estimate (no URL answered)"
    else:
        rows = math.ceil(plan.urls * share)
        text += (
            f"; with render='auto' about {share:.0%} of rows ({rows}) need a browser: "
            f"~{_duration(plan.est_seconds * share)} of browser time, "
            f"~{plan.est_session_minutes * share:.1f} session-minutes"
        )
    return dataclasses.replace(plan, reasons=(*plan.reasons, text), browser_share=share)


#: The options of a plan that a browser probe runs its rows with (what the pages cost depends
#: on them); the rest are the probe's own: one local session, no retries, no checkpoint.
_ROW_OPTIONS = (
    "fn",
    "extract",
    "timeout",
    "setup",
    "block",
    "reuse_pages",
    "allow_status",
    "connect_timeout",
    "per_site",
    "min_delay",
    "robots",
    "user_agent",
    "headers",
    "locale",
    "timezone",
    "renew_context_after",
    "schemes",
    "dedupe",
)


def probe_orchestrator(
    plan: Plan, table: InputTable, count: int, arguments: Mapping[str, Any], scrape: Callable[..., Any]
) -> str:
    """Run ``count`` sampled rows in a local browser (``scrape``: ``af.scrape``) and say what a
    page cost this orchestrator.

    The run's own measure (``ScrapeResult.orchestrator_ms_per_page``: this process and
    Playwright's driver, not the browser) is kept for the plans that follow in this process
    when at least :data:`~anchorframe._engine.saturation_watch.MIN_ROWS` rows were ok (a
    sample of failures measures little), so the plan made after it sizes cloud sessions per
    process on it. ``af.last_result()`` stays the user's last run; an error of the sample
    (no Chromium, a failing ``setup=``) is said in the plan, not raised.
    """
    from .._engine.saturation_watch import MIN_ROWS
    from ..backends._chromium import find_chromium
    from .lifecycle import unrecorded
    from .result import measured_orchestrator_ms, note_measured

    not_measured = "probe: the orchestrator's CPU per page was not measured"
    sample = set(sample_urls(table, count))
    positions = [item.positions[0] for item in table.work if item.url in sample]
    if len(positions) < MIN_ROWS:
        fix = (
            f"probe={MIN_ROWS} or more"
            if len(table.work) >= MIN_ROWS
            else f"the input has {len(table.work)} URLs"
        )
        return f"{not_measured} ({len(positions)} URLs sampled, {MIN_ROWS} needed: {fix})"
    try:
        find_chromium()
    except BrowserNotFoundError:
        return f"{not_measured} (no local Chromium to run the sample)"
    call = {name: arguments[name] for name in _ROW_OPTIONS}
    try:
        with unrecorded():
            result = scrape(
                table.frame.iloc[positions],
                url=table.url_column,
                backend="local",
                sessions=1,
                tabs=min(plan.tabs, len(positions)),
                render="browser",
                retries=0,
                progress=False,
                evidence=0,
                **call,
            )
    except Exception as exc:  # the plan stands without the figure
        return f"{not_measured} (the sample's run failed: {type(exc).__name__}: {exc})"
    measured = result.orchestrator_ms_per_page
    ok = int((result.results["af_status"] == "ok").sum())
    ran = f"probe: {len(positions)} URLs run in a local browser ({ok} ok)"
    if measured is None or ok < MIN_ROWS:
        kept = _cost(measured_orchestrator_ms())
        return f"{ran}; too few ok to measure the orchestrator's CPU (the plan keeps {kept})"
    note_measured(measured)
    return f"{ran}: a page cost this process and Playwright's driver {measured:.1f} ms of CPU"


def _cost(ms: float | None) -> str:
    return f"{ms:.1f} ms, measured earlier here" if ms is not None else "the default"
