"""ScrapeResult: the three frames of a run and a one-screen summary."""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._core.evidence import evidence_frame
from .._core.native import NativeFrame
from .._core.plan import Plan
from .._core.table import RENDER, STATUS, STATUSES
from .._display.timeline_data import attempts_frame, run_usage, session_usage
from ..errors import InputError

if TYPE_CHECKING:
    from .._display.explore import Explorer
    from .._display.row_view import RowView
    from .._display.timeline import Timeline
    from .._store.export import Nested

__all__ = ["ScrapeResult", "measured_orchestrator_ms", "note_measured"]


@dataclass(eq=False)
class ScrapeResult:
    """What a run gives back.

    Attributes:
        results: one row per input row, same index and order, input columns kept,
            output columns added, and the status columns ``af_status`` (ok, failed,
            invalid, skipped), ``af_reason``, ``af_error``, ``af_attempts``,
            ``af_elapsed`` (seconds) and ``af_session``. It is of the input's kind: a
            pandas DataFrame, or for a polars DataFrame, polars LazyFrame or pyarrow Table
            in, the same kind back (the input's columns as they came in, same rows, same
            order; a LazyFrame over the collected rows). ``failed()`` follows it.
        errors: one row per failure event: scope ``session`` (a session that would not start
            or died), ``url`` (an attempt at a row, or an invalid row) or ``site`` (a site that
            paused the run with a 429 or 503).
        sessions: one row per browser session, with how long it took to be ready
            (``ready_s``) and, after that, how long it worked and idled: ``busy_s``,
            ``idle_s``, ``idle_share`` (of its session-minutes) and ``tabs_busy_share``
            (see ``session_usage``).
        attempts: one row per attempt of a URL: ``session``, ``tab``, ``row``, ``url``,
            ``attempt``, ``start``, ``end``, ``duration_s``, ``outcome``, ``render``
            (see ``attempts_frame``). ``plot()`` draws them. ``errors``, ``sessions`` and
            ``attempts`` describe the run, not the input: they are pandas whatever the
            input (``row`` is a position, 0, 1, 2..., for a polars or pyarrow input).
        evidence: what the browser saw when an attempt failed (the callable raised, a
            selector timed out, a block or error page): one row per kept attempt, ``url``,
            ``attempt``, ``session``, ``time``, ``reason``, ``message``, the ``page_url``
            it ended on, its ``html`` and a ``screenshot`` (JPEG bytes). Bounded by
            ``evidence=`` (the first 50 by default). ``show(label)`` and ``explore()`` show it.
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
    evidence: pd.DataFrame = field(default_factory=evidence_frame, repr=False)
    _rerun: Callable[..., ScrapeResult] | None = field(default=None, repr=False)
    out: str | None = None
    #: Rows by status of a run whose rows are in ``out`` (``results`` is not held).
    _counts: dict[str, int] | None = field(default=None, repr=False)
    #: Rows an earlier run answered (a checkpoint or ``out=`` held them): not scraped by this run.
    resumed_rows: int = 0
    #: The user's polars or pyarrow input: ``results`` is given back as its kind (None: pandas).
    _native: NativeFrame | None = field(default=None, repr=False)
    #: CPU ms this process and its Playwright driver spent per page in this run (the mean over
    #: the shards with ``workers=``); None when not measured. ``af.plan`` sizes on it.
    orchestrator_ms_per_page: float | None = None

    def __getstate__(self) -> dict[str, Any]:
        # A result pickles (a cache, a Dask task, another process): its retry hook travels without
        # the backend's secrets, or not at all when its scraper cannot (retry_failed says so).
        state = dict(self.__dict__)
        state.pop(_NATIVE_RESULTS, None)  # made again from the pandas rows when read
        rerun = state.get("_rerun")
        if rerun is not None:
            state["_rerun"] = rerun.portable() if hasattr(rerun, "portable") else None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("evidence", evidence_frame())  # pickled before results kept evidence
        self.__dict__.update(state)

    def __post_init__(self) -> None:
        # The engine may hand the raw attempt records; merged results hand concatenated frames.
        # Both are normalised here, and the sessions' busy and idle time is derived from them.
        self.attempts = attempts_frame(self.attempts)
        self.evidence = evidence_frame(self.evidence)
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
    def _frame(self) -> pd.DataFrame:
        """The rows as pandas, whatever the input's kind (``results`` is of the input's kind)."""
        return _descriptor.pandas(self)  # type: ignore[no-any-return]

    @property
    def counts(self) -> dict[str, int]:
        """Rows by status, every status present (zeros included)."""
        if self._counts is not None:
            return {status: int(self._counts.get(status, 0)) for status in STATUSES}
        counts = self._frame[STATUS].value_counts()
        return {status: int(counts.get(status, 0)) for status in STATUSES}

    @property
    def ok(self) -> bool:
        """True when every row that could be scraped was scraped: a flag, so a property
        (``if result.ok:``); the rows themselves are a frame built on demand, ``result.failed()``."""
        counts = self.counts
        return counts["failed"] == 0 and counts["skipped"] == 0

    @property
    def session_minutes(self) -> float:
        column = self.sessions["session_minutes"] if len(self.sessions) else pd.Series(dtype="float64")
        return float(column.fillna(0).sum())

    @property
    def pages_per_second(self) -> float:
        """Rows this run scraped (ok or failed) per second; rows resumed from a checkpoint not counted."""
        scraped = max(0, self.counts["ok"] + self.counts["failed"] - self.resumed_rows)
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

    def show(self, label: Hashable) -> RowView:
        """One input row: its values and status, every attempt, and what the browser saw.

        In Jupyter the row shows as HTML: its values, its attempts (session, route, time,
        error), and for each failed browser attempt kept in ``evidence`` the screenshot
        inline and the page's HTML one click away. In a terminal ``print()`` gives the same
        in text, and ``.save(folder)`` writes the screenshots and pages to open.

        Args:
            label: the row's label in the input's index (a position for polars or pyarrow).

        Example:
            >>> result = af.scrape(df, scraper)  # doctest: +SKIP
            >>> result.show(result.failed().index[0])  # doctest: +SKIP
        """
        from .._display.row_view import row_view

        return row_view(self, label)

    def explore(self) -> Explorer:
        """The run's rows in a notebook widget: filter by status, reason, site or route; one
        row's ``show()`` beside the list; previous and next. Failed rows are listed first.

        Example:
            >>> result.explore()  # doctest: +SKIP
        """
        from .._display.explore import Explorer

        return Explorer(self)

    def failed(self) -> pd.DataFrame:
        """The rows that were not scraped: failed and skipped (not invalid), as a new frame.

        A method, as pandas' ``df.head()``: it selects from ``results`` each time; ``result.ok``
        is the yes/no. The frame is of the kind of ``results`` (polars, pyarrow or pandas).
        """
        if self._native is not None:
            return self._native.rows_with(self.results, STATUS, ["failed", "skipped"])
        return self._frame[self._frame[STATUS].isin(["failed", "skipped"])]

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
                "This result cannot be retried: it was not produced by scrape() or load_checkpoint(), "
                "or it was pickled with options that could not travel with it (a scraper defined in a "
                "notebook cell, or headers= holding a credential, which a pickle never carries). "
                "Scrape result.failed() instead."
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

        write_parquet(self._frame, path, nested=nested)

    def to_csv(self, path: str | os.PathLike[str], *, nested: Nested = "flatten") -> None:
        """Write ``results`` as CSV: dicts flattened (or JSON text with ``nested="struct"``), bytes base64.

        Example:
            >>> result.to_csv("products.csv")  # doctest: +SKIP
        """
        from .._store.export import write_csv

        write_csv(self._frame, path, nested=nested)

    def to_json(
        self, path: str | os.PathLike[str], *, nested: Nested = "flatten", lines: bool = True
    ) -> None:
        """Write ``results`` as JSON Lines, one object per row (``lines=False``: a JSON array).

        Example:
            >>> result.to_json("products.jsonl", nested="struct")  # doctest: +SKIP
        """
        from .._store.export import write_json

        write_json(self._frame, path, nested=nested, lines=lines)

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
        if self.out is not None or RENDER not in self._frame.columns:
            return False  # out=: the rows are on disk
        return bool((self._frame[RENDER] == "http").any())

    def summary(self) -> str:
        """A few lines of text: rows by status, sessions, throughput, session-minutes, top errors."""
        from .summary import summary_text

        return summary_text(self)

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
        from .summary import summary_html

        return summary_html(self)


#: Where a result keeps ``results`` in the input's kind once read (made from the pandas rows).
_NATIVE_RESULTS = "_results_native"


class _Results:
    """``ScrapeResult.results``: the frame, or for a run with ``out=`` an error naming the dataset.

    The rows are held as pandas (what the summary, the exports and ``retry_failed`` read,
    as ``result._frame``); a result of a polars or pyarrow input hands them out in that kind,
    made once on first read.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}_frame"

    def __get__(self, result: Any, owner: type | None = None) -> Any:
        if result is None:
            return self
        frame = self.pandas(result)
        native = result.__dict__.get("_native")
        if native is None or frame is None:
            return frame
        given = result.__dict__.get(_NATIVE_RESULTS)
        if given is None:
            given = result.__dict__[_NATIVE_RESULTS] = native.results(frame)
        return given

    def pandas(self, result: Any) -> Any:
        """The rows as pandas, whatever the input's kind."""
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
        result.__dict__.pop(_NATIVE_RESULTS, None)


# A data descriptor set after @dataclass made __init__, which assigns ``self.results`` through it.
_descriptor = _Results()
_descriptor.__set_name__(ScrapeResult, "results")
ScrapeResult.results = _descriptor  # type: ignore[assignment]


#: The latest run's own orchestrator CPU per page here, kept while later runs measure none.
_MEASURED: list[float] = []


def note_measured(ms_per_page: float | None) -> None:
    """Keep a run's measured orchestrator CPU per page for the plans that follow in this process
    (None: forget it, plans use the default again)."""
    _MEASURED[:] = [] if ms_per_page is None else [ms_per_page]


def measured_orchestrator_ms() -> float | None:
    """What a page cost this machine's orchestrator in the latest run here that measured it.

    Example:
        >>> measured = measured_orchestrator_ms()  # None until a run here has measured it
        >>> measured is None or measured > 0
        True
    """
    return _MEASURED[-1] if _MEASURED else None
