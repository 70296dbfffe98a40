"""Is the orchestrator saturated? The policy that stops adding sessions and sheds some. No I/O.

One Python process and its Playwright driver (a Node process) each run on one
core at most: past that, more sessions only wait longer for the event loop, and on
a cloud backend they are paid for while they wait. The driver processes' CPU and
the event loop's lag are sampled during a run (``_saturation_watch.py``); this
module decides from the samples:

* **saturated** once the busiest driver process has used at least ``CPU_HIGH`` of a
  core (or ``CPU_WITH_LAG`` while the loop lags ``LAG_HIGH`` seconds or more) for
  ``WINDOW`` seconds in a row, or while the loop lags ``LAG_ALONE`` seconds whatever
  the cause (a loop a second late drives no more sessions). Moderate lag with our own
  CPU low is other load on the machine, not ours, and does not count.
* while saturated the run asks for no new session (nor a replacement) and retires
  one session every ``SHED_EVERY`` seconds, never below ``MIN_SESSIONS``; a retired
  session finishes the rows in its tabs, takes no new one, and is ended. Shedding
  stops when the last one cost throughput (rows per second fell by more than
  ``RATE_DROP``): the sessions left are the ones the saturated process can keep busy.
* **clear** after ``CLEAR_AFTER`` seconds below both thresholds: sessions come back
  one at a time, one every ``ADD_EVERY`` seconds while the run stays clear, up to the
  plan (all at once, they would start together and saturate the process again before
  anyone could tell how many it can drive). Each further episode of the run doubles
  the clearing wait (at most ``MAX_CLEAR_AFTER``): a process that saturates again as
  its sessions come back settles on fewer of them instead of cycling every ~20 s.

The thresholds are module constants, read when a :class:`Saturation` is made.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping

__all__ = ["Saturation"]

_ROWS = "\0rows"  # the rows resolved, kept with the CPU samples

CPU_HIGH = 0.9
CPU_WITH_LAG = 0.6
LAG_HIGH = 0.25
LAG_ALONE = 1.0
WINDOW = 5.0
CLEAR_AFTER = 10.0
MAX_CLEAR_AFTER = 160.0
SHED_EVERY = 5.0
ADD_EVERY = 5.0
MIN_SESSIONS = 1
RATE_DROP = 0.1


class Saturation:
    """Samples in, decisions out (see the module docstring).

    Example:
        >>> s = Saturation(window=2, shed_every=1)
        >>> for t in range(5):  # the driver process busy all the time, the loop lagging
        ...     s.observe(float(t), {"python": 0.95 * t, "driver": 0.2 * t}, lag=0.3)
        >>> s.saturated, s.to_shed(4.0, live=3), s.to_shed(4.5, live=3)
        (True, 1, 0)
        >>> s.describe()
        'saturated: python at 95% of a core, event loop 0.29 s late; no sessions added, idle ones ended'
        >>> s = Saturation(window=1, clear_after=2, add_every=3)
        >>> for t in range(3):  # busy, then quiet until it clears
        ...     s.observe(float(t), {"python": 0.95 * t}, lag=0.0)
        >>> for t in range(3, 6):
        ...     s.observe(float(t), {"python": 1.9 + 0.05 * t}, lag=0.0)
        >>> s.saturated, [s.to_add(float(t)) for t in range(5, 12)]  # cleared at 5: one now, then every 3 s
        (False, [1, 0, 0, 1, 0, 0, 1])
    """

    def __init__(
        self,
        *,
        cpu_high: float | None = None,
        cpu_with_lag: float | None = None,
        lag_high: float | None = None,
        window: float | None = None,
        clear_after: float | None = None,
        shed_every: float | None = None,
        min_sessions: int | None = None,
        add_every: float | None = None,
    ) -> None:
        self.cpu_high = CPU_HIGH if cpu_high is None else cpu_high
        self.cpu_with_lag = CPU_WITH_LAG if cpu_with_lag is None else cpu_with_lag
        self.lag_high = LAG_HIGH if lag_high is None else lag_high
        self.lag_alone = LAG_ALONE
        self.window = WINDOW if window is None else window
        self.clear_after = CLEAR_AFTER if clear_after is None else clear_after
        self.max_clear_after = max(self.clear_after, MAX_CLEAR_AFTER)
        self.shed_every = SHED_EVERY if shed_every is None else shed_every
        self.min_sessions = MIN_SESSIONS if min_sessions is None else min_sessions
        self.add_every = ADD_EVERY if add_every is None else add_every
        self.rate_drop = RATE_DROP
        #: Rows per second over the last sample span (when ``observe`` is given rows).
        self.rate: float | None = None
        self._rate_at_shed: float | None = None
        self._enough = False  # the last shed cost throughput: no more this episode
        self.saturated = False
        #: Times the run became saturated, and sessions retired because of it.
        self.episodes = 0
        self.shed = 0
        self.busiest: tuple[str, float] = ("python", 0.0)
        self.lag = 0.0
        self._samples: collections.deque[tuple[float, dict[str, float]]] = collections.deque()
        self._hot_since: float | None = None
        self._cool_since: float | None = None
        self._last_shed: float | None = None
        self._cleared = False  # an episode ended: sessions come back one by one
        self._last_add: float | None = None

    def observe(
        self, at: float, cpu_seconds: Mapping[str, float], lag: float, rows: int | None = None
    ) -> None:
        """One sample: ``at`` (monotonic seconds), CPU seconds so far per driver process, the loop lag,
        and the rows resolved so far (for the throughput a shed must not cost)."""
        sample = dict(cpu_seconds)
        if rows is not None:
            sample[_ROWS] = float(rows)
        self._samples.append((at, sample))
        # Keep one sample at least one second old to measure the CPU share over.
        while len(self._samples) > 2 and at - self._samples[1][0] >= 1.0:
            self._samples.popleft()
        then, before = self._samples[0]
        span = at - then
        shares = {
            name: max(0.0, (seconds - before.get(name, seconds)) / span) if span > 0 else 0.0
            for name, seconds in sample.items()
        }
        if rows is not None and span > 0:
            self.rate = shares.pop(_ROWS)
        shares.pop(_ROWS, None)
        self.busiest = max(shares.items(), key=lambda kv: kv[1], default=("python", 0.0))
        self.lag = 0.5 * self.lag + 0.5 * max(0.0, lag)  # smoothed: one late tick is not a trend
        share = self.busiest[1]
        hot = (
            share >= self.cpu_high
            or (share >= self.cpu_with_lag and self.lag >= self.lag_high)
            or self.lag >= self.lag_alone
        )
        if hot:
            self._cool_since = None
            self._hot_since = at if self._hot_since is None else self._hot_since
            if not self.saturated and at - self._hot_since >= self.window:
                self.saturated = True
                self.episodes += 1
                self._last_shed = self._rate_at_shed = None
                self._enough = False
        else:
            self._hot_since = None
            self._cool_since = at if self._cool_since is None else self._cool_since
            if self.saturated and at - self._cool_since >= self.clear_wait:
                self.saturated = False
                self._cleared, self._last_add = True, None

    @property
    def clear_wait(self) -> float:
        """Quiet seconds that end the current episode: ``clear_after``, doubled for each episode before it."""
        return min(self.max_clear_after, self.clear_after * 2 ** max(0, self.episodes - 1))

    def to_shed(self, at: float, live: int) -> int:
        """How many sessions to retire now (0 or 1): one every ``shed_every`` seconds while saturated."""
        if not self.saturated or live <= self.min_sessions:
            return 0
        if self._enough or (self._last_shed is not None and at - self._last_shed < self.shed_every):
            return 0
        before, now = self._rate_at_shed, self.rate
        if before is not None and now is not None and now < before * (1 - self.rate_drop):
            self._enough = True  # that session was pulling its weight: keep the rest
            return 0
        self._last_shed = at
        self._rate_at_shed = self.rate
        self.shed += 1
        return 1

    def restored(self) -> None:
        """Every session is back: no more to add until the next episode has cleared."""
        self._cleared = False

    def to_add(self, at: float) -> int:
        """How many sessions may come back now (0 or 1): after an episode, one every ``add_every`` s,
        until :meth:`restored`."""
        if self.saturated or not self._cleared:
            return 0
        if self._last_add is not None and at - self._last_add < self.add_every:
            return 0
        self._last_add = at
        return 1

    def describe(self) -> str | None:
        """What the panel shows while saturated (None otherwise)."""
        if not self.saturated:
            return None
        name, share = self.busiest
        return (
            f"saturated: {name} at {share:.0%} of a core, event loop {self.lag:.2f} s late; "
            "no sessions added, idle ones ended"
        )
