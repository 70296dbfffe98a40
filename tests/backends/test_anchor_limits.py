"""The account's limits are learned, not fatal: what the Anchor pool yields, and a whole run.

The pool-level tests prove the backend's side of the contract (backends/_base.py): a
concurrency cap or a cost limit becomes a ``ProvisionFailure`` with ``replaceable=False``
(and the capacity learned), never an exception once a session exists. The end-to-end
test needs the engine to honour those fields (lower its target, record the reason).
"""

from __future__ import annotations

import asyncio

import pytest

import anchorframe as af
from anchorframe.backends._base import ProvisionFailure, SessionHandle
from anchorframe.client import AnchorClient
from anchorframe.emulator import Emulator

from .conftest import anchor_backend

pytestmark = pytest.mark.usefixtures("no_chromium_left")
FAST = {"progress": False, "backoff": 0.01}


async def heading(page, row):
    await page.goto(row.url)
    return {"heading": await page.inner_text("h1")}


def _posts(emu: Emulator, path: str) -> list[int]:
    return [r.status for r in emu.requests if r.method == "POST" and r.path == path]


async def _drain(stream) -> list:
    return [item async for item in stream]


def test_a_concurrency_cap_becomes_failures_not_to_replace():
    """Cap 3, 8 asked: 3 sessions, 5 'session_limit' failures with capacity 3; no retry, no replacement."""
    with Emulator(seed=3, max_concurrent_sessions=3) as emu:

        async def main():
            async with anchor_backend(emu).open_pool("cap-run") as pool:
                items = await _drain(pool.provision(8))
                ready = [i for i in items if isinstance(i, SessionHandle)]
                failed = [i for i in items if isinstance(i, ProvisionFailure)]
                assert len(ready) == 3 and len(failed) == 5
                assert {(f.reason, f.replaceable) for f in failed} == {("session_limit", False)}
                assert {f.capacity for f in failed} == {3}
                assert all("batch browser limit" in f.message for f in failed)
                assert await _drain(pool.replace(failed[0])) == []
                # A lost session's replacement is an async session: refused by the cap at once
                # (429 "would exceed batch browser limit"), not retried like a rate limit.
                again = await _drain(pool.replace(ready[0]))
                assert [(f.reason, f.replaceable, f.capacity) for f in again] == [("session_limit", False, 3)]
                assert _posts(emu, "/v1/sessions/async") == [429]
                assert not any(p.endswith("/retry") for p in (r.path for r in emu.requests))

        asyncio.run(main())
        assert emu.live_sessions == 0


def test_a_cost_limit_stops_provisioning_cleanly():
    """403 "Project cost limit reached." on a replacement: one cost_limit failure, then nothing more."""
    with Emulator(seed=4, cost_limit=1) as emu:

        async def main():
            async with anchor_backend(emu).open_pool("cost-run") as pool:
                items = await _drain(pool.provision(1))
                assert [type(i) for i in items] == [SessionHandle]
                refused = await _drain(pool.replace(items[0]))
                assert [(f.reason, f.replaceable) for f in refused] == [("cost_limit", False)]
                assert "cost limit" in refused[0].message.lower()
                assert await _drain(pool.replace(items[0])) == []  # no request at all
                assert _posts(emu, "/v1/sessions/async") == [403]

        asyncio.run(main())
        assert emu.live_sessions == 0


def test_counts_over_1000_are_split_before_sending():
    """1001 sessions go out as batches of 1000 and 1; the API never sees a count it refuses."""
    with Emulator(seed=5, provision_delay=3600) as emu:  # nothing starts: only the requests matter

        async def main():
            async with anchor_backend(emu).open_pool("big-run") as pool:
                stream = pool.provision(1001)
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(stream.__anext__(), 1.5)
                await stream.aclose()

        asyncio.run(main())
        with AnchorClient(emu.api_key, base_url=emu.base_url) as client:
            sizes = sorted(b.total_requests for b in client.list_batches(limit=10).batches)
            statuses = {b.status for b in client.list_batches(limit=10).batches}
        assert sizes == [1, 1000] and _posts(emu, "/v1/batch-sessions") == [200, 200]
        assert statuses == {"cancelled"}  # the pool cancelled what was still provisioning


def test_a_run_completes_on_the_sessions_the_account_allows(site):
    """max_concurrent_sessions=3, a plan of 8: done on 3 sessions, every row once, .errors says why.

    Needs the engine to honour ProvisionFailure.reason/capacity/replaceable (issue 11/12).
    """
    with Emulator(seed=6, max_concurrent_sessions=3) as emu:
        result = af.scrape(site.pages(24), heading, backend=anchor_backend(emu), sessions=8, tabs=1, **FAST)
        rows = result.results
        assert len(rows) == 24 and set(rows["af_status"]) == {"ok"} and rows["url"].is_unique
        assert (result.sessions["pages_ok"] > 0).sum() == 3
        limited = result.errors[result.errors["reason"] == "session_limit"]
        assert len(limited) >= 1 and limited["message"].str.contains("batch browser limit").any()
        assert "provision/session_limit" in result.summary()
        assert emu.live_sessions == 0
