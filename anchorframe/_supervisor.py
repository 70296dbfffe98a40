"""The session supervisor: provisioning, the replacement budget, set-up and release.

It opens the backend's pool for a run, consumes its stream of sessions, connects
to each (over CDP through Playwright, or however the pool connects), prepares it
(resource blocking, the user's ``setup``) and hands it to the engine's ``work``
coroutine, which runs its tabs. A session that fails to provision, connect or
set up, or that is lost mid-run, is recorded and replaced while the budget
lasts; every session is ended when the run ends, fails or is cancelled.

The decisions (how many replacements, the learned account capacity) are in
:class:`SessionBudget`, which does no I/O. Playwright is imported only when a
pool needs it. (About 440 lines, a little over the ~400 we aim for: provisioning,
replacement and release share one table of sessions and read best side by side.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from . import _events as ev
from ._events import RunState, SessionState
from ._ledger import Ledger
from ._options import EngineOptions
from ._plan import Plan
from ._saturation import Saturation
from ._saturation_watch import watch
from ._secrets import redact
from ._tabs import Escalated, guarded, open_page
from .backends._base import Backend, Provisioned, ProvisionFailure, SessionHandle, SessionPool

__all__ = ["LiveSession", "SessionBudget", "Supervisor"]

log = logging.getLogger("anchorframe")


class SessionBudget:
    """How many sessions a run may still ask for. No I/O.

    ``target`` starts at the plan's sessions and drops to what the account can
    hold when a backend learns its capacity; replacements for lost or failed
    sessions are limited to ``max_replacements``.

    Example:
        >>> budget = SessionBudget(planned=4, max_replacements=1)
        >>> budget.may_replace(live=3, coming=0)
        True
        >>> budget.may_replace(live=3, coming=0)   # the one replacement is spent
        False
        >>> budget.learn_capacity(2), budget.target
        (True, 2)
    """

    def __init__(self, planned: int, max_replacements: int) -> None:
        self.target = planned
        self.max_replacements = max_replacements
        self.replacements = 0
        #: Sessions asked for so far, replacements included.
        self.requested = 0

    def room(self) -> int:
        """Sessions that may still be asked for: the plan's plus the replacements, minus those asked."""
        return max(0, self.target + self.max_replacements - self.requested)

    def may_replace(self, *, live: int, coming: int) -> bool:
        """Spend one replacement if the budget allows one and the target is not reached."""
        if self.replacements >= self.max_replacements or live + coming >= self.target or not self.room():
            return False
        self.replacements += 1
        return True

    def learn_capacity(self, capacity: int) -> bool:
        """The account holds at most ``capacity`` sessions: lower the target. True if it dropped."""
        capacity = max(1, capacity)
        if capacity >= self.target:
            return False
        self.target = capacity
        return True


class LiveSession:
    """One connected browser session and the tabs working in it."""

    def __init__(self, handle: SessionHandle, state: SessionState) -> None:
        self.handle = handle
        self.state = state
        self.browser: Any = None
        self.context: Any = None
        self.tabs: list[asyncio.Task[None]] = []
        self.lost = False
        self.closing = False
        #: Retired (the orchestrator saturated): its tabs finish their rows and take no new one.
        self.retiring = False

    @property
    def name(self) -> str:
        return self.handle.session_id

    def mark_lost(self) -> None:
        """The browser is gone: stop every tab (their rows go back to the queue)."""
        if self.closing or self.lost:
            return
        self.lost = True
        # Every tab, the one that noticed included: a tab waiting for the queue must not sleep on
        # a dead browser, and a row in flight there moves to another session (unspent).
        for tab in self.tabs:
            tab.cancel()


#: The engine's part: run the tabs of a ready session until the work is done or the session is lost.
Work = Callable[[LiveSession], Awaitable[None]]


class Supervisor:
    """Provisions, prepares, replaces and releases the sessions of one run."""

    def __init__(
        self,
        backend: Backend,
        plan: Plan,
        options: EngineOptions,
        *,
        run_id: str,
        state: RunState,
        ledger: Ledger,
        emit: Callable[[str, str | None, Any], None],
        work: Work,
        rows_left: Callable[[], bool],
        fail_run: Callable[[BaseException], None],
        changed: Callable[[], None],
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.backend = backend
        self.plan = plan
        self.options = options
        self.run_id = run_id
        self.state = state
        self.ledger = ledger
        self._emit = emit
        self._work = work
        self._rows_left = rows_left
        self._fail_run = fail_run
        #: Called when sessions may have run out (the engine checks for starvation).
        self._changed = changed
        self._secrets = secrets
        self.budget = SessionBudget(
            plan.sessions,
            options.max_replacements if options.max_replacements is not None else max(2, plan.sessions * 2),
        )
        self.pool: SessionPool | None = None
        self.sessions: dict[str, LiveSession] = {}
        self._provisioning: set[asyncio.Task[None]] = set()
        self._session_tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        #: Sessions asked for and not yet ready or failed.
        self._awaited = 0
        #: Sessions the engine wants live or coming (grow() raises it).
        self._wanted = 0
        #: True once the first session was asked for (a run fetched over HTTP may never ask).
        self.started = False
        self._playwright: asyncio.Future[Any] | None = None
        self._playwright_cm: Any = None
        self.saturation = Saturation()

    # ------------------------------------------------------------------ running
    async def run(self, until: asyncio.Event, *, provision_now: bool = True) -> None:
        """Open the pool, provision the plan's sessions (or, with ``provision_now=False``, as many as
        :meth:`grow` asks for, when it asks), wait until ``until`` is set, then release all."""
        try:
            async with self.backend.open_pool(self.run_id, self.plan) as pool:
                self.pool = pool
                watcher = asyncio.ensure_future(watch(self, self.saturation))
                try:
                    if provision_now:
                        self._wanted = self.plan.sessions
                    self._provision_wanted()
                    await until.wait()
                finally:
                    watcher.cancel()
                    # Sessions stop while the pool is still open, so that nothing they do on the
                    # way out (a disconnect seen as a loss) can ask a closed pool for more.
                    await self._stop_sessions()
        finally:
            await self._stop_playwright()

    def grow(self, sessions: int) -> None:
        """Have ``sessions`` sessions live or coming (within the plan and the replacement budget)."""
        self._wanted = max(self._wanted, min(sessions, self.budget.target))
        self._provision_wanted()

    def _provision_wanted(self) -> None:
        pool = self.pool
        if pool is None or self._stopping or not self._rows_left() or self.saturation.saturated:
            return
        extra = min(self._wanted - (self.live + self._awaited), self.budget.room())
        if extra <= 0:
            return
        if not self.started:
            self.started = True
            if pool.uses_playwright:
                # Browsers start while Playwright's driver boots: neither waits for the other.
                from playwright.async_api import async_playwright

                self._playwright_cm = async_playwright()
                self._playwright = asyncio.ensure_future(self._playwright_cm.__aenter__())
        self._provision(pool.provision(extra), extra)

    @property
    def coming(self) -> int:
        """Provisioning streams still running (sessions may still arrive)."""
        return len(self._provisioning)

    @property
    def live(self) -> int:
        return sum(1 for s in self.sessions.values() if not s.lost and not s.closing and not s.retiring)

    def retire_one(self, why: str) -> None:
        """Saturated: the newest working session finishes its rows, takes no new one and is ended."""
        working = [s for s in self.sessions.values() if s.state.state == "ready" and not s.retiring]
        if len(working) <= 1:
            return
        session = max(working, key=lambda s: s.state.started)
        session.retiring = True
        session.state.error = f"ended early, the orchestrator was {why}"
        log.info("Retiring session %s: the orchestrator is saturated.", session.name)

    def resume(self) -> None:
        """No longer saturated: sessions may be added again, up to what the engine wants."""
        self._provision_wanted()

    # ------------------------------------------------------------- provisioning
    def _provision(self, stream: AsyncIterator[Provisioned], count: int) -> None:
        self.state.sessions_requested += count
        self.budget.requested += count
        self._awaited += count
        self.state.phase = "provisioning"
        self._emit(ev.SESSION_REQUESTED, None, count)
        task = asyncio.ensure_future(self._consume(stream, count))
        self._provisioning.add(task)
        task.add_done_callback(self._provisioning_done)

    def _provisioning_done(self, task: asyncio.Task[None]) -> None:
        self._provisioning.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            if self.state.sessions_ready == 0 and not self.sessions:
                # The backend refused outright (no key, no credits, no browser) before any
                # session worked: a clear error for the caller, not N failed rows.
                self._fail_run(exc)
                return
            self.ledger.session_error(None, "provision", "provision_failed", type(exc).__name__, _line(exc))
        if not self._stopping:
            self._changed()

    async def _consume(self, stream: AsyncIterator[Provisioned], count: int) -> None:
        try:
            async for item in stream:
                count -= 1
                self._awaited -= 1
                if isinstance(item, ProvisionFailure):
                    self._provision_failed(item)
                else:
                    self._session_ready(item)
        finally:
            self._awaited -= max(0, count)
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    def _provision_failed(self, failure: ProvisionFailure) -> None:
        name = failure.session_id or f"failed-{len(self.state.sessions) + 1}"
        message = redact(failure.message, *self._secrets)
        self.state.sessions[name] = SessionState(
            session=name, state="failed", batch=failure.batch_id, error=message, ended=time.time()
        )
        self.state.sessions_failed += 1
        retries = f" (retry_count={failure.retry_count})" if failure.retry_count else ""
        self.ledger.session_error(name, "provision", failure.reason, failure.error_type, message + retries)
        if failure.capacity is not None and self.budget.learn_capacity(failure.capacity):
            self.ledger.session_error(
                None,
                "provision",
                "session_limit",
                "SessionLimit",
                f"The account holds at most {self.budget.target} session(s) at once; the run goes on "
                f"with {self.budget.target} instead of the {self.plan.sessions} planned.",
            )
            self.state.sessions_planned = self.budget.target
        self._emit(ev.SESSION_FAILED, name, failure)
        if failure.replaceable:
            self._replace(failure)

    def _session_ready(self, handle: SessionHandle) -> None:
        if self._stopping or self.pool is None or not self._rows_left():
            self._spawn(self._end_handle(handle))
            return
        state = SessionState(
            session=handle.session_id,
            batch=handle.batch_id,
            ready_s=handle.ready_s,
            started=time.time() - (handle.ready_s or 0.0),
        )
        self.state.sessions[handle.session_id] = state
        session = LiveSession(handle, state)
        self.sessions[handle.session_id] = session
        self._spawn(self._run_session(session))

    def _replace(self, lost: SessionHandle | ProvisionFailure) -> None:
        if self._stopping or self.pool is None or not self._rows_left() or self.saturation.saturated:
            return
        if not self.budget.may_replace(live=self.live, coming=self._awaited):
            log.info("Not replacing a lost session (replacement budget or session target reached).")
            return
        self._provision(self.pool.replace(lost), 1)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._session_tasks.add(task)
        task.add_done_callback(self._session_task_done)

    def _session_task_done(self, task: asyncio.Task[None]) -> None:
        self._session_tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            # Only BaseExceptions (SystemExit, KeyboardInterrupt...) and engine bugs get here.
            self._fail_run(exc)
            return
        if not self._stopping:
            self._changed()

    async def _end_handle(self, handle: SessionHandle) -> None:
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await self.pool.end_session(handle)

    # ----------------------------------------------------------------- sessions
    async def _run_session(self, session: LiveSession) -> None:
        stage = "connect"
        try:
            playwright = await self._playwright if self._playwright is not None else None
            assert self.pool is not None
            session.browser = await self.pool.connect(
                session.handle, playwright, self.options.connect_timeout
            )
            session.browser.on("disconnected", lambda _browser: session.mark_lost())
            contexts = session.browser.contexts
            identity = self.options.identity
            own_settings = identity.context_options().keys() - {"extra_http_headers"}
            if contexts and (self.backend.kind != "local" or not own_settings):
                # A cloud session's own context (its profile) stays: headers only there.
                session.context = contexts[0]
                if identity.headers or identity.user_agent:
                    await session.context.set_extra_http_headers(identity.request_headers())
            else:
                session.context = await session.browser.new_context(**identity.context_options())
            if self.options.setup is not None:
                stage = "setup"
            await self._prepare(session.context)
        except asyncio.CancelledError:
            if not session.lost:
                raise
        except Escalated as escalated:
            self._fail_run(escalated.original)
            return
        except Exception as exc:
            await self.lost(session, stage, f"{stage}_failed", exc)
            return
        if session.lost:
            await self.lost(session, "connect", "session_lost", None)
            return
        session.state.state = "ready"
        session.state.tabs = self.plan.tabs
        self.state.sessions_ready += 1
        if self.state.sessions_ready == 1:
            self.state.phase = "ready"
        self._emit(ev.SESSION_READY, session.name, None)
        await self._work(session)
        if session.lost:
            await self.lost(session, "scrape", "session_lost", None)
        elif session.retiring and not self._stopping:
            await self._close(session, "ended")

    async def fresh_context(self, session: LiveSession) -> Any:
        """A new context in the session's browser, prepared as its first one (for a tab's renewal)."""
        context = await session.browser.new_context(**self.options.identity.context_options())
        try:
            await self._prepare(context)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.close(), 5)
            raise
        return context

    def live_names(self) -> list[str]:
        """Names of the sessions live now."""
        return [s.name for s in self.sessions.values() if not s.lost and not s.closing]

    async def _prepare(self, context: Any) -> None:
        """Resource blocking, then the user's ``setup`` on a page of ``context``."""
        if self.options.block:
            await context.route("**/*", _blocker(self.options.block))
        if self.options.setup is not None:
            await self._setup(context)

    async def _setup(self, context: Any) -> None:
        assert self.options.setup is not None
        page = await open_page(context, self.options.timeout)
        try:
            await asyncio.wait_for(guarded(self.options.setup, page), self.options.timeout)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(page.close(), 5)

    async def lost(self, session: LiveSession, stage: str, reason: str, exc: BaseException | None) -> None:
        """Record a session that failed or died, ask for a replacement, and end it."""
        self._record_loss(session, stage, reason, exc)
        # Ask for a replacement before awaiting anything, so the run never looks starved meanwhile.
        self._replace(session.handle)
        await self._close(session, session.state.state)

    def _record_loss(self, session: LiveSession, stage: str, reason: str, exc: BaseException | None) -> None:
        session.lost = True
        state = session.state
        state.state = "failed" if stage in ("connect", "setup") else "lost"
        message = (
            "The browser disconnected (it crashed or was ended) while rows were in flight; "
            "they were moved to other sessions."
            if exc is None
            else _line(exc)
        )
        error_type = type(exc).__name__ if exc is not None else "SessionLost"
        record = self.ledger.session_error(session.name, stage, reason, error_type, message)
        state.error = record["message"]
        self.state.sessions_failed += 1
        self._emit(ev.SESSION_FAILED, session.name, reason)

    async def _close(self, session: LiveSession, final_state: str) -> None:
        if self.sessions.pop(session.name, None) is None:
            return
        session.closing = True
        if session.state.state in ("ready", "starting"):
            session.state.state = final_state
        session.state.ended = time.time()
        if session.browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.browser.close(), 5)
        await self._end_handle(session.handle)
        self._emit(ev.SESSION_ENDED, session.name, None)

    # ------------------------------------------------------------------ release
    async def _stop_sessions(self) -> None:
        self._stopping = True
        for session in list(self.sessions.values()):
            session.closing = True
        tasks = [*self._provisioning, *self._session_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for session in list(self.sessions.values()):
            if session.lost and session.state.state == "ready":
                # It died as the run ended, before its loss was handled: still say so.
                self._record_loss(session, "scrape", "session_lost", None)
            await self._close(session, session.state.state if session.lost else "ended")

    async def _stop_playwright(self) -> None:
        future = self._playwright
        if future is None:
            return
        if not future.done():
            future.cancel()
        with contextlib.suppress(BaseException):
            await future
        if not future.cancelled() and future.exception() is None:
            with contextlib.suppress(Exception):
                await self._playwright_cm.__aexit__(None, None, None)


def _blocker(block: frozenset[str]) -> Callable[[Any], Awaitable[None]]:
    async def route(route: Any) -> None:
        if route.request.resource_type in block:
            await route.abort()
        else:
            await route.continue_()

    return route


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
