"""The saturation policy (no I/O), and a run whose scraper saturates its own process."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

import anchorframe as af
from anchorframe._engine import saturation as _saturation
from anchorframe._engine import saturation_watch as _saturation_watch
from anchorframe._engine.saturation import Saturation
from anchorframe.backends.fake import FakeBackend, FakeDocument


def feed(
    policy: Saturation, start: float, seconds: int, *, share: float, lag: float, cpu: float = 0.0
) -> float:
    """A sample a second for ``seconds``, python at ``share`` of a core; returns the CPU seconds reached."""
    for t in range(seconds):
        cpu += share
        policy.observe(start + t + 1, {"python": cpu, "driver (pid 7)": 0.1 * (start + t)}, lag)
    return cpu


def test_busy_for_the_window_saturates_and_quiet_for_clear_after_clears():
    policy = Saturation(window=3, clear_after=4)
    cpu = feed(policy, 0, 3, share=0.95, lag=0.0)
    assert not policy.saturated  # hot for 2 s of samples only (the first has nothing to compare)
    cpu = feed(policy, 3, 2, share=0.95, lag=0.0, cpu=cpu)
    assert policy.saturated and policy.episodes == 1
    assert policy.describe() is not None and "python at 95% of a core" in policy.describe()
    cpu = feed(policy, 5, 3, share=0.1, lag=0.0, cpu=cpu)
    assert policy.saturated  # not yet quiet for clear_after
    feed(policy, 8, 3, share=0.1, lag=0.0, cpu=cpu)
    assert not policy.saturated and policy.describe() is None


def test_each_episode_waits_twice_as_long_to_clear_so_a_run_does_not_cycle():
    policy = Saturation(window=2, clear_after=4)
    start, cpu, waits = 0, 0.0, []
    for _ in range(4):
        cpu = feed(policy, start, 4, share=0.95, lag=0.0, cpu=cpu)
        assert policy.saturated
        start += 4
        quiet = 0
        while policy.saturated:
            cpu = feed(policy, start, 1, share=0.1, lag=0.0, cpu=cpu)
            start, quiet = start + 1, quiet + 1
        waits.append(quiet)
    # Quiet samples until clear: the first only starts the quiet span, then clear_wait seconds.
    assert waits == [5, 9, 17, 33] and policy.episodes == 4


def test_a_lagging_loop_counts_only_with_our_own_cpu_high():
    other_load = Saturation(window=2)
    feed(other_load, 0, 10, share=0.2, lag=0.6)  # the machine is busy, not us
    assert not other_load.saturated
    ours = Saturation(window=2)
    feed(ours, 0, 10, share=0.7, lag=0.5)
    assert ours.saturated and "0.50 s late" in ours.describe()
    stalled = Saturation(window=2)
    feed(stalled, 0, 10, share=0.2, lag=1.5)  # a loop 1.5 s late drives no more sessions, whoever is to blame
    assert stalled.saturated


def test_the_driver_process_saturates_too():
    policy = Saturation(window=2)
    for t in range(6):
        policy.observe(float(t), {"python": 0.2 * t, "driver (pid 9)": 0.97 * t}, 0.0)
    assert policy.saturated and policy.busiest[0] == "driver (pid 9)"


def test_sessions_are_shed_one_at_a_time_and_never_below_the_minimum():
    policy = Saturation(window=1, shed_every=2, min_sessions=2)
    assert policy.to_shed(0.0, live=5) == 0  # not saturated
    feed(policy, 0, 4, share=1.0, lag=0.0)
    assert [policy.to_shed(t, live=5) for t in (4.0, 5.0, 6.0, 6.5, 8.0)] == [1, 0, 1, 0, 1]
    assert policy.to_shed(20.0, live=2) == 0 and policy.shed == 3


async def burn(page, row):
    """A scraper that spends its process's CPU: ~40 ms of pure Python per row."""
    await page.goto(row.url)
    end = time.perf_counter() + 0.04
    while time.perf_counter() < end:
        pass
    return {"h1": await page.inner_text("h1")}


def test_a_saturated_run_adds_no_session_and_retires_some(monkeypatch):
    # Thresholds a busy-looping scraper reaches within seconds, even with the machine's cores shared.
    for name, value in (("CPU_HIGH", 0.3), ("CPU_WITH_LAG", 0.2), ("WINDOW", 1.0), ("SHED_EVERY", 0.5)):
        monkeypatch.setattr(_saturation, name, value)
    monkeypatch.setattr(_saturation_watch, "SAMPLE_SECONDS", 0.25)
    seen: list[str] = []

    class Watch:
        def __call__(self, event, state):  # a progress display, as the panel gets the state
            if state.saturation:
                seen.append(state.saturation)

    from anchorframe._run import lifecycle

    monkeypatch.setattr(lifecycle, "choose_display", lambda progress: Watch())
    backend = FakeBackend(lambda url: FakeDocument(texts={"h1": url}))
    urls = [f"https://shop.test/{n}" for n in range(300)]
    result = af.scrape(urls, burn, backend=backend, sessions=4, tabs=2, progress=True, retries=0)
    assert result.counts["ok"] == len(urls)
    retired = result.sessions[result.sessions["error"].fillna("").str.contains("saturated")]
    assert len(retired) >= 1 and set(retired["state"]) == {"ended"}
    assert len(result.sessions) == 4  # none added (or replaced) while saturated
    assert seen and seen[0].startswith("saturated: python at")


@pytest.mark.parametrize("state", [None, "saturated: python at 97% of a core, event loop 0.40 s late"])
def test_the_panel_line_says_so(state):
    from anchorframe._core.events import RunState
    from anchorframe._display.panel import provisioning_text

    run = RunState(backend="fake", rows_total=1, urls_total=1, sessions_planned=1, tabs=1, saturation=state)
    assert ("saturated" in provisioning_text(run)) == (state is not None)


def test_shedding_stops_once_a_shed_cost_throughput():
    policy = Saturation(window=1, shed_every=2)
    cpu, rows = 0.0, 0
    for t in range(3):
        cpu, rows = cpu + 1.0, rows + 50
        policy.observe(float(t), {"python": cpu}, 0.0, rows=rows)
    assert policy.saturated and policy.to_shed(2.0, live=6) == 1  # 50 rows/s before the shed
    for t in range(3, 5):
        cpu, rows = cpu + 1.0, rows + 50  # no loss: the session was not needed
        policy.observe(float(t), {"python": cpu}, 0.0, rows=rows)
    assert policy.rate == 50 and policy.to_shed(4.0, live=5) == 1
    for t in range(5, 7):
        cpu, rows = cpu + 1.0, rows + 30  # 30 rows/s: that one was needed
        policy.observe(float(t), {"python": cpu}, 0.0, rows=rows)
    assert policy.to_shed(6.0, live=4) == 0 and policy.to_shed(20.0, live=4) == 0 and policy.shed == 2


def test_after_an_episode_the_watch_restores_one_at_a_time_until_all_are_back(monkeypatch):
    """The watch's wiring, on a fake clock: one restore_one() per ADD_EVERY after the clear, none once
    the supervisor says all are back, and again after the next episode."""
    import types

    clock = [0.0]
    monkeypatch.setattr(_saturation_watch.time, "monotonic", lambda: clock[0])
    policy = Saturation(window=1, clear_after=2, add_every=3, shed_every=100)
    restored: list[float] = []

    class Supervisor:
        live = 4

        def retire_one(self, why):
            pass

        def restore_one(self):
            restored.append(clock[0])
            return len(restored) % 3 != 0  # all back at the third of each episode

    supervisor, state = Supervisor(), types.SimpleNamespace(rows_ok=0, rows_failed=0, saturation=None)
    cpu = 0.0

    def run(seconds, share):
        nonlocal cpu
        for _ in range(seconds):
            clock[0] += 1
            cpu += share
            _saturation_watch._decide(supervisor, policy, state, {"python": cpu}, 0.0)

    run(4, 1.0)
    assert policy.saturated and restored == []
    run(30, 0.0)
    assert len(restored) == 3 and [b - a for a, b in itertools.pairwise(restored)] == [3.0, 3.0]
    run(4, 1.0)
    run(30, 0.0)  # the second episode waits twice as long to clear, then the same again
    assert len(restored) == 6 and [b - a for a, b in itertools.pairwise(restored[3:])] == [3.0, 3.0]


def test_after_an_episode_sessions_come_back_one_at_a_time(monkeypatch):
    """Saturated, then quiet: the sessions retired come back one every ADD_EVERY seconds, not at once."""
    for name, value in (("CPU_HIGH", 0.3), ("CPU_WITH_LAG", 0.2), ("WINDOW", 0.5), ("SHED_EVERY", 0.3),
                        ("CLEAR_AFTER", 0.5), ("ADD_EVERY", 0.8)):  # fmt: skip
        monkeypatch.setattr(_saturation, name, value)
    monkeypatch.setattr(_saturation_watch, "SAMPLE_SECONDS", 0.1)
    phase = {"burn_until": None}

    async def burn_then_wait(page, row):
        await page.goto(row.url)
        now = time.monotonic()
        if phase["burn_until"] is None:
            phase["burn_until"] = now + 5.0
        if now < phase["burn_until"]:
            end = time.perf_counter() + 0.04
            while time.perf_counter() < end:
                pass
        else:
            await asyncio.sleep(0.15)
        return {"h1": await page.inner_text("h1")}

    backend = FakeBackend(lambda url: FakeDocument(texts={"h1": url}))
    urls = [f"https://shop.test/{n}" for n in range(400)]
    result = af.scrape(urls, burn_then_wait, backend=backend, sessions=4, tabs=2,
                       progress=False, retries=0)  # fmt: skip
    assert result.counts["ok"] == len(urls)
    sessions = result.sessions.sort_values("started")
    retired = sessions["error"].fillna("").str.contains("saturated")
    assert retired.sum() >= 2, sessions[["session", "state", "error"]]
    came_back = sessions["started"][sessions["started"] > sessions["ended"][retired].min()]
    assert len(came_back) >= 1, sessions[["session", "started", "ended", "error"]]
    gaps = came_back.diff().dropna().dt.total_seconds()
    assert (gaps >= 0.6).all(), gaps.tolist()  # one at a time, ADD_EVERY apart (all at once: 0 s)


def test_a_run_measures_its_own_cpu_per_page_and_the_next_plan_uses_it(monkeypatch):
    """~10 ms of Python per row: the run says >= that per page, and a cloud plan after it is sized on it."""
    from anchorframe._core.plan import plan_sessions
    from anchorframe._run import result as _result

    monkeypatch.setattr(_result, "_MEASURED", [])

    async def ten_ms(page, row):
        await page.goto(row.url)
        deadline = time.process_time() + 0.01
        while time.process_time() < deadline:
            pass
        return {"h1": await page.inner_text("h1")}

    backend = FakeBackend(lambda url: FakeDocument(texts={"h1": url}))
    urls = [f"https://shop.test/{n}" for n in range(60)]
    result = af.scrape(urls, ten_ms, backend=backend, sessions=1, tabs=2, progress=False, retries=0)
    assert result.counts["ok"] == len(urls)
    measured = result.orchestrator_ms_per_page
    assert measured is not None and measured >= 9.0  # the scraper's own 10 ms, and the engine's work
    assert _result.measured_orchestrator_ms() == measured

    class Cloud(FakeBackend):  # what af.plan sees of a cloud backend: its kind
        kind = "cloud"

    many = [f"https://shop.test/{n}" for n in range(100_000)]
    plan = af.plan(many, backend=Cloud())
    assert f"{measured:.1f} ms of CPU per page, as the last run here measured it" in plan.explain()
    sized = plan_sessions(100_000, kind="cloud", workers=plan.workers, orchestrator_ms=measured)
    assert (
        plan.sessions == sized.sessions != plan_sessions(100_000, kind="cloud", workers=plan.workers).sessions
    )
