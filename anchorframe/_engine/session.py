"""One browser session of a run: its budget, its state, and the contexts its tabs work in.

* :class:`SessionBudget`: how many sessions a run may still ask for (no I/O).
* :class:`LiveSession`: a connected session, its browser, context and tabs.
* :func:`first_context` / :func:`fresh_context`: the browser context rows run in, with
  the run's identity (``user_agent=``, ``headers=``, ``locale=``, ``timezone=``);
  :func:`prepare_context`: resource blocking and the user's ``setup`` in it.

The :class:`~anchorframe._engine.supervisor.Supervisor` provisions, replaces and releases
sessions; these are the parts that concern one session at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from .._core.events import SessionState
from .._core.options import EngineOptions
from ..backends._base import SessionHandle
from .tabs import guarded, open_page

__all__ = ["LiveSession", "SessionBudget", "first_context", "fresh_context", "prepare_context"]


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


async def first_context(browser: Any, options: EngineOptions, *, cloud: bool) -> Any:
    """The context a new session's tabs work in.

    A cloud session's own context (its profile, its fingerprint) is kept, with the
    identity's headers set on it; so is a local browser's when the run asks for no
    context settings. Otherwise a new context carries them (locale, timezone, UA).
    """
    contexts = browser.contexts
    identity = options.identity
    own_settings = identity.context_options().keys() - {"extra_http_headers"}
    if contexts and (cloud or not own_settings):
        context = contexts[0]
        if identity.headers or identity.user_agent:
            await context.set_extra_http_headers(identity.request_headers())
        return context
    return await browser.new_context(**identity.context_options())


async def fresh_context(browser: Any, options: EngineOptions) -> Any:
    """A new context in ``browser``, prepared as a session's first one (for a tab's renewal)."""
    context = await browser.new_context(**options.identity.context_options())
    try:
        await prepare_context(context, options)
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(context.close(), 5)
        raise
    return context


async def prepare_context(context: Any, options: EngineOptions) -> None:
    """Resource blocking, then the user's ``setup`` on a page of ``context``."""
    if options.browser.block:
        await context.route("**/*", _blocker(options.browser.block))
    if options.browser.setup is not None:
        page = await open_page(context, options.attempts.timeout)
        try:
            await asyncio.wait_for(guarded(options.browser.setup, page), options.attempts.timeout)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(page.close(), 5)


def _blocker(block: frozenset[str]) -> Callable[[Any], Awaitable[None]]:
    async def route(route: Any) -> None:
        if route.request.resource_type in block:
            await route.abort()
        else:
            await route.continue_()

    return route
