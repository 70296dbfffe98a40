"""The tab worker: the browser calls for one row.

A :class:`Tab` holds at most one page of its session. For each row it opens a
page when it has none, runs the user's callable on it under the row's timeout,
and closes it afterwards, unless the callable leaves no state behind on a page
(the built-in extractors, or ``reuse_pages=True``): then the page serves the
next row too (~1.7x the pages per second, see ``benchmarks/``). A callable
always gets a real page. Every decision about the outcome is the ledger's.

Before it closes a page, the tab notes what the site said (:class:`Signals`):
a 429/503 main document (the site asks to slow down) or a block page (a bot
challenge). After ``renew_after`` rows it moves to a fresh browser context
(``renew``), because Playwright frees a context's objects only when the context
closes: a long run's memory stays flat.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._blocked import Blocked
from ._page_signals import MainDocument, Throttle, blocked_of, read_page, throttle_of
from ._retry import looks_like_lost_browser

__all__ = ["Escalated", "Signals", "Tab", "guarded", "open_page"]

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


@dataclass(frozen=True)
class Signals:
    """What the site said on a row's page, beside the callable's outcome."""

    throttle: Throttle | None = None
    blocked: Blocked | None = None


NO_SIGNALS = Signals()
Renew = Callable[[Any], Awaitable[Any]]


class Tab:
    """One tab of a session: runs rows one after another on a page of ``context``.

    Args:
        renew: ``await renew(old_context)`` returns a fresh, prepared context (None: never renew).
        renew_after: rows on one context before the tab renews it.
        expect_content: the callable is a built-in extractor: an all-empty value on a
            near-empty page is taken for a block page.
    """

    def __init__(
        self,
        context: Any,
        browser: Any,
        *,
        timeout: float,
        reuse_page: bool,
        renew: Renew | None = None,
        renew_after: int | None = None,
        expect_content: bool = False,
    ) -> None:
        self.context = context
        self.browser = browser
        self.timeout = timeout
        self.reuse_page = reuse_page
        self.renew = renew
        self.renew_after = renew_after
        self.expect_content = expect_content
        #: What the last row's page said (read before the page was closed).
        self.signals = NO_SIGNALS
        #: Fresh contexts this tab moved to (for tests and the soak benchmark).
        self.renewals = 0
        self._page: Any = None
        self._doc: MainDocument | None = None
        self._rows_on_context = 0
        self._own_context = False

    async def run(self, fn: ScrapeFn, row: Any) -> Any:
        """``await fn(page, row)`` under the row's timeout; the page is kept only after a success."""
        self.signals = NO_SIGNALS
        try:
            if self.renew is not None and self.renew_after and self._rows_on_context >= self.renew_after:
                await self._renew()
            if self._page is None or self._page.is_closed():
                self._page = await open_page(self.context, self.timeout)
                self._doc = MainDocument.watch(self._page)
            elif self._doc is not None:
                self._doc.reset()
            self._rows_on_context += 1
            value = await _call_with_timeout(fn, self._page, row, self.timeout)
        except BaseException as exc:
            # A row that timed out is still loading: there is no block page to read yet, and
            # reading would only keep the row (and its tab) waiting longer.
            if isinstance(exc, Exception) and not _timed_out(exc):
                await self._read_signals(failed=True, value=None)
            await self.close()
            raise
        await self._read_signals(failed=False, value=value)
        if not self.reuse_page:
            await self.close()
        return value

    async def _read_signals(self, *, failed: bool, value: Any) -> None:
        """Note a throttle or a block page; reads the page (one round trip) only on signs of trouble."""
        doc, page = self._doc, self._page
        if doc is None or page is None:
            return
        throttle = throttle_of(doc, time.time())
        if throttle is not None:
            self.signals = Signals(throttle=throttle)
            return
        empty = not failed and self.expect_content and _empty(value)
        if not (failed or empty or (doc.status or 0) >= 400):
            return
        with contextlib.suppress(Exception):
            text = await read_page(page, timeout=min(1.0, self.timeout))  # a loaded page answers in ms
            blocked = blocked_of(doc, text, expect_content=empty)
            if blocked is not None:
                self.signals = Signals(blocked=blocked)

    async def _renew(self) -> None:
        """Move to a fresh context; the old one closes (with every object Playwright kept for it)."""
        assert self.renew is not None
        await self.close()
        old, own = self.context, self._own_context
        self.context = await self.renew(old)
        self._own_context = True
        self._rows_on_context = 0
        self.renewals += 1
        if own:
            with contextlib.suppress(Exception):
                await _within(5.0, old.close())

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
        self._doc = None
        await close_quietly(page)

    async def aclose(self) -> None:
        """Close the page, and the context if this tab made it (the session's own stays)."""
        await self.close()
        if self._own_context:
            self._own_context = False
            with contextlib.suppress(Exception):
                await _within(5.0, self.context.close())


def _timed_out(exc: BaseException) -> bool:
    """The row's timeout, or Playwright's (its TimeoutError is a class of its own)."""
    return isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or type(exc).__name__ == "TimeoutError"


def _empty(value: Any) -> bool:
    """An extractor's value with nothing in it: every field None or blank."""
    if value is None:
        return True
    if isinstance(value, Mapping):
        return all(v is None or (isinstance(v, str) and not v.strip()) for v in value.values())
    return False


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
