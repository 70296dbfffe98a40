"""Playwright's driver, kept warm between the runs of this process.

A run that uses a browser talks to it through Playwright's driver: a Node.js process
that loads Playwright when it starts, ~0.4 s and ~0.5 s of CPU before the first
session can connect (benchmarks/README.md, section 7). ``scrape()`` runs every run on
the portal's event loop (``_portal.py``) and a notebook calls it again and again, so
on that loop the driver outlives a run: it is stopped :data:`IDLE_SECONDS` after the
last run that used it ended, or with the process (its stdin closes; no browser hangs
on it: each run ends its own sessions). On any other loop (a shard's ``asyncio.run``)
a run starts and stops its own driver, as before. Runs at the same time share it.
A driver that died between runs (killed, crashed) is noticed and started again; one
that dies during a run is noticed by the run (:func:`alive`), which asks for another.

Example:
    >>> playwright = await acquire()  # doctest: +SKIP
    >>> browser = await playwright.chromium.connect_over_cdp(url)  # doctest: +SKIP
    >>> await release(playwright)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from . import portal as _portal

__all__ = ["IDLE_SECONDS", "acquire", "alive", "connection_closed", "release", "stop_idle"]

log = logging.getLogger("anchorframe")

#: Seconds a driver no run uses is kept on the portal's loop before it is stopped.
IDLE_SECONDS = 300.0
#: Seconds the interpreter's exit waits for the warm driver to stop.
EXIT_TIMEOUT = 3.0


class _Driver:
    """One started (or starting) driver on one loop, and the runs using it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        from playwright.async_api import async_playwright

        self.loop = loop
        self.manager = async_playwright()
        self.started: asyncio.Future[Any] = asyncio.ensure_future(self.manager.__aenter__())
        self.started.add_done_callback(self._read_its_death)
        self.users = 0
        self.timer: asyncio.TimerHandle | None = None
        self.stopping = False
        #: The driver's process, once started (found among this process's children).
        self.process: Any = None

    def _read_its_death(self, started: asyncio.Future[Any]) -> None:
        """Once started: read the error Playwright sets when the driver dies, which nothing else
        awaits (asyncio would print "Future exception was never retrieved"; runs notice the death
        through :meth:`alive`)."""
        transport = getattr(getattr(self.manager, "_client", None), "_transport", None)
        died = getattr(transport, "on_error_future", None)
        if isinstance(died, asyncio.Future):
            died.add_done_callback(lambda future: future.cancelled() or future.exception())

    def find_process(self) -> None:
        """Note which child process is this driver (one no other driver of this process claimed)."""
        import psutil

        claimed = {d.process.pid for d in _by_playwright.values() if d.process is not None}
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process().children():
                with contextlib.suppress(psutil.Error):
                    if child.pid not in claimed and "run-driver" in " ".join(child.cmdline()):
                        self.process = child
                        return

    def alive(self) -> bool:
        """False once it failed to start, its process died or its connection closed."""
        if self.stopping:
            return False
        if not self.started.done():
            return True
        if self.started.cancelled() or self.started.exception() is not None:
            return False
        if self.process is not None:
            import psutil

            try:  # a killed driver is a zombie at once; the closed connection is seen later
                if self.process.status() == psutil.STATUS_ZOMBIE:
                    return False
            except psutil.Error:
                return False
        return not connection_closed(self.started.result())

    async def stop(self) -> None:
        self.stopping = True
        if self.timer is not None:
            self.timer.cancel()
        if not self.started.done():
            self.started.cancel()
        with contextlib.suppress(BaseException):
            await self.started
        if not self.started.cancelled() and self.started.exception() is None:
            with contextlib.suppress(Exception):
                await self.manager.__aexit__(None, None, None)


#: The warm driver of the portal's loop (None: none started, or it was stopped).
_warm: _Driver | None = None
#: The driver behind each Playwright object handed out (for release()).
_by_playwright: dict[int, _Driver] = {}
#: Drivers being stopped in the background.
_stopping: set[asyncio.Task[None]] = set()


def _keeps_warm(loop: asyncio.AbstractEventLoop) -> bool:
    return loop is _portal._loop


async def acquire() -> Any:
    """The Playwright object of a running driver (started, or reused on the portal's loop)."""
    global _warm
    loop = asyncio.get_running_loop()
    if _keeps_warm(loop):
        driver = _warm
        if driver is not None and driver.loop is not loop:
            _warm = None  # the portal's loop was started again: that driver went with the old one
            driver = None
        if driver is None or not driver.alive():
            if driver is not None:
                log.info("Playwright's driver is gone; starting it again.")
                _forget(driver)
            driver = _warm = _Driver(loop)
            _stop_at_exit()
        if driver.timer is not None:
            driver.timer.cancel()
            driver.timer = None
    else:
        driver = _Driver(loop)
    driver.users += 1
    try:
        # Shielded: a run cancelled while the driver starts leaves the start to the others.
        playwright = await asyncio.shield(driver.started)
    except BaseException:
        driver.users -= 1
        if driver.users == 0 and not _keep_idle(driver):
            _forget(driver)
        raise
    if driver.process is None:
        driver.find_process()
    _by_playwright[id(playwright)] = driver
    return playwright


def alive(playwright: Any) -> bool:
    """False once the driver behind ``playwright`` died (killed, crashed) or was stopped."""
    driver = _by_playwright.get(id(playwright))
    if driver is not None:
        return driver.alive()
    return not connection_closed(playwright)


def connection_closed(obj: Any) -> bool:
    """Whether the driver behind a Playwright object (Playwright, Browser, Page...) is gone.

    Playwright marks its connection closed before it fails the calls in flight, so a call
    that failed because the driver died can tell; ``Browser.is_connected()`` still says
    True then, and no "disconnected" event comes.
    """
    connection = getattr(getattr(obj, "_impl_obj", None), "_connection", None)
    return connection is not None and getattr(connection, "_closed_error", None) is not None


async def release(playwright: Any) -> None:
    """A run is done with ``playwright``: stop its driver, or keep the portal's IDLE_SECONDS more."""
    driver = _by_playwright.get(id(playwright))
    if driver is None:
        return
    driver.users = max(0, driver.users - 1)
    if driver.users or _keep_idle(driver):
        return
    _by_playwright.pop(id(playwright), None)
    await driver.stop()


def _keep_idle(driver: _Driver) -> bool:
    """No run uses ``driver``: keep it IDLE_SECONDS more if it is the portal's and alive."""
    if driver is not _warm or not driver.alive():
        return False
    driver.timer = driver.loop.call_later(IDLE_SECONDS, _stop_idle_driver, driver)
    return True


def _stop_idle_driver(driver: _Driver) -> None:
    driver.timer = None
    if driver.users == 0:
        _forget(driver)


def _forget(driver: _Driver) -> None:
    """Stop ``driver`` in the background; the next run starts another."""
    global _warm
    if _warm is driver:
        _warm = None
    for key, known in list(_by_playwright.items()):
        if known is driver:
            del _by_playwright[key]
    task = driver.loop.create_task(driver.stop())
    _stopping.add(task)
    task.add_done_callback(_stopping.discard)


_exit_hook = False


def _stop_at_exit() -> None:
    """At interpreter exit, stop the warm driver (else it lingers a few seconds after the process)."""
    global _exit_hook
    if _exit_hook:
        return
    _exit_hook = True
    import atexit
    import concurrent.futures

    def stop() -> None:
        loop = _portal._loop
        if _warm is None or loop is None or loop.is_closed() or not loop.is_running():
            return
        with contextlib.suppress(Exception, concurrent.futures.TimeoutError):
            asyncio.run_coroutine_threadsafe(stop_idle(), loop).result(EXIT_TIMEOUT)

    atexit.register(stop)


async def stop_idle() -> None:
    """Stop the portal's driver now if no run uses it (tests; a caller that wants it gone now)."""
    driver = _warm
    if driver is not None and driver.users == 0:
        _forget(driver)
    await asyncio.gather(*_stopping, return_exceptions=True)
