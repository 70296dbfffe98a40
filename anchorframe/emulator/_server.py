"""``Emulator``: the Anchor-compatible server, run by uvicorn in a background thread.

The thread owns one event loop that serves HTTP, provisions sessions and watches
the Chromium processes. Other threads (a test, a notebook) reach it through the
properties and methods below, which hop onto that loop when they change anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
import socket
import threading
import time
from concurrent.futures import Future
from types import TracebackType
from typing import Any

import uvicorn

from ._app import EmulatorCore, RequestRecord, create_app
from ._faults import Faults
from ._provision import Provisioner

__all__ = ["Emulator"]


class Emulator:
    """An Anchor Browser REST API on loopback, backed by real local Chromium.

    Args:
        api_key: the key clients must send in ``anchor-api-key``; one is generated when
            not given. ``check_key=False`` accepts any key (or none).
        host, port: where to listen; loopback and a free port by default.
        seed: makes ids and every fault decision reproducible.
        faults: a :class:`Faults`, or the same knobs as keyword arguments
            (``fail_provision=0.2``, ``rate_limit=0.1``, ``credit_limit=10`` ...).
        launch_concurrency: Chromium processes started at once (start-up is CPU bound).
        seconds_per_minute: real seconds per minute of ``max_duration`` (tests shrink it).
        lenient: keep the extras of earlier releases that the published document lacks
            (batch ``metadata`` in status and list answers, 404 for an unknown session, no
            409/400 for a cancel or retry with nothing to do). Off by default: the emulator
            says only what ``openapi.yaml`` says.
        chromium: the Chromium executable (else found like the local backend does).

    Example:
        >>> with Emulator(seed=1, fail_provision=0.25) as emu:  # doctest: +SKIP
        ...     client = AnchorClient(emu.api_key, base_url=emu.base_url)
        ...     batch = client.wait_batch(client.create_batch(4).batch_id, initial_interval=0.2)
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        check_key: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | str | None = None,
        faults: Faults | None = None,
        launch_concurrency: int = 2,
        seconds_per_minute: float = 60.0,
        lenient: bool = False,
        chromium: str | None = None,
        **fault_knobs: Any,
    ) -> None:
        self._api_key = api_key or f"emu-{secrets.token_urlsafe(18)}"
        self._check_key = check_key
        self.host = host
        self._port = port
        faults = (faults or Faults()).replace(**fault_knobs)
        self._provisioner = Provisioner(
            faults=faults,
            seed=seed,
            launch_concurrency=launch_concurrency,
            seconds_per_minute=seconds_per_minute,
            chromium=chromium,
            lenient=lenient,
        )
        self._core = EmulatorCore(self._provisioner, self._api_key if check_key else None)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None
        self._closed = False

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind, start serving in a background thread, and return once it answers."""
        if self._thread is not None:
            return self
        sock = socket.socket(_family(self.host), socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        self._core.base_url = self.base_url
        config = uvicorn.Config(
            create_app(self._core),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name="anchorframe-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started and time.monotonic() < deadline:
            if self._failure is not None or not self._thread.is_alive():
                break
            time.sleep(0.01)
        if not self._server.started:
            self.close()
            raise RuntimeError(
                f"The emulator did not start on {self.base_url}: {self._failure!r}"
            ) from self._failure
        return self

    def _serve(self, sock: socket.socket) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            assert self._server is not None
            try:
                await self._server.serve(sockets=[sock])
            finally:
                await self._provisioner.shutdown()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start() / close()
            self._failure = exc
        finally:
            sock.close()

    def close(self) -> None:
        """End every session and Chromium process, then stop the server. Idempotent."""
        if self._closed:
            return
        self._closed = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._provisioner.shutdown(), loop).result(60)
        if self._server is not None:
            self._server.should_exit = True
        if thread is not None:
            thread.join(30)
        # The loop is gone; whatever is still alive is ended the blocking way.
        for slot in list(self._provisioner.sessions.values()):
            if slot.chromium is not None:
                with contextlib.suppress(Exception):
                    slot.chromium.end_sync()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._thread else "not started")
        return f"Emulator(base_url={self.base_url!r}, {state})"

    # --- what tests and users look at -------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def faults(self) -> Faults:
        return self._provisioner.faults

    @property
    def live_sessions(self) -> int:
        """Sessions whose Chromium is running now."""
        return self._call(lambda: len(self._provisioner.live_slots()))

    @property
    def ended_sessions(self) -> dict[str, tuple[str, Any]]:
        """Sessions that ended: id -> (why: "crashed", "released", "max_duration"..., when, UTC)."""

        def ended() -> dict[str, tuple[str, Any]]:
            return {
                sid: (str(slot.end_reason), slot.ended_at)
                for sid, slot in self._provisioner.sessions.items()
                if slot.ended_at is not None
            }

        return self._call(ended)  # type: ignore[no-any-return]

    @property
    def chromium_pids(self) -> list[int]:
        return self._call(self._provisioner.chromium_pids)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every API request answered so far: method, path, query, status, time."""
        return list(self._core.requests)

    @property
    def credits_used(self) -> int:
        return self._provisioner.credits_used

    @property
    def launch_seconds(self) -> list[float]:
        """How long each Chromium took to open its debugging port."""
        return list(self._provisioner.launch_seconds)

    def state(self) -> dict[str, Any]:
        """What ``GET /_emulator/state`` answers."""
        return self._call(self._core.state)

    def set_faults(self, **changes: Any) -> Faults:
        """Change fault knobs while running, e.g. ``emu.set_faults(rate_limit=0.5)``."""
        faults = self._provisioner.faults.replace(**changes)
        self._provisioner.faults = faults
        return faults

    def crash_session(self, session_id: str) -> bool:
        """Kill the Chromium of a session as a crash would; False if it was not running."""
        slot = self._provisioner.sessions.get(session_id)
        if slot is None:
            raise KeyError(f"No session {session_id!r} on this emulator.")
        return bool(self._await(self._provisioner.end_slot(slot, "crashed")))

    # --- hopping onto the server's loop ------------------------------------------------------

    def _call(self, fn: Any) -> Any:
        loop = self._loop
        if loop is None or self._closed or not loop.is_running():
            return fn()
        if threading.current_thread() is self._thread:
            return fn()
        future: Future[Any] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(10)

    def _await(self, coro: Any) -> Any:
        loop = self._loop
        if loop is None or not loop.is_running():
            coro.close()
            raise RuntimeError("The emulator is not running.")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return socket.AF_INET
