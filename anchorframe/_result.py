"""ScrapeResult: the three frames of a run and a one-screen summary."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ._frames import ATTEMPTS, STATUS, STATUSES
from ._plan import Plan

__all__ = ["ScrapeResult"]


@dataclass(eq=False)
class ScrapeResult:
    """What a run gives back.

    Attributes:
        results: one row per input row, same index and order, input columns kept,
            output columns added, and the status columns ``af_status`` (ok, failed,
            invalid, skipped), ``af_reason``, ``af_error``, ``af_attempts``,
            ``af_elapsed`` (seconds) and ``af_session``.
        errors: one row per failure event (scope ``session`` or ``url``).
        sessions: one row per browser session.
        plan: the plan the run followed.

    Example:
        >>> import anchorframe as af
        >>> result = af.scrape(df, extract={"title": "h1"})  # doctest: +SKIP
        >>> result.results.af_status.value_counts()  # doctest: +SKIP
    """

    results: pd.DataFrame
    errors: pd.DataFrame
    sessions: pd.DataFrame
    plan: Plan
    backend: str
    run_id: str
    elapsed: float
    first_result_s: float | None = None
    interrupted: bool = False
    _rerun: Callable[..., ScrapeResult] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ views
    @property
    def counts(self) -> dict[str, int]:
        """Rows by status, every status present (zeros included)."""
        counts = self.results[STATUS].value_counts()
        return {status: int(counts.get(status, 0)) for status in STATUSES}

    @property
    def ok(self) -> bool:
        """True when every row that could be scraped was scraped."""
        counts = self.counts
        return counts["failed"] == 0 and counts["skipped"] == 0

    @property
    def session_minutes(self) -> float:
        column = self.sessions["session_minutes"] if len(self.sessions) else pd.Series(dtype="float64")
        return float(column.fillna(0).sum())

    @property
    def pages_per_second(self) -> float:
        scraped = self.counts["ok"] + self.counts["failed"]
        return scraped / self.elapsed if self.elapsed > 0 else 0.0

    def failed(self) -> pd.DataFrame:
        """The rows that were not scraped: failed and skipped (not invalid)."""
        return self.results[self.results[STATUS].isin(["failed", "skipped"])]

    def retry_failed(self, fn: Any = None, **options: Any) -> ScrapeResult:
        """Scrape the failed and skipped rows again and return the merged result.

        ``fn`` and ``options`` override the first run's (a new backend, budget,
        timeout...). Attempts are counted across both runs.

        Example:
            >>> result = af.scrape(df, scraper)  # doctest: +SKIP
            >>> result = result.retry_failed(timeout=60)  # doctest: +SKIP
        """
        if self._rerun is None:
            raise RuntimeError(
                "This result cannot be retried: it was not produced by scrape() in this process."
            )
        return self._rerun(self, fn, options)

    # ---------------------------------------------------------------- summary
    def common_errors(self, limit: int = 5) -> pd.DataFrame:
        """The most frequent (stage, reason) pairs of the errors, with a sample message."""
        if not len(self.errors):
            return pd.DataFrame(columns=["stage", "reason", "count", "example"])
        grouped = (
            self.errors.groupby(["stage", "reason"], observed=True)
            .agg(count=("message", "size"), example=("message", "first"))
            .sort_values("count", ascending=False)
            .head(limit)
            .reset_index()
        )
        return grouped

    def summary(self) -> str:
        """A few lines of text: rows by status, sessions, throughput, session-minutes, top errors."""
        counts = self.counts
        total = len(self.results)
        sessions = len(self.sessions)
        failed_sessions = int((self.sessions["state"].isin(["failed", "lost"])).sum()) if sessions else 0
        attempts = int(self.results[ATTEMPTS].sum()) if total else 0
        lines = [
            f"anchorframe {'run (interrupted)' if self.interrupted else 'run'} {self.run_id} "
            f"on {self.backend}: "
            f"{total} rows in {self.elapsed:.1f} s",
            "  rows: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES),
            f"  sessions: {sessions} ({failed_sessions} failed or lost), {self.plan.tabs} tab(s) each; "
            f"{self.session_minutes:.2f} session-minutes",
            f"  throughput: {self.pages_per_second:.1f} pages/s, {attempts} attempts"
            + (
                f", first result after {self.first_result_s:.2f} s" if self.first_result_s is not None else ""
            ),
        ]
        common = self.common_errors(3)
        if len(common):
            lines.append("  most common errors:")
            for row in common.itertuples(index=False):
                lines.append(f"    {row.count} x {row.stage}/{row.reason}: {str(row.example)[:100]}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        counts = self.counts
        return (
            f"<ScrapeResult {len(self.results)} rows: "
            + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
            + f"; {len(self.sessions)} sessions; {len(self.errors)} errors>"
        )

    def _repr_html_(self) -> str:
        counts = self.counts
        colours = {"ok": "#2e7d32", "failed": "#c62828", "invalid": "#ef6c00", "skipped": "#757575"}
        badges = " ".join(
            f'<span style="color:{colours[s]};font-weight:600">{counts[s]} {s}</span>' for s in STATUSES
        )
        common = self.common_errors(5)
        errors_html = (
            "<details open><summary>Most common errors</summary>"
            + common.to_html(index=False, border=0, max_cols=4)
            + "</details>"
            if len(common)
            else ""
        )
        head = self.results.head(10)
        return (
            '<div class="anchorframe-result">'
            f"<b>ScrapeResult</b> · run <code>{html.escape(self.run_id)}</code> on "
            f"{html.escape(self.backend)}{' (interrupted)' if self.interrupted else ''}<br>"
            f"{len(self.results)} rows: {badges}<br>"
            f"{len(self.sessions)} sessions x {self.plan.tabs} tabs · {self.elapsed:.1f} s · "
            f"{self.pages_per_second:.1f} pages/s · {self.session_minutes:.2f} session-minutes"
            f"{errors_html}"
            f"<details><summary>First rows</summary>{_frame_html(head)}</details>"
            "</div>"
        )


def _frame_html(frame: pd.DataFrame) -> str:
    formatters: dict[Any, Callable[[Any], str]] = {}
    for column in frame.columns:
        sample = frame[column].dropna()
        if len(sample) and isinstance(sample.iloc[0], (bytes, bytearray)):
            formatters[column] = _thumbnail
    if formatters:
        # to_html cannot escape some columns and not others: escape the rest by hand.
        for column in frame.columns:
            formatters.setdefault(column, _escaped)
    return frame.to_html(border=0, formatters=formatters, escape=not formatters)


def _escaped(value: Any) -> str:
    return html.escape(str(value))[:200]


def _thumbnail(value: Any) -> str:
    import base64

    if not isinstance(value, (bytes, bytearray)):
        return html.escape(str(value))
    kind = "png" if bytes(value[:8]) == b"\x89PNG\r\n\x1a\n" else "jpeg"
    data = base64.b64encode(bytes(value)).decode("ascii")
    return f'<img src="data:image/{kind};base64,{data}" style="max-width:160px;max-height:120px">'
