"""``result.show(label)``: one input row, its attempts and what the browser saw, on one screen.

A :class:`RowView` shows a row's values and status, every attempt (session, route, time,
error), and for a failed browser attempt its screenshot inline (a ``data:`` URI) and its HTML
one click away (a ``<details>`` with the source, and a link that downloads the page). The page's
HTML is only ever shown as escaped text, never rendered: a scraped page's scripts do not run in
the notebook. In a terminal, ``repr()`` is the same in text, and :meth:`RowView.save` writes
the screenshot and the HTML to files to open.

Example:
    >>> import pandas as pd
    >>> from anchorframe._core.evidence import evidence_frame
    >>> frame = pd.DataFrame({"url": ["https://a.test/"], "af_status": ["failed"],
    ...                       "af_reason": ["callable_error"], "af_error": ["no price"]})
    >>> view = RowView(0, frame.iloc[0], attempts=pd.DataFrame(), errors=pd.DataFrame(),
    ...                evidence=evidence_frame([{"url": "https://a.test/", "attempt": 1,
    ...                                          "html": "<p>sold out</p>", "screenshot": b"jpeg"}]))
    >>> print(repr(view).splitlines()[0])
    Row 0: failed (callable_error): no price
    >>> "data:image/jpeg;base64," in view._repr_html_()
    True
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from .._run.result import ScrapeResult

__all__ = ["RowView", "row_urls", "row_view"]

#: Characters of a page's HTML shown in the view's ``<details>`` (the download link has all of it).
SHOWN_HTML = 20_000
#: Characters of one value shown in the view.
SHOWN_VALUE = 300
_FONT = "font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:12px"
_STATUS_COLOURS = {"ok": "#2e7d32", "failed": "#c62828", "skipped": "#ef6c00", "invalid": "#6a1b9a"}


class RowView:
    """One input row of a result, shown in Jupyter (``_repr_html_``) and in a terminal (``repr``)."""

    def __init__(
        self,
        label: Hashable,
        values: pd.Series | None,
        *,
        attempts: pd.DataFrame,
        errors: pd.DataFrame,
        evidence: pd.DataFrame,
    ) -> None:
        self.label = label
        #: The row of ``results`` (None: the rows are in ``out=``).
        self.values = values
        #: Its attempts, oldest first, each with the error it ended with (``error``).
        self.attempts = attempts
        self.errors = errors
        #: What the browser saw when its attempts failed (rows of ``result.evidence``).
        self.evidence = evidence

    # ----------------------------------------------------------------- facts
    @property
    def status(self) -> str | None:
        return _cell(self.values, "af_status")

    def _headline(self) -> str:
        status = self.status or "in out="
        reason = _cell(self.values, "af_reason")
        error = _cell(self.values, "af_error")
        line = f"Row {self.label}: {status}"
        if reason:
            line += f" ({reason})"
        if error:
            line += f": {_short(str(error), 200)}"
        return line

    # ----------------------------------------------------------------- text
    def __repr__(self) -> str:
        lines = [self._headline(), "", "values:"]
        if self.values is not None:
            for name, value in self.values.items():
                lines.append(f"  {name}: {_short(_text(value), 120)}")
        lines += ["", f"attempts ({len(self.attempts)}):"]
        for attempt in self.attempts.to_dict("records"):
            lines.append("  " + _attempt_text(attempt))
        lines += ["", f"evidence ({len(self.evidence)}):"]
        for record in self.evidence.to_dict("records"):
            shot = record.get("screenshot")
            page = record.get("html")
            lines.append(
                f"  attempt {_text(record.get('attempt'))}: {record.get('page_url') or '?'}; "
                f"screenshot {_kb(shot)}; HTML {_kb(page)}"
            )
        if len(self.evidence):
            lines.append("  (view.save('some/folder') writes the screenshots and the HTML to open)")
        return "\n".join(lines)

    # ----------------------------------------------------------------- html
    def _repr_html_(self) -> str:
        colour = _STATUS_COLOURS.get(self.status or "", "#555")
        parts = [
            f'<div class="anchorframe-row" style="{_FONT}">',
            f'<div style="font-weight:600;color:{colour};margin-bottom:4px">'
            f"{html.escape(self._headline())}</div>",
        ]
        if self.values is not None:
            cells = "".join(
                f'<tr><th style="text-align:left;padding-right:8px">{html.escape(str(name))}</th>'
                f'<td style="text-align:left">{html.escape(_short(_text(value), SHOWN_VALUE))}</td></tr>'
                for name, value in self.values.items()
            )
            parts.append(f"<table>{cells}</table>")
        if len(self.attempts):
            head = "".join(f"<th>{h}</th>" for h in ("attempt", "session", "route", "start", "s", "outcome"))
            rows = "".join(_attempt_html(a) for a in self.attempts.to_dict("records"))
            parts.append(
                f"<div style='margin-top:6px'><b>attempts</b></div><table><tr>{head}</tr>{rows}</table>"
            )
        for record in reversed(self.evidence.to_dict("records")):  # the last attempt first
            parts.append(_evidence_html(self.label, record))
        parts.append("</div>")
        return "".join(parts)

    # ----------------------------------------------------------------- files
    def save(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write each screenshot (``.jpg``) and page (``.html``) of this row to ``folder``; the paths.

        Example:
            >>> result.show(3).save("evidence")  # doctest: +SKIP
            [PosixPath('evidence/row-3-attempt-1.jpg'), PosixPath('evidence/row-3-attempt-1.html')]
        """
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        written = []
        for record in self.evidence.to_dict("records"):
            stem = root / f"row-{_safe(self.label)}-attempt-{_text(record.get('attempt'))}"
            if record.get("screenshot"):
                written.append(stem.with_suffix(".jpg"))
                written[-1].write_bytes(record["screenshot"])
            if record.get("html"):
                written.append(stem.with_suffix(".html"))
                written[-1].write_text(record["html"], encoding="utf-8")
        return written


def row_view(result: ScrapeResult, label: Hashable) -> RowView:
    """The :class:`RowView` of the input row labelled ``label`` in ``result``."""
    from ..errors import InputError, ResultsOnDiskError

    values: pd.Series | None = None
    try:
        frame = result._frame
    except ResultsOnDiskError:
        frame = None
    if frame is not None:
        if label not in frame.index:
            shown = list(frame.index[:5])
            raise InputError(
                f"No row is labelled {label!r} in result.results (its index starts {shown}). "
                "Pass a label of the input's index, e.g. result.show(result.failed().index[0])."
            )
        row = frame.loc[label]  # type: ignore[call-overload]
        values = row.iloc[0] if isinstance(row, pd.DataFrame) else row
    urls = row_urls(result, label, values)
    attempts = result.attempts[result.attempts["url"].isin(urls)] if urls else result.attempts.iloc[:0]
    attempts = _with_errors(attempts, result.errors)
    errors = result.errors[result.errors["url"].isin(urls)] if "url" in result.errors else result.errors
    evidence = result.evidence[result.evidence["url"].isin(urls)]
    return RowView(label, values, attempts=attempts, errors=errors, evidence=evidence)


def row_urls(result: ScrapeResult, label: Hashable, values: pd.Series | None) -> set[str]:
    """The URLs a row was scraped at: from its attempts, its errors, or its cells."""
    urls = set(result.attempts.loc[result.attempts["row"].map(lambda r: _same(r, label)), "url"])
    errors = result.errors
    if not urls and "row" in errors and "url" in errors:
        urls = {u for u in errors.loc[errors["row"].map(lambda r: _same(r, label)), "url"] if u}
    if not urls and values is not None:  # a loaded checkpoint has no attempts: its URL is a cell
        known = set(result.evidence["url"]) | set(errors.get("url", ()))
        urls = {v for v in values.to_numpy() if isinstance(v, str) and v in known}
    return {str(u) for u in urls if u is not None}


# -------------------------------------------------------------------- helpers
def _with_errors(attempts: pd.DataFrame, errors: pd.DataFrame) -> pd.DataFrame:
    """``attempts`` with the message each one failed with (``error``), from ``errors``."""
    attempts = attempts.copy()
    messages: dict[tuple[Any, Any, Any], str] = {}
    if {"url", "attempt", "session", "message"} <= set(errors.columns):
        for record in errors.to_dict("records"):
            key = (record.get("url"), _text(record.get("attempt")), record.get("session"))
            messages[key] = str(record.get("message") or "")
    attempts["error"] = [
        messages.get((u, _text(a), s), "")
        for u, a, s in zip(attempts["url"], attempts["attempt"], attempts["session"], strict=True)
    ]
    return attempts


def _evidence_html(label: Hashable, record: dict[Any, Any]) -> str:
    reason = html.escape(str(record.get("reason") or ""))
    title = (
        f"attempt {html.escape(_text(record.get('attempt')))} · {reason}"
        f" · ended on {html.escape(str(record.get('page_url') or '?'))}"
    )
    parts = [f'<div style="margin-top:8px"><b>what the browser saw</b>: {title}</div>']
    shot = record.get("screenshot")
    if shot:
        data = base64.b64encode(shot).decode("ascii")
        parts.append(
            f'<img src="data:image/jpeg;base64,{data}" alt="screenshot of row {html.escape(str(label))}" '
            'style="max-width:480px;border:1px solid #ccc;display:block;margin:4px 0">'
        )
    page = record.get("html")
    if page:
        shown = page if len(page) <= SHOWN_HTML else page[:SHOWN_HTML] + "\n…"
        download = base64.b64encode(page.encode("utf-8")).decode("ascii")
        name = f"row-{_safe(label)}-attempt-{_text(record.get('attempt'))}.html"
        parts.append(
            f"<details><summary>HTML ({_kb(page)}) · "
            f'<a download="{html.escape(name)}" href="data:text/html;charset=utf-8;base64,{download}">'
            "download</a></summary>"
            f'<pre style="max-height:320px;overflow:auto;white-space:pre-wrap">{html.escape(shown)}</pre>'
            "</details>"
        )
    return "".join(parts)


def _attempt_text(attempt: dict[Any, Any]) -> str:
    start = attempt.get("start")
    when = start.strftime("%H:%M:%S") if isinstance(start, pd.Timestamp) and not pd.isna(start) else "?"
    text = (
        f"#{_text(attempt.get('attempt'))} {attempt.get('session')} {_text(attempt.get('render'))} "
        f"{when} {_seconds(attempt.get('duration_s'))} {_text(attempt.get('outcome'))}"
    )
    return text + (f": {_short(attempt['error'], 160)}" if attempt.get("error") else "")


def _attempt_html(attempt: dict[Any, Any]) -> str:
    start = attempt.get("start")
    when = start.strftime("%H:%M:%S") if isinstance(start, pd.Timestamp) and not pd.isna(start) else ""
    cells = [
        _text(attempt.get("attempt")),
        str(attempt.get("session") or ""),
        _text(attempt.get("render")),
        when,
        _seconds(attempt.get("duration_s")),
        _text(attempt.get("outcome"))
        + (f": {_short(attempt['error'], 200)}" if attempt.get("error") else ""),
    ]
    return "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def _cell(values: pd.Series | None, name: str) -> Any:
    if values is None or name not in values.index:
        return None
    value = values[name]
    return None if _missing(value) else value


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _seconds(value: Any) -> str:
    return "" if _missing(value) else f"{float(value):.2f} s"


def _kb(value: Any) -> str:
    if not value:
        return "none"
    size = len(value.encode("utf-8")) if isinstance(value, str) else len(value)
    return f"{size / 1000:.1f} kB" if size < 10_000 else f"{size / 1000:.0f} kB"


def _safe(label: Hashable) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(label))


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) or str(a) == str(b)
