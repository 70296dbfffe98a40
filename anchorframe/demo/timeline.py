"""A synthetic run, made without a browser: for the timeline's tests, docs and benchmarks.

``synthetic_run`` plays a shared work queue over sessions that become ready at different
moments, with timeouts and retries, a session lost mid-run (its rows move without
spending a retry) and a session that never provisions. Deterministic for a given seed.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter, deque
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from .._core.frames import sessions_frame
from .._core.plan import plan_sessions
from .._core.table import STATUS_COLUMNS
from .._run.result import ScrapeResult

__all__ = ["synthetic_run"]


def synthetic_run(
    urls: int = 60,
    *,
    sessions: int = 3,
    tabs: int = 2,
    seed: int = 7,
    lose_session: bool = True,
    failed_session: bool = True,
    mean_s: float = 0.6,
) -> ScrapeResult:
    """A ``ScrapeResult`` of a made-up run of ``urls`` URLs (one row each) on ``sessions`` x ``tabs``.

    Example:
        >>> result = synthetic_run(40, sessions=2, tabs=2)
        >>> int(result.results["af_attempts"].sum()) == int((result.attempts.outcome != "moved").sum())
        True
    """
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    queue = deque(range(urls))
    tries = [0] * urls
    status: list[str | None] = [None] * urls
    reason: list[str | None] = [None] * urls
    done_by: list[str | None] = [None] * urls
    records: list[dict[str, Any]] = []
    names = [f"local-{4100 + 17 * i}" for i in range(sessions)]
    ready = {name: 0.8 + rng.random() * 2.5 * (1 + i / 2) for i, name in enumerate(names)}
    lost_name = names[-1] if lose_session and sessions > 1 else None
    lost_at = ready[lost_name] + 3.0 if lost_name else None
    # (time free, session, tab): the earliest free tab takes the next row from the queue.
    free = [(ready[name], name, tab) for name in names for tab in range(tabs)]
    heapq.heapify(free)
    end_of = dict.fromkeys(names, 0.0)
    while queue and free:
        now, name, tab = heapq.heappop(free)
        if lost_at is not None and name == lost_name and now >= lost_at:
            continue  # this session is gone: its tabs take no more work
        key = queue.popleft()
        tries[key] += 1
        duration = rng.lognormvariate(0, 0.5) * mean_s
        outcome = "ok"
        if key % 11 == 5:
            outcome, duration = "timeout", 2.0
        elif key % 13 == 7 and tries[key] == 1:
            outcome = "navigation"
        end = now + duration
        if lost_at is not None and name == lost_name and end > lost_at:
            outcome, end = "moved", lost_at
            tries[key] -= 1  # moved rows do not spend a retry
        records.append(
            {
                "session": name,
                "tab": tab,
                "row": key,
                "url": f"https://shop.test/product/{key}",
                "attempt": tries[key] + (1 if outcome == "moved" else 0),
                "start": t0 + timedelta(seconds=now),
                "end": t0 + timedelta(seconds=end),
                "outcome": outcome,
                "render": "browser",
            }
        )
        end_of[name] = max(end_of[name], end)
        if outcome == "ok":
            status[key], reason[key], done_by[key] = "ok", None, name
        elif outcome == "moved" or tries[key] < 2:
            if outcome == "moved":
                queue.appendleft(key)
            else:
                queue.append(key)
        else:
            status[key], reason[key], done_by[key] = "failed", outcome, name
        heapq.heappush(free, (end, name, tab))
    finish = max(end_of.values()) + 0.3
    session_rows = []
    for name in names:
        ended = lost_at if name == lost_name else finish
        assert ended is not None
        session_rows.append(
            _session(name, t0, ready[name], ended, tabs, records, "lost" if name == lost_name else "ended")
        )
    if failed_session:
        session_rows.append(
            {
                **_session("local-9999", t0, None, 4.0, tabs, records, "failed"),
                "error": "Chromium did not start",
            }
        )
    spent = Counter(r["row"] for r in records if r["outcome"] != "moved")
    attempts_spent = [spent[k] for k in range(urls)]
    results = pd.DataFrame(
        {
            "url": [f"https://shop.test/product/{k}" for k in range(urls)],
            STATUS_COLUMNS[0]: [s or "skipped" for s in status],
            STATUS_COLUMNS[1]: reason,
            STATUS_COLUMNS[2]: [None] * urls,
            STATUS_COLUMNS[3]: pd.Series(attempts_spent, dtype="int64"),
            STATUS_COLUMNS[4]: [None] * urls,
            STATUS_COLUMNS[5]: done_by,
        }
    )
    return ScrapeResult(
        results=results,
        errors=pd.DataFrame(columns=["scope", "session", "stage", "reason", "message"]),
        sessions=sessions_frame(session_rows),
        plan=plan_sessions(urls, rows=urls, sessions=sessions, tabs=tabs),
        backend="local (synthetic)",
        run_id="demo",
        elapsed=finish,
        attempts=records,  # type: ignore[arg-type]  # raw records are normalised on the way in
    )


def _session(
    name: str,
    t0: datetime,
    ready_s: float | None,
    ended: float,
    tabs: int,
    records: list[dict[str, Any]],
    state: str,
) -> dict[str, Any]:
    own = [r for r in records if r["session"] == name]
    return {
        "session": name,
        "backend": "local",
        "batch": 0,
        "state": state,
        "tabs": tabs,
        "ready_s": ready_s,
        "pages_ok": sum(r["outcome"] == "ok" for r in own),
        "pages_failed": sum(r["outcome"] not in ("ok", "moved") for r in own),
        "errors": sum(r["outcome"] != "ok" for r in own),
        "started": t0,
        "ended": t0 + timedelta(seconds=ended),
        "session_minutes": ended / 60.0,
        "error": None,
    }
