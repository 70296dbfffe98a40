"""The attempts frame and the sessions' busy and idle time, from made-up records (no browser)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from anchorframe._core.frames import sessions_frame
from anchorframe._core.plan import plan_sessions
from anchorframe._display.timeline_data import (
    ATTEMPT_COLUMNS,
    USAGE_COLUMNS,
    attempts_frame,
    run_usage,
    session_usage,
)
from anchorframe._run.result import ScrapeResult
from anchorframe.demo.timeline import synthetic_run

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
DTYPES = {
    "session": "object",
    "tab": "Int64",
    "row": "object",
    "url": "object",
    "attempt": "Int64",
    "start": "datetime64[ns, UTC]",
    "end": "datetime64[ns, UTC]",
    "duration_s": "float64",
    "outcome": "category",
    "render": "category",
}


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _attempt(session, tab, row, start, end, outcome="ok", attempt=1, render="browser"):
    return {
        "session": session,
        "tab": tab,
        "row": row,
        "url": f"https://a.test/{row}",
        "attempt": attempt,
        "start": _at(start),
        "end": _at(end),
        "outcome": outcome,
        "render": render,
    }


def _session(name, *, ready_s, ended, tabs=2, pages_ok=0, state="ended"):
    return {
        "session": name,
        "backend": "local",
        "batch": 0,
        "state": state,
        "tabs": tabs,
        "ready_s": ready_s,
        "pages_ok": pages_ok,
        "pages_failed": 0,
        "errors": 0,
        "started": T0,
        "ended": _at(ended),
        "session_minutes": ended / 60 if ready_s is not None else 0.0,
        "error": None,
    }


def test_empty_attempts_have_the_columns_and_dtypes():
    """No records still give every column, with the same dtypes as a full frame."""
    frame = attempts_frame([])
    assert tuple(frame.columns) == ATTEMPT_COLUMNS
    assert {c: str(t) for c, t in frame.dtypes.items()} == DTYPES
    assert attempts_frame(None).dtypes.equals(frame.dtypes)


def test_records_become_one_row_each_ordered_by_start():
    """Every record is one row, ordered by start, with its duration computed."""
    records = [
        _attempt("s1", 1, "b", 2.0, 3.5, outcome="timeout"),
        _attempt("s1", 0, "a", 1.0, 1.25, render=None),
        _attempt("s2", 0, "c", 1.5, 2.0, outcome="moved"),
    ]
    frame = attempts_frame(records)
    assert {c: str(t) for c, t in frame.dtypes.items()} == DTYPES
    assert list(frame["row"]) == ["a", "c", "b"]
    assert list(frame["duration_s"]) == [0.25, 0.5, 1.5]
    assert list(frame["outcome"].astype(str)) == ["ok", "moved", "timeout"]
    assert pd.isna(frame.loc[0, "render"])


def test_concatenated_frames_are_normalised():
    """Two runs' attempts concatenated keep the dtypes (categories that differ do not become object)."""
    first = attempts_frame([_attempt("s1", 0, 0, 0, 1)])
    second = attempts_frame([_attempt("s2", 0, 1, 5, 6, outcome="navigation")])
    merged = attempts_frame(pd.concat([first, second], ignore_index=True))
    assert {c: str(t) for c, t in merged.dtypes.items()} == DTYPES
    assert list(merged["outcome"].astype(str)) == ["ok", "navigation"]


def test_busy_is_the_union_of_tab_intervals_and_idle_the_rest_of_life():
    """Overlapping tabs count once in busy_s; busy + idle = life after ready; shares follow."""
    sessions = sessions_frame([_session("s1", ready_s=2.0, ended=12.0)])
    attempts = attempts_frame(
        [
            _attempt("s1", 0, 0, 2.0, 5.0),
            _attempt("s1", 1, 1, 4.0, 6.0),  # overlaps the first: busy 2..6
            _attempt("s1", 0, 2, 8.0, 9.0),  # busy 8..9
        ]
    )
    usage = session_usage(sessions, attempts).iloc[0]
    assert usage["busy_s"] == pytest.approx(5.0)
    assert usage["idle_s"] == pytest.approx(5.0)
    assert usage["busy_s"] + usage["idle_s"] == pytest.approx(12.0 - 2.0)
    assert usage["idle_share"] == pytest.approx(5.0 / 12.0)
    assert usage["tabs_busy_share"] == pytest.approx((3 + 2 + 1) / (2 * 10.0))


def test_attempts_outside_a_sessions_life_are_clipped():
    """An attempt that overruns the session's end counts only up to the end: idle is never negative."""
    sessions = sessions_frame([_session("s1", ready_s=1.0, ended=4.0, tabs=1)])
    usage = session_usage(sessions, attempts_frame([_attempt("s1", 0, 0, 0.5, 9.0, outcome="moved")]))
    assert usage.loc[0, "busy_s"] == pytest.approx(3.0)
    assert usage.loc[0, "idle_s"] == pytest.approx(0.0)


def test_a_session_that_never_became_ready_has_no_life():
    """No ready time: zero busy, zero idle (its minutes are provisioning, not idling)."""
    sessions = sessions_frame([_session("s1", ready_s=None, ended=4.0, state="failed")])
    usage = session_usage(sessions, attempts_frame([])).iloc[0]
    assert (usage["busy_s"], usage["idle_s"]) == (0.0, 0.0)
    assert np.isnan(usage["idle_share"])


def test_worked_sessions_without_attempts_are_unknown_not_idle():
    """A session that did pages but has no recorded attempts (a checkpoint) is unknown, not 100% idle."""
    sessions = sessions_frame([_session("s1", ready_s=1.0, ended=10.0, pages_ok=5)])
    usage = session_usage(sessions, attempts_frame([]))
    assert usage[list(USAGE_COLUMNS)].isna().all(axis=None)
    assert run_usage(usage) is None
    known = sessions.assign(busy_s=7.0, idle_s=2.0, idle_share=0.2, tabs_busy_share=0.5)
    kept = session_usage(known, attempts_frame([]))
    assert kept.loc[0, "busy_s"] == 7.0  # values computed earlier are kept


def test_a_hand_made_sessions_frame_gets_unknown_usage():
    """A sessions frame without the engine's columns gets the usage columns, all unknown."""
    usage = session_usage(pd.DataFrame({"session": ["s1"]}), attempts_frame([_attempt("s1", 0, 0, 0, 1)]))
    assert list(usage.columns) == ["session", *USAGE_COLUMNS] and usage[list(USAGE_COLUMNS)].isna().all(
        axis=None
    )


def test_run_usage_adds_up_to_the_paid_time():
    """Idle, busy and starting shares of the run's session-minutes add up to 1."""
    result = synthetic_run(40, sessions=3, tabs=2)
    usage = run_usage(result.sessions)
    assert usage is not None
    assert usage["idle_share"] + usage["busy_share"] + usage["starting_share"] == pytest.approx(1.0)
    assert result.idle_share == usage["idle_share"]


def test_result_carries_attempts_and_usage_and_states_the_idle_share():
    """ScrapeResult takes raw records, exposes .attempts and busy/idle in .sessions, and says idle share."""
    result = synthetic_run(30, sessions=2, tabs=2, lose_session=False, failed_session=False)
    assert {c: str(t) for c, t in result.attempts.dtypes.items()} == DTYPES
    assert int(result.results["af_attempts"].sum()) == len(result.attempts)
    assert set(USAGE_COLUMNS) <= set(result.sessions.columns)
    life = (result.sessions["ended"] - result.sessions["started"]).dt.total_seconds() - result.sessions[
        "ready_s"
    ]
    assert np.allclose(result.sessions["busy_s"] + result.sessions["idle_s"], life)
    share = f"{result.idle_share:.0%}"
    assert f"{share} idle" in result.summary()
    assert f"idle {share}" in repr(result)
    assert f"{share} idle" in result._repr_html_()


def test_old_callers_get_an_empty_attempts_frame():
    """A result built without attempts (old callers, load_checkpoint) has the empty frame."""
    result = ScrapeResult(
        results=pd.DataFrame({"af_status": ["ok"], "af_attempts": [1]}),
        errors=pd.DataFrame(columns=["scope", "session", "stage", "reason", "message"]),
        sessions=sessions_frame([_session("s1", ready_s=1.0, ended=3.0, pages_ok=1)]),
        plan=plan_sessions(1),
        backend="local",
        run_id="r",
        elapsed=3.0,
    )
    assert len(result.attempts) == 0 and tuple(result.attempts.columns) == ATTEMPT_COLUMNS
    assert result.idle_share is None
    assert "idle time not recorded" in result.summary()


@pytest.mark.parametrize(
    "name",
    [
        "anchorframe._display.timeline_data",
        "anchorframe._display.timeline_layout",
        "anchorframe.demo.timeline",
    ],
)
def test_docstring_examples(name):
    """The runnable examples of the timeline's no-I/O modules give the output they show."""
    import doctest
    import importlib

    outcome = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0 and outcome.failed == 0
