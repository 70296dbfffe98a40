"""Long runs stay small: renew browser contexts, and use fewer tabs when memory runs low.

Two rules, each a number with its reason:

* :data:`CONTEXT_RENEW_ROWS` (500): a session's browser context (its tabs
  share one) is replaced by a new one after this many rows in it; each tab
  moves at its next row and the old context closes when the last has left.
  Playwright frees the objects of a page (requests, responses, handles) only
  when its *context* closes, so a context
  that lives for a whole run grows with every row (scrapy-playwright #240:
  4 GB to 18 GB over 700 pages). Renewing one costs ~60 ms (measured with
  ``benchmarks/context_growth.py``: 58 ms on a busy 2-core machine), i.e. about
  0.01 % of 500 rows at ~1 s each, and it bounds what one context can hold to
  500 rows' worth. (Over 200 light loopback rows neither mode grew: Chromium
  stayed at ~780 MB, the driver rose ~0.15 MB a row in both; heavy real pages
  are where a context holds more, and the 20,000-row soak is the judge.)
  Cookies and cache go with it, which a scraper that treats rows
  independently does not miss; a run that logs in uses ``setup=``, which the
  engine calls again for the new context. One context per session, not one
  per tab: Chromium gives a context its own renderer processes, and 4 tabs in
  4 contexts ran at 4.4 rows/s against 10.6 in one (raw Playwright, 800 light
  loopback rows; anchorframe's pace fell the same way at its first renewal when
  each tab renewed alone). A cloud session with a saved profile keeps its own
  context (its logins are there): it is never renewed.
* :class:`MemoryWatch`: on the local backend, when the machine's available
  memory (``psutil.virtual_memory().available``: what can be had without
  swapping) falls below the *reserve* — the larger of 10 % of RAM and
  :data:`MIN_RESERVE_BYTES` (512 MiB) — the engine runs fewer tabs: one tab
  less per :data:`TAB_BYTES` (~150 MiB, a Chromium renderer on an ordinary
  page) missing, never fewer than one. When available memory is back above the
  reserve plus one tab's worth, one tab comes back per check. The Linux OOM
  killer ends the largest process (a browser, losing every row in flight)
  when memory runs out; closing a tab loses none.

The decision (:func:`tabs_for_memory`) does no I/O; :class:`MemoryWatch` reads
``psutil`` at most once per ``interval`` seconds.

Example:
    >>> GiB = 2**30
    >>> tabs_for_memory(running=8, wanted=8, available=int(0.2 * GiB), total=16 * GiB)
    1
    >>> tabs_for_memory(running=4, wanted=8, available=8 * GiB, total=16 * GiB)
    5
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .._core.options import CONTEXT_RENEW_ROWS  # the default of renew_context_after=

__all__ = [
    "CONTEXT_RENEW_ROWS",
    "MIN_RESERVE_BYTES",
    "TAB_BYTES",
    "MemoryWatch",
    "reserve_bytes",
    "tabs_for_memory",
]

#: The least memory kept available for the system and the rest of the browser.
MIN_RESERVE_BYTES = 512 * 2**20
#: The fraction of RAM kept available, when larger than MIN_RESERVE_BYTES.
RESERVE_FRACTION = 0.10
#: What one more tab costs, roughly: a Chromium renderer process on an ordinary page.
TAB_BYTES = 150 * 2**20


def reserve_bytes(total: int) -> int:
    """Memory to keep available on a machine with ``total`` bytes of RAM.

    Example:
        >>> reserve_bytes(16 * 2**30) // 2**20, reserve_bytes(2 * 2**30) // 2**20
        (1638, 512)
    """
    return max(MIN_RESERVE_BYTES, int(total * RESERVE_FRACTION))


def tabs_for_memory(
    *, running: int, wanted: int, available: int, total: int, tab_bytes: int = TAB_BYTES
) -> int:
    """How many tabs to run next, given how many run, how many the plan wants, and memory.

    Below the reserve: shed one tab per ``tab_bytes`` missing (at least one
    tab stays). Above the reserve plus one tab: one more tab, up to
    ``wanted``. In between: as many as now (so the count does not flap).
    """
    running = max(1, min(running, wanted))
    reserve = reserve_bytes(total)
    if available < reserve:
        missing = reserve - available
        return max(1, running - math.ceil(missing / tab_bytes))
    if available >= reserve + tab_bytes and running < wanted:
        return running + 1
    return running


class MemoryWatch:
    """Samples available memory (at most once per ``interval``) and says how many tabs to run.

    Args:
        wanted: the tabs the plan asked for (the most ever allowed).
        interval: seconds between two reads of ``psutil.virtual_memory()``.
        sample: returns an object with ``available`` and ``total`` (``psutil.virtual_memory``).
        tab_bytes: what one tab is taken to cost.

    Example:
        >>> from types import SimpleNamespace
        >>> low = lambda: SimpleNamespace(available=100 * 2**20, total=4 * 2**30)
        >>> watch = MemoryWatch(wanted=4, sample=low)
        >>> watch.tabs(now=0.0), watch.low
        (1, True)
    """

    def __init__(
        self,
        *,
        wanted: int,
        interval: float = 2.0,
        sample: Callable[[], Any] | None = None,
        tab_bytes: int = TAB_BYTES,
    ) -> None:
        if sample is None:
            import psutil

            sample = psutil.virtual_memory
        self.wanted = max(1, wanted)
        self.interval = interval
        self.tab_bytes = tab_bytes
        self._sample = sample
        self._allowed = self.wanted
        self._checked = -math.inf
        #: True while available memory is below the reserve (for the progress display).
        self.low = False
        #: The last available-memory reading, in bytes.
        self.available: int | None = None

    def tabs(self, now: float) -> int:
        """How many tabs may run now (reads memory if ``interval`` passed since the last read)."""
        if now - self._checked >= self.interval:
            self._checked = now
            memory = self._sample()
            self.available = int(memory.available)
            self.low = self.available < reserve_bytes(int(memory.total))
            self._allowed = tabs_for_memory(
                running=self._allowed,
                wanted=self.wanted,
                available=self.available,
                total=int(memory.total),
                tab_bytes=self.tab_bytes,
            )
        return self._allowed
