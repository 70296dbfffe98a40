"""Right-sizing rules, without a browser."""

from __future__ import annotations

import pytest

from anchorframe._plan import MAX_BATCH, plan_sessions
from anchorframe.errors import InputError


def test_local_plan_uses_one_browser_per_two_cores():
    """Local sessions follow the cores (one Chromium per two), four tabs each."""
    assert (
        plan_sessions(1000, kind="local", cores=2).sessions,
        plan_sessions(1000, kind="local", cores=2).tabs,
    ) == (1, 4)
    assert plan_sessions(1000, kind="local", cores=8).sessions == 4
    assert plan_sessions(1000, kind="local", cores=1).sessions == 1


def test_never_more_workers_than_work():
    """Three URLs get one session of three tabs, not four sessions."""
    plan = plan_sessions(3, kind="local", cores=8)
    assert (plan.sessions, plan.tabs) == (1, 3)


def test_empty_plan_starts_nothing():
    """No URLs: no session."""
    plan = plan_sessions(0, kind="local", invalid=2)
    assert (plan.sessions, plan.rows, plan.invalid) == (0, 2, 2)


def test_explicit_sizes_win():
    """sessions= and tabs= override the rule."""
    plan = plan_sessions(100, kind="local", cores=2, sessions=2, tabs=2)
    assert (plan.sessions, plan.tabs) == (2, 2)


def test_cloud_plan_splits_batches_of_at_most_1000():
    """More than 1000 cloud sessions are split into batches of at most 1000."""
    plan = plan_sessions(100_000, kind="cloud", seconds_per_url=3, target_seconds=60, max_sessions=5000)
    assert plan.sessions > MAX_BATCH
    assert sum(plan.batches) == plan.sessions and max(plan.batches) <= MAX_BATCH
    assert "batches" in plan.explain()


def test_cloud_plan_respects_session_minute_cap():
    """max_session_minutes caps sessions, and an impossible cap is an error naming the fix."""
    plan = plan_sessions(400, kind="cloud", max_session_minutes=30)
    assert plan.est_session_minutes <= 30
    with pytest.raises(InputError, match="Raise max_session_minutes"):
        plan_sessions(100_000, kind="cloud", max_session_minutes=1)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_sizes_are_refused(bad):
    """Zero, negative, fractional or boolean sizes are refused with the rule."""
    with pytest.raises(InputError, match="positive whole number"):
        plan_sessions(10, sessions=bad)
    with pytest.raises(InputError, match="positive whole number"):
        plan_sessions(10, tabs=bad)


def test_explain_gives_reasons():
    """The plan explains each number."""
    text = plan_sessions(40, kind="local", cores=2).explain()
    assert "1 session(s) x 4 tab(s)" in text and "two cores" in text
