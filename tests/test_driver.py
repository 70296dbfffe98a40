"""Playwright's driver is kept warm between runs on the portal's loop, shared, restarted when it died."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time

import psutil
import pytest

import anchorframe as af
from anchorframe._engine import driver as _driver
from anchorframe._engine import portal as _portal
from benchmarks.render_corpus import SELECTORS, serve_corpus

pytestmark = pytest.mark.usefixtures("no_chromium_left")


def _drivers() -> list[int]:
    """PIDs of this process's Playwright drivers."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "run-driver" in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.Error:
            pass
    return found


def _scrape(urls: list[str]) -> af.ScrapeResult:
    return af.scrape(urls, extract=SELECTORS, render="browser", progress=False)


@pytest.fixture
def corpus():
    _portal.run_in_portal(_driver.stop_idle())
    with serve_corpus("static", 4) as (server, pages):
        yield [server.url(p.path) for p in pages]
    _portal.run_in_portal(_driver.stop_idle())


def test_a_second_run_reuses_the_driver_and_stop_idle_ends_it(corpus):
    assert _drivers() == []
    assert _scrape(corpus).counts["ok"] == 4
    first = _drivers()
    assert len(first) == 1  # kept after the run
    assert _scrape(corpus).counts["ok"] == 4
    assert _drivers() == first
    _portal.run_in_portal(_driver.stop_idle())
    assert not psutil.pid_exists(first[0]) or psutil.Process(first[0]).status() == psutil.STATUS_ZOMBIE


def test_runs_at_the_same_time_share_it(corpus):
    async def both():
        return await asyncio.gather(
            af.ascrape(corpus, extract=SELECTORS, render="browser", progress=False),
            af.ascrape(corpus[::-1], extract=SELECTORS, render="browser", progress=False),
        )

    first, second = asyncio.run(both())
    assert first.counts["ok"] == second.counts["ok"] == 4
    assert len(_drivers()) == 1


def test_a_driver_killed_between_runs_is_started_again(corpus):
    _scrape(corpus)
    (killed,) = _drivers()
    os.kill(killed, signal.SIGKILL)

    result = _scrape(corpus)
    assert result.counts["ok"] == 4 and len(result.errors) == 0
    assert _drivers() and killed not in _drivers()


def test_an_idle_driver_stops_by_itself(corpus, monkeypatch):
    monkeypatch.setattr(_driver, "IDLE_SECONDS", 0.3)
    _scrape(corpus)
    (pid,) = _drivers()
    deadline = time.monotonic() + 10
    while pid in _drivers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid not in _drivers()


def test_a_driver_killed_mid_run_costs_no_row(corpus, caplog):
    """The driver dies with every tab busy: the sessions it served are lost, their rows move
    to sessions connected through a new driver, and no row spends a retry or fails."""
    killed: list[int] = []

    async def slow(page, row):
        await page.goto(row.url)
        if not killed:
            (pid,) = _drivers()
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.5)
        return {"title": await page.title()}

    result = af.scrape(corpus * 3, slow, render="browser", tabs=2, retries=0, progress=False)
    assert killed and killed[0] not in _drivers()
    assert result.counts["ok"] == 12, result.errors[["stage", "reason", "message"]].to_string()
    assert (result.results["af_attempts"] == 1).all()
    assert "lost" in set(result.sessions["state"])  # moved, not failed where it stood
    gc.collect()  # asyncio reports an exception nobody read when its future is collected
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
