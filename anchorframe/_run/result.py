"""ScrapeResult: the three frames of a run and a one-screen summary."""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._core.plan import Plan
from .._core.table import ATTEMPTS, REASON, RENDER, STATUS, STATUSES
from .._display.timeline_data import attempts_frame, run_usage, session_usage
from ..errors import InputError

if TYPE_CHECKING:
    from .._display.timeline import Timeline
    from .._store.export import Nested

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
        sessions: one row per browser session, with how long it took to be ready
            (``ready_s``) and, after that, how long it worked and idled: ``busy_s``,
            ``idle_s``, ``idle_share`` (of its session-minutes) and ``tabs_busy_share``
            (see ``session_usage``).
        attempts: one row per attempt of a URL: ``session``, ``tab``, ``row``, ``url``,
            ``attempt``, ``start``, ``end``, ``duration_s``, ``outcome``, ``render``
            (see ``attempts_frame``). ``plot()`` draws them.
        plan: the plan the run followed.
        out: where a run with ``out=`` wrote its rows (a Parquet dataset, one row per
            input row with its index label, the columns of ``results``); such a result
            keeps only ``counts``, ``errors`` and ``sessions``, and reading ``results``
            raises ResultsOnDiskError: read ``pd.read_parquet(result.out)`` or
            ``dd.read_parquet(result.out)``.

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
    attempts: pd.DataFrame = field(default_factory=attempts_frame, repr=False)
    _rerun: Callable[..., ScrapeResult] | None = field(default=None, repr=False)
    out: str | None = None
    #: Rows by status of a run whose rows are in ``out`` (``results`` is not held).
    _counts: dict[str, int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # The engine may hand the raw attempt records; merged results hand concatenated frames.
        # Both are normalised here, and the sessions' busy and idle time is derived from them.
        self.attempts = attempts_frame(self.attempts)
        self.sessions = session_usage(self.sessions, self.attempts, self._run_end())

    def _run_end(self) -> datetime:
        ends = [
            pd.to_datetime(column, utc=True).max()
            for column in (
                self.sessions["ended"] if "ended" in self.sessions.columns else None,
                self.attempts["end"],
            )
            if column is not None and len(column)
        ]
        ends = [end for end in ends if not pd.isna(end)]
        # Attempt ends can carry nanoseconds (an HTTP-only run has no session end to round them):
        # floor to microseconds, which is what a datetime holds, instead of a UserWarning.
        return max(ends).floor("us").to_pydatetime() if ends else datetime.now(timezone.utc)

    # ------------------------------------------------------------------ views
    @property
    def counts(self) -> dict[str, int]:
        """Rows by status, every status present (zeros included)."""
        if self._counts is not None:
            return {status: int(self._counts.get(status, 0)) for status in STATUSES}
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

    @property
    def idle_share(self) -> float | None:
        """The share of the run's session-minutes its sessions were ready but did nothing.

        None when it is not known (no session lived, or a result loaded from a checkpoint).
        """
        usage = run_usage(self.sessions)
        return usage["idle_share"] if usage else None

    def plot(self, *, max_bars: int = 2000, max_lanes: int = 48) -> Timeline:
        """Draw the run: a lane per session and tab, attempts as bars, pages per second beneath.

        Bars are coloured by outcome; provisioning (grey, from start to ready) and the
        release (a tick) of each session are marked. In a notebook the picture is
        interactive (hover for the URL, status and duration; drag or scroll to zoom the
        time axis); ``.save("run.png")``, ``.save("run.html")`` write it for pipelines.
        Needs the ``plot`` extra: ``pip install 'anchorframe[plot]'``.

        Args:
            max_bars: past this many attempts, bars are summed up per lane and time bin
                (colour: the outcome most of the bin's time went to; opacity: how busy).
            max_lanes: past this many tab lanes, a lane is a whole session.

        Example:
            >>> result = af.scrape(df, extract={"title": "h1"})  # doctest: +SKIP
            >>> result.plot()  # doctest: +SKIP
            >>> result.plot().save("run.png")  # doctest: +SKIP
        """
        from .._display.timeline import timeline

        return timeline(self, max_bars=max_bars, max_lanes=max_lanes)

    def failed(self) -> pd.DataFrame:
        """The rows that were not scraped: failed and skipped (not invalid)."""
        return self.results[self.results[STATUS].isin(["failed", "skipped"])]

    def retry_failed(self, fn: Any = None, **options: Any) -> ScrapeResult:
        """Scrape the failed and skipped rows again and return the merged result.

        ``fn`` (or ``extract={...}``) and ``options`` override the first run's: another
        callable, backend, sessions, timeout, retries... Rows already ok are not touched.
        The merged result keeps the index, order and columns, counts ``af_attempts``
        across both runs, holds the errors and sessions of both, and can be retried again.

        Example:
            >>> result = af.scrape(df, scraper)  # doctest: +SKIP
            >>> result = result.retry_failed(timeout=60, retries=4)  # doctest: +SKIP
        """
        from .._core.options import OPTION_NAMES
        from .options import refuse_unknown

        refuse_unknown("retry_failed", options, OPTION_NAMES)  # the options of scrape(), by name
        if self.out is not None:
            from ..errors import ResultsOnDiskError

            raise ResultsOnDiskError(
                f"This run's rows are in the Parquet dataset {self.out} (out=), not here. Read its "
                "failed rows (af_status 'failed') and scrape them to another out= directory."
            )
        if self._rerun is None:
            raise RuntimeError(
                "This result cannot be retried: it was not produced by scrape() or load_checkpoint() "
                "in this process. Scrape result.failed() instead."
            )
        return self._rerun(self, fn, options)

    # ----------------------------------------------------------------- export
    def to_parquet(self, path: str | os.PathLike[str], *, nested: Nested = "flatten") -> None:
        """Write ``results`` (status columns included) to one Parquet file.

        Args:
            path: the file to write (its folder is created).
            nested: dicts a callable returned become ``column.key`` columns
                ("flatten") or Parquet structs ("struct").

        Example:
            >>> result.to_parquet("products.parquet")  # doctest: +SKIP
            >>> pd.read_parquet("products.parquet").af_status.value_counts()  # doctest: +SKIP
        """
        from .._store.export import write_parquet

        write_parquet(self.results, path, nested=nested)

    def to_csv(self, path: str | os.PathLike[str], *, nested: Nested = "flatten") -> None:
        """Write ``results`` as CSV: dicts flattened (or JSON text with ``nested="struct"``), bytes base64.

        Example:
            >>> result.to_csv("products.csv")  # doctest: +SKIP
        """
        from .._store.export import write_csv

        write_csv(self.results, path, nested=nested)

    def to_json(
        self, path: str | os.PathLike[str], *, nested: Nested = "flatten", lines: bool = True
    ) -> None:
        """Write ``results`` as JSON Lines, one object per row (``lines=False``: a JSON array).

        Example:
            >>> result.to_json("products.jsonl", nested="struct")  # doctest: +SKIP
        """
        from .._store.export import write_json

        write_json(self.results, path, nested=nested, lines=lines)

    # ---------------------------------------------------------------- summary
    def common_errors(self, limit: int = 5, *, by: str | Sequence[str] = ("stage", "reason")) -> pd.DataFrame:
        """The most frequent failures, grouped by columns of ``errors``, with a count and a sample message.

        Args:
            limit: how many groups to return, the most frequent first.
            by: the columns of ``errors`` to group by: ``stage`` and ``reason`` by
                default; ``"session"`` shows which sessions failed most, ``"scope"``
                separates session failures from URL failures.

        Example:
            >>> result.common_errors()  # doctest: +SKIP
            >>> result.common_errors(by="session")  # doctest: +SKIP
        """
        keys = [by] if isinstance(by, str) else list(by)
        unknown = [key for key in keys if key not in self.errors.columns]
        if unknown or not keys:
            raise InputError(
                f"by= takes columns of result.errors; {unknown or by!r} is not among "
                f"{list(self.errors.columns)}."
            )
        if not len(self.errors):
            return pd.DataFrame(columns=[*keys, "count", "example"])
        return (
            self.errors.groupby(keys, observed=True, dropna=False, sort=False)
            .agg(count=("message", "size"), example=("message", "first"))
            .sort_values("count", ascending=False, kind="stable")
            .head(limit)
            .reset_index()
        )

    @property
    def _over_http(self) -> bool:
        """Whether any row of this run was fetched over plain HTTP (render="http"/"auto")."""
        if self.out is not None or RENDER not in self.results.columns:
            return False  # out=: the rows are on disk
        return bool((self.results[RENDER] == "http").any())

    def summary(self) -> str:
        """A few lines of text: rows by status, sessions, throughput, session-minutes, top errors."""
        counts = self.counts
        total = sum(counts.values())
        sessions = len(self.sessions)
        failed_sessions = int((self.sessions["state"].isin(["failed", "lost"])).sum()) if sessions else 0
        attempts = int(self.results[ATTEMPTS].sum()) if total and self.out is None else len(self.attempts)
        lines = [
            f"anchorframe {'run (interrupted)' if self.interrupted else 'run'} {self.run_id} "
            f"on {self.backend}: "
            f"{total} rows in {self.elapsed:.1f} s",
            "  rows: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES),
            f"  sessions: {sessions} ({failed_sessions} failed or lost), {self.plan.tabs} tab(s) each; "
            f"{self.session_minutes:.2f} session-minutes"
            if sessions or not self._over_http
            else "  sessions: none (no row needed a browser)",
            *([f"  session time: {_usage_text(run_usage(self.sessions))}"] if sessions else []),
            f"  throughput: {self.pages_per_second:.1f} pages/s, {attempts} attempts"
            + (
                f", first result after {self.first_result_s:.2f} s" if self.first_result_s is not None else ""
            ),
        ]
        fetched = _fetched_text(self.results) if self.out is None else ""  # out=: rows on disk
        if fetched:
            lines.append(f"  fetched: {fetched}")
        manners = self._manners_text()
        if manners:
            lines.append(f"  sites: {manners}")
        common = self.common_errors(3)
        if len(common):
            lines.append("  most common errors:")
            for row in common.itertuples(index=False):
                lines.append(f"    {row.count} x {row.stage}/{row.reason}: {str(row.example)[:100]}")
        return "\n".join(lines)

    def _manners_text(self) -> str:
        """What sites pushed back with: robots.txt, pauses after 429/503, block pages ("" if none)."""
        parts = []
        reasons = self.results.get(REASON) if self.out is None else None  # out=: the rows are on disk
        disallowed = int((reasons == "robots_txt").sum()) if reasons is not None else 0
        if disallowed:
            parts.append(f"{disallowed} row(s) skipped: robots.txt disallows them")
        errors = self.errors
        if len(errors) and {"site", "scope", "reason"} <= set(errors.columns):
            pauses = errors[errors["scope"] == "site"]
            if len(pauses):
                sites = pauses["site"].nunique()
                parts.append(f"{len(pauses)} pause(s) at {sites} site(s) that answered 429/503")
            blocked = errors[errors["reason"] == "blocked"]
            if len(blocked):
                parts.append(f"{len(blocked)} blocked page(s) at {blocked['site'].nunique()} site(s)")
        return "; ".join(parts)

    def __repr__(self) -> str:
        counts = self.counts
        return (
            f"<ScrapeResult {sum(counts.values())} rows: "
            + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
            + f"; {len(self.sessions)} sessions; {len(self.errors)} errors"
            + (f"; idle {self.idle_share:.0%}" if self.idle_share is not None else "")
            + ">"
        )

    def _repr_html_(self) -> str:
        counts = self.counts
        badges = ", ".join(
            f'<span style="color:{_STATUS_COLOURS[s]};font-weight:600">{counts[s]} {s}</span>'
            for s in STATUSES
        )
        sessions = len(self.sessions)
        lost = int(self.sessions["state"].isin(["failed", "lost"]).sum()) if sessions else 0
        first_s = self.first_result_s
        first = f" · first result after {first_s:.2f} s" if first_s is not None else ""
        note = (
            f'<div style="color:{_STATUS_COLOURS["skipped"]}">Interrupted: {counts["skipped"]} rows were '
            "not finished (status <code>skipped</code>); <code>.retry_failed()</code> scrapes them.</div>"
            if self.interrupted
            else ""
        )
        facts = [
            ("rows", f"{sum(counts.values())}: {badges}"),
            (
                "sessions",
                f"{sessions} ({lost} failed or lost) x {self.plan.tabs} tabs · "
                f"{self.session_minutes:.2f} session-minutes"
                if sessions or not self._over_http
                else "none (no row needed a browser)",
            ),
            *([("session time", html.escape(_usage_text(run_usage(self.sessions))))] if sessions else []),
            ("throughput", f"{self.pages_per_second:.1f} pages/s · {self.elapsed:.1f} s{first}"),
        ]
        fetched = _fetched_text(self.results) if self.out is None else ""  # out=: rows on disk
        if fetched:
            facts.append(("fetched", html.escape(fetched)))
        rows = "".join(
            f'<tr><th style="text-align:left;padding:1px 12px 1px 0;font-weight:600">{name}</th>'
            f'<td style="text-align:left;padding:1px 0">{value}</td></tr>'
            for name, value in facts
        )
        common = self.common_errors(5)
        errors_html = (
            f"<details open><summary>Most common errors ({len(self.errors)} in "
            "<code>.errors</code>)</summary>"
            + _frame_html(common[["count", "stage", "reason", "example"]], index=False)
            + "</details>"
            if len(common)
            else ""
        )
        if self.out is not None:
            rows_html = (
                f"<div>Rows in the Parquet dataset <code>{html.escape(self.out)}</code> (out=): "
                "<code>pd.read_parquet(result.out)</code> or <code>dd.read_parquet(result.out)</code>.</div>"
            )
        else:
            head = self.results.head(10)
            rows_html = (
                f"<details open><summary>First rows ({len(head)} of {len(self.results)} in "
                f"<code>.results</code>)</summary>{_frame_html(head)}</details>"
            )
        return (
            '<div class="anchorframe-result">'
            f"<b>ScrapeResult</b> · run <code>{html.escape(self.run_id)}</code> on "
            f"{html.escape(self.backend)}{' (interrupted)' if self.interrupted else ''}"
            f'{note}<table style="border-collapse:collapse;margin:4px 0">{rows}</table>'
            f"{errors_html}{rows_html}"
            "</div>"
        )


class _Results:
    """``ScrapeResult.results``: the frame, or for a run with ``out=`` an error naming the dataset."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}_frame"

    def __get__(self, result: Any, owner: type | None = None) -> Any:
        if result is None:
            return self
        frame = result.__dict__.get(self.slot)
        if frame is None and result.out is not None:
            from ..errors import ResultsOnDiskError

            rows = sum(result.counts.values())
            raise ResultsOnDiskError(
                f"This run wrote its {rows} rows to the Parquet dataset {result.out} (out=) and kept "
                "none in memory. Read them with pd.read_parquet(result.out) when they fit in memory, "
                "or dd.read_parquet(result.out) (Dask) for any size; result.counts, .errors and "
                ".sessions are here."
            )
        return frame

    def __set__(self, result: Any, frame: Any) -> None:
        result.__dict__[self.slot] = frame


# A data descriptor set after @dataclass made __init__, which assigns ``self.results`` through it.
_descriptor = _Results()
_descriptor.__set_name__(ScrapeResult, "results")
ScrapeResult.results = _descriptor  # type: ignore[assignment]


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


def _fetched_text(results: pd.DataFrame) -> str:
    """How rows were fetched ("12 over HTTP, 3 in a browser"); empty when no row went over HTTP.

    Example:
        >>> _fetched_text(pd.DataFrame({"af_render": ["http", "browser", "http", None]}))
        '2 over HTTP, 1 in a browser'
    """
    if RENDER not in results.columns:
        return ""
    counts = results[RENDER].value_counts()
    http = int(counts.get("http", 0))
    if not http:
        return ""  # a browser-only run: nothing to tell apart
    return f"{http} over HTTP, {int(counts.get('browser', 0))} in a browser"
