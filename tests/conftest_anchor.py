"""Fixtures shared by tests/client and tests/emulator: a real emulator, clients, a page.

Loaded by the conftest.py of those two directories (``from conftest_anchor import *``).
Every test that starts Chromium should run under the browser lock:
``flock /tmp/anchorframe-browser.lock python -m pytest tests/client tests/emulator``.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from anchorframe.backends._chromium import live_chromium_pids
from anchorframe.client import AnchorClient
from anchorframe.emulator import Emulator

__all__ = [
    "client",
    "closed_port",
    "emulator",
    "loopback_page",
    "make_client",
    "make_emulator",
    "no_chromium_left",
    "wait_until",
]

FAST = {"retry_initial_delay": 0.01, "retry_max_delay": 0.05, "timeout": 10.0}
PAGE_HTML = b"<!doctype html><title>loopback</title><h1>Hello from loopback</h1>"


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@pytest.fixture(scope="session", autouse=True)
def no_chromium_left() -> Iterator[None]:
    """After the whole run, no Chromium started by these tests is alive."""
    yield
    wait_until(lambda: not live_chromium_pids(), timeout=10)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """One emulator for a test module (seeded, no faults)."""
    with Emulator(seed=7) as emu:
        yield emu
    assert not emu.chromium_pids


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    """A factory of started emulators with their own knobs, all closed after the test."""
    started: list[Emulator] = []

    def make(**options: Any) -> Emulator:
        options.setdefault("seed", 11)
        emu = Emulator(**options).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.close()


@pytest.fixture
def make_client() -> Iterator[Callable[..., AnchorClient]]:
    """A factory of sync clients with fast retry delays, closed after the test."""
    made: list[AnchorClient] = []

    def make(emu: Emulator, **options: Any) -> AnchorClient:
        options = {**FAST, **options}
        api_key = options.pop("api_key", emu.api_key)
        made.append(AnchorClient(api_key, base_url=emu.base_url, **options))
        return made[-1]

    yield make
    for item in made:
        item.close()


@pytest.fixture
def client(emulator: Emulator, make_client: Callable[..., AnchorClient]) -> AnchorClient:
    return make_client(emulator)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(PAGE_HTML)))
        self.end_headers()
        self.wfile.write(PAGE_HTML)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def loopback_page() -> Iterator[str]:
    """The URL of a tiny page served on 127.0.0.1 by a thread of this test."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
