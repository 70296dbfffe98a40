"""Fault injection: browsers, pages, callables and the API misbehave; nothing is lost or left running.

Each test checks the same invariants: every input row comes back exactly once with a
status, the run ends within its bounds, failures are recorded with stage and reason,
and no session or Chromium process is left. Run alone with ``pytest -m faults``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pandas as pd
import psutil
import pytest

import anchorframe as af
from anchorframe.emulator import Emulator

from .backends.conftest import anchor_backend

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("no_chromium_left")]
FAST = {"progress": False, "backoff": 0.01}
STATUSES = {"ok", "failed", "invalid", "skipped"}


def check_invariants(result: af.ScrapeResult, frame: pd.DataFrame, *, within: float) -> None:
    """Every row once, with a status; failures explained; the run ended in time."""
    out = result.results
    assert len(out) == len(frame) and list(out.index) == list(frame.index)
    assert set(out["af_status"].astype(str)) <= STATUSES and out["af_status"].notna().all()
    not_ok = out[out["af_status"] != "ok"]
    assert not_ok["af_reason"].notna().all() and not_ok["af_error"].notna().all()
    assert result.errors["stage"].notna().all() and result.errors["reason"].notna().all()
    assert result.elapsed < within, f"the run took {result.elapsed:.1f} s, more than {within} s"


async def heading(page, row):
    await page.goto(row.url)
    return {"heading": await page.inner_text("h1")}


def test_page_that_never_finishes_loading(site):
    """A page whose body never ends times out per attempt and fails; the others are fine."""
    frame = pd.DataFrame({"url": [site.url("/endless"), site.url("/hang"), site.url("/page/1")]})
    result = af.scrape(frame, heading, timeout=1.5, retries=1, **FAST)
    check_invariants(result, frame, within=20)
    assert result.results["af_status"].tolist() == ["failed", "failed", "ok"]
    assert set(result.results["af_reason"].iloc[:2]) == {"timeout"}


def test_page_that_crashes_its_renderer(site):
    """A renderer crash fails that attempt only; the retry on a new page succeeds."""
    crashed: list[str] = []

    async def crash_once(page, row):
        await page.goto(row.url)
        if row.url.endswith("/2") and not crashed:
            crashed.append(row.url)
            cdp = await page.context.new_cdp_session(page)
            crash = asyncio.ensure_future(cdp.send("Page.crash"))  # never answers: the tab is gone
            crash.add_done_callback(lambda task: task.exception())
            await asyncio.sleep(0.5)
        return {"heading": await page.inner_text("h1")}

    frame = pd.DataFrame({"url": site.pages(4)})
    result = af.scrape(frame, crash_once, timeout=10, **FAST)
    check_invariants(result, frame, within=30)
    assert set(result.results["af_status"]) == {"ok"} and result.results["af_attempts"].iloc[2] == 2
    assert result.errors["reason"].tolist() == ["page_crashed"]
    assert (result.sessions["state"] == "ended").all()  # a dead tab is not a dead browser


def test_dialogs_and_popups_do_not_block(site):
    """alert() is dismissed and window.open() pages are closed; the row succeeds."""
    pages_seen: list[int] = []

    async def count_pages(page, row):
        await page.goto(row.url)
        await asyncio.sleep(0.5)
        pages_seen.append(len(page.context.pages))
        return {"heading": await page.inner_text("h1")}

    frame = pd.DataFrame({"url": [site.url("/popup"), site.url("/page/1")]})
    result = af.scrape(frame, count_pages, tabs=1, **FAST)
    check_invariants(result, frame, within=30)
    assert result.results["heading"].tolist() == ["Popup", "Page 1"]
    assert pages_seen[0] == pages_seen[1]  # the pop-up is gone: no more pages than on a plain row


def test_a_download_instead_of_a_page(site):
    """A URL that downloads a file fails with a navigation reason instead of hanging."""
    frame = pd.DataFrame({"url": [site.url("/download"), site.url("/page/1")]})
    result = af.scrape(frame, heading, retries=0, timeout=10, **FAST)
    check_invariants(result, frame, within=30)
    assert result.results["af_status"].tolist() == ["failed", "ok"]
    assert result.results["af_reason"].iloc[0] == "navigation"


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ("raise ValueError('bad selector')", "failed", "callable_error"),
        ("await asyncio.sleep(60)", "failed", "timeout"),
        ("return ['not', 'a', 'dict']", "ok", None),
        ("return object()", "ok", None),
    ],
)
def test_callables_that_misbehave(site, body, status, reason):
    """A callable that raises, hangs or returns a non-dict: the row says what happened."""
    namespace: dict = {"asyncio": asyncio}
    exec(f"async def scraper(page, row):\n    {body}\n", namespace)
    frame = pd.DataFrame({"url": site.pages(2)})
    result = af.scrape(frame, namespace["scraper"], timeout=1.0, retries=1, **FAST)
    check_invariants(result, frame, within=20)
    assert set(result.results["af_status"]) == {status}
    if reason:
        assert set(result.results["af_reason"]) == {reason}
    else:
        assert "value" in result.results.columns


def test_browser_killed_while_all_its_tabs_are_busy(site):
    """Killing a browser with every tab mid-row: all its rows move, none spends a retry."""
    started = asyncio.Event()
    busy: set[str] = set()
    killed: list[int] = []

    async def slow(page, row):
        await page.goto(row.url)
        busy.add(row.url)
        if len(busy) >= 4 and not killed:
            browsers = sorted(p.pid for p in psutil.Process().children() if "chrom" in p.name().lower())
            killed.append(browsers[0])
            os.killpg(browsers[0], signal.SIGKILL)
        await asyncio.sleep(1.0)
        started.set()
        return {"heading": await page.inner_text("h1")}

    frame = pd.DataFrame({"url": site.pages(16)})
    result = af.scrape(frame, slow, sessions=1, tabs=4, retries=0, **FAST)
    check_invariants(result, frame, within=60)
    assert killed and set(result.results["af_status"]) == {"ok"}
    assert (result.results["af_attempts"] == 1).all()
    assert result.sessions["state"].tolist().count("lost") == 1 and len(result.sessions) == 2


def test_every_session_dying_fails_the_rest_instead_of_hanging(site):
    """With the replacement budget spent, the remaining rows fail with 'no_sessions'."""

    async def kill_browser(page, row):
        await page.goto(row.url)
        for child in psutil.Process().children():
            if "chrom" in child.name().lower():
                os.killpg(child.pid, signal.SIGKILL)
        await asyncio.sleep(5)

    frame = pd.DataFrame({"url": site.pages(6)})
    result = af.scrape(frame, kill_browser, max_replacements=1, retries=0, tabs=2, **FAST)
    check_invariants(result, frame, within=60)
    assert set(result.results["af_status"]) == {"failed"}
    assert "no_sessions" in set(result.results["af_reason"])
    assert (result.errors["scope"] == "session").sum() == 2


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"fail_provision": 0.2}, id="a fifth fail to provision"),
        pytest.param({"crash": 0.5, "crash_after": 1.0}, id="sessions crash mid-run"),
        pytest.param({"rate_limit": 0.25, "server_error": 0.15, "retry_after": 0.1}, id="429 and 500 bursts"),
        pytest.param({"provision_delay": 2.0}, id="slow provisioning"),
    ],
)
def test_cloud_faults(site, faults):
    """Under each emulator fault every row comes back once and no cloud session is left."""
    with Emulator(seed=21, **faults) as emu:
        # Slow and many enough that rows are still in flight when the crashes come (1 s after a
        # session is ready, for a seeded half of them), however loaded the machine.
        rows = 40 if "crash" in faults else 24
        frame = pd.DataFrame({"url": site.pages(rows)}, index=[f"r{n}" for n in range(rows)])
        pause = 0.6 if "crash" in faults else 0.15

        async def slowish(page, row):
            await page.goto(row.url)
            await asyncio.sleep(pause)
            return {"heading": await page.inner_text("h1")}

        result = af.scrape(frame, slowish, backend=anchor_backend(emu), sessions=5, tabs=2, **FAST)
        check_invariants(result, frame, within=120)
        assert set(result.results["af_status"]) == {"ok"}, result.errors[["stage", "reason", "message"]]
        if "fail_provision" in faults:
            assert "provision_failed" in set(result.errors["reason"])
        if "crash" in faults:
            # A session that dies while the run works with it is recorded lost and its rows move.
            # (One that dies while its CDP connect is under way fails it, or leaves Playwright's
            # connect waiting until connect_timeout: then the run may end before it says so.)
            sessions = result.sessions.set_index("session")
            crashed = {s: at for s, (why, at) in emu.ended_sessions.items() if why == "crashed"}
            assert crashed, "the emulator crashed no session while the run held one: the fault went untested"
            releasing = sessions["ended"][[s for s in sessions.index if s not in crashed]].min()
            working = [
                s
                for s, at in crashed.items()
                if s in sessions.index
                and sessions.loc[s, "pages_ok"] > 0
                and at < releasing - pd.Timedelta(seconds=0.2)
            ]
            assert all(sessions.loc[s, "state"] == "lost" for s in working), sessions[["state", "pages_ok"]]
            if working:
                assert "session_lost" in set(result.errors["reason"])
        deadline = time.monotonic() + 10
        while emu.live_sessions and time.monotonic() < deadline:
            time.sleep(0.1)
        assert emu.live_sessions == 0
