"""Sampling the orchestrator during a run, for the saturation policy (``_saturation.py``).

Once a second: the CPU seconds of this Python process and of each child that is not
a browser (the Playwright driver; a local Chromium's cost is the browser's, not the
orchestrator's), and how late the event loop woke up. The policy's verdict goes to
the run's state (the panel shows it) and to the supervisor, which stops adding
sessions and retires some while saturated.

The same samples measure what a page costs this machine's orchestrator: the CPU spent
since the watch started over the rows resolved since, in the run's state
(``RunState.orchestrator_ms_per_page``, from :data:`MIN_ROWS` rows on; the last sample is
taken when the watch stops). ``af.plan`` sizes the next cloud run on it
(``anchorframe/_core/plan.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from .saturation import Saturation

__all__ = ["SAMPLE_SECONDS", "watch"]

log = logging.getLogger("anchorframe")

SAMPLE_SECONDS = 1.0
#: Rows resolved before the run's CPU per page is reported (fewer: start-up dominates).
MIN_ROWS = 10


#: Seconds between two listings of this process's children (listing reads all of /proc).
LIST_EVERY = 10.0


class _Processes:
    """This process and its driver children, listed again every :data:`LIST_EVERY` seconds.

    ``psutil.Process.children()`` reads every process of the machine (~1.6 ms with 70 of them);
    the CPU times of the processes already known cost a read of one file each.
    """

    def __init__(self, me: Any) -> None:
        self.me = me
        self.drivers: list[Any] = []
        self.listed_at: float | None = None

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) of this process ("python") and of each driver child."""
        import psutil

        now = time.monotonic()
        if self.listed_at is None or now - self.listed_at >= LIST_EVERY:
            self.drivers = [child for child in self.me.children() if _is_driver(child)]
            self.listed_at = now
        seconds = {"python": float(sum(self.me.cpu_times()[:2]))}
        for child in self.drivers:
            try:
                seconds[f"driver (pid {child.pid})"] = float(sum(child.cpu_times()[:2]))
            except psutil.Error:  # gone: listed again at the next sample
                self.listed_at = None
        return seconds


def _is_driver(child: Any) -> bool:
    """A child that is not a browser (its CPU is the browser's) nor Python (a local server, a shard)."""
    try:
        name = (child.name() or "").lower()
    except Exception:
        return False
    return not ("chrom" in name or "headless" in name or name.startswith("python"))


async def watch(supervisor: Any, policy: Saturation) -> None:
    """Sample until cancelled (the supervisor runs this alongside its sessions)."""
    try:
        import psutil

        processes = _Processes(psutil.Process())
    except Exception:  # no way to measure: no saturation policy
        return
    loop = asyncio.get_running_loop()
    state = supervisor.state
    cost = _Cost(state)
    with contextlib.suppress(Exception):
        cost.sample(processes.cpu_seconds())
    try:
        deciding = True
        while True:
            start = loop.time()
            await asyncio.sleep(SAMPLE_SECONDS)
            lag = loop.time() - start - SAMPLE_SECONDS
            try:
                cpu = await asyncio.to_thread(processes.cpu_seconds)
            except Exception:
                continue
            cost.sample(cpu)
            if not deciding:
                continue
            try:
                _decide(supervisor, policy, state, cpu, lag)
            except Exception:  # the run goes on without the policy's help; the measure goes on
                log.debug("The saturation watch failed.", exc_info=True)
                deciding = False
    finally:
        with contextlib.suppress(Exception):  # the rows since the last sample count too
            cost.sample(processes.cpu_seconds())


def _decide(supervisor: Any, policy: Saturation, state: Any, cpu: dict[str, float], lag: float) -> None:
    """Feed one sample to the policy and act on its verdict."""
    now = time.monotonic()
    was = policy.saturated
    policy.observe(now, cpu, lag, rows=state.rows_ok + state.rows_failed)
    state.saturation = policy.describe()
    if policy.saturated and not was:
        log.info("The orchestrator is saturated (%s).", state.saturation)
    if policy.to_shed(now, supervisor.live):
        supervisor.retire_one(state.saturation or "saturated")
    if was and not policy.saturated:
        log.info("The orchestrator is no longer saturated: sessions come back one at a time.")
    if policy.to_add(now) and not supervisor.restore_one():
        policy.restored()


class _Cost:
    """The run's orchestrator CPU per resolved row, from the first sample on.

    Each process counts from the first sample it appears in (a driver started later brings
    no CPU spent before the run's rows).

    Example:
        >>> class State:
        ...     rows_ok, rows_failed, orchestrator_ms_per_page = 0, 0, None
        >>> state = State()
        >>> cost = _Cost(state)
        >>> cost.sample({"python": 1.0})
        >>> state.rows_ok = 20
        >>> cost.sample({"python": 1.2, "driver (pid 7)": 5.0})  # the driver: first seen here
        >>> state.rows_ok = 40
        >>> cost.sample({"python": 1.4, "driver (pid 7)": 5.2})
        >>> round(state.orchestrator_ms_per_page, 1)  # (0.4 + 0.2) s over 40 rows
        15.0
    """

    def __init__(self, state: Any) -> None:
        self.state = state
        self.base: dict[str, float] = {}
        self.rows: int | None = None

    def sample(self, cpu: dict[str, float]) -> None:
        rows = self.state.rows_ok + self.state.rows_failed
        for name, seconds in cpu.items():
            self.base.setdefault(name, seconds)
        if self.rows is None:
            self.rows = rows
            return
        done = rows - self.rows
        if done >= MIN_ROWS:
            spent = sum(seconds - self.base[name] for name, seconds in cpu.items())
            self.state.orchestrator_ms_per_page = spent * 1000 / done
