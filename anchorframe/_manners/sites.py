"""Per-site limits: which row may start now, on any session, without hammering one site. No I/O.

A *site* is a URL's registered domain (:func:`site_key`): ``shop.example.co.uk``
and ``www.example.co.uk`` are one site, because they are usually one operator's
servers and one rate limiter. A :class:`SiteGate` holds, for every site:

* a concurrency cap: at most ``per_site`` rows in flight (default 8, Scrapy's
  ``CONCURRENT_REQUESTS_PER_DOMAIN``), lowered by backoff (below);
* an optional minimum delay between two starts (the run's option, or the
  site's robots.txt ``Crawl-delay``, whichever is longer);
* pauses: a 429/503 with ``Retry-After`` pauses the whole site for the
  announced time (capped at ``max_pause``), not only the row that saw it;
* the rows waiting for it, in a FIFO queue of their own.

Backoff rule (an AIMD rule, as TCP congestion control uses): a throttling
answer (429 or 503) halves the site's cap (at least 1), and sets a *ceiling*
one below the concurrency it came at (the site said that many is too many);
without ``Retry-After`` the site is also paused for ``backoff_base * 2**(n - 1)``
seconds after its n-th throttle in a row (capped at ``backoff_cap``). Every
``cap`` successes in a row raise the cap by one, up to the ceiling; every
:data:`PROBE_AFTER` successes in a row raise the ceiling by one, back up to
``per_site`` (a site's limit may be lifted, but we probe for it rarely). Like
Scrapy's AutoThrottle (https://docs.scrapy.org/en/latest/topics/autothrottle.html:
"non-200 responses are not allowed to decrease the delay"), an error never
speeds a site up; unlike it, the rule acts on concurrency rather than on a
download delay, because an anchorframe row's cost is a tab held open.

Choosing the next row (:meth:`SiteGate.take`) costs O(1) per row plus
O(log sites) when a site waits on a clock: startable sites take turns in a
round robin, sites waiting for a time sit in a heap, sites at their cap wait
for one of their rows to finish. So a tab with nothing to do for a throttled
site takes another site's row at once, and 100,000 rows cost about a second
in all (``tests/test_sites.py`` measures it).

Times are the caller's monotonic clock (``loop.time()``); the gate never reads one.

Example:
    >>> gate = SiteGate(per_site=1)
    >>> for url in ["https://a.com/1", "https://a.com/2", "https://b.org/1"]:
    ...     gate.push(url, site_key(url))
    >>> gate.take(now=0.0), gate.take(now=0.0), gate.take(now=0.0)
    (('a.com', 'https://a.com/1'), ('b.org', 'https://b.org/1'), None)
    >>> gate.finished("a.com", 1.0, "ok")
    >>> gate.take(now=1.0)
    ('a.com', 'https://a.com/2')
"""

from __future__ import annotations

import functools
import heapq
import ipaddress
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from .._core.options import DEFAULT_PER_SITE

__all__ = [
    "DEFAULT_PER_SITE",
    "LANE",
    "OUTCOMES",
    "Pause",
    "SiteGate",
    "SiteStats",
    "parse_retry_after",
    "site_key",
]

T = TypeVar("T")

#: The lane of a row when none is named. Rows of different lanes (the engine's browser tabs and
#: its HTTP fetchers) wait apart but share each site's cap, delay and pauses.
LANE = "rows"
#: Successes in a row after which a throttled site's ceiling is raised by one.
PROBE_AFTER = 50
#: How a row's attempt ended, as the gate needs to know it.
#: ``throttled``: the site answered 429 or 503 (slow down); ``blocked``: a bot challenge;
#: ``failed``: any other failure (it neither slows nor speeds the site); ``moved``: not attempted
#: (the session was lost, or the run stopped); ``skipped``: not attempted (robots.txt disallows it).
OUTCOMES = frozenset({"ok", "throttled", "blocked", "failed", "moved", "skipped"})


# ------------------------------------------------------------------ site keys
@functools.lru_cache(maxsize=1)
def _extractor():  # type: ignore[no-untyped-def]
    import tldextract

    # suffix_list_urls=(): the snapshot bundled with tldextract, never a network fetch;
    # cache_dir=None: nothing written to the user's disk.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@functools.lru_cache(maxsize=65_536)
def _site_of_host(host: str, port: int | None) -> str:
    # A user's table is mostly a handful of hosts: the cache makes the PSL lookup (~15 µs) rare.
    literal = host.strip("[]")
    try:
        ipaddress.ip_address(literal)
        is_ip = True
    except ValueError:
        is_ip = False
    if is_ip or "." not in host:  # an IP, localhost or an intranet name: the host is the site
        shown = f"[{literal}]" if ":" in literal else literal
        return f"{shown}:{port}" if port is not None else shown
    parts = _extractor()(host)
    registered = f"{parts.domain}.{parts.suffix}" if parts.domain and parts.suffix else host
    return registered


def site_key(url: str) -> str:
    """The site a URL belongs to: its registered domain; for an IP or ``localhost``, host and port.

    Example:
        >>> site_key("https://shop.example.co.uk/p/1"), site_key("http://127.0.0.1:8000/a")
        ('example.co.uk', '127.0.0.1:8000')
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    return _site_of_host(host, port)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3), or None if absent/invalid.

    The value is either delay-seconds (digits) or an HTTP-date; ``now`` is the
    wall clock (``time.time()``) that a date is measured from. A date in the
    past means no wait (0.0).

    Example:
        >>> parse_retry_after("120", now=0.0)
        120.0
        >>> parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now=10.0)
        20.0
        >>> parse_retry_after("soon", now=0.0) is None
        True
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110: an HTTP-date is always GMT
        return None
    return max(0.0, when.timestamp() - now)


# ---------------------------------------------------------------------- gate
@dataclass(frozen=True)
class Pause:
    """A site stopped for a while (for ``result.errors`` with scope ``site`` and the progress display)."""

    site: str
    until: float
    seconds: float
    reason: str


@dataclass(eq=False)
class SiteStats:
    """What happened at one site in a run (for the summary)."""

    ok: int = 0
    throttled: int = 0
    blocked: int = 0
    failed: int = 0
    skipped: int = 0
    pauses: int = 0
    paused_seconds: float = 0.0
    max_active: int = 0


@dataclass(eq=False)
class _Lane(Generic[T]):
    waiting: deque[T] = field(default_factory=deque)
    # Where the site is scheduled in this lane: "" (nowhere), "ready" (round robin) or "timed" (heap).
    slot: str = ""


@dataclass(eq=False)
class _Site(Generic[T]):
    name: str
    limit: int
    active: int = 0
    min_delay: float = 0.0
    last_start: float = -math.inf
    paused_until: float = -math.inf
    pause_reason: str = ""
    throttles_in_a_row: int = 0
    successes: int = 0
    ceiling: int = 0  # set to per_site when made; lowered by throttles
    ok_in_a_row: int = 0
    lanes: dict[str, _Lane[T]] = field(default_factory=dict)
    stats: SiteStats = field(default_factory=SiteStats)


class SiteGate(Generic[T]):
    """Per-site concurrency, delays, pauses and queues; see the module docstring.

    Args:
        per_site: rows in flight per site at most (≥ 1).
        min_delay: seconds between two starts at one site (0: none).
        max_pause: longest pause a ``Retry-After`` may impose (a longer one is capped).
        backoff_base: first pause after a throttle without ``Retry-After``.
        backoff_cap: longest such pause.

    Example:
        >>> gate = SiteGate(per_site=2)
        >>> gate.push("https://a.com/1", "a.com"); gate.push("https://a.com/2", "a.com")
        >>> gate.take(now=0.0)
        ('a.com', 'https://a.com/1')
        >>> pause = gate.finished("a.com", 0.0, "throttled", retry_after=5.0)
        >>> pause.seconds, gate.take(now=4.0), gate.next_ready(4.0)
        (5.0, None, 5.0)
        >>> gate.take(now=5.0)
        ('a.com', 'https://a.com/2')
    """

    def __init__(
        self,
        per_site: int = DEFAULT_PER_SITE,
        *,
        min_delay: float = 0.0,
        max_pause: float = 600.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
    ) -> None:
        if per_site < 1:
            raise ValueError(f"per_site must be at least 1, got {per_site}.")
        self.per_site = per_site
        self.min_delay = max(0.0, min_delay)
        self.max_pause = max_pause
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sites: dict[str, _Site[T]] = {}
        # Per lane: sites that may start (round robin), sites waiting on a clock (a heap of
        # (when it may start, site); stale entries skipped), and how many rows wait.
        self._ready: dict[str, deque[str]] = {}
        self._timed: dict[str, list[tuple[float, str]]] = {}
        self._waiting: dict[str, int] = {}

    @property
    def waiting(self) -> int:
        """Rows waiting, in every lane."""
        return sum(self._waiting.values())

    def waiting_in(self, lane: str = LANE) -> int:
        """Rows waiting in ``lane``."""
        return self._waiting.get(lane, 0)

    def _lane(self, lane: str) -> tuple[deque[str], list[tuple[float, str]]]:
        ready = self._ready.get(lane)
        if ready is None:
            ready = self._ready[lane] = deque()
            self._timed[lane] = []
            self._waiting[lane] = 0
        return ready, self._timed[lane]

    # -------------------------------------------------------------- per site
    def _site(self, name: str) -> _Site[T]:
        site = self._sites.get(name)
        if site is None:
            site = self._sites[name] = _Site(
                name, self.per_site, min_delay=self.min_delay, ceiling=self.per_site
            )
        return site

    def _opens_at(self, site: _Site[T]) -> float:
        """The earliest time the site may start a row, ignoring its cap."""
        return max(site.paused_until, site.last_start + site.min_delay)

    def can_start(self, site: str, now: float) -> bool:
        """Whether a row of ``site`` may start at ``now`` (under its cap, not paused, delay passed)."""
        state = self._site(site)
        return state.active < state.limit and now >= self._opens_at(state)

    def started(self, site: str, now: float) -> None:
        """A row of ``site`` started at ``now`` (call right after :meth:`can_start`, no await between)."""
        state = self._site(site)
        state.active += 1
        state.last_start = now
        state.stats.max_active = max(state.stats.max_active, state.active)

    def finished(
        self, site: str, now: float, outcome: str, *, retry_after: float | None = None
    ) -> Pause | None:
        """A row of ``site`` ended with ``outcome`` (one of :data:`OUTCOMES`); returns the pause it caused.

        ``retry_after``: seconds from the answer's ``Retry-After`` (see
        :func:`parse_retry_after`); it pauses the site whatever the outcome.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"Unknown outcome {outcome!r}; use one of {sorted(OUTCOMES)}.")
        state = self._site(site)
        concurrency = state.active  # this row included
        state.active = max(0, state.active - 1)
        pause = None
        if outcome == "ok":
            state.stats.ok += 1
            state.throttles_in_a_row = 0
            state.successes += 1
            state.ok_in_a_row += 1
            if state.ceiling < self.per_site and state.ok_in_a_row >= PROBE_AFTER:
                state.ceiling += 1
                state.ok_in_a_row = 0
            if state.limit < state.ceiling and state.successes >= state.limit:
                state.limit += 1  # additive increase: one more after a cap's worth of successes
                state.successes = 0
        elif outcome == "throttled":
            state.stats.throttled += 1
            state.throttles_in_a_row += 1
            state.successes = state.ok_in_a_row = 0
            state.ceiling = max(1, min(state.ceiling, concurrency - 1))
            state.limit = max(1, min(state.ceiling, state.limit // 2))  # multiplicative decrease
            if retry_after is None:
                seconds = min(self.backoff_cap, self.backoff_base * 2 ** (state.throttles_in_a_row - 1))
                pause = self.pause(site, seconds, "throttled (429/503) without Retry-After", now=now)
        elif outcome == "blocked":
            state.stats.blocked += 1
        elif outcome == "failed":
            state.stats.failed += 1
        elif outcome == "skipped":
            state.stats.skipped += 1
        if retry_after is not None:
            pause = self.pause(site, retry_after, "Retry-After", now=now)
        self._reschedule(state, now)
        return pause

    def pause(self, site: str, seconds: float, reason: str, *, now: float) -> Pause | None:
        """Start no row of ``site`` for ``seconds`` (at most ``max_pause``); None if already paused longer."""
        state = self._site(site)
        seconds = min(max(0.0, seconds), self.max_pause)
        until = now + seconds
        if until <= state.paused_until:
            return None
        state.stats.pauses += 1
        state.stats.paused_seconds += until - max(now, state.paused_until)
        state.paused_until = until
        state.pause_reason = reason
        self._reschedule(state, now)
        return Pause(site, until, seconds, reason)

    def set_min_delay(self, site: str, seconds: float) -> None:
        """Space the starts at ``site`` by at least ``seconds`` (e.g. its robots.txt ``Crawl-delay``)."""
        state = self._site(site)
        state.min_delay = max(self.min_delay, seconds)

    def paused(self, now: float) -> dict[str, Pause]:
        """The sites paused at ``now``, with until when and why (for the progress display)."""
        return {
            name: Pause(name, s.paused_until, s.paused_until - now, s.pause_reason)
            for name, s in self._sites.items()
            if s.paused_until > now
        }

    def stats(self) -> dict[str, SiteStats]:
        """Counts per site (rows ok, throttled, blocked, failed; pauses)."""
        return {name: s.stats for name, s in self._sites.items()}

    def throttles_in_a_row(self, site: str) -> int:
        """Throttling answers from ``site`` since its last success (to give up on one that never relents)."""
        return self._site(site).throttles_in_a_row

    def limit(self, site: str) -> int:
        """The site's current concurrency cap (``per_site`` unless backoff lowered it)."""
        return self._site(site).limit

    # ---------------------------------------------------------------- queues
    def push(self, item: T, site: str, *, front: bool = False, lane: str = LANE) -> None:
        """Queue ``item`` (a row) for ``site``; ``front=True`` for a row that must go next (a moved one)."""
        state = self._site(site)
        ready, _ = self._lane(lane)
        queue = state.lanes.get(lane)
        if queue is None:
            queue = state.lanes[lane] = _Lane()
        if front:
            queue.waiting.appendleft(item)
        else:
            queue.waiting.append(item)
        self._waiting[lane] += 1
        if not queue.slot:
            ready.append(site)
            queue.slot = "ready"

    def take(self, now: float, lane: str = LANE) -> tuple[str, T] | None:
        """The next row of ``lane`` that may start at ``now``, already counted as started; None if none may.

        Sites take turns, so one site's long queue never starves the others.
        """
        ready, timed = self._lane(lane)
        while timed and timed[0][0] <= now:
            _, name = heapq.heappop(timed)
            queue = self._sites[name].lanes[lane]
            if queue.slot != "timed":
                continue  # stale: the site moved since
            opens = self._opens_at(self._sites[name])
            if opens <= now:
                queue.slot = "ready"
                ready.append(name)
            else:  # paused again meanwhile: wait for the new time
                heapq.heappush(timed, (opens, name))
        while ready:
            name = ready.popleft()
            state = self._sites[name]
            queue = state.lanes[lane]
            queue.slot = ""
            if not queue.waiting:
                continue
            if not self.can_start(name, now):
                self._reschedule(state, now)
                continue
            item = queue.waiting.popleft()
            self._waiting[lane] -= 1
            self.started(name, now)
            self._reschedule(state, now)
            return name, item
        return None

    def next_ready(self, now: float, lane: str = LANE) -> float | None:
        """When the earliest site of ``lane`` waiting on a clock may start again (None: none waits on one)."""
        _, timed = self._lane(lane)
        while timed:
            when, name = timed[0]
            state = self._sites[name]
            queue = state.lanes[lane]
            if queue.slot == "timed" and queue.waiting and self._opens_at(state) == when:
                return when
            heapq.heappop(timed)  # stale: the site was rescheduled since
            if queue.slot == "timed":
                queue.slot = ""
                self._reschedule(state, now)
        return None

    def drain(self) -> Iterator[T]:
        """Remove and yield every waiting row, of every lane (at the end of a run, or to fail them)."""
        for state in self._sites.values():
            for name, queue in state.lanes.items():
                while queue.waiting:
                    self._waiting[name] -= 1
                    yield queue.waiting.popleft()
                queue.slot = ""
        for ready in self._ready.values():
            ready.clear()
        for timed in self._timed.values():
            timed.clear()

    def _reschedule(self, state: _Site[T], now: float) -> None:
        """Put a site with waiting rows where :meth:`take` will find it when it may start, in each lane."""
        if state.active >= state.limit:
            return  # at its cap: finished() brings it back
        opens = self._opens_at(state)
        for lane, queue in state.lanes.items():
            if queue.slot or not queue.waiting:
                continue
            if opens <= now:
                queue.slot = "ready"
                self._ready[lane].append(state.name)
            else:
                queue.slot = "timed"
                heapq.heappush(self._timed[lane], (opens, state.name))
