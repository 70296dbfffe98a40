"""Right-sizing: how many sessions, tabs and batches a run gets. No I/O.

The rules, with the measurements behind them:

* **Local Chromium** shares this machine's cores. One Chromium process with its
  renderers keeps about two cores busy, and more processes than that compete
  (on 2 cores, 4 sessions x 2 tabs is slower than 1 session x 4 tabs), so the
  local plan starts ``cores // 2`` sessions (at least one) of 4 tabs each.
* **Cloud sessions** (Anchor) cost session-minutes, not local cores. The plan
  picks the fewest sessions that finish within ``target_seconds`` at
  ``seconds_per_url`` per page and ``tabs`` pages at a time per session, capped
  by ``max_sessions`` and by ``max_session_minutes``; a batch holds at most
  1000 sessions, so more are split into several batches.
* Never more sessions than the work can keep busy: ``ceil(urls / tabs)``.
* **Never more sessions than the driver processes can keep busy.** With cloud
  sessions the browsers are remote; what stays here is Python and Playwright's
  Node driver, which spend ``ORCHESTRATOR_MS_PER_PAGE`` of CPU per page together.
  Planned at ``DRIVER_UTILIZATION`` of a core, one driver process feeds
  ``PROCESS_PAGES_PER_SECOND`` pages/s, i.e. keeps
  ``PROCESS_PAGES_PER_SECOND * seconds_per_url / tabs`` sessions busy. The cloud
  plan says how many processes (``workers=``) its sessions need, caps the sessions
  at what the given ``workers`` keep busy, and estimates the duration from the
  slower of the sessions and the processes. ``workers`` not given (``af.plan``):
  as many as the sessions need, at most one per core of this machine. Once a run in
  this process has measured its own CPU per page (``ScrapeResult.orchestrator_ms_per_page``,
  sampled by the saturation watch), plans made after it use that figure
  (``orchestrator_ms=``) and say so: what this machine really drives, on these pages.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from ..errors import InputError

__all__ = [
    "MAX_BATCH",
    "PROCESS_PAGES_PER_SECOND",
    "Plan",
    "machine_cores",
    "plan_sessions",
    "process_pages_per_second",
    "sessions_per_process",
]

MAX_BATCH = 1000
LOCAL_TABS = 4
CLOUD_TABS = 4
#: Seconds one tab spends on a page: local (measured ~5.5 pages/s at 1x4 on
#: 2 cores, so ~0.7 s a page per tab) and cloud (a remote browser over the internet).
LOCAL_SECONDS_PER_URL = 0.7
CLOUD_SECONDS_PER_URL = 3.0
LOCAL_START_SECONDS = 0.6
CLOUD_START_SECONDS = 20.0
CLOUD_TARGET_SECONDS = 300.0
CLOUD_MAX_SESSIONS = 200
#: CPU (ms) that this Python process and its Playwright driver spend together per page,
#: measured by ``benchmarks/orchestrator.py`` (``python -m benchmarks --only orchestrator``) on
#: real-sized pages (CPython's Sphinx docs, 20-700 KB, with their stylesheets and scripts),
#: ``extract=`` of three fields, 1 session x 4 tabs over CDP, on a 2-core VM (AMD EPYC, shared):
#: static pages 21.0, 28.6, 27.6, 29.3, 31.1, 32.4, 22.4 and 23.3 ms in eight runs of 3-9 rounds x
#: 200 pages (the hand-tuned script 22.7, 28.3, 28.1, 31.7, 32.5, 31.6, 22.8 and 21.9 in the same
#: rounds; the last two runs' ``/js/`` pages 24.6-25.4). The figure moves with the load on the
#: machine, not with anchorframe. 26 ms is within 20 % of seven of the eight (every one from 22.4
#: to 32.4, and the ``/js/`` ones); their median, 28, is 1.2x the two latest, quiet ones. So a run
#: measures its own (``ScrapeResult.orchestrator_ms_per_page``, within 2 % of the benchmark's
#: figure), ``af.plan(probe=N)`` measures it on N rows, and the plans made after either in the same
#: process use that figure.
ORCHESTRATOR_MS_PER_PAGE = 26.0
#: The share of one core a driver process is planned to use: above it, event-loop lag grows
#: and pages wait for the orchestrator instead of the browser.
DRIVER_UTILIZATION = 0.7
#: Pages per second one driver process (Python + its Node driver) keeps going.
PROCESS_PAGES_PER_SECOND = 1000.0 * DRIVER_UTILIZATION / ORCHESTRATOR_MS_PER_PAGE


def machine_cores() -> int:
    """Cores this process may use (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Plan:
    """How a run will be carried out, and why.

    Example:
        >>> plan = plan_sessions(400, kind="local", cores=2)
        >>> plan.sessions, plan.tabs
        (1, 4)
    """

    backend: str
    rows: int
    urls: int
    invalid: int
    sessions: int
    tabs: int
    batches: tuple[int, ...]
    seconds_per_url: float
    est_seconds: float
    est_session_minutes: float
    reasons: tuple[str, ...] = field(default=())
    #: Driver processes (``workers=``): each runs its own event loop, driver and share of the sessions.
    workers: int = 1
    #: The share of rows an ``af.plan(probe=N)`` sample found needing a browser (None: not probed).
    browser_share: float | None = None

    @property
    def concurrency(self) -> int:
        """Pages worked on at once: sessions x tabs."""
        return self.sessions * self.tabs

    def explain(self) -> str:
        """The plan in a few lines of text, with the reasons for each number."""
        lines = [
            f"Plan ({self.backend}): {self.rows} rows, {self.urls} URLs to scrape"
            + (f", {self.invalid} invalid" if self.invalid else ""),
            f"  {self.sessions} session(s) x {self.tabs} tab(s)"
            + (f" in {len(self.batches)} batches {list(self.batches)}" if len(self.batches) > 1 else "")
            + (f", workers={self.workers} driver processes" if self.workers > 1 else ""),
            f"  estimated {_duration(self.est_seconds)}, {self.est_session_minutes:.1f} session-minutes",
        ]
        lines += [f"  - {reason}" for reason in self.reasons]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explain()

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.explain())}</pre>"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _positive_int(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive whole number, not {value!r}.")
    return value


def _positive_float(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise InputError(f"{name} must be a positive number of seconds, not {value!r}.")
    return float(value)


def plan_sessions(
    urls: int,
    *,
    kind: str = "local",
    rows: int | None = None,
    invalid: int = 0,
    cores: int | None = None,
    sessions: int | None = None,
    tabs: int | None = None,
    seconds_per_url: float | None = None,
    target_seconds: float | None = None,
    max_sessions: int | None = None,
    max_session_minutes: float | None = None,
    workers: int | None = None,
    orchestrator_ms: float | None = None,
) -> Plan:
    """Size a run of ``urls`` unique URLs for a backend of ``kind`` ("local" or "cloud").

    Explicit ``sessions`` and ``tabs`` win over the rules (still capped by the
    work there is). ``orchestrator_ms``: the CPU a page cost this machine's orchestrator
    as a run here measured it (None: :data:`ORCHESTRATOR_MS_PER_PAGE`). Example:

        >>> plan = plan_sessions(5000, kind="cloud", seconds_per_url=3, target_seconds=60, cores=8)
        >>> plan.sessions, plan.workers
        (94, 5)
    """
    if kind not in ("local", "cloud"):
        raise InputError(f"kind must be 'local' or 'cloud', not {kind!r}.")
    if isinstance(urls, bool) or not isinstance(urls, int) or urls < 0:
        raise InputError(f"urls must be a whole number >= 0, not {urls!r}.")
    sessions = _positive_int("sessions", sessions)
    tabs = _positive_int("tabs", tabs)
    max_sessions = _positive_int("max_sessions", max_sessions)
    workers = _positive_int("workers", workers)
    seconds_per_url = _positive_float("seconds_per_url", seconds_per_url)
    target_seconds = _positive_float("target_seconds", target_seconds)
    if max_session_minutes is not None:
        _positive_float("max_session_minutes", max_session_minutes)
    rows = urls + invalid if rows is None else rows
    cloud = kind == "cloud"
    reasons: list[str] = []
    spu = seconds_per_url or (CLOUD_SECONDS_PER_URL if cloud else LOCAL_SECONDS_PER_URL)
    start = CLOUD_START_SECONDS if cloud else LOCAL_START_SECONDS

    if tabs is None:
        tabs = CLOUD_TABS if cloud else LOCAL_TABS
        reasons.append(f"{tabs} tabs per session: the measured sweet spot per browser")
    else:
        reasons.append(f"{tabs} tabs per session, as asked")

    if urls == 0:
        return Plan(
            kind_name(kind),
            rows,
            0,
            invalid,
            0,
            0,
            (),
            spu,
            0.0,
            0.0,
            (*reasons, "nothing to scrape: no session is started"),
            workers or 1,
        )

    useful = math.ceil(urls / tabs)
    if sessions is not None:
        reasons.append(f"{sessions} session(s), as asked")
    elif cloud:
        target = target_seconds or CLOUD_TARGET_SECONDS
        sessions = max(1, math.ceil(urls * spu / (tabs * max(target - start, 1.0))))
        reasons.append(
            f"{sessions} session(s) finish {urls} URLs at {spu:g} s each within the "
            f"{_duration(target)} target"
        )
        cap = max_sessions or CLOUD_MAX_SESSIONS
        if sessions > cap:
            sessions = cap
            reasons.append(f"capped at max_sessions={cap}")
    else:
        cores = cores or machine_cores()
        sessions = max(1, cores // 2)
        reasons.append(
            f"{sessions} local Chromium process(es) for {cores} cores: one browser keeps about "
            "two cores busy, and more processes than that compete"
        )
        if max_sessions is not None and sessions > max_sessions:
            sessions = max_sessions
            reasons.append(f"capped at max_sessions={max_sessions}")
    if sessions > useful:
        sessions = useful
        reasons.append(f"no more sessions than the work keeps busy: ceil({urls} / {tabs}) = {useful}")
    fewer = math.ceil(urls / sessions)
    if fewer < tabs:  # said, so that the plan's tabs and its reasons agree
        reasons.append(f"{fewer} tab(s) per session: no more than its share of the {urls} URLs")
        tabs = fewer
    explicit = any(r.endswith("session(s), as asked") for r in reasons)
    if cloud:
        sessions, workers = _fit_processes(
            sessions, workers, tabs, spu, cores, explicit, reasons, orchestrator_ms
        )
    else:
        workers = workers or 1
        if sessions < workers:
            sessions = min(workers, useful)
            reasons.append(
                f"one local Chromium per driver process: {sessions} session(s) for workers={workers}"
            )
    workers = max(1, min(workers, sessions))

    def estimate(count: int) -> tuple[float, float]:
        seconds = start + math.ceil(urls / (count * tabs)) * spu
        if cloud:  # the processes may be slower than the sessions: the slower one sets the pace
            seconds = max(seconds, start + urls / (workers * process_pages_per_second(orchestrator_ms)))
        return seconds, count * seconds / 60.0

    est_seconds, minutes = estimate(sessions)
    if max_session_minutes is not None and minutes > max_session_minutes:
        while sessions > 1 and estimate(sessions)[1] > max_session_minutes:
            sessions = max(1, math.floor(sessions * 0.9) if sessions > 10 else sessions - 1)
        est_seconds, minutes = estimate(sessions)
        if minutes > max_session_minutes:
            raise InputError(
                f"The run needs about {minutes:.1f} session-minutes, above max_session_minutes="
                f"{max_session_minutes:g}. Raise max_session_minutes or scrape fewer rows."
            )
        reasons.append(
            f"reduced to {sessions} session(s) to stay within {max_session_minutes:g} session-minutes"
        )
    batches = tuple(min(MAX_BATCH, sessions - start_at) for start_at in range(0, sessions, MAX_BATCH))
    if len(batches) > 1:
        reasons.append(f"a batch holds at most {MAX_BATCH} sessions: split into {len(batches)} batches")
    return Plan(
        kind_name(kind),
        rows,
        urls,
        invalid,
        sessions,
        tabs,
        batches,
        spu,
        est_seconds,
        minutes,
        tuple(reasons),
        workers,
    )


def process_pages_per_second(orchestrator_ms: float | None = None) -> float:
    """Pages/s one driver process keeps going at ``orchestrator_ms`` of CPU per page (None: the default).

    Example:
        >>> process_pages_per_second() == PROCESS_PAGES_PER_SECOND, round(process_pages_per_second(35.0), 1)
        (True, 20.0)
    """
    if orchestrator_ms is None or not orchestrator_ms > 0:
        return PROCESS_PAGES_PER_SECOND
    return 1000.0 * DRIVER_UTILIZATION / orchestrator_ms


def sessions_per_process(seconds_per_url: float, tabs: int, orchestrator_ms: float | None = None) -> int:
    """Sessions of ``tabs`` tabs one driver process keeps busy at ``seconds_per_url`` per page.

    Example:
        >>> sessions_per_process(3.0, 4) == int(PROCESS_PAGES_PER_SECOND * 3.0 / 4)
        True
    """
    return max(1, int(process_pages_per_second(orchestrator_ms) * seconds_per_url / tabs))


def _fit_processes(
    sessions: int,
    workers: int | None,
    tabs: int,
    spu: float,
    cores: int | None,
    explicit: bool,
    reasons: list[str],
    orchestrator_ms: float | None = None,
) -> tuple[int, int]:
    """Cloud sessions vs the driver processes that feed them: (sessions, workers)."""
    each = sessions_per_process(spu, tabs, orchestrator_ms)
    needed = math.ceil(sessions / each)
    measured = orchestrator_ms is not None and orchestrator_ms > 0
    cost = (
        f"{orchestrator_ms:.1f} ms of CPU per page, as the last run here measured it"
        if measured
        else f"{ORCHESTRATOR_MS_PER_PAGE:g} ms of CPU per page, benchmarks/orchestrator.py's figure"
    )
    head = (
        f"one driver process keeps about {each} sessions busy at {spu:g} s per page "
        f"({process_pages_per_second(orchestrator_ms):.0f} pages/s at {cost}); "
        f"{sessions} sessions need {needed} process(es): workers={needed}"
    )
    if workers is None:
        cores = cores or machine_cores()
        workers = min(needed, cores)
        if workers < needed:
            reasons.append(f"{head}; this machine has {cores} core(s), so workers={workers} here "
                           "(cluster= runs more on a Dask cluster)")  # fmt: skip
        else:
            reasons.append(head)
    elif needed > workers:
        reasons.append(f"{head}, but workers={workers}")
    if sessions > workers * each:
        if explicit:
            reasons.append(f"the {sessions} sessions asked for will wait on the {workers} driver process(es)")
        else:
            sessions = workers * each
            reasons.append(f"capped at {sessions} sessions: what {workers} driver process(es) keep busy")
    return sessions, workers


def kind_name(kind: str) -> str:
    return "anchor" if kind == "cloud" else "local"
