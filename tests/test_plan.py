"""Right-sizing rules, without a browser."""

from __future__ import annotations

import math

import pytest

from anchorframe._core.plan import MAX_BATCH, plan_sessions
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
    plan = plan_sessions(
        100_000, kind="cloud", seconds_per_url=3, target_seconds=60, max_sessions=5000, workers=100
    )
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


def test_the_cloud_plan_never_has_more_sessions_than_its_driver_processes_keep_busy():
    """100,000 URLs on Anchor: the sessions the target needs, the processes they need, and the arithmetic."""
    from anchorframe._core.plan import PROCESS_PAGES_PER_SECOND, sessions_per_process

    each = sessions_per_process(3.0, 4)
    assert each == int(PROCESS_PAGES_PER_SECOND * 3.0 / 4)
    big = plan_sessions(100_000, kind="cloud", cores=64)  # a machine with cores to spare
    assert (big.sessions, big.workers) == (200, math.ceil(200 / each))
    assert f"workers={big.workers}" in big.explain() and f"keeps about {each} sessions busy" in big.explain()
    # The sessions are the pace: 100,000 / (200 x 4 tabs) rounds of 3 s, after a 20 s start.
    assert big.est_seconds == pytest.approx(20 + math.ceil(100_000 / 800) * 3)
    laptop = plan_sessions(100_000, kind="cloud", cores=2)
    assert (laptop.workers, laptop.sessions) == (2, 2 * each)
    assert "cluster=" in laptop.explain()
    # The slower of the sessions (rounds of 3 s) and the 2 processes sets the pace.
    by_sessions = 20 + math.ceil(100_000 / (laptop.sessions * 4)) * 3
    by_processes = 20 + 100_000 / (2 * PROCESS_PAGES_PER_SECOND)
    assert laptop.est_seconds == pytest.approx(max(by_sessions, by_processes))
    one = plan_sessions(100_000, kind="cloud", workers=1)
    assert one.sessions == each and "but workers=1" in one.explain()


def test_sessions_asked_for_are_kept_and_the_plan_says_they_will_wait():
    """sessions= wins, but the estimate follows the driver processes and the plan says so."""
    from anchorframe._core.plan import PROCESS_PAGES_PER_SECOND

    plan = plan_sessions(100_000, kind="cloud", sessions=200, workers=1)
    assert plan.sessions == 200 and "will wait on the 1 driver process" in plan.explain()
    assert plan.est_seconds == pytest.approx(20 + 100_000 / PROCESS_PAGES_PER_SECOND)


def test_local_workers_get_one_chromium_each():
    plan = plan_sessions(1000, kind="local", cores=2, workers=2)
    assert (plan.sessions, plan.workers) == (2, 2)
    assert plan_sessions(1000, kind="local", cores=2).workers == 1


def test_af_plan_takes_workers():
    import anchorframe as af

    urls = [f"https://example.com/{n}" for n in range(100_000)]
    plan = af.plan(urls, backend=af.LocalBackend(), workers=2)
    assert plan.workers == 2


def test_a_measured_orchestrator_cost_sizes_the_cloud_plan_and_is_named():
    """At 70 ms of CPU per page one process drives a third of what it does at 23: fewer sessions each."""
    from anchorframe._core.plan import process_pages_per_second, sessions_per_process

    default = plan_sessions(100_000, kind="cloud", cores=2)
    measured = plan_sessions(100_000, kind="cloud", cores=2, orchestrator_ms=70.0)
    each = sessions_per_process(3.0, 4, 70.0)
    assert each < sessions_per_process(3.0, 4) and process_pages_per_second(70.0) == pytest.approx(10.0)
    assert (measured.workers, measured.sessions) == (2, 2 * each) and measured.sessions < default.sessions
    assert "70.0 ms of CPU per page, as the last run here measured it" in measured.explain()
    assert "benchmarks/orchestrator.py" in default.explain()
