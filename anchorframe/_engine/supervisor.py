"""The session supervisor: provisioning, the replacement budget, set-up and release.

It opens the backend's pool for a run, consumes its stream of sessions, connects
to each (over CDP through Playwright, or however the pool connects), prepares it
(resource blocking, the user's ``setup``) and hands it to the engine's ``work``
coroutine, which runs its tabs. A session that fails to provision, connect or
set up, or that is lost mid-run, is recorded and replaced while the budget
lasts; every session is ended when the run ends, fails or is cancelled.

The decisions (how many replacements, the learned account capacity) are in
:class:`~anchorframe._engine.session.SessionBudget`, which does no I/O; what is done
inside one session's browser (its contexts, blocking, ``setup``) is in
:mod:`anchorframe._engine.session`. Playwright is imported only when a pool needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .._core import events as ev
from .._core.events import RunState, SessionState
from .._core.options import EngineOptions
from .._core.plan import Plan
from .._core.retry import first_line
from .._core.secrets import redact
from ..backends._base import Backend, Provisioned, ProvisionFailure, SessionHandle, SessionPool
from . import driver as _driver
from .ledger import Ledger
from .saturation import Saturation
from .saturation_watch import watch
from .session import LiveSession, SessionBudget, first_context, prepare_context
from .session import fresh_context as _fresh_context
from .tabs import Escalated

__all__ = ["LiveSession", "SessionBudget", "Supervisor"]  # the first two from ._session

log = logging.getLogger("anchorframe")


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
            options.attempts.max_replacements
            if options.attempts.max_replacements is not None
            else max(2, plan.sessions * 2),
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
        #: After a saturation episode, sessions live or coming are held to this (restore_one()).
        self._ceiling: int | None = None
        #: When the first session was asked for (loop time); None before (a run fetched over
        #: HTTP may never ask).
        self.started_at: float | None = None
        self._playwright: asyncio.Future[Any] | None = None
        #: Dead drivers being released (awaited when the run ends, not cancelled with the sessions).
        self._releasing: set[asyncio.Future[None]] = set()
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
        wanted = min(self._wanted, self.budget.target)  # the account may hold fewer than planned
        if self._ceiling is not None:
            wanted = min(wanted, self._ceiling)
        extra = min(wanted - (self.live + self._awaited), self.budget.room())
        if extra <= 0:
            return
        if not self.started:
            self.started_at = asyncio.get_running_loop().time()
            if pool.uses_playwright:
                # Browsers start while Playwright's driver boots (or is reused: _driver.py).
                self._playwright = asyncio.ensure_future(_driver.acquire())
        self._provision(pool.provision(extra), extra)

    @property
    def stopping(self) -> bool:
        """The run is letting its sessions go (it ended, or was stopped): none will come."""
        return self._stopping

    @property
    def started(self) -> bool:
        """Whether a session was asked for yet."""
        return self.started_at is not None

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

    def restore_one(self) -> bool:
        """After a saturation episode, one session more than there are may come (the watch calls
        this every ``ADD_EVERY`` seconds); False once the engine has all it wants (or may have)."""
        wanted = min(self._wanted, self.budget.target)
        self._ceiling = self.live + self._awaited + 1
        if self._ceiling >= wanted:
            self._ceiling = None
        self._provision_wanted()
        return self._ceiling is not None

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
            self.ledger.session_error(
                None,
                "provision",
                "provision_failed",
                type(exc).__name__,
                (first_line(exc) or type(exc).__name__),
            )
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
            playwright = await self._live_playwright()
            assert self.pool is not None
            try:
                session.browser = await self.pool.connect(
                    session.handle, playwright, self.options.attempts.connect_timeout
                )
            except Exception:
                if playwright is None or _driver.alive(playwright):
                    raise
                # The driver died (killed, crashed), not the browser: connect through another.
                playwright = await self._live_playwright()
                session.browser = await self.pool.connect(
                    session.handle, playwright, self.options.attempts.connect_timeout
                )
            session.browser.on("disconnected", lambda _browser: session.mark_lost())
            session.context = await first_context(
                session.browser, self.options, cloud=self.backend.kind != "local"
            )
            if self.options.browser.setup is not None:
                stage = "setup"
            await prepare_context(session.context, self.options)
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

    async def _live_playwright(self) -> Any:
        """The run's Playwright, through a driver started again if the one it had died.

        A driver that failed to start fails the session that waited for it; the next
        session (a replacement, within the budget) tries a fresh start.
        """
        future = self._playwright
        if future is None:
            return None
        try:
            playwright = await future
        except asyncio.CancelledError:
            raise
        except Exception:
            if self._playwright is future and not self._stopping:
                self._playwright = asyncio.ensure_future(_driver.acquire())
            raise
        if _driver.alive(playwright):
            return playwright
        if self._playwright is future:  # the first session to notice starts another, for all
            log.info("Playwright's driver died during the run; starting another.")
            self._playwright = asyncio.ensure_future(_driver.acquire())
            self._releasing.add(asyncio.ensure_future(_driver.release(playwright)))
        renewed = self._playwright
        assert renewed is not None
        return await renewed

    async def fresh_context(self, session: LiveSession) -> Any:
        """A new context in the session's browser, prepared as its first one (for a tab's renewal)."""
        return await _fresh_context(session.browser, self.options)

    def live_names(self) -> list[str]:
        """Names of the sessions live now."""
        return [s.name for s in self.sessions.values() if not s.lost and not s.closing]

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
            else (first_line(exc) or type(exc).__name__)
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
        if self._releasing:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._releasing, return_exceptions=True), 5)
        future = self._playwright
        if future is None:
            return
        if not future.done():
            future.cancel()
        with contextlib.suppress(BaseException):
            await future
        if not future.cancelled() and future.exception() is None:
            with contextlib.suppress(Exception):
                await _driver.release(future.result())
