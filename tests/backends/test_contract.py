"""One contract for every backend: rows back once, sessions reported, losses replaced, nothing left."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

import anchorframe as af
from anchorframe.extract import check_response

pytestmark = pytest.mark.usefixtures("no_chromium_left")
FAST = {"progress": False, "backoff": 0.01}


async def heading(page, row):
    response = await page.goto(row.url)
    check_response(response, row.url)
    return {"heading": await page.inner_text("h1")}


def test_every_row_comes_back_once_over_several_sessions(case, site):
    """Two sessions scrape 24 pages; each row comes back ok, once, in order."""
    urls = site.pages(24)
    result = af.scrape(pd.DataFrame({"url": urls}), heading, backend=case.backend, sessions=2, tabs=2, **FAST)
    assert result.results["heading"].tolist() == [f"Page {n}" for n in range(24)]
    assert set(result.results["af_status"]) == {"ok"}
    assert sum(case.hits(site, f"/page/{n}") for n in range(24)) == 24
    sessions = result.sessions
    assert len(sessions) == 2 and sessions["pages_ok"].sum() == 24 and (sessions["state"] == "ended").all()


def test_failures_are_rows_not_exceptions(case, site):
    """A 404 and an invalid row come back as statuses on any backend."""
    result = af.scrape(
        [site.url("/status/404"), "nope", site.url("/page/1")], heading, backend=case.backend, **FAST
    )
    assert result.results["af_status"].tolist() == ["failed", "invalid", "ok"]
    assert result.results["af_reason"].tolist() == ["http_error", "invalid_url", None]


def test_backend_name_is_in_the_result(case, site):
    """The summary names the backend that ran."""
    result = af.scrape([site.url("/page/1")], heading, backend=case.backend, **FAST)
    assert result.backend == case.backend.describe() and case.backend.describe() in result.summary()


def test_a_lost_session_is_replaced_and_its_rows_move_without_spending_retries(case, site):
    """The only session dies with both tabs mid-row: a replacement finishes every row, attempts stay 1."""
    killed: list[bool] = []
    busy: set[str] = set()

    async def slow(page, row):
        await page.goto(row.url)
        busy.add(row.url)
        if len(busy) >= 2 and not killed:
            killed.append(True)
            case.kill_a_browser()
        await asyncio.sleep(0.3)
        return {"heading": await page.inner_text("h1")}

    frame = pd.DataFrame({"url": site.pages(8)})
    result = af.scrape(frame, slow, backend=case.backend, sessions=1, tabs=2, retries=0, timeout=30, **FAST)
    assert killed
    assert result.results["af_status"].tolist() == ["ok"] * 8
    assert result.results["heading"].tolist() == [f"Page {n}" for n in range(8)]
    assert (result.results["af_attempts"] == 1).all()
    sessions = result.sessions
    assert sorted(sessions["state"]) == ["ended", "lost"]
    replacement = sessions[sessions["state"] == "ended"].iloc[0]
    assert replacement["pages_ok"] >= 6
    lost = result.errors[result.errors["scope"] == "session"]
    assert lost["reason"].tolist() == ["session_lost"]
    assert (result.errors["scope"] == "session").all()  # no row was charged for the loss
