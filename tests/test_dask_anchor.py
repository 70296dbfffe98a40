"""cluster= on the emulator: a Dask worker killed mid-run has its cloud sessions ended by its tag.

The Dask workers read ANCHOR_API_KEY from their own environment (the key never
travels in a task). The emulator and its sessions' Chromium run in this process:
run under the browser lock.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest

import anchorframe as af

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
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = af.scrape(
                urls, extract={"h1": "h1"}, render="browser", backend=backend,
                cluster=cluster["address"], sessions=2, tabs=2, **QUIET,
            )  # fmt: skip
        except BaseException as exc:  # reported by the assertions below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    victim = None
    deadline = time.monotonic() + 90
    while thread.is_alive() and victim is None and time.monotonic() < deadline:
        busy = [w for w in cluster["workers"] if _shards_of(w)]
        if site.hits["/slow"] >= 15 and len(busy) == 2:
            victim = busy[0]
            os.kill(victim.pid, signal.SIGKILL)
        time.sleep(0.02)
    thread.join(120)
    assert "error" not in outcome, outcome.get("error")
    assert victim is not None, "the run ended before a worker could be killed"
    result = outcome["result"]
    assert isinstance(result, af.ScrapeResult)
    assert (result.results["af_status"] == "ok").all()
    assert "worker_lost" in result.errors["reason"].tolist()
    ended = [r.getMessage() for r in caplog.records if "of a lost shard by its tag" in r.getMessage()]
    assert ended and not ended[0].startswith("Ended 0 "), ended  # found and ended by the tag
    deadline = time.monotonic() + 20
    while emu.live_sessions and time.monotonic() < deadline:
        time.sleep(0.1)
    assert emu.live_sessions == 0
