"""The engine's work queue, per site: ``await queue.get()`` returns a row that may start now.

A thin asyncio layer over :class:`~anchorframe._manners.sites.SiteGate` (which decides
and does no I/O), meant to replace the engine's ``asyncio.Queue[Work]``. A tab
waiting in :meth:`SiteQueue.get` wakes when a row is queued, when a row ends
(its site may have room again) or when the earliest throttled site reopens
(:meth:`~anchorframe._manners.sites.SiteGate.next_ready`), whichever comes first; it
never polls. Waking is a chain: one waiter is woken, and if it gets a row it
wakes the next, so 200 idle tabs do not all stampede on every event.

Rows wait in *lanes* (the browser tabs' and the HTTP fetchers'): a lane's
waiters take only its rows, but every lane counts against one cap per site,
so a site never sees more than ``per_site`` rows at once whichever way they go.

Example:
    >>> async def main():
    ...     queue = SiteQueue(SiteGate(per_site=1))
    ...     queue.put("https://a.com/1", "a.com"); queue.put("https://a.com/2", "a.com")
    ...     site, url = await queue.get()
    ...     queue.finished(site, "throttled", retry_after=0.05)   # a.com pauses 50 ms
    ...     return url, (await queue.get())[1]
    >>> asyncio.run(main())
    ('https://a.com/1', 'https://a.com/2')
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from .sites import LANE, Pause, SiteGate

__all__ = ["SiteQueue"]

T = TypeVar("T")


class SiteQueue(Generic[T]):
    """Rows of many sites; :meth:`get` hands out the next one the gate lets start (see module docstring)."""

    def __init__(self, gate: SiteGate[T], *, clock: Callable[[], float] | None = None) -> None:
        self.gate = gate
        self._clock = clock
        self._waiters: dict[str, deque[asyncio.Future[None]]] = {}

    def now(self) -> float:
        """The clock the gate's times are on (the event loop's, unless one was given)."""
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def put(self, item: T, site: str, *, front: bool = False, lane: str = LANE) -> None:
        """Queue a row; ``front=True`` for a row moved from a lost session (it goes next)."""
        self.gate.push(item, site, front=front, lane=lane)
        self._wake_one(lane)

    async def get(self, lane: str = LANE) -> tuple[str, T]:
        """Wait for a row of ``lane`` that may start, and return ``(site, row)``; it counts as started."""
        loop = asyncio.get_running_loop()
        waiters = self._waiters.setdefault(lane, deque())
        while True:
            now = self.now()
            got = self.gate.take(now, lane)
            if got is not None:
                if self.gate.waiting_in(lane):
                    self._wake_one(lane)  # the chain: there may be more for another idle tab
                return got
            when = self.gate.next_ready(now, lane)
            waiter: asyncio.Future[None] = loop.create_future()
            waiters.append(waiter)
            try:
                if when is None:
                    await waiter
                else:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(asyncio.shield(waiter), max(0.0, when - now))
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one(lane)  # we were woken but leave: pass the wake on
                raise
            finally:
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(ValueError):
                    waiters.remove(waiter)

    def finished(self, site: str, outcome: str, *, retry_after: float | None = None) -> Pause | None:
        """A row of ``site`` ended (see :meth:`SiteGate.finished`); returns the pause it caused, if any."""
        pause = self.gate.finished(site, self.now(), outcome, retry_after=retry_after)
        self._wake_lanes()  # the room it left may go to either lane
        return pause

    def pause(self, site: str, seconds: float, reason: str) -> Pause | None:
        """Start no row of ``site`` for ``seconds`` (see :meth:`SiteGate.pause`)."""
        pause = self.gate.pause(site, seconds, reason, now=self.now())
        self._wake_lanes()  # a waiter's timer may now be too early; it will recompute
        return pause

    def wake_all(self) -> None:
        """Wake every waiting tab (e.g. to let them see the run is over)."""
        for waiters in self._waiters.values():
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)

    def _wake_lanes(self) -> None:
        for lane in self._waiters:
            self._wake_one(lane)

    def _wake_one(self, lane: str) -> None:
        waiters = self._waiters.get(lane)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
