"""The only sync -> async bridge: one event loop in its own daemon thread.

``scrape()`` runs the engine on this loop and blocks until it ends, so it works
the same in a plain script, in Jupyter (where the main thread already runs a
loop), and where a user has applied ``nest_asyncio``. ``ascrape()`` runs on the
same loop too and awaits the outcome from the caller's loop, so the Playwright
driver always lives in a loop that anchorframe owns.

Ctrl-C (or a kernel interrupt) while ``scrape()`` waits cancels the run on the
portal loop and waits for its clean-up (sessions ended, processes killed).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["await_in_portal", "portal_loop", "run_in_portal"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None

#: Seconds to wait for a cancelled run to release its sessions.
CLEANUP_TIMEOUT = 60.0
#: Seconds between two wake-ups of a caller's loop that awaits a run (see await_in_portal).
WAKE_SECONDS = 0.25


def portal_loop() -> asyncio.AbstractEventLoop:
    """The portal's event loop, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=serve, name="anchorframe-portal", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = loop, thread
        return _loop


class _Value:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Raise:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Call:
    """A coroutine running on the portal, with a way to cancel it and wait for its clean-up."""

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self.loop = portal_loop()
        self.finished = threading.Event()
        self.task: asyncio.Task[Any] | None = None
        self.future: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(
            self._run(coro), self.loop
        )

    async def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        self.task = asyncio.current_task()
        try:
            return _Value(await coro)
        except (KeyboardInterrupt, SystemExit) as exc:
            # Raised inside a task these would stop the portal's loop itself: carry them out instead.
            return _Raise(exc)
        finally:
            self.finished.set()

    @staticmethod
    def unwrap(outcome: Any) -> Any:
        if isinstance(outcome, _Raise):
            raise outcome.exc
        return outcome.value

    def cancel(self) -> None:
        def cancel_task() -> None:
            if self.task is not None:
                self.task.cancel()
            else:
                self.future.cancel()

        self.loop.call_soon_threadsafe(cancel_task)


def run_in_portal(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the portal loop and block until it ends.

    On KeyboardInterrupt (or any other exception raised in the waiting thread) the
    run is cancelled and given CLEANUP_TIMEOUT seconds to release everything before
    the exception propagates.
    """
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError(
            "scrape() was called from inside an anchorframe callable; use `await ascrape(...)` there."
        )
    call = _Call(coro)
    try:
        while not call.finished.wait(0.5):
            if _thread is None or not _thread.is_alive():
                raise RuntimeError(
                    "anchorframe's event-loop thread stopped unexpectedly; please report this."
                )
    except KeyboardInterrupt:
        call.cancel()
        try:
            call.finished.wait(CLEANUP_TIMEOUT)
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop waiting; atexit still ends the browsers
        try:
            return call.unwrap(call.future.result(timeout=1))  # type: ignore[no-any-return]
        except (concurrent.futures.CancelledError, concurrent.futures.TimeoutError):
            raise KeyboardInterrupt from None
    except BaseException:
        # Anything else raised in this thread while it waits (a SystemExit from a signal
        # handler, a test runner's timeout): the run must not go on alone. Stop it, release
        # everything, then let the exception through.
        call.cancel()
        with contextlib.suppress(BaseException):  # a second interrupt only stops the waiting
            call.finished.wait(CLEANUP_TIMEOUT)
        raise
    return call.unwrap(call.future.result())  # type: ignore[no-any-return]


async def await_in_portal(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the portal loop and await it from the caller's loop.

    Cancelling the awaiting task cancels the run and waits for its clean-up.
    """
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None and running is _loop:
        return await coro
    call = _Call(coro)
    wrapped = asyncio.wrap_future(call.future)
    try:
        # Poll instead of one long wait: ipykernel hands a kernel interrupt to an awaiting
        # cell only when the kernel's loop next wakes up (ipython/ipykernel#881), which an
        # idle loop does when the run ends. Waking every WAKE_SECONDS makes it prompt.
        while not wrapped.done():
            await asyncio.wait({wrapped}, timeout=WAKE_SECONDS)
        return call.unwrap(wrapped.result())  # type: ignore[no-any-return]
    except asyncio.CancelledError:
        call.cancel()
        # Wait for the clean-up without blocking the caller's loop.
        with_timeout = asyncio.get_running_loop().run_in_executor(None, call.finished.wait, CLEANUP_TIMEOUT)
        try:
            await asyncio.shield(with_timeout)
        except asyncio.CancelledError:
            pass
        if wrapped.done() and not wrapped.cancelled() and wrapped.exception() is not None:
            raise wrapped.exception() from None  # type: ignore[misc]
        raise
