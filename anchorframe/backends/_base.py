"""The interface between the engine and whatever provides browser sessions.

A :class:`Backend` is configuration (reusable, no live state). For each run it
opens a :class:`SessionPool`, which provisions sessions as a stream: each
session is handed to the engine the moment it is ready, so nobody waits for
the slowest one. The pool ends everything it started in ``aclose()``, which
the engine calls in ``finally``.
"""

from __future__ import annotations

import abc
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from .._core.options import RenderMode
    from .._core.plan import Plan

__all__ = ["Backend", "FromEnv", "ProvisionFailure", "Provisioned", "SessionHandle", "SessionPool"]


@dataclass(frozen=True)
class FromEnv:
    """A secret left out of a backend that travels to another process: read it from the first of
    ``names`` set in that process's environment.

    Example:
        >>> os.environ["EXAMPLE_KEY"] = "sk-1"
        >>> FromEnv(("MISSING_KEY", "EXAMPLE_KEY")).resolve()
        'sk-1'
        >>> del os.environ["EXAMPLE_KEY"]
    """

    names: tuple[str, ...]

    def resolve(self) -> str:
        for name in self.names:
            value = os.environ.get(name)
            if value:
                return value
        raise RuntimeError(
            f"This shard needs the backend's API key but none of {list(self.names)} is set in its "
            "environment. Set ANCHOR_API_KEY on every machine that runs a shard (each Dask worker)."
        )


@dataclass(eq=False)
class SessionHandle:
    """A ready browser session. ``cdp_url`` may embed a secret: it is never shown."""

    session_id: str
    cdp_url: str = field(repr=False)
    batch_id: str | None = None
    ready_s: float | None = None
    info: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(eq=False)
class ProvisionFailure:
    """A session that could not be provisioned; ``message`` is the backend's reason.

    ``reason`` becomes the error record's reason. ``replaceable=False`` tells the
    engine not to ask for a replacement (a cost limit: more requests cannot help).
    ``capacity`` is what the backend learned about the account: at most that many
    sessions can be live at once, so the engine lowers its target to it and goes on
    with the sessions it has.
    """

    message: str
    session_id: str | None = None
    batch_id: str | None = None
    retry_count: int = 0
    error_type: str = "ProvisionError"
    reason: str = "provision_failed"
    replaceable: bool = True
    capacity: int | None = None


Provisioned = SessionHandle | ProvisionFailure


class SessionPool(abc.ABC):
    """The live sessions of one run."""

    async def __aenter__(self) -> SessionPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @abc.abstractmethod
    def provision(self, count: int) -> AsyncIterator[Provisioned]:
        """Start ``count`` sessions; yield each as it becomes ready or fails."""

    def replace(self, lost: SessionHandle | ProvisionFailure) -> AsyncIterator[Provisioned]:
        """Provide one session in place of ``lost``; by default, provision one more."""
        return self.provision(1)

    #: Whether ``connect`` needs Playwright's driver (an in-memory pool does not).
    uses_playwright: bool = True

    async def connect(self, handle: SessionHandle, playwright: Any, timeout: float) -> Any:
        """A Playwright ``Browser`` for ``handle``: by default, over CDP at ``handle.cdp_url``."""
        return await playwright.chromium.connect_over_cdp(handle.cdp_url, timeout=timeout * 1000)

    @abc.abstractmethod
    async def end_session(self, handle: SessionHandle) -> None:
        """End one session now (idempotent)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """End every session this pool started (idempotent)."""


class Backend(abc.ABC):
    """Where browser sessions come from.

    ``kind`` selects the sizing rule: "local" shares this machine's cores,
    "cloud" costs session-minutes.
    """

    name: str = "backend"
    kind: str = "local"
    #: Whether its sessions browse the real web, whose sites' robots.txt the run asks
    #: (``scrape(robots=True)``). An in-memory web has none.
    web: bool = True
    #: Whether its browsers run on this machine (they share its memory: the engine uses
    #: fewer tabs when free memory runs low, ``anchorframe._engine.memory.MemoryWatch``).
    browsers_here: bool = False

    @property
    def render_default(self) -> RenderMode:
        """What ``render=None`` means for the built-in extractors on this backend.

        "auto" (plain HTTP first, a browser for the rows that need one) where pages
        fetched over HTTP from this machine are the pages its browsers would see;
        "browser" where they are not (an in-memory web; a cloud session behind a proxy).
        """
        return "auto" if self.web else "browser"

    @property
    def keeps_first_context(self) -> bool:
        """Whether a session's own browser context must serve all its rows (never renewed).

        True where that context carries what a new one would not (a cloud session's saved
        profile: its logins). Elsewhere tabs move to a fresh context every
        ``renew_context_after`` rows, so that a long run's memory stays flat.
        """
        return False

    @abc.abstractmethod
    def open_pool(self, run_id: str, plan: Plan | None = None) -> SessionPool:
        """A new pool for the run ``run_id`` (use as ``async with``); ``plan`` sizes timeouts."""

    def secrets(self) -> tuple[str, ...]:
        """Strings never to show (API keys): redacted from every message of a run."""
        return ()

    # ------------------------------------------------------ in other processes
    def for_another_process(self, *, for_cluster: bool) -> tuple[Backend, dict[str, str]]:
        """This backend as it travels to a shard (``workers=``, ``cluster=``): a copy that holds
        no secret, and the environment variables that carry them to a shard on this machine.

        A shard on a Dask worker (``for_cluster``) reads the secrets from that worker's own
        environment instead. A backend without secrets travels as it is; one with secrets
        must say how (:meth:`arrived` puts them back), or it cannot travel.
        """
        if any(self.secrets()):
            raise InputError(
                f"{type(self).__name__} keeps a secret where anchorframe cannot leave it out of the "
                "messages to other processes; run it without workers= and cluster=."
            )
        return self, {}

    def arrived(self) -> Backend:
        """This backend in the shard it travelled to, its secrets read back from the environment."""
        return self

    def tag_sessions(self, tag: str) -> None:
        """Mark the sessions this backend creates from now on with ``tag`` (a shard's), so that
        the caller can end them if the shard is lost. Local browsers die with their shard: no-op."""
        return None

    async def end_tagged(self, tag: str) -> int:
        """End the sessions tagged ``tag`` (a lost shard's, also those it never reported) and its
        batches still provisioning; the number ended. Local browsers died with their shard: 0."""
        return 0

    def describe(self) -> str:
        """A one-line description for progress headers and summaries (no secrets)."""
        return self.name
