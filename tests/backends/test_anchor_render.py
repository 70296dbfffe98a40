"""render="auto" on the Anchor emulator: cloud sessions only for the rows that need a browser."""

from __future__ import annotations

import pytest

import anchorframe as af
from anchorframe.emulator import Emulator

from .conftest import anchor_backend

pytestmark = pytest.mark.usefixtures("no_chromium_left")
FAST = {"progress": False, "backoff": 0.01}
FIELDS = {"name": "h1", "price": ".price"}


def _batches(emu: Emulator) -> int:
    """Batches created, from the emulator's request log."""
    return sum(1 for r in emu.requests if r.method == "POST" and r.path.startswith("/v1/batch-sessions"))


def test_a_fully_static_input_starts_no_cloud_session(site):
    """Every row done over HTTP: the emulator's request log shows no batch and no session created."""
    with Emulator(seed=21) as emu:
        result = af.scrape(site.pages(30), extract=FIELDS, render="auto", backend=anchor_backend(emu), **FAST)
        requests = list(emu.requests)
        assert not emu.chromium_pids
    frame = result.results
    assert set(frame["af_status"]) == {"ok"} and set(frame["af_render"]) == {"http"}
    assert frame["name"].iloc[29] == "Page 29" and frame["price"].iloc[29] == "29.00"
    assert not any(r.method == "POST" and r.path.startswith("/v1/batch-sessions") for r in requests)
    assert not any(r.method == "POST" for r in requests), [(r.method, r.path) for r in requests]
    assert len(result.sessions) == 0 and result.session_minutes == 0


def test_one_javascript_page_starts_the_cloud_sessions_it_needs(site):
    """The contrast: a JavaScript-rendered page goes to a cloud browser (one batch), the rest stay on HTTP."""
    urls = [*site.pages(10), site.url("/js/7?delay=50")]
    with Emulator(seed=22) as emu:
        result = af.scrape(urls, extract=FIELDS, render="auto", backend=anchor_backend(emu), **FAST)
        batches = _batches(emu)
    frame = result.results
    assert set(frame["af_status"]) == {"ok"}
    assert frame["af_render"].tolist() == ["http"] * 10 + ["browser"]
    assert frame["name"].iloc[10] == "Page 7" and frame["price"].iloc[10] == "7.00"
    assert batches == 1
