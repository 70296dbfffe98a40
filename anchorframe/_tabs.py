"""The tab worker: the browser calls for one row.

A :class:`Tab` holds at most one page of its session. For each row it opens a
page when it has none, runs the user's callable on it under the row's timeout,
and closes it afterwards, unless the callable leaves no state behind on a page
(the built-in extractors, or ``reuse_pages=True``): then the page serves the
next row too (~1.7x the pages per second, see ``benchmarks/``). A callable
always gets a real page. Every decision about the outcome is the ledger's.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from ._retry import looks_like_lost_browser

__all__ = ["Escalated", "Tab", "guarded", "open_page"]

ScrapeFn = Callable[[Any, Any], Awaitable[Any]]


class Escalated(Exception):
    """Carries a KeyboardInterrupt/SystemExit out of a task without stopping the event loop."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


async def guarded(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Await ``fn(*args)``; a SystemExit or KeyboardInterrupt travels as :class:`Escalated`.

    Raised inside a task, those would escape the task and stop the event loop.
    """
    try:
        return await fn(*args)
    except (KeyboardInterrupt, SystemExit) as exc:
        raise Escalated(exc) from None


async def open_page(context: Any, timeout: float) -> Any:
    """A new page in ``context`` with the row timeout as Playwright's default."""
    page = await context.new_page()
    page.set_default_timeout(timeout * 1000)
    # Pop-ups (window.open, target=_blank) are not ours: close them so they cannot pile up.
    page.on("popup", lambda popup: asyncio.ensure_future(close_quietly(popup)))
    return page


async def close_quietly(page: Any) -> None:
    """Close ``page``, giving up after 5 s; a page of a dead browser is gone anyway."""
    if page is None:
        return
    with contextlib.suppress(Exception):
        await _within(5.0, page.close())


class Tab:
    """One tab of a session: runs rows one after another on a page of ``context``."""

    def __init__(self, context: Any, browser: Any, *, timeout: float, reuse_page: bool) -> None:
        self.context = context
        self.browser = browser
        self.timeout = timeout
        self.reuse_page = reuse_page
        self._page: Any = None

    async def run(self, fn: ScrapeFn, row: Any) -> Any:
        """``await fn(page, row)`` under the row's timeout; the page is kept only after a success."""
        try:
            if self._page is None or self._page.is_closed():
                self._page = await open_page(self.context, self.timeout)
            value = await _call_with_timeout(fn, self._page, row, self.timeout)
        except BaseException:
            await self.close()
            raise
        if not self.reuse_page:
            await self.close()
        return value

    async def browser_gone(self, exc: BaseException, lost: Callable[[], bool]) -> bool:
        """Whether ``exc`` came from the browser dying rather than from the row."""
        if lost():
            return True
        if not looks_like_lost_browser(exc):
            return False
        # The "disconnected" event can trail the error by a moment.
        for _ in range(10):
            if lost() or not self.browser.is_connected():
                return True
            await asyncio.sleep(0.05)
        return False

    async def close(self) -> None:
        page, self._page = self._page, None
        await close_quietly(page)


async def _call_with_timeout(fn: ScrapeFn, page: Any, row: Any, timeout: float) -> Any:
    return await _within(timeout, guarded(fn, page, row))


if sys.version_info >= (3, 11):

    async def _within(seconds: float, awaitable: Awaitable[Any]) -> Any:
        # asyncio.timeout runs the awaitable in the worker's own task; wait_for would
        # create (and schedule) one task per call, twice per row.
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - Python 3.10

    async def _within(seconds: float, awaitable: Awaitable[Any]) -> Any:
        return await asyncio.wait_for(awaitable, seconds)
