"""Sampling the orchestrator during a run, for the saturation policy (``_saturation.py``).

Once a second: the CPU seconds of this Python process and of each child that is not
a browser (the Playwright driver; a local Chromium's cost is the browser's, not the
orchestrator's), and how late the event loop woke up. The policy's verdict goes to
the run's state (the panel shows it) and to the supervisor, which stops adding
sessions and retires some while saturated.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .saturation import Saturation

__all__ = ["SAMPLE_SECONDS", "watch"]

log = logging.getLogger("anchorframe")

SAMPLE_SECONDS = 1.0


def _cpu_seconds(me: Any) -> dict[str, float]:
    """CPU seconds (user + system) of this process ("python") and of each driver child ("driver")."""
    import psutil

    seconds = {"python": float(sum(me.cpu_times()[:2]))}
    for child in me.children():
        try:
            name = (child.name() or "").lower()
            if "chrom" in name or "headless" in name:
                continue
            seconds[f"driver (pid {child.pid})"] = float(sum(child.cpu_times()[:2]))
        except psutil.Error:
            continue
    return seconds


async def watch(supervisor: Any, policy: Saturation) -> None:
    """Sample until cancelled (the supervisor runs this alongside its sessions)."""
    try:
        import psutil

        me = psutil.Process()
    except Exception:  # no way to measure: no saturation policy
        return
    loop = asyncio.get_running_loop()
    state = supervisor.state
    while True:
        start = loop.time()
        await asyncio.sleep(SAMPLE_SECONDS)
        lag = loop.time() - start - SAMPLE_SECONDS
        try:
            cpu = await asyncio.to_thread(_cpu_seconds, me)
        except Exception:
            continue
        try:
            _decide(supervisor, policy, state, cpu, lag)
        except Exception:  # the run goes on without the policy's help
            log.debug("The saturation watch failed.", exc_info=True)
            return


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
