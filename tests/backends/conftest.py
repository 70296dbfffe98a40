from __future__ import annotations

import pytest

import anchorframe as af
from anchorframe.backends.anchor import AnchorBackend
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


@pytest.fixture
def emulator():
    with Emulator(seed=7) as emu:
        yield emu
        assert emu.live_sessions == 0, "the run left cloud sessions alive"


@pytest.fixture(params=["local", "anchor"])
def backend(request):
    """Each backend in turn: the contract every backend must meet."""
    if request.param == "local":
        yield af.LocalBackend()
        return
    with Emulator(seed=3) as emu:
        yield anchor_backend(emu)
        assert emu.live_sessions == 0, "the run left cloud sessions alive"
