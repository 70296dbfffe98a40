from __future__ import annotations

import os
import re
import signal

import psutil
import pytest

import anchorframe as af
from anchorframe.backends.anchor import AnchorBackend
from anchorframe.backends.fake import FakeBackend, FakeDocument
from anchorframe.emulator import Emulator

FAST_POLL = {"poll_interval": 0.2, "min_poll_interval": 0.1, "max_poll_interval": 0.5}


def anchor_backend(emu: Emulator, **options) -> AnchorBackend:
    client = {"retry_initial_delay": 0.05, "retry_max_delay": 0.2, "max_retries": 4}
    return AnchorBackend(
        emu.api_key,
        base_url=emu.base_url,
        **{**FAST_POLL, **options},
        client_options={**client, **options.pop("client_options", {})},
    )


def fake_site(url: str) -> FakeDocument:
    """The fake web answers the test site's paths the way tests/pages.py does."""
    match = re.search(r"/(page|status)/(\d+)$", url)
    if match is None:
        return FakeDocument(status=404)
    kind, number = match.groups()
    if kind == "status":
        return FakeDocument(status=int(number))
    return FakeDocument(texts={"h1": f"Page {number}", ".price": f"{number}.00"}, title=f"Page {number}")


class Case:
    """A backend under the contract, with what the contract needs to observe and break it."""

    def __init__(self, name: str, backend: af.Backend) -> None:
        self.name = name
        self.backend = backend

    def hits(self, site, path: str) -> int:
        if isinstance(self.backend, FakeBackend):
            return self.backend.hits[site.url(path)]
        return site.hits[path]

    def kill_a_browser(self) -> None:
        """End one live session's browser abruptly, as a crash would."""
        if isinstance(self.backend, FakeBackend):
            assert self.backend.kill_session() is not None
            return
        leaders = sorted(
            p.pid
            for p in psutil.Process().children(recursive=True)
            if "chrom" in p.name().lower() and os.getpgid(p.pid) == p.pid
        )
        os.killpg(leaders[0], signal.SIGKILL)


@pytest.fixture
def emulator():
    with Emulator(seed=7) as emu:
        yield emu
        assert emu.live_sessions == 0, "the run left cloud sessions alive"


@pytest.fixture(params=["local", "anchor", "fake"])
def case(request):
    """Each backend in turn: the contract every backend must meet."""
    if request.param == "local":
        yield Case("local", af.LocalBackend())
    elif request.param == "fake":
        backend = FakeBackend(fake_site)
        yield Case("fake", backend)
        assert backend.live == 0, "the run left fake sessions alive"
    else:
        with Emulator(seed=3) as emu:
            yield Case("anchor", anchor_backend(emu))
            assert emu.live_sessions == 0, "the run left cloud sessions alive"


@pytest.fixture
def backend(case):
    return case.backend
