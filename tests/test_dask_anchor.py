"""cluster= on the emulator: a Dask worker killed mid-run has its cloud sessions ended by its tag.

The Dask workers read ANCHOR_API_KEY from their own environment (the key never
travels in a task). The emulator and its sessions' Chromium run in this process:
run under the browser lock.
"""

from __future__ import annotations

import logging
import time

import pytest

import anchorframe as af

from .killing import scrape_and_kill
from .test_dask import _shards_of, cluster  # noqa: F401 - the fixture
from .test_workers import QUIET

pytest.importorskip("distributed")


@pytest.fixture
def emu(monkeypatch):
    """The emulator, its key in the environment the Dask workers start with (so: before `cluster`)."""
    from anchorframe.emulator import Emulator

    with Emulator(seed=17) as running:
        monkeypatch.setenv("ANCHOR_API_KEY", running.api_key)
        yield running


@pytest.mark.slow
def test_a_killed_dask_worker_has_its_sessions_ended_by_its_tag(emu, cluster, site, caplog, no_chromium_left):  # noqa: F811
    caplog.set_level(logging.INFO, logger="anchorframe")
    urls = [site.url(f"/slow?s=0.05&n={n}") for n in range(60)]
    backend = af.AnchorBackend(emu.api_key, base_url=emu.base_url)

    def choose() -> object:
        busy = [w for w in cluster["workers"] if _shards_of(w)]
        return busy[0] if site.hits["/slow"] >= 15 and len(busy) == 2 else None

    result, _ = scrape_and_kill(
        lambda: af.scrape(
            urls,
            extract={"h1": "h1"},
            render="browser",
            backend=backend,
            cluster=cluster["address"],
            sessions=2,
            tabs=2,
            **QUIET,
        ),
        choose,
    )
    assert isinstance(result, af.ScrapeResult)
    assert (result.results["af_status"] == "ok").all()
    assert "worker_lost" in result.errors["reason"].tolist()
    ended = [r.getMessage() for r in caplog.records if "of a lost shard by its tag" in r.getMessage()]
    assert ended and not ended[0].startswith("Ended 0 "), ended  # found and ended by the tag
    deadline = time.monotonic() + 20
    while emu.live_sessions and time.monotonic() < deadline:
        time.sleep(0.1)
    assert emu.live_sessions == 0
