"""The async engine: one work queue over sessions x tabs.

Three parts, each knowing one thing:

* the :class:`~anchorframe._engine.ledger.Ledger` decides what happens to every row
  (no I/O);
* the :class:`~anchorframe._engine.supervisor.Supervisor` provisions, prepares,
  replaces and releases sessions;
* a :class:`~anchorframe._engine.tabs.Tab` makes the browser calls for one row.

The engine wires them: each ready session starts its tabs, every tab takes the
next row its site lets start from the run's per-site queue (:mod:`anchorframe._engine.manners`:
per-site limits, pauses after 429/503, robots.txt, blocked pages), and does what
the ledger says with the outcome (a retry after a delay, a move to another
session, or nothing more). It knows nothing of widgets: it updates a RunState
and tells its observer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from .._core import events as ev
from .._core.events import Event, Observer, RunState
from .._core.options import EngineOptions
from .._core.plan import Plan
from .._core.retry import first_line
from .._core.table import InputTable, Work
from .._render.evidence import Witness
from .._render.extractor import Extractor
from ..backends._base import Backend
from . import driver as _driver
from .http_stage import HttpStage
from .ledger import Attempt, Ledger, RetryPolicy
from .manners import Manners
from .supervisor import LiveSession, Supervisor
from .tabs import Escalated, ScrapeFn, SharedContext, Signals, Tab

__all__ = ["Engine"]

log = logging.getLogger("anchorframe")

#: Rows whose way (HTTP or browser) must be known before sessions are sized by the browser's share.
SHARE_SAMPLE = 20
#: Seconds the HTTP path gives way to a starting browser (a local one is ready within ~1 s; a
#: cloud session's minutes of provisioning wait on its API, not on this process).
BROWSER_START_PRIORITY = 2.0
#: Seconds a tab waits after leaving a row to another session (it saw that row's page blocked).
AVOID_WAIT = 0.1
#: Seconds a tab beyond what free memory allows waits before it looks again.
MEMORY_WAIT = 1.0


class Engine:
    """Runs one scrape: ``await Engine(...).run()``; the outcome stays on the object.

    Example:
        >>> from anchorframe.backends.fake import FakeBackend  # doctest: +SKIP
        >>> engine = Engine(table, fn, FakeBackend(), plan, EngineOptions(), run_id="r1")  # doctest: +SKIP
        >>> await engine.run(); engine.ledger.done  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        table: InputTable,
        fn: ScrapeFn,
        backend: Backend,
        plan: Plan,
        options: EngineOptions,
        *,
        run_id: str,
        observer: Observer | None = None,
        secrets: tuple[str, ...] = (),
        feed: bool = False,
    ) -> None:
        secrets = (*secrets, *options.identity.secrets())  # header values never shown
        self.table = table
        self.fn = fn
        self.plan = plan
        self.options = options
        self.run_id = run_id
        self._observer = observer
        self.state = RunState(
            backend=backend.describe(),
            rows_total=table.rows,
            urls_total=len(table.work),
            sessions_planned=plan.sessions,
            tabs=plan.tabs,
            batches=max(1, len(plan.batches)),
            est_seconds=plan.est_seconds,
            est_session_minutes=plan.est_session_minutes,
            rows_invalid=len(table.invalid),
        )
        self.ledger = Ledger(
            table,
            self.state,
            RetryPolicy(
                retries=options.attempts.retries,
                backoff=options.attempts.backoff,
                timeout=options.attempts.timeout,
            ),
            emit=self._emit,
            secrets=secrets,
        )
        self.supervisor = Supervisor(
            backend,
            plan,
            options,
            run_id=run_id,
            state=self.state,
            ledger=self.ledger,
            emit=self._emit,
            work=self._work,
            rows_left=lambda: not self._work_finished(),
            fail_run=self._fail,
            changed=self._check_starved,
            secrets=secrets,
        )
        #: An exception that ends the run (re-raised by run() after everything is released).
        self.fatal: BaseException | None = None
        #: The per-site queue of rows (two lanes: browser tabs and HTTP fetchers) and its decisions.
        self.manners = Manners(self.ledger, options, self._emit, web=getattr(backend, "web", True))
        #: Browsers on this machine only: fewer tabs when its free memory runs low.
        self.memory: Any = None
        if getattr(backend, "browsers_here", False):
            from .memory import MemoryWatch

            self.memory = MemoryWatch(wanted=plan.tabs)
        #: A cloud session's own context holds its profile: never renewed then.
        keeps = getattr(backend, "keeps_first_context", False)
        self._renew_after = None if keeps else options.browser.renew_context_after
        #: Feed mode (see feed()): rows arrive while the run goes, until close_feed().
        self._feeding = self._fed = feed
        self._done = asyncio.Event()
        self._timers: set[asyncio.TimerHandle] = set()
        #: A ready-made scraper says what it reads and whether a tab may keep its page.
        self.extractor = fn if isinstance(fn, Extractor) else None
        self._reuse_pages = (
            options.browser.reuse_pages
            if options.browser.reuse_pages is not None
            else bool(self.extractor and self.extractor.reuse_page)
        )
        #: Takes and keeps what failed rows' pages showed (issue 26; None: ``evidence=0``).
        self.witness = Witness(options.evidence, secrets=secrets) if options.evidence else None
        #: The HTTP stage of render="http"/"auto" (None: every row goes to a browser).
        self.http: HttpStage | None = None
        self._browser_rows = 0
        if options.render != "browser":
            self.http = HttpStage(
                table,
                self.ledger,
                selectors=self.extractor.http_selectors if self.extractor else None,
                mode=options.render,
                timeout=options.attempts.timeout,
                to_browser=self._to_browser,
                retry_later=self._retry_later,
                manners=self.manners,
                identity=options.identity,
                browser_starting=self._browser_starting,
            )

    @property
    def error_records(self) -> list[dict[str, Any]]:
        return self.ledger.error_records

    # ------------------------------------------------------------------ running
    async def run(self) -> None:
        """Scrape every unique URL; returns when all are resolved (or raises on cancellation)."""
        self._emit(ev.RUN_STARTED)
        http = self.http
        for item in () if self._fed else self.table.work:  # fed rows were queued by feed()
            if item.status is None:
                if http is None:
                    self.manners.put(item, "browser")
                else:
                    http.route(item)
        try:
            if not self._work_finished():
                if http is not None:
                    await http.start()
                # Over HTTP first, sessions come only when a row needs a browser (grow()).
                await self.supervisor.run(self._done, provision_now=http is None)
        finally:
            if http is not None:
                await http.aclose()
            self.manners.drain()
            await self.manners.aclose()
            for timer in self._timers:
                timer.cancel()
            self._finish()
        if self.fatal is not None:
            raise self.fatal

    def _finish(self) -> None:
        if self.state.finished is None:
            self.state.finished = time.monotonic()
            self.state.rows_skipped = self.ledger.unresolved_rows()
            self.state.phase = "done"
            self._emit(ev.RUN_FINISHED)

    def _fail(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
        self._done.set()

    def _check_starved(self) -> None:
        """With rows left and no session alive or coming, fail the rest: every row must come back."""
        if self._done.is_set() or self._work_finished():
            return
        supervisor = self.supervisor
        if not supervisor.started or supervisor.coming or supervisor.live:
            return
        if supervisor.stopping:
            # The run was stopped: its sessions are being let go, not lost. Rows still waiting
            # (or fed meanwhile: a shard's next partition) stay unresolved and come back
            # 'skipped', to be scraped by a resume, not 'failed' without a try.
            return
        # Rows on their way over HTTP are not starved: they need no session.
        self.ledger.starve(self.state.sessions_failed, waiting=lambda item: item.render != "http")

    # ------------------------------------------------------------------- routes
    def _to_browser(self, item: Work) -> None:
        """A row the HTTP path handed over (or a browser-first one): queue it, with sessions to take it."""
        item.render = "browser"
        self._browser_rows += 1
        self.manners.put(item, "browser")
        self.supervisor.grow(self._sessions_wanted())
        self._check_starved()

    def _browser_starting(self) -> bool:
        """Rows wait for a browser whose start began less than BROWSER_START_PRIORITY s ago."""
        if self._browser_rows == 0 or self.state.sessions_ready or self._done.is_set():
            return False
        began = self.supervisor.started_at
        return began is not None and asyncio.get_running_loop().time() - began < BROWSER_START_PRIORITY

    def _sessions_wanted(self) -> int:
        """Sessions for the rows that need a browser: one at first, then the plan scaled by their share."""
        if self.http is None:
            return self.plan.sessions
        decided = self.http.done_over_http + self._browser_rows
        if decided < SHARE_SAMPLE:
            return 1
        share = self._browser_rows / decided
        return max(1, min(self.plan.sessions, math.ceil(self.plan.sessions * share)))

    # ---------------------------------------------------------------- feed mode
    # A run built with feed=True starts with no rows (``table.work`` empty) and keeps its
    # sessions while rows are fed to it (by a shard of a run over several processes); it
    # ends when close_feed() was called and every fed row is resolved.
    def feed(self, items: list[Work]) -> None:
        """Add rows to a feed-mode run (on its event loop); they are queued at once."""
        if not self._feeding:
            raise RuntimeError("feed() needs an Engine built with feed=True and not closed yet.")
        self.table.work.extend(items)
        self.ledger.pending += len(items)
        for item in items:
            if self.http is None:
                self.manners.put(item, "browser")
            else:
                self.http.route(item)
        self._check_starved()  # no session alive or coming: these rows fail at once, as in a plain run

    def close_feed(self) -> None:
        """No more rows will be fed: the run ends once the fed rows are resolved."""
        self._feeding = False
        if self.ledger.done:
            self._done.set()

    @property
    def outstanding(self) -> int:
        """Rows fed (or given) and not resolved yet."""
        return self.ledger.pending

    def _work_finished(self) -> bool:
        return self.ledger.done and not self._feeding

    # --------------------------------------------------------------------- tabs
    async def _work(self, session: LiveSession) -> None:
        """Run the session's tabs until the work is done or the session is lost (its tabs are cancelled)."""
        renew = lambda: self.supervisor.fresh_context(session)  # noqa: E731

        def renewal_failed(exc: Exception, gave_up: bool) -> None:
            if (
                session.lost
                or not session.browser.is_connected()
                or _driver.connection_closed(session.browser)
            ):
                return  # the browser (or the driver) died: its tabs see to that
            then = (
                "it keeps its context to the end"
                if gave_up
                else "it goes on in its context, tries again later"
            )
            self.ledger.session_error(
                session.name,
                "setup",
                "renewal_failed",
                type(exc).__name__,
                f"A fresh context (renew_context_after) could not be made, {then}: {first_line(exc)}",
            )
            log.warning(
                "Session %s: context renewal failed (%s); %s.", session.name, type(exc).__name__, then
            )

        shared = SharedContext(
            session.context, renew=renew, renew_after=self._renew_after, failed=renewal_failed
        )
        tabs = session.tabs = [
            asyncio.ensure_future(self._tab(session, shared, index)) for index in range(self.plan.tabs)
        ]
        try:
            # wait(), not gather(): a tab cancelled because its browser died is not an error here.
            await asyncio.wait(tabs)
        except asyncio.CancelledError:
            for tab in tabs:
                tab.cancel()
            await asyncio.wait(tabs)
            raise
        finally:
            await shared.aclose()
        for tab in tabs:
            if not tab.cancelled() and tab.exception() is not None:
                raise tab.exception()  # type: ignore[misc]  # an engine bug or a BaseException

    async def _tab(self, session: LiveSession, shared: SharedContext, index: int) -> None:
        tab = Tab(
            shared,
            session.browser,
            timeout=self.options.attempts.timeout,
            reuse_page=self._reuse_pages,
            expect_content=self.extractor is not None,
            # An extractor checks its response itself; a user's callable is checked here.
            allow_status=None if self.extractor is not None else self.options.attempts.allow_status,
        )
        if self.witness is not None:
            tab.witness = self.witness.capture  # issue 26: evidence of failed rows
        ledger, manners, memory = self.ledger, self.manners, self.memory
        loop = asyncio.get_running_loop()
        name = session.name
        taken: tuple[str, Work] | None = None  # the row this tab holds a place at its site for
        attempt: Attempt | None = None
        try:
            while True:
                if memory is not None and index > 0 and index >= memory.tabs(loop.time()):
                    await asyncio.sleep(MEMORY_WAIT)  # free memory is low: this tab sits out
                    continue
                taken = site, item = await manners.get("browser")
                if session.lost or session.retiring:  # retiring: the orchestrator is saturated
                    taken = None
                    self._give_back(site, item)
                    return
                if manners.avoids(item, name, self.supervisor.live_names()):
                    taken = None
                    self._give_back(site, item)  # another session takes it: this one saw it blocked
                    await asyncio.sleep(AVOID_WAIT)
                    continue
                if not await manners.admit(site, item):
                    taken = None  # robots.txt disallows it: resolved skipped, never fetched
                    continue
                attempt = ledger.start(item, name, index)
                if attempt is None:
                    taken = None
                    manners.finished(site, "moved")
                    continue
                try:
                    value = await tab.run(self.fn, self.table.row(item.positions[0], item.url))
                except asyncio.CancelledError:
                    raise
                except Escalated as escalated:
                    # Not a row failure: stop the run, release everything, re-raise to the caller.
                    ledger.cancelled(attempt)
                    manners.finished(site, "moved")
                    attempt = taken = None
                    self._fail(escalated.original)
                    return
                except Exception as exc:
                    current, attempt, taken = attempt, None, None
                    if await tab.browser_gone(exc, lambda: session.lost):
                        self._move(current, site)
                        session.mark_lost()
                        return
                    self._ended(site, current, tab.signals, exc)
                    self._keep_evidence(current, tab)
                    continue
                current, attempt, taken = attempt, None, None
                self._ended(site, current, tab.signals, None, value)
                self._keep_evidence(current, tab)
        except asyncio.CancelledError:
            if attempt is not None and taken is not None:
                if session.lost:
                    self._move(attempt, taken[0])
                else:
                    ledger.cancelled(attempt)  # the run was stopped: the row comes back "skipped"
                    manners.finished(taken[0], "moved")
            elif taken is not None:  # taken, not started (robots.txt was being read)
                self._give_back(*taken)
            raise
        finally:
            await tab.aclose()

    def _ended(
        self, site: str, attempt: Attempt, signals: Signals, exc: Exception | None, value: Any = None
    ) -> None:
        """What an attempt's end means: for its site first (throttled, blocked), then for the row."""
        manners, ledger = self.manners, self.ledger
        attempt.work.http_status = signals.status  # af_http_status: what the last attempt's page answered
        if signals.throttle is not None:
            delay = manners.throttled(site, attempt, signals.throttle.status, signals.throttle.retry_after)
        elif signals.blocked is not None:
            delay = manners.blocked(site, attempt, signals.blocked)
        elif exc is not None or signals.http_error is not None:
            manners.finished(site, "failed")
            delay = ledger.failed(attempt, exc if exc is not None else signals.http_error)  # type: ignore[arg-type]
            if self.http is not None:
                self.http.browser_failed(attempt.work)
        else:
            manners.finished(site, "ok")
            ledger.succeeded(attempt, value)
            if self.http is not None:
                self.http.browser_done(attempt.work, value)  # a browser check teaches its section
            return
        if delay is not None:
            self._retry_later(attempt.work, delay)

    def _keep_evidence(self, attempt: Attempt, tab: Tab) -> None:
        """Keep what a failed attempt's page showed (issue 26), with the error the ledger noted."""
        seen, tab.seen = tab.seen, None
        if seen is not None and self.witness is not None:
            self.witness.keep(attempt, seen, self.ledger.error_records)

    def _give_back(self, site: str, item: Work) -> None:
        """A row taken but not attempted goes back to the front of its site's queue."""
        self.manners.finished(site, "moved")
        if item.status is None and not self._done.is_set():
            self.manners.put(item, "browser", front=True)

    def _move(self, attempt: Attempt, site: str) -> None:
        self.manners.finished(site, "moved")
        if self.ledger.moved(attempt) and not self._done.is_set():
            self.manners.put(attempt.work, "browser", front=True)

    def _retry_later(self, item: Work, delay: float) -> None:
        def due() -> None:
            self._timers.discard(timer)
            if self.ledger.retry_due(item) and not self._done.is_set():
                if item.render == "http" and self.http is not None:
                    self.http.put(item)
                else:
                    self.manners.put(item, "browser")

        timer = asyncio.get_running_loop().call_later(delay, due)
        self._timers.add(timer)

    # ------------------------------------------------------------------- events
    def _emit(self, name: str, session: str | None = None, detail: Any = None) -> None:
        if name == ev.ROW_DONE and self._work_finished():
            self._done.set()
        observer = self._observer
        if observer is not None:
            observer(Event(name, session, detail), self.state)
