"""The tab worker: the browser calls for one row.

A :class:`Tab` holds at most one page of its session. For each row it opens a
page when it has none, runs the user's callable on it under the row's timeout,
and closes it afterwards, unless the callable leaves no state behind on a page
(the built-in extractors, or ``reuse_pages=True``): then the page serves the
next row too (~1.7x the pages per second, see ``benchmarks/``). A callable
always gets a real page. Every decision about the outcome is the ledger's.

Before it closes a page, the tab notes what the site said (:class:`Signals`):
a 429/503 main document (the site asks to slow down) or a block page (a bot
challenge). The main document is the one the row's navigations returned
(:class:`~anchorframe._render.page_signals.MainDocument`): no event per sub-resource, and on
an ordinary page no round trip beyond the callable's own.

A session's tabs share one browser context (:class:`SharedContext`). After
``renew_after`` rows in it, the session makes one fresh context and each tab
moves to it at its next row; the old context closes when its last tab has left,
because Playwright frees a context's objects only when the context closes: a
long run's memory stays flat. One context per session, not per tab: with a
context of its own each, 4 tabs ran at 4.4 rows/s against 10.6 rows/s sharing
one (Chromium gives each context its own renderer processes; ``benchmarks/soak.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._core.retry import looks_like_lost_browser
from .._render.blocked import Blocked
from .._render.page_signals import MainDocument, Throttle, blocked_of, read_page, throttle_of
from ..errors import RowFailed
from . import driver as _driver

__all__ = ["Escalated", "SharedContext", "Signals", "Tab", "guarded", "open_page"]

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
    #: The main document's HTTP status (None: the callable made no navigation, or it is not known).
    status: int | None = None
    #: A user's callable returned, but its page answered with an error status it did not allow.
    http_error: RowFailed | None = None


NO_SIGNALS = Signals()
Renew = Callable[[], Awaitable[Any]]


class SharedContext:
    """The browser context a session's tabs share, renewed after ``renew_after`` rows in it.

    A renewal that fails (``setup`` raised there, or timed out) costs no row: the session goes
    on in the context it has, ``failed(exc, gave_up)`` is told, and the next try comes after
    ``renew_after`` more rows; after :attr:`GIVE_UP_AFTER` failures in a row the session stops
    renewing. A KeyboardInterrupt or SystemExit (as :class:`Escalated`) still ends the run.

    Args:
        context: the session's first context (kept open: it may be the browser's own).
        renew: ``await renew()`` returns a fresh, prepared context (None: never renew).
        renew_after: rows run in one context before the session moves to a fresh one.
        failed: called with each failed renewal's exception, and whether it was the last try.

    Example:
        >>> import asyncio
        >>> class Context:
        ...     async def close(self): print("closed")
        >>> async def fresh():
        ...     return Context()
        >>> async def main():
        ...     shared = SharedContext(Context(), renew=fresh, renew_after=2)
        ...     a = await shared.take(None)        # tab A, row 1
        ...     b = await shared.take(None)        # tab B, row 2: the context is due
        ...     c = await shared.take(a)           # tab A, row 3, in a fresh context
        ...     await shared.leave(a)
        ...     d = await shared.take(b)           # tab B follows it
        ...     await shared.leave(b)              # nobody is left in the first context
        ...     return a is b, c is d, c is a, shared.renewals  # (which stays open)
        >>> asyncio.run(main())
        (True, True, False, 1)
    """

    #: Failed renewals in a row after which a session keeps its context to the end.
    GIVE_UP_AFTER = 3

    def __init__(
        self,
        context: Any,
        *,
        renew: Renew | None = None,
        renew_after: int | None = None,
        failed: Callable[[Exception, bool], None] | None = None,
    ) -> None:
        self.current = context
        self.renew = renew if renew_after else None
        self.renew_after = renew_after
        self.failed = failed
        #: Fresh contexts the session moved to (for tests and the soak benchmark).
        self.renewals = 0
        #: Renewals that failed since the last one that worked.
        self.failures = 0
        self._first = context
        self._rows = 0  # rows started in ``current``
        self._tabs: dict[int, int] = {}  # id(context) -> tabs in it
        self._making: asyncio.Future[Any] | None = None

    async def take(self, held: Any) -> Any:
        """The context for a tab's next row; ``held`` is the one its last row ran in (or None).

        The tab whose row makes the context due waits for the fresh one; the others go on
        in the old one until it is ready.
        """
        due = self.renew is not None and self.renew_after and self._rows >= self.renew_after
        if due and self._making is None:
            assert self.renew is not None
            making = self._making = asyncio.ensure_future(self._make(self.renew))
            making.add_done_callback(_retrieved)
            # Shielded: were this tab cancelled, the making goes on for the others.
            await asyncio.shield(making)
        context = self.current
        if held is not context:  # the tab then closes its page there and calls leave(held)
            self._tabs[id(context)] = self._tabs.get(id(context), 0) + 1
        self._rows += 1
        return context

    async def _make(self, renew: Renew) -> None:
        try:
            fresh = await renew()
        except Escalated:
            raise
        except Exception as exc:
            # Not the row's fault, nor a reason to stop: go on here, try again later.
            self._rows = 0
            self.failures += 1
            gave_up = self.failures >= self.GIVE_UP_AFTER
            if gave_up:
                self.renew = None
            if self.failed is not None:
                self.failed(exc, gave_up)
            return
        finally:
            self._making = None
        old, self.current = self.current, fresh
        self._rows = 0
        self.renewals += 1
        self.failures = 0
        if not self._tabs.get(id(old)):
            await self._close(old)

    async def leave(self, context: Any) -> None:
        """A tab has left ``context`` (moved on, or ended): close it if it was the last one there."""
        left = self._tabs.get(id(context), 0) - 1
        if left > 0:
            self._tabs[id(context)] = left
            return
        self._tabs.pop(id(context), None)
        if context is not self.current:
            await self._close(context)

    async def aclose(self) -> None:
        """Close the context made last (the session's first one stays: it may be the browser's own)."""
        making, self._making = self._making, None
        if making is not None:
            making.cancel()
            with contextlib.suppress(BaseException):
                await making
        await self._close(self.current)

    async def _close(self, context: Any) -> None:
        if context is self._first:
            return
        with contextlib.suppress(Exception):
            await _within(5.0, context.close())


class Tab:
    """One tab of a session: runs rows one after another on a page of the ``shared`` context.

    Args:
        expect_content: the callable is a built-in extractor: an all-empty value on a
            near-empty page is taken for a block page.
    """

    def __init__(
        self,
        shared: SharedContext,
        browser: Any,
        *,
        timeout: float,
        reuse_page: bool,
        expect_content: bool = False,
        allow_status: frozenset[int] | None = None,
    ) -> None:
        self.shared = shared
        self.browser = browser
        self.timeout = timeout
        self.reuse_page = reuse_page
        self.expect_content = expect_content
        #: A user's callable (not an extractor, which checks its response itself): a main document
        #: that answered >= 400, outside these statuses, fails its row as ``http_error``.
        self.allow_status = allow_status
        #: What the last row's page said (read before the page was closed).
        self.signals = NO_SIGNALS
        self.context: Any = None
        self._page: Any = None
        self._doc: MainDocument | None = None

    async def run(self, fn: ScrapeFn, row: Any) -> Any:
        """``await fn(page, row)`` under the row's timeout; the page is kept only after a success."""
        self.signals = NO_SIGNALS
        self.seen = None
        try:
            context = await self.shared.take(self.context)
            if context is not self.context:
                await self.close()
                old, self.context = self.context, context
                if old is not None:
                    await self.shared.leave(old)
            if self._page is None or self._page.is_closed():
                self._page = await open_page(self.context, self.timeout)
                self._doc = MainDocument.watch(self._page)
            elif self._doc is not None:
                self._doc.reset()
            value = await _call_with_timeout(fn, self._page, row, self.timeout)
        except BaseException as exc:
            # A row that timed out is still loading: there is no block page to read yet, and
            # reading would only keep the row (and its tab) waiting longer.
            if isinstance(exc, Exception) and not _timed_out(exc):
                await self._read_signals(failed=True, value=None)
            if isinstance(exc, Exception) and not isinstance(exc, Escalated):
                await self._witness()
            await self.close()
            raise
        await self._read_signals(failed=False, value=value)
        if self.signals.blocked is not None or self.signals.http_error is not None:
            await self._witness()
        if not self.reuse_page:
            await self.close()
        return value

    # ---- issue 26: what a failed row's page showed (anchorframe._render.evidence), kept apart
    #: Set by the engine: ``await witness(page)`` takes a failed row's evidence (None: none taken).
    witness: Callable[[Any], Awaitable[Any]] | None = None
    #: What ``witness`` took of the last row's page (None: it succeeded, or nothing was taken).
    seen: Any = None

    async def _witness(self) -> None:
        """Take the evidence of a failed row before its page is closed or reused (never raises)."""
        if self.witness is not None and self._page is not None:
            with contextlib.suppress(Exception):
                self.seen = await self.witness(self._page)

    # ----
    async def _read_signals(self, *, failed: bool, value: Any) -> None:
        """Note a throttle or a block page; reads the page (one round trip) only on signs of trouble."""
        doc, page = self._doc, self._page
        if doc is None or page is None:
            return
        await doc.confirm(page, timeout=min(1.0, self.timeout))
        status = doc.status
        self.signals = Signals(status=status)
        throttle = throttle_of(doc, time.time())
        if throttle is not None:
            self.signals = Signals(throttle=throttle, status=status)
            return
        empty = not failed and self.expect_content and _empty(value)
        if not (failed or empty or (status or 0) >= 400):
            return
        with contextlib.suppress(Exception):
            # The extractors read it in their own evaluate; else one round trip (a loaded page answers in ms).
            text = doc.text or await read_page(page, timeout=min(1.0, self.timeout))
            blocked = blocked_of(doc, text, expect_content=empty)
            if blocked is not None:
                self.signals = Signals(blocked=blocked, status=status)
                return
        allowed = self.allow_status
        if (
            not failed
            and status is not None
            and status >= 400
            and allowed is not None
            and status not in allowed
        ):
            url = doc.url or "the page"
            self.signals = Signals(
                status=status,
                http_error=RowFailed(
                    "http_error",
                    f"HTTP {status} for {url} (the scraper returned, but its page is an error; "
                    f"allow_status={{{status}}} keeps such pages)",
                    retryable=status >= 500,
                ),
            )

    async def browser_gone(self, exc: BaseException, lost: Callable[[], bool]) -> bool:
        """Whether ``exc`` came from the browser dying rather than from the row."""
        if lost() or _driver.connection_closed(self.browser):  # the browser, or Playwright's driver
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
        """Close the page and leave the shared context."""
        await self.close()
        context, self.context = self.context, None
        if context is not None:
            await self.shared.leave(context)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a failed renewal seen (the tab that waited for it reports it; one that left does not)."""
    if not future.cancelled():
        future.exception()


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
