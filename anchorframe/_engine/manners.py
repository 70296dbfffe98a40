"""Good manners at every site of a run: per-site limits, pauses, robots.txt, blocked pages.

The engine's rows wait here, per site, in two lanes (browser tabs and HTTP
fetchers, :mod:`anchorframe._manners.site_queue`) that share each site's cap, delay and
pauses, so a site never sees more than ``per_site`` rows at once whichever
way they are fetched. What a row's end means for its site is decided here:

* ``ok`` / ``failed``: the site's gate is told (a success may raise a
  lowered cap again);
* **throttled** (the site answered 429 or 503): not the row's failure. The
  attempt ends as ``throttled`` without spending a retry, the row goes back to
  the front of its site's queue, and the whole site pauses for its
  ``Retry-After`` (or an adaptive backoff, see :class:`~anchorframe._manners.sites.SiteGate`).
  Each pause is recorded once in ``result.errors`` (scope ``site``). A site
  that throttles :data:`GIVE_UP_AFTER` times in a row fails the row
  (``rate_limited``) rather than waiting for ever;
* **blocked** (a bot challenge or block page): the row fails with reason
  ``blocked`` (retryable), and its retry avoids the sessions that saw it
  blocked while another session is live;
* **disallowed by robots.txt**: resolved ``skipped`` / ``robots_txt`` before
  any request for it, never fetched.

Example:
    >>> manners = Manners(ledger, options, emit)  # doctest: +SKIP
    >>> manners.put(item, "browser"); site, item = await manners.get("browser")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .._core.events import SITE_PAUSED
from .._core.retry import Failure
from .._manners.site_queue import SiteQueue
from .._manners.sites import Pause, SiteGate, site_key
from .._render.blocked import Blocked, blocked_failure
from .ledger import Attempt, Emit, Ledger

if TYPE_CHECKING:
    from .._core.options import EngineOptions
    from .._core.table import Work
    from .._manners.robots import RobotsCache, RobotsVerdict

__all__ = ["GIVE_UP_AFTER", "Manners"]

log = logging.getLogger("anchorframe")

#: Throttling answers in a row from one site after which its rows fail (``rate_limited``).
GIVE_UP_AFTER = 10
ROBOTS_REASON = "robots_txt"


class Manners:
    """The run's per-site queue and the decisions about a site (see the module docstring)."""

    def __init__(self, ledger: Ledger, options: EngineOptions, emit: Emit, *, web: bool = True) -> None:
        self.ledger = ledger
        #: A sharded run's shards share each site: each keeps its delays that many times longer.
        self.shared_by = max(1, options.sites.sites_shared_by)
        self.gate: SiteGate[Work] = SiteGate(
            per_site=options.sites.per_site, min_delay=options.sites.min_delay * self.shared_by
        )
        self.queue: SiteQueue[Work] = SiteQueue(self.gate)
        self.robots: RobotsCache | None = None
        if options.sites.robots and web:
            from .._manners.robots import RobotsCache  # httpx: imported when a run asks a site, not before

            self.robots = RobotsCache()
        #: Row key -> sessions that saw its page blocked (its retry goes elsewhere where it can).
        self.avoid: dict[int, set[str]] = {}
        self._emit = emit

    async def aclose(self) -> None:
        if self.robots is not None:
            await self.robots.aclose()

    # ------------------------------------------------------------------- queue
    def put(self, item: Work, lane: str, *, front: bool = False) -> None:
        """Queue a row in ``lane`` ("browser" or "http") at its site."""
        self.queue.put(item, site_key(item.url), front=front, lane=lane)

    async def get(self, lane: str) -> tuple[str, Work]:
        """The next row of ``lane`` its site lets start now (it counts as started there)."""
        return await self.queue.get(lane)

    def finished(self, site: str, outcome: str) -> None:
        """A row of ``site`` ended with ``outcome`` (see :data:`~anchorframe._manners.sites.OUTCOMES`)."""
        self.queue.finished(site, outcome)

    def drain(self) -> None:
        """Forget every waiting row (the run is over; they come back unresolved, ``skipped``)."""
        for _ in self.gate.drain():
            pass
        self.queue.wake_all()

    # ------------------------------------------------------------------ robots
    async def admit(self, site: str, item: Work) -> bool:
        """Whether the row may be fetched; a row robots.txt disallows is resolved ``skipped`` here."""
        if self.robots is None or not item.url.startswith(("http://", "https://")):
            return True
        verdict: RobotsVerdict = await self.robots.check(item.url)
        if verdict.crawl_delay:
            self.gate.set_min_delay(site, verdict.crawl_delay * self.shared_by)
        if verdict.allowed:
            return True
        self.queue.finished(site, "skipped")
        self.ledger.skip(item, ROBOTS_REASON, verdict.message)
        return False

    # --------------------------------------------------------------- throttles
    def throttled(self, site: str, attempt: Attempt, status: int, retry_after: float | None) -> float | None:
        """The site answered ``status`` (429/503): pause it, and queue the row again unspent.

        Returns a retry delay only when the site never relents and the row was failed
        (``rate_limited``, not retryable: None then too).
        """
        item = attempt.work
        lane = "http" if attempt.render == "http" else "browser"
        if self.gate.throttles_in_a_row(site) + 1 >= GIVE_UP_AFTER:
            self.queue.finished(site, "throttled", retry_after=retry_after)
            message = (
                f"{site} answered HTTP {status} {GIVE_UP_AFTER} times in a row; its rows are given up "
                "(lower per_site=, raise min_delay=, or try again later)."
            )
            return self.ledger.failed(attempt, Failure("rate_limited", False, f"HTTP {status}", message))
        requeue = self.ledger.moved(attempt, "throttled")
        pause = self.queue.finished(site, "throttled", retry_after=retry_after)
        if pause is not None:
            self._record_pause(pause, status, retry_after)
        if requeue:
            self.put(item, lane, front=True)
        return None

    def _record_pause(self, pause: Pause, status: int, retry_after: float | None) -> None:
        announced = (
            f"with Retry-After: {retry_after:g} s" if retry_after is not None else "without Retry-After"
        )
        message = (
            f"{pause.site} answered HTTP {status} {announced}; its rows wait {pause.seconds:g} s "
            "(they keep their retries)."
        )
        log.info(message)
        self.ledger.state.paused_sites[pause.site] = pause.until
        self.ledger.site_error(pause.site, "rate_limited", f"HTTP {status}", message)
        self._emit(SITE_PAUSED, None, pause)

    def paused(self, now: float) -> dict[str, Pause]:
        """Sites paused at ``now`` (loop time)."""
        return self.gate.paused(now)

    # ----------------------------------------------------------------- blocked
    def blocked(self, site: str, attempt: Attempt, blocked: Blocked) -> float | None:
        """The row's page was a block or challenge page: fail it (retryable), elsewhere next time."""
        self.queue.finished(site, "blocked")
        self.avoid.setdefault(attempt.work.key, set()).add(attempt.session)
        return self.ledger.failed(attempt, blocked_failure(blocked))

    def avoids(self, item: Work, session: str, others: Any) -> bool:
        """Whether ``session`` should leave ``item`` to another one: it saw the row blocked and
        ``others`` (names of live sessions) holds one that did not."""
        seen = self.avoid.get(item.key)
        if not seen or session not in seen:
            return False
        return any(name not in seen for name in others)

    # ------------------------------------------------------------------ counts
    def stats(self) -> dict[str, Any]:
        """Per-site counts for the summary: ok, throttled, blocked, failed, skipped, pauses, max_active."""
        return {site: vars(stats).copy() for site, stats in self.gate.stats().items()}
