"""Run a scrape in a thread and SIGKILL one of its processes (a shard, a Dask worker) mid-run.

The tests of ``workers=``, ``out=`` and ``cluster=`` all do this: start ``af.scrape``,
wait until the process to kill has done enough work (and enough is left for the
others), kill it hard, and check what comes back. :func:`scrape_and_kill` holds the
thread, the polling and the join; each test says only whom to kill and when
(``choose``), with :func:`loaded_enough` for the common rule.

Example:
    >>> result, victim = scrape_and_kill(  # doctest: +SKIP
    ...     lambda: af.scrape(urls, heading, backend=FakeBackend(recorder), workers=2),
    ...     loaded_enough(recorder, total=len(urls), groups=lambda: {pid: [pid] for pid in shard_pids()}),
    ... )
"""

from __future__ import annotations

import collections
import os
import signal
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

__all__ = ["fetched_twice", "loaded_enough", "scrape_and_kill"]


def scrape_and_kill(
    scrape: Callable[[], Any],
    choose: Callable[[], Any],
    *,
    within: float = 90.0,
    join: float = 120.0,
    watch: Callable[[], None] | None = None,
) -> tuple[Any, Any]:
    """Run ``scrape()`` in a thread; SIGKILL the first victim ``choose()`` names; return (result, victim).

    ``choose`` is polled every 20 ms and returns None (not yet) or the victim: a PID or an
    object with a ``pid`` (a ``subprocess.Popen``). ``watch``, when given, is called on every
    poll until the run ends (e.g. to note the Chromium processes seen). The run's exception,
    if any, is raised here; a run that ended before anything was killed fails the test.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = scrape()
        except BaseException as exc:  # raised again in the test's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="scrape-and-kill")
    thread.start()
    victim = None
    deadline = time.monotonic() + within
    while thread.is_alive() and time.monotonic() < deadline:
        if watch is not None:
            watch()
        if victim is None:
            victim = choose()
            if victim is not None:
                os.kill(getattr(victim, "pid", victim), signal.SIGKILL)
                if watch is None:
                    break
        time.sleep(0.02)
    thread.join(join)
    assert not thread.is_alive(), f"the run did not end within {join:g} s of the kill"
    if "error" in outcome:
        raise outcome["error"]
    assert victim is not None, "the run ended before a process could be killed"
    return outcome["result"], victim


class loaded_enough:
    """A ``choose`` for :func:`scrape_and_kill`: the first group whose processes have loaded
    ``after`` pages while ``leave`` of the ``total`` are not loaded yet (so the rest of the
    run still has work to redo elsewhere).

    ``recorder.loads()`` gives ``(pid, url)`` per page load; ``groups()`` maps each candidate
    victim (a PID, or a Dask worker's Popen) to the PIDs whose loads count for it (its
    shards). Once chosen, ``pids`` holds the victim's group (its processes are gone after).
    """

    def __init__(
        self,
        recorder: Any,
        *,
        total: int,
        groups: Callable[[], Mapping[Hashable, Iterable[int]]],
        after: int = 15,
        leave: int = 30,
    ) -> None:
        self.recorder, self.total, self.groups, self.after, self.leave = recorder, total, groups, after, leave
        self.pids: list[int] = []

    def __call__(self) -> Any:
        by_pid = collections.Counter(pid for pid, _ in self.recorder.loads())
        if sum(by_pid.values()) >= self.total - self.leave:
            return None
        for victim, pids in self.groups().items():
            pids = list(pids)
            if pids and sum(by_pid[pid] for pid in pids) >= self.after:
                self.pids = pids
                return victim
        return None


def fetched_twice(recorder: Any) -> dict[str, int]:
    """The URLs ``recorder.loads()`` saw loaded more than once, each with the PID that loaded it first."""
    first: dict[str, int] = {}
    for pid, url in recorder.loads():
        first.setdefault(url, pid)
    counts = collections.Counter(url for _, url in recorder.loads())
    return {url: first[url] for url, count in counts.items() if count > 1}
