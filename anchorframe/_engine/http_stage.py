"""The HTTP stage of ``render="http"`` / ``"auto"``: rows fetched without a browser first.

For the built-in extractors (``extract=`` and the page summary), a row is first
fetched with one shared ``httpx.AsyncClient`` and extracted from the HTML
(``_http.fetch_extract``). What comes back decides the row's way on:

* done over HTTP: the row is ``ok`` with ``af_render == "http"``;
* failed (a 404, a 5xx, a timeout): the ledger decides, exactly as for a browser
  attempt (retries go back to this stage);
* needs a browser (a script-rendered shell, a challenge, a 401/403): under ``"auto"``
  the row moves to the browser queue without spending an attempt; under ``"http"`` it
  fails with reason ``needs_browser``.

A field absent from a complete page is missing under ``"http"``. Under ``"auto"`` the
:class:`~anchorframe._render.policy.RenderPolicy` judges it by what the page's *section*
has shown (:meth:`~anchorframe._render.policy.RenderPolicy.absent_route`): an optional
field (the section's HTML has it elsewhere) is missing; a field JavaScript writes there
sends the row to the browser; with nothing known yet the row waits (three times a fetch's
usual time, at most :data:`WAIT_FOR_SECTION` s; its attempt open, its HTML kept) for the pages
fetched beside it,
then is *checked in a browser*: it moves to a tab (attempt outcome ``browser_check``), its
values there are the row's, and they teach the section (:meth:`HttpStage.browser_done`).

While rows wait for a browser that is still starting, one fetcher goes on and
the others wait (``browser_starting``): in a mixed run the browser rows are the
long pole, and the browser's start (the driver, Chromium, the CDP connection:
a few dozen round trips on this event loop) would otherwise queue behind the
HTTP path's callbacks until that path ran dry. On the mixed corpus of
``benchmarks/render.py`` the first browser row began ~0.5 s sooner and the run
took ~9 % less (median of 7: 8.5 s against 9.3 s).

A :class:`~anchorframe._render.policy.RenderPolicy` learns per host and path
pattern: once a pattern's rows keep needing the browser, its rows go straight
there, with an occasional HTTP probe to notice a change.

Rows wait in the run's per-site queue (:class:`~anchorframe._engine.manners.Manners`,
the "http" lane), so the HTTP path keeps to the same per-site limits, pauses
and robots.txt as the browser tabs: a 429 or 503 pauses the site for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._core.options import Identity
from .._core.retry import Failure
from .._core.table import InputTable, Work
from .._manners.sites import parse_retry_after
from .._render.page_signals import THROTTLE_STATUSES
from .._render.policy import RenderPolicy, section_key
from .ledger import Ledger
from .manners import Manners

__all__ = ["HTTP_CONCURRENCY", "HttpStage"]

#: Rows fetched over HTTP at once. Parsing, not the network, is the cost on 2 cores: more
#: fetches in flight than this only queue up in the parser (benchmarks/render_corpus.py).
HTTP_CONCURRENCY = 16
#: Seconds a fetcher waits before it asks again whether the browser is still starting.
YIELD_WAIT = 0.02
#: At most this many seconds a row whose absent field nothing is known of waits for its site's
#: other pages before it is checked in a browser: three times a fetch's usual time (the pages in
#: flight beside it are back by then), at least WAIT_MIN.
WAIT_FOR_SECTION = 1.0
WAIT_MIN = 0.1
#: Seconds after which a waiting row is checked in a browser even while its site's checks are
#: out (a check that failed in the browser teaches nothing).
CHECK_ANYWAY_AFTER = 30.0


@dataclass(eq=False)
class _Waiting:
    """A row done over HTTP but for fields its section has not shown yet: kept until judged."""

    attempt: Any
    outcome: Any
    timer: asyncio.TimerHandle | None = None
    waited: bool = False  # its wait ran out once: a check, when nothing was learnt meanwhile


class HttpStage:
    """Fetches rows over HTTP; see the module docstring.

    Example:
        >>> stage = HttpStage(table, ledger, selectors={"h1": "h1"}, mode="auto", timeout=30,
        ...                   to_browser=queue_for_browser, retry_later=retry)  # doctest: +SKIP
    """

    def __init__(
        self,
        table: InputTable,
        ledger: Ledger,
        *,
        selectors: Mapping[str, str] | None,
        mode: str,
        timeout: float,
        to_browser: Callable[[Work], None],
        retry_later: Callable[[Work, float], None],
        manners: Manners,
        identity: Identity | None = None,
        concurrency: int = HTTP_CONCURRENCY,
        policy: RenderPolicy | None = None,
        browser_starting: Callable[[], bool] | None = None,
    ) -> None:
        self.table = table
        self.ledger = ledger
        self.selectors = selectors
        self.mode = mode
        self.timeout = timeout
        self.concurrency = concurrency
        self.policy = policy or RenderPolicy()
        self._to_browser = to_browser
        self._retry_later = retry_later
        self.manners = manners
        self.identity = identity or Identity()
        #: True while rows wait for a browser still starting: one fetcher goes on, the rest wait.
        self.browser_starting = browser_starting
        self._tasks: list[asyncio.Task[None]] = []
        self._client: Any = None
        #: Rows done over HTTP, and rows the HTTP path handed to the browser.
        self.done_over_http = 0
        self.sent_to_browser = 0
        #: Work key -> the fields its HTML lacked and the scripts it runs, for rows checked in a browser.
        self._checks: dict[int, tuple[tuple[str, ...], frozenset[str]]] = {}
        #: Section -> rows waiting for it to show (or a browser to judge) their absent fields.
        self._waiting: dict[tuple[str, str], list[_Waiting]] = {}
        #: (host, scripts) -> rows in a browser as checks now: one at a time for pages that run the
        #: same scripts (what one teaches, the next would), so pages of other scripts go first.
        self._checking: dict[tuple[str, frozenset[str]], int] = {}
        #: A fetch's usual seconds (a moving average): how long a row waits for the pages beside it.
        self._fetch_seconds = WAIT_FOR_SECTION / 3

    def route(self, item: Work) -> None:
        """A row's first stop: this stage, or (a browser-first pattern under "auto") the browser."""
        if self.mode == "auto" and self.policy.choose(item.url) == "browser":
            self._to_browser(item)
            return
        self.put(item)

    def put(self, item: Work, *, front: bool = False) -> None:
        item.render = "http"
        self.manners.put(item, "http", front=front)

    async def start(self) -> None:
        from .._render.http import DEFAULT_USER_AGENT, make_client

        self._client = make_client(
            max_connections=self.concurrency,
            user_agent=self.identity.user_agent or DEFAULT_USER_AGENT,
            headers=self.identity.headers,
        )
        self._tasks = [asyncio.ensure_future(self._fetcher(index)) for index in range(self.concurrency)]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for rows in self._waiting.values():  # a stopped run: these come back unresolved
            for row in rows:
                if row.timer is not None:
                    row.timer.cancel()
                self.ledger.cancelled(row.attempt)
        self._waiting.clear()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()

    async def _fetcher(self, index: int) -> None:
        from .._render.http import fetch_extract

        ledger, manners = self.ledger, self.manners
        starting = (lambda: False) if index == 0 or self.browser_starting is None else self.browser_starting
        while True:
            if starting():
                await asyncio.sleep(YIELD_WAIT)
                continue
            site, item = await manners.get("http")
            if starting():  # it began while this fetcher waited for a place at the site
                manners.finished(site, "moved")
                self.put(item, front=True)
                continue
            if self.mode == "auto" and item.attempts == 0 and self.policy.choose(item.url) == "browser":
                # Every row is routed when the run starts, before anything is learnt: ask again
                # now, so that once a pattern proved browser-first its queued rows skip HTTP.
                manners.finished(site, "moved")
                self._to_browser(item)
                continue
            try:
                admitted = await manners.admit(site, item)
            except asyncio.CancelledError:
                manners.finished(site, "moved")
                raise
            if not admitted:
                continue  # robots.txt disallows it: resolved skipped, never fetched
            attempt = ledger.start(item, "http", index, render="http")
            if attempt is None:
                manners.finished(site, "moved")
                continue
            try:
                outcome = await fetch_extract(
                    self._client,
                    item.url,
                    self.selectors,
                    timeout=self.timeout,
                    # A complete page's absent field is missing; under "auto" _done() judges it.
                    absent="missing",
                )
            except asyncio.CancelledError:
                ledger.cancelled(attempt)
                manners.finished(site, "moved")
                raise
            except Exception as exc:  # a bug of the HTTP path must not lose the row: the browser takes it
                outcome = None
                reason = f"the HTTP path failed ({type(exc).__name__}: {exc})"
            if outcome is not None and outcome.status is not None and not outcome.needs_browser:
                item.http_status = outcome.status  # af_http_status, as a browser's row says it
            if outcome is not None and outcome.status in THROTTLE_STATUSES and outcome.challenge is None:
                retry_after = parse_retry_after(outcome.headers.get("retry-after"), time.time())
                delay = manners.throttled(site, attempt, outcome.status, retry_after)
                if delay is not None:
                    self._retry_later(item, delay)
            elif outcome is not None and outcome.done:
                manners.finished(site, "ok")
                self._fetch_seconds += 0.2 * (outcome.elapsed - self._fetch_seconds)
                self._done(attempt, outcome)
            elif outcome is not None and outcome.failed:
                assert outcome.failure is not None
                manners.finished(site, "failed")
                delay = ledger.failed(attempt, outcome.failure)
                if delay is not None:
                    self._retry_later(item, delay)
            else:
                manners.finished(site, "moved")
                if outcome is not None:
                    self.policy.record(item.url, outcome)
                    reason = outcome.reason or "the page needs a browser"
                self._needs_browser(attempt, reason)

    # ------------------------------------------------------------ absent fields
    def _done(self, attempt: Any, outcome: Any, *, waited: bool = False) -> None:
        """A complete page: done, unless a field it lacks may be one only a browser finds."""
        url = attempt.work.url
        if self.mode == "auto":
            section = section_key(url)
            if self.policy.seen(url, outcome.values, outcome.absent, outcome.scripts):
                self._judge_waiting(section[0])
            if outcome.absent:
                verdict = self.policy.absent_route(
                    url, outcome.absent, waited=waited, scripts=outcome.scripts
                )
                if verdict == "check" and self._checking.get((section[0], outcome.scripts), 0):
                    # A page running the same scripts is being checked: wait for what it teaches.
                    held = time.monotonic() - attempt.started  # the ledger's clock
                    verdict = "check" if held >= CHECK_ANYWAY_AFTER else "wait"
                if verdict == "wait":
                    self._wait(attempt, outcome, waited)
                    return
                if verdict == "check":
                    self._check(attempt, outcome, section)
                    return
                if verdict == "browser":
                    self.policy.record(url, "browser")
                    names = ", ".join(outcome.absent)
                    self._needs_browser(attempt, f"a browser found {names} on other pages of this section")
                    return
        self.policy.record(url, outcome)
        self.done_over_http += 1
        self.ledger.succeeded(attempt, outcome.values)

    def _wait(self, attempt: Any, outcome: Any, waited: bool) -> None:
        row = _Waiting(attempt, outcome, waited=waited)
        section = section_key(attempt.work.url)
        self._waiting.setdefault(section, []).append(row)
        wait = min(WAIT_FOR_SECTION, max(WAIT_MIN, 3 * self._fetch_seconds))
        row.timer = asyncio.get_running_loop().call_later(wait, self._waited, section, row)

    def _waited(self, section: tuple[str, str], row: _Waiting) -> None:
        rows = self._waiting.get(section, [])
        if row in rows:
            rows.remove(row)
            self._done(row.attempt, row.outcome, waited=True)

    def _judge_waiting(self, host: str) -> None:
        """The site learnt something: its waiting rows are judged again."""
        for section in [s for s in self._waiting if s[0] == host]:
            for row in self._waiting.pop(section, []):
                if row.timer is not None:
                    row.timer.cancel()
                self._done(row.attempt, row.outcome, waited=row.waited)

    def _check(self, attempt: Any, outcome: Any, section: tuple[str, str]) -> None:
        """Check the row in a browser: its values there are the row's, and teach its section."""
        item = attempt.work
        self._checks[item.key] = (outcome.absent, outcome.scripts)
        key = (section[0], outcome.scripts)
        self._checking[key] = self._checking.get(key, 0) + 1
        if self.ledger.moved(attempt, "browser_check"):
            self._to_browser(item)

    def browser_done(self, item: Work, values: Any) -> None:
        """A row succeeded in a browser; if it was a check, its section learns from it."""
        check = self._checks.pop(item.key, None) if self._checks else None
        if check is not None:
            host = self._checked(item, check[1])
            self.policy.checked(item.url, check[0], values, check[1])
            self._judge_waiting(host)

    def browser_failed(self, item: Work) -> None:
        """A row failed in a browser; a check that failed teaches nothing: its section checks another."""
        check = self._checks.pop(item.key, None) if self._checks else None
        if check is not None:
            self._judge_waiting(self._checked(item, check[1]))

    def _checked(self, item: Work, scripts: frozenset[str]) -> str:
        """A check is back (or failed): its place is free. Returns its host."""
        host = section_key(item.url)[0]
        key = (host, scripts)
        if self._checking.get(key, 0) <= 1:
            self._checking.pop(key, None)
        else:
            self._checking[key] -= 1
        return host

    def _needs_browser(self, attempt: Any, reason: str) -> None:
        if self.mode == "http":
            failure = Failure(
                "needs_browser",
                False,
                "NeedsBrowser",
                f"The page needs a browser ({reason}); render='http' does not use one. "
                "Pass render='auto' to let a browser take such rows.",
            )
            self.ledger.failed(attempt, failure)
            return
        self.sent_to_browser += 1
        if self.ledger.moved(attempt, "needs_browser"):
            self._to_browser(attempt.work)
