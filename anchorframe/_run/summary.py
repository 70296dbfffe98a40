"""A result on one screen: the summary's text (``result.summary()``) and its notebook view.

No I/O: both read the result's frames and plan, and say how the rows were fetched, what the
sessions cost, what sites pushed back with and the most common errors.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._core.table import ATTEMPTS, REASON, RENDER, STATUSES
from .._display.timeline_data import run_usage

if TYPE_CHECKING:
    from .result import ScrapeResult

__all__ = ["manners_text", "summary_html", "summary_text"]


def summary_text(result: ScrapeResult) -> str:
    """A few lines of text: rows by status, sessions, throughput, session-minutes, top errors."""
    counts = result.counts
    total = sum(counts.values())
    sessions = len(result.sessions)
    failed_sessions = int((result.sessions["state"].isin(["failed", "lost"])).sum()) if sessions else 0
    # This run's attempts (a checkpoint's rows carry the attempts of the runs that scraped them).
    attempts = len(result.attempts)
    if (
        not attempts and total and result.out is None and not result.resumed_rows
    ):  # read back from a checkpoint
        attempts = int(result._frame[ATTEMPTS].sum())
    resumed = result.resumed_rows
    lines = [
        f"anchorframe {'run (interrupted)' if result.interrupted else 'run'} {result.run_id} "
        f"on {result.backend}: "
        f"{total} rows in {result.elapsed:.1f} s"
        + (f" ({resumed} from the checkpoint, {total - resumed} this run)" if resumed else ""),
        "  rows: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES),
        f"  sessions: {sessions} ({failed_sessions} failed or lost), {result.plan.tabs} tab(s) each; "
        f"{result.session_minutes:.2f} session-minutes"
        if sessions or not result._over_http
        else "  sessions: none (no row needed a browser)",
        *([f"  session time: {_usage_text(run_usage(result.sessions))}"] if sessions else []),
        f"  throughput: {result.pages_per_second:.1f} pages/s, {attempts} attempts"
        + (
            f", first result after {result.first_result_s:.2f} s" if result.first_result_s is not None else ""
        ),
    ]
    fetched = _fetched_text(result._frame, result.attempts) if result.out is None else ""  # out=: on disk
    if fetched:
        lines.append(f"  fetched: {fetched}")
    manners = manners_text(result)
    if manners:
        lines.append(f"  sites: {manners}")
    common = result.common_errors(3)
    if len(common):
        lines.append("  most common errors:")
        for row in common.itertuples(index=False):
            lines.append(f"    {row.count} x {row.stage}/{row.reason}: {str(row.example)[:100]}")
    if len(result.evidence):
        lines.append(f"  what the browser saw: {_evidence_text(result)}")
    return "\n".join(lines)


def _evidence_text(result: ScrapeResult) -> str:
    """A line saying how many failed attempts kept a screenshot and where to see them."""
    return (
        f"{len(result.evidence)} failed attempts kept a screenshot and the HTML "
        "(result.show(label), result.explore())"
    )


def manners_text(result: ScrapeResult) -> str:
    """What sites pushed back with: robots.txt, pauses after 429/503, block pages ("" if none)."""
    parts = []
    reasons = result._frame.get(REASON) if result.out is None else None  # out=: the rows are on disk
    disallowed = int((reasons == "robots_txt").sum()) if reasons is not None else 0
    if disallowed:
        parts.append(f"{disallowed} row(s) skipped: robots.txt disallows them")
    errors = result.errors
    if len(errors) and {"site", "scope", "reason"} <= set(errors.columns):
        pauses = errors[errors["scope"] == "site"]
        if len(pauses):
            sites = pauses["site"].nunique()
            parts.append(f"{len(pauses)} pause(s) at {sites} site(s) that answered 429/503")
        blocked = errors[errors["reason"] == "blocked"]
        if len(blocked):
            parts.append(f"{len(blocked)} blocked page(s) at {blocked['site'].nunique()} site(s)")
    return "; ".join(parts)


def summary_html(result: ScrapeResult) -> str:
    counts = result.counts
    badges = ", ".join(
        f'<span style="color:{_STATUS_COLOURS[s]};font-weight:600">{counts[s]} {s}</span>' for s in STATUSES
    )
    sessions = len(result.sessions)
    lost = int(result.sessions["state"].isin(["failed", "lost"]).sum()) if sessions else 0
    first_s = result.first_result_s
    first = f" · first result after {first_s:.2f} s" if first_s is not None else ""
    note = (
        f'<div style="color:{_STATUS_COLOURS["skipped"]}">Interrupted: {counts["skipped"]} rows were '
        "not finished (status <code>skipped</code>); <code>.retry_failed()</code> scrapes them.</div>"
        if result.interrupted
        else ""
    )
    facts = [
        ("rows", f"{sum(counts.values())}: {badges}"),
        (
            "sessions",
            f"{sessions} ({lost} failed or lost) x {result.plan.tabs} tabs · "
            f"{result.session_minutes:.2f} session-minutes"
            if sessions or not result._over_http
            else "none (no row needed a browser)",
        ),
        *([("session time", html.escape(_usage_text(run_usage(result.sessions))))] if sessions else []),
        ("throughput", f"{result.pages_per_second:.1f} pages/s · {result.elapsed:.1f} s{first}"),
    ]
    fetched = _fetched_text(result._frame, result.attempts) if result.out is None else ""  # out=: on disk
    if fetched:
        facts.append(("fetched", html.escape(fetched)))
    rows = "".join(
        f'<tr><th style="text-align:left;padding:1px 12px 1px 0;font-weight:600">{name}</th>'
        f'<td style="text-align:left;padding:1px 0">{value}</td></tr>'
        for name, value in facts
    )
    common = result.common_errors(5)
    errors_html = (
        f"<details open><summary>Most common errors ({len(result.errors)} in "
        "<code>.errors</code>)</summary>"
        + _frame_html(common[["count", "stage", "reason", "example"]], index=False)
        + "</details>"
        if len(common)
        else ""
    )
    evidence_html = (
        f"<div>What the browser saw: {html.escape(_evidence_text(result))}.</div>"
        if len(result.evidence)
        else ""
    )
    if result.out is not None:
        rows_html = (
            f"<div>Rows in the Parquet dataset <code>{html.escape(result.out)}</code> (out=): "
            "<code>pd.read_parquet(result.out)</code> or <code>dd.read_parquet(result.out)</code>.</div>"
        )
    else:
        head = result._frame.head(10)
        rows_html = (
            f"<details open><summary>First rows ({len(head)} of {len(result._frame)} in "
            f"<code>.results</code>)</summary>{_frame_html(head)}</details>"
        )
    return (
        '<div class="anchorframe-result">'
        f"<b>ScrapeResult</b> · run <code>{html.escape(result.run_id)}</code> on "
        f"{html.escape(result.backend)}{' (interrupted)' if result.interrupted else ''}"
        f'{note}<table style="border-collapse:collapse;margin:4px 0">{rows}</table>'
        f"{errors_html}{evidence_html}{rows_html}"
        "</div>"
    )


def _usage_text(usage: dict[str, float] | None) -> str:
    """Where the session-minutes went, e.g. "12% idle (ready, no work), 80% busy, 8% starting"."""
    if usage is None:
        return "idle time not recorded"
    return (
        f"{usage['idle_share']:.0%} idle (ready, no work), {usage['busy_share']:.0%} busy, "
        f"{usage['starting_share']:.0%} starting; .plot() draws it"
    )


_STATUS_COLOURS = {"ok": "#2e7d32", "failed": "#c62828", "invalid": "#ef6c00", "skipped": "#757575"}
#: Characters of a text cell shown in the HTML view (a page's text can be long).
_CELL_CHARS = 200


def _frame_html(frame: pd.DataFrame, *, index: bool = True) -> str:
    """``frame`` as an HTML table: text escaped and cut short, image bytes as thumbnails."""
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object or isinstance(shown[column].dtype, pd.StringDtype):
            shown[column] = shown[column].map(_cell, na_action="ignore")
    shown.columns = [html.escape(str(c)) for c in shown.columns]
    shown.index = shown.index.map(lambda v: html.escape(str(v)))
    if shown.index.name is not None:
        shown.index.name = html.escape(str(shown.index.name))
    return shown.to_html(border=0, escape=False, index=index, na_rep="")


def _cell(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return _thumbnail(value)
    return _escaped(value)


def _escaped(value: Any) -> str:
    text = str(value)
    return html.escape(text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…")


def _thumbnail(value: Any) -> str:
    import base64

    if not isinstance(value, (bytes, bytearray)):
        return html.escape(str(value))
    kind = "png" if bytes(value[:8]) == b"\x89PNG\r\n\x1a\n" else "jpeg"
    data = base64.b64encode(bytes(value)).decode("ascii")
    return f'<img src="data:image/{kind};base64,{data}" style="max-width:160px;max-height:120px">'


def _fetched_text(results: pd.DataFrame, attempts: pd.DataFrame | None = None) -> str:
    """How rows were fetched ("12 over HTTP, 3 in a browser"); empty when no row went over HTTP.

    Rows checked in a browser (render="auto": a field absent from the HTML that the page's
    section had not shown yet) are counted apart, from the attempts' ``browser_check``.

    Example:
        >>> _fetched_text(pd.DataFrame({"af_render": ["http", "browser", "http", None]}),
        ...               pd.DataFrame({"url": ["u2"], "outcome": ["browser_check"]}))
        '2 over HTTP, 1 in a browser (1 checked in a browser)'
    """
    if RENDER not in results.columns:
        return ""
    counts = results[RENDER].value_counts()
    http = int(counts.get("http", 0))
    if not http:
        return ""  # a browser-only run: nothing to tell apart
    text = f"{http} over HTTP, {int(counts.get('browser', 0))} in a browser"
    if attempts is not None and len(attempts) and "outcome" in attempts.columns:
        checked = attempts.loc[attempts["outcome"] == "browser_check", "url"].nunique()
        if checked:
            text += f" ({checked} checked in a browser)"
    return text
