"""LocalBackend: each session is a Chromium process on this machine, reached over CDP."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._core.plan import Plan

from ._base import Backend, Provisioned, ProvisionFailure, SessionHandle, SessionPool
from ._chromium import ChromiumProcess, find_chromium, launch_chromium

__all__ = ["LocalBackend"]


class LocalBackend(Backend):
    """Local headless Chromium processes, one per session (the default backend).

    Args:
        executable_path: the Chromium to run; by default ``ANCHORFRAME_CHROMIUM``,
            Playwright's downloaded browsers, then ``chromium`` on PATH.
        args: extra command-line flags for every Chromium.
        launch_timeout: seconds to wait for a Chromium's debugging port.

    Example:
        >>> import anchorframe as af
        >>> backend = af.LocalBackend(executable_path="/usr/bin/chromium")
        >>> result = af.scrape(["https://example.com"], backend=backend)  # doctest: +SKIP
    """

    name = "local"
    kind = "local"
    browsers_here = True

    def __init__(
        self,
        executable_path: str | os.PathLike[str] | None = None,
        *,
        args: tuple[str, ...] | list[str] = (),
        launch_timeout: float = 30.0,
    ) -> None:
        self.executable_path = executable_path
        self.args = tuple(args)
        self.launch_timeout = launch_timeout

    def resolve_executable(self) -> str:
        """The Chromium this backend will run; raises BrowserNotFoundError with the fix."""
        return find_chromium(self.executable_path)

    def open_pool(self, run_id: str, plan: Plan | None = None) -> SessionPool:
        return _LocalPool(self, self.resolve_executable())

    def describe(self) -> str:
        return "local Chromium"

    def __repr__(self) -> str:
        return f"LocalBackend(executable_path={self.executable_path!r})"


class _LocalPool(SessionPool):
    def __init__(self, backend: LocalBackend, executable: str) -> None:
        self._backend = backend
        self._executable = executable
        self._processes: dict[str, ChromiumProcess] = {}
        self._launching: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def provision(self, count: int) -> AsyncIterator[Provisioned]:  # type: ignore[override]
        launches = [asyncio.ensure_future(self._launch()) for _ in range(count)]
        self._launching.update(launches)
        try:
            for next_done in asyncio.as_completed(launches):
                try:
                    yield await next_done
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    yield ProvisionFailure(message=str(exc), error_type=type(exc).__name__)
        finally:
            for launch in launches:
                launch.cancel()
            self._launching.difference_update(launches)
            await asyncio.gather(*launches, return_exceptions=True)

    async def _launch(self) -> SessionHandle:
        process = await launch_chromium(
            self._executable, extra_args=self._backend.args, timeout=self._backend.launch_timeout
        )
        if self._closed:
            await process.end()
            raise asyncio.CancelledError
        session_id = f"local-{process.pid}"
        self._processes[session_id] = process
        return SessionHandle(
            session_id=session_id, cdp_url=process.cdp_url, ready_s=process.ready_s, info={"pid": process.pid}
        )

    def process(self, session_id: str) -> ChromiumProcess | None:
        """The Chromium behind a session (tests use it to kill a browser mid-run)."""
        return self._processes.get(session_id)

    async def end_session(self, handle: SessionHandle) -> None:
        process = self._processes.pop(handle.session_id, None)
        if process is not None:
            await process.end()

    async def aclose(self) -> None:
        self._closed = True
        for launch in list(self._launching):
            launch.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._launching, return_exceptions=True)
        processes = list(self._processes.values())
        self._processes.clear()
        await asyncio.gather(*(p.end() for p in processes), return_exceptions=True)
