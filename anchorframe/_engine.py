"""The async engine: one work queue over sessions x tabs.

Sessions arrive from the backend's pool as a stream; each starts its tab
workers the moment it is connected. Every worker takes the next unique URL
from the shared queue, opens a page, runs the user's callable under the
per-row timeout, and records the outcome. A failed attempt is retried with
backoff; a browser that dies gives its in-flight rows back to the queue
without spending their retries, and a replacement session is requested while
rows remain. A page is opened only for a callable that reads it (see
``reads_page``), and kept for the next row only for callables that leave no
state behind on it (the built-in extractors, or ``reuse_pages=True``). The
engine knows nothing of widgets: it updates a RunState and calls an observer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dis
import inspect
import logging
import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from . import _events as ev
from ._events import Event, Observer, RunState, SessionState
from ._frames import InputTable, Row, Work
from ._plan import Plan
from ._retry import backoff_delay, classify_failure, looks_like_lost_browser
from ._secrets import redact
from .backends._base import Backend, Provisioned, ProvisionFailure, SessionHandle, SessionPool

__all__ = ["Engine", "EngineOptions", "ScrapeFn", "SetupFn"]

log = logging.getLogger("anchorframe")

ScrapeFn = Callable[[Any, Row], Awaitable[Any]]
SetupFn = Callable[[Any], Awaitable[Any]]

RESOURCE_TYPES = frozenset(
    {"image", "font", "media", "stylesheet", "script", "xhr", "fetch", "websocket", "manifest", "other"}
)


@dataclass(frozen=True)
class EngineOptions:
    """How each row is attempted. See ``scrape()`` for the meaning of each field."""

    timeout: float = 30.0
    retries: int = 2
    backoff: float = 0.5
    max_replacements: int | None = None
    setup: SetupFn | None = None
    block: frozenset[str] = frozenset()
    #: None: reuse for anchorframe's own callables (they leave no state behind), a page per row otherwise.
    reuse_pages: bool | None = None
    connect_timeout: float = 30.0


class _Session:
    """One connected browser session and its tab workers."""

    def __init__(self, handle: SessionHandle, state: SessionState) -> None:
        self.handle = handle
        self.state = state
        self.browser: Any = None
        self.context: Any = None
        self.workers: list[asyncio.Task[None]] = []
        self.lost = False
        self.closing = False


class Engine:
    """Runs one scrape: ``await Engine(...).run()``; the outcome stays on the object."""

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
    ) -> None:
        self.table = table
        self.fn = fn
        self.backend = backend
        self.plan = plan
        self.options = options
        self.run_id = run_id
        self._observer = observer
        self._secrets = secrets
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
        self.error_records: list[dict[str, Any]] = []
        self._rng = random.Random()
        self._queue: asyncio.Queue[Work] = asyncio.Queue()
        self._pending = 0
        self._done = asyncio.Event()
        self._sessions: dict[str, _Session] = {}
        self._session_tasks: set[asyncio.Task[None]] = set()
        self._provisioning: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._replacements = 0
        self._stopping = False
        self._max_replacements = (
            options.max_replacements if options.max_replacements is not None else max(2, plan.sessions * 2)
        )
        self._pool: SessionPool | None = None
        #: An exception that ends the run before any row could be scraped (re-raised by run()).
        self.fatal: BaseException | None = None
        self._playwright: asyncio.Future[Any] | None = None
        # Opening and closing a tab costs ~10 ms of browser work per row: a callable that
        # never reads its page gets None, and anchorframe's own callables keep their tab.
        self._needs_page = reads_page(fn)
        self._reuse_pages = (
            options.reuse_pages
            if options.reuse_pages is not None
            else bool(getattr(fn, "af_reuse_page", False))
        )

    # ----------------------------------------------------------------- running
    async def run(self) -> None:
        """Scrape every unique URL; returns when all are resolved (or raises on cancellation)."""
        self._emit(ev.RUN_STARTED)
        for item in self.table.work:
            self._queue.put_nowait(item)
        self._pending = len(self.table.work)
        if not self._pending:
            self._finish()
            return
        playwright_cm: Any = None
        try:
            async with self.backend.open_pool(self.run_id, self.plan) as pool:
                self._pool = pool
                try:
                    # Browsers start while the Playwright driver boots: neither waits for the other.
                    self._start_provisioning(pool.provision(self.plan.sessions), self.plan.sessions)
                    from playwright.async_api import async_playwright

                    playwright_cm = async_playwright()
                    self._playwright = asyncio.ensure_future(playwright_cm.__aenter__())
                    await self._done.wait()
                finally:
                    # Sessions stop while the pool is still open, so that nothing they do on the
                    # way out (a disconnect seen as a loss) can ask a closed pool for more.
                    await self._stop_everything()
        finally:
            await self._stop_playwright(playwright_cm)
            self._finish()
        if self.fatal is not None:
            raise self.fatal

    def _finish(self) -> None:
        if self.state.finished is None:
            self.state.finished = time.monotonic()
            self.state.rows_skipped = sum(len(w.positions) for w in self.table.work if w.status is None)
            self.state.phase = "done"
            self._emit(ev.RUN_FINISHED)

    async def _stop_everything(self) -> None:
        self._stopping = True
        for timer in self._timers:
            timer.cancel()
        for session in list(self._sessions.values()):
            session.closing = True
        tasks = [*self._provisioning, *self._session_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for session in list(self._sessions.values()):
            await self._close_session(session, "ended")

    async def _stop_playwright(self, playwright_cm: Any) -> None:
        if self._playwright is not None:
            if not self._playwright.done():
                self._playwright.cancel()
            with contextlib.suppress(BaseException):
                await self._playwright
            if not self._playwright.cancelled() and self._playwright.exception() is None:
                with contextlib.suppress(Exception):
                    await playwright_cm.__aexit__(None, None, None)

    # ------------------------------------------------------------ provisioning
    def _start_provisioning(self, stream: AsyncIterator[Provisioned], count: int) -> None:
        self.state.sessions_requested += count
        self.state.phase = "provisioning"
        self._emit(ev.SESSION_REQUESTED, detail=count)
        task = asyncio.ensure_future(self._consume(stream))
        self._provisioning.add(task)
        task.add_done_callback(self._provisioning_done)

    def _provisioning_done(self, task: asyncio.Task[None]) -> None:
        self._provisioning.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            if self.state.sessions_ready == 0 and not self._sessions and self.fatal is None:
                # The backend refused outright (no key, no credits, no browser) before any
                # session worked: that is a clear error for the caller, not N failed rows.
                self.fatal = exc
                self._done.set()
                return
            self._record_session_error(None, "provision", "provision_failed", exc)
        self._check_starved()

    async def _consume(self, stream: AsyncIterator[Provisioned]) -> None:
        try:
            async for item in stream:
                if isinstance(item, ProvisionFailure):
                    self._provision_failed(item)
                else:
                    self._session_ready(item)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    def _provision_failed(self, failure: ProvisionFailure) -> None:
        name = failure.session_id or f"failed-{len(self.state.sessions) + 1}"
        state = SessionState(
            session=name,
            state="failed",
            batch=failure.batch_id,
            error=redact(failure.message, *self._secrets),
            ended=time.time(),
        )
        self.state.sessions[name] = state
        self.state.sessions_failed += 1
        self.error_records.append(
            self._error_record(
                scope="session",
                session=name,
                stage="provision",
                reason="provision_failed",
                error_type=failure.error_type,
                message=state.error,
                extra_message=f" (retry_count={failure.retry_count})" if failure.retry_count else "",
            )
        )
        self._emit(ev.SESSION_FAILED, name, failure)
        self._maybe_replace(failure)

    def _session_ready(self, handle: SessionHandle) -> None:
        if self._done.is_set() or self._pool is None:
            task = asyncio.ensure_future(self._pool.end_session(handle)) if self._pool else None
            if task is not None:
                self._session_tasks.add(task)
                task.add_done_callback(self._session_tasks.discard)
            return
        state = SessionState(
            session=handle.session_id,
            batch=handle.batch_id,
            ready_s=handle.ready_s,
            started=time.time() - (handle.ready_s or 0.0),
        )
        self.state.sessions[handle.session_id] = state
        session = _Session(handle, state)
        self._sessions[handle.session_id] = session
        task = asyncio.ensure_future(self._run_session(session))
        self._session_tasks.add(task)
        task.add_done_callback(self._session_task_done)

    def _session_task_done(self, task: asyncio.Task[None]) -> None:
        self._session_tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None and self.fatal is None:
            # Only BaseExceptions (SystemExit, KeyboardInterrupt...) and engine bugs get here:
            # end the run and hand the exception to the caller after clean-up.
            self.fatal = exc
            self._done.set()
            return
        self._check_starved()

    def _maybe_replace(self, lost: SessionHandle | ProvisionFailure) -> None:
        if self._pending <= 0 or self._done.is_set() or self._pool is None or self._stopping:
            return
        if self._replacements >= self._max_replacements:
            log.info("Replacement budget (%d) spent; not replacing a lost session.", self._max_replacements)
            return
        self._replacements += 1
        self._start_provisioning(self._pool.replace(lost), 1)

    def _live_sessions(self) -> int:
        return sum(1 for s in self._sessions.values() if not s.lost and not s.closing)

    def _check_starved(self) -> None:
        """With rows left and no session alive or coming, fail the rest: every row must come back."""
        if self._done.is_set() or self._pending <= 0 or self._stopping:
            return
        if self._provisioning or self._live_sessions():
            return
        failed = self.state.sessions_failed
        message = (
            f"No browser session was available to scrape this row: {failed} session(s) failed "
            "(see result.errors where scope == 'session')."
        )
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        leftovers = [w for w in self.table.work if w.status is None]
        for item in leftovers:
            self._resolve(item, "failed", reason="no_sessions", message=message)

    # ---------------------------------------------------------------- sessions
    async def _run_session(self, session: _Session) -> None:
        handle = session.handle
        state = session.state
        try:
            assert self._playwright is not None
            playwright = await self._playwright
            session.browser = await playwright.chromium.connect_over_cdp(
                handle.cdp_url, timeout=self.options.connect_timeout * 1000
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._session_lost(session, "connect", "connect_failed", exc)
            return
        session.browser.on("disconnected", lambda _browser: self._on_disconnect(session))
        try:
            contexts = session.browser.contexts
            session.context = contexts[0] if contexts else await session.browser.new_context()
            if self.options.block:
                block = self.options.block

                async def route(route: Any) -> None:
                    if route.request.resource_type in block:
                        await route.abort()
                    else:
                        await route.continue_()

                await session.context.route("**/*", route)
            if self.options.setup is not None:
                page = await self._new_page(session)
                try:
                    await asyncio.wait_for(_guarded(self.options.setup, page), self.options.timeout)
                finally:
                    with contextlib.suppress(Exception):
                        await page.close()
        except asyncio.CancelledError:
            if not session.lost:
                raise
        except _Escalated as escalated:
            self.fatal = escalated.original
            self._done.set()
            return
        except Exception as exc:
            stage = "setup" if self.options.setup is not None else "connect"
            await self._session_lost(session, stage, f"{stage}_failed", exc)
            return
        if session.lost:
            await self._session_lost(session, "connect", "session_lost", None)
            return
        state.state = "ready"
        state.tabs = self.plan.tabs
        self.state.sessions_ready += 1
        if self.state.sessions_ready == 1:
            self.state.phase = "ready"
        self._emit(ev.SESSION_READY, handle.session_id)
        session.workers = [asyncio.ensure_future(self._worker(session)) for _ in range(self.plan.tabs)]
        try:
            await asyncio.gather(*session.workers)
        except asyncio.CancelledError:
            for worker in session.workers:
                worker.cancel()
            await asyncio.gather(*session.workers, return_exceptions=True)
            if not session.lost:
                raise
        if session.lost:
            await self._session_lost(session, "scrape", "session_lost", None)

    def _on_disconnect(self, session: _Session) -> None:
        if session.closing or session.lost:
            return
        session.lost = True
        for worker in session.workers:
            worker.cancel()

    async def _new_page(self, session: _Session) -> Any:
        page = await session.context.new_page()
        page.set_default_timeout(self.options.timeout * 1000)
        # Pop-ups (window.open, target=_blank) are not ours: close them so they cannot pile up.
        page.on("popup", lambda popup: asyncio.ensure_future(_close_quietly(popup)))
        return page

    async def _session_lost(
        self, session: _Session, stage: str, reason: str, exc: BaseException | None
    ) -> None:
        session.lost = True
        state = session.state
        state.state = "failed" if stage in ("connect", "setup") else "lost"
        message = (
            "The browser disconnected (it crashed or was ended) while rows were in flight; "
            "they were moved to other sessions."
            if exc is None
            else None
        )
        record = self._record_session_error(session, stage, reason, exc, message=message)
        state.error = record["message"]
        self.state.sessions_failed += 1
        self._emit(ev.SESSION_FAILED, session.handle.session_id, reason)
        # Ask for a replacement before awaiting anything, so the run never looks starved meanwhile.
        self._maybe_replace(session.handle)
        await self._close_session(session, state.state)

    async def _close_session(self, session: _Session, final_state: str) -> None:
        if self._sessions.pop(session.handle.session_id, None) is None:
            return
        session.closing = True
        if session.state.state in ("ready", "starting"):
            session.state.state = final_state
        session.state.ended = time.time()
        if session.browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.browser.close(), 5)
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await self._pool.end_session(session.handle)
        self._emit(ev.SESSION_ENDED, session.handle.session_id)

    # ------------------------------------------------------------------- rows
    async def _worker(self, session: _Session) -> None:
        page: Any = None
        item: Work | None = None
        try:
            while True:
                item = await self._queue.get()
                if item.status is not None:
                    item = None
                    continue
                if session.lost:
                    self._requeue_unspent(item)
                    return
                item.attempts += 1
                started = time.monotonic()
                failure_exc: BaseException | None = None
                value: Any = None
                try:
                    if self._needs_page and (page is None or page.is_closed()):
                        page = await self._new_page(session)
                    value = await _call_with_timeout(
                        self.fn, page, self.table.row(item.positions[0], item.url), self.options.timeout
                    )
                except asyncio.CancelledError:
                    raise
                except _Escalated as escalated:
                    # Not a row failure: stop the run, release everything, re-raise to the caller.
                    self.fatal = escalated.original
                    self._done.set()
                    return
                except Exception as exc:
                    failure_exc = exc
                elapsed = time.monotonic() - started
                if failure_exc is not None and await self._browser_gone(session, failure_exc):
                    item.attempts -= 1
                    self._requeue_unspent(item)
                    item = None
                    session.lost = True
                    self._on_disconnect_soon(session)
                    return
                if page is not None and (not self._reuse_pages or failure_exc is not None):
                    await _close_quietly(page)
                    page = None
                current, item = item, None
                if failure_exc is None:
                    session.state.pages_ok += 1
                    self._resolve(
                        current, "ok", value=value, elapsed=elapsed, session=session.handle.session_id
                    )
                else:
                    self._attempt_failed(current, failure_exc, elapsed, session)
        except asyncio.CancelledError:
            if item is not None and session.lost:
                item.attempts -= 1
                self._requeue_unspent(item)
                # else: the run was cancelled; the row stays unresolved and comes back "skipped".
            raise
        finally:
            if page is not None:
                await _close_quietly(page)

    def _on_disconnect_soon(self, session: _Session) -> None:
        for worker in session.workers:
            if worker is not asyncio.current_task():
                worker.cancel()

    async def _browser_gone(self, session: _Session, exc: BaseException) -> bool:
        if session.lost:
            return True
        if not looks_like_lost_browser(exc):
            return False
        # The "disconnected" event can trail the error by a moment.
        for _ in range(10):
            if session.lost or not session.browser.is_connected():
                return True
            await asyncio.sleep(0.05)
        return False

    def _requeue_unspent(self, item: Work) -> None:
        if item.status is None and not self._done.is_set():
            self._queue.put_nowait(item)

    def _attempt_failed(self, item: Work, exc: BaseException, elapsed: float, session: _Session) -> None:
        failure = classify_failure(exc, self.options.timeout)
        message = redact(failure.message, *self._secrets)
        session.state.errors += 1
        self.error_records.append(
            self._error_record(
                scope="url",
                session=session.handle.session_id,
                row=self.table.frame.index[item.positions[0]],
                url=item.url,
                attempt=item.attempts,
                stage="scrape",
                reason=failure.reason,
                error_type=failure.error_type,
                message=message,
            )
        )
        if failure.retryable and item.attempts <= self.options.retries:
            delay = backoff_delay(item.attempts, self.options.backoff, rng=self._rng)
            self.state.retrying += 1
            self._emit(ev.ROW_RETRYING, session.handle.session_id, item)
            loop = asyncio.get_running_loop()

            def requeue() -> None:
                self._timers.discard(timer)
                self.state.retrying -= 1
                self._requeue_unspent(item)

            timer = loop.call_later(delay, requeue)
            self._timers.add(timer)
            return
        session.state.pages_failed += 1
        self._resolve(
            item,
            "failed",
            reason=failure.reason,
            message=message,
            elapsed=elapsed,
            session=session.handle.session_id,
        )

    def _resolve(
        self,
        item: Work,
        status: str,
        *,
        value: Any = None,
        reason: str | None = None,
        message: str | None = None,
        elapsed: float | None = None,
        session: str | None = None,
    ) -> None:
        if item.status is not None:
            return
        item.status = status
        item.value = value
        item.reason = reason
        item.message = message
        item.elapsed = elapsed
        item.session = session
        rows = len(item.positions)
        if status == "ok":
            self.state.rows_ok += rows
        else:
            self.state.rows_failed += rows
        if self.state.first_result_s is None:
            self.state.first_result_s = time.monotonic() - self.state.started
        self._pending -= 1
        self._emit(ev.ROW_DONE, session, item)
        if self._pending <= 0:
            self._done.set()

    # ----------------------------------------------------------------- records
    def _record_session_error(
        self,
        session: _Session | None,
        stage: str,
        reason: str,
        exc: BaseException | None,
        *,
        message: str | None = None,
    ) -> dict[str, Any]:
        text = message or (str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else "")
        record = self._error_record(
            scope="session",
            session=session.handle.session_id if session else None,
            stage=stage,
            reason=reason,
            error_type=type(exc).__name__ if exc is not None else "SessionLost",
            message=redact(text or reason, *self._secrets),
        )
        self.error_records.append(record)
        return record

    def _error_record(
        self,
        *,
        scope: str,
        session: str | None,
        stage: str,
        reason: str,
        error_type: str,
        message: str | None,
        row: Any = None,
        url: str | None = None,
        attempt: int | None = None,
        extra_message: str = "",
    ) -> dict[str, Any]:
        return {
            "scope": scope,
            "session": session,
            "row": row,
            "url": url,
            "attempt": attempt,
            "stage": stage,
            "reason": reason,
            "error_type": error_type,
            "message": (message or "") + extra_message,
            "time": datetime.now(timezone.utc),
        }

    def _emit(self, name: str, session: str | None = None, detail: Any = None) -> None:
        observer = self._observer
        if observer is None:
            return
        try:
            observer(Event(name, session, detail), self.state)
        except Exception:
            log.warning("The progress display failed and was turned off for this run.", exc_info=True)
            self._observer = None


class _Escalated(Exception):
    """Carries a KeyboardInterrupt/SystemExit out of a task without stopping the event loop."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


async def _guarded(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    # A SystemExit or KeyboardInterrupt raised inside a task would escape the task and
    # stop the event loop, so it travels as an ordinary exception instead.
    try:
        return await fn(*args)
    except (KeyboardInterrupt, SystemExit) as exc:
        raise _Escalated(exc) from None


if sys.version_info >= (3, 11):

    async def _call_with_timeout(fn: ScrapeFn, page: Any, row: Row, timeout: float) -> Any:
        # asyncio.timeout runs the callable in the worker's own task; wait_for would
        # create (and schedule) one task per row.
        async with asyncio.timeout(timeout):
            return await _guarded(fn, page, row)

else:  # pragma: no cover - Python 3.10

    async def _call_with_timeout(fn: ScrapeFn, page: Any, row: Row, timeout: float) -> Any:
        return await asyncio.wait_for(_guarded(fn, page, row), timeout)


#: Names through which code can read a frame's locals without naming them.
_INTROSPECTION = frozenset(
    {"locals", "vars", "dir", "eval", "exec", "_getframe", "currentframe", "stack", "f_locals", "breakpoint"}
)
_LOADS = frozenset(
    {"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR", "LOAD_FAST_LOAD_FAST", "LOAD_CLOSURE"}
)


def reads_page(fn: Any) -> bool:
    """False only when ``fn``'s own code provably never reads its ``page`` parameter.

    Conservative: anything that is not a plain (async) function, takes the page
    through ``*args``, lets a nested function capture it, or could read its
    locals by introspection counts as reading it.

    Example:
        >>> async def by_row(page, row):
        ...     return {"n": row.position}
        >>> async def title(page, row):
        ...     return await page.title()
        >>> reads_page(by_row), reads_page(title)
        (False, True)
    """
    if not inspect.isfunction(fn) or getattr(fn, "__wrapped__", None) is not None:
        return True  # a bound method, a partial, a callable object, a decorated function
    code = fn.__code__
    if code.co_argcount < 1:
        return True
    name = code.co_varnames[0]
    if name in code.co_cellvars or _names(code) & _INTROSPECTION:
        return True
    for instruction in dis.get_instructions(code):
        if instruction.opname in _LOADS:
            argval = instruction.argval
            if argval == name or (isinstance(argval, tuple) and name in argval):
                return True
    return False


def _names(code: Any) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names(const)
    return names


async def _close_quietly(page: Any) -> None:
    if page is None:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(page.close(), 5)
