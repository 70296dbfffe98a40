"""``af.plan(..., probe=N)``: sample N URLs over HTTP to estimate the browser share and the cost.

Opt-in (it makes N requests to the user's sites). The sample is spread evenly over the
unique URLs (deterministic: the same input gives the same sample). The plan keeps its
sessions and tabs (sized for every row, as ``render="browser"`` needs); the probe adds a
reason that says which share of rows would need a browser under ``render="auto"`` and
what that means for the time and the session-minutes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from .._core.plan import Plan, _duration
from .._core.table import InputTable
from .._engine.portal import run_in_portal
from ..errors import InputError

__all__ = ["probe_plan"]


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
