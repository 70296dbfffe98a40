"""The Chromium processes every contender shares, and a backend that hands them out.

Both anchorframe and the hand-written scripts connect over CDP to the *same*
running Chromium processes, so a comparison measures the code, not the browser
start-up or a warmer profile.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from typing import Any

from anchorframe.backends._base import Backend, Provisioned, SessionHandle, SessionPool
from anchorframe.backends._chromium import ChromiumProcess, launch_chromium

__all__ = ["SharedBackend", "launch_browsers"]


async def launch_browsers(count: int) -> list[ChromiumProcess]:
    """Start ``count`` Chromium processes (ended by the caller with ``process.end()``)."""
    return list(await asyncio.gather(*(launch_chromium() for _ in range(count))))


class SharedBackend(Backend):
    """A benchmark-only backend: sessions are already-running Chromium processes, never ended."""

    name = "shared"
    kind = "local"

    def __init__(self, cdp_urls: Sequence[str]) -> None:
        self.cdp_urls = list(cdp_urls)

    def open_pool(self, run_id: str, plan: Any = None) -> SessionPool:
        return _SharedPool(self.cdp_urls)

    def describe(self) -> str:
        return f"shared Chromium x{len(self.cdp_urls)}"


class _SharedPool(SessionPool):
    def __init__(self, cdp_urls: list[str]) -> None:
        self._urls = itertools.cycle(cdp_urls)
        self._count = itertools.count(1)

    async def provision(self, count: int) -> AsyncIterator[Provisioned]:  # type: ignore[override]
        for _ in range(count):
            yield SessionHandle(
                session_id=f"shared-{next(self._count)}", cdp_url=next(self._urls), ready_s=0.0
            )

    async def end_session(self, handle: SessionHandle) -> None:
        pass  # the process outlives the run: the next contender uses it too

    async def aclose(self) -> None:
        pass
