"""One contract for every backend: rows back exactly once, sessions reported, nothing left running."""

from __future__ import annotations

import pandas as pd
import pytest

import anchorframe as af

pytestmark = pytest.mark.usefixtures("no_chromium_left")
FAST = {"progress": False, "backoff": 0.01}


async def heading(page, row):
    await page.goto(row.url)
    return {"heading": await page.inner_text("h1")}


def test_every_row_comes_back_once_over_several_sessions(backend, site):
    """Two sessions scrape 24 pages; each row comes back ok, once, in order."""
    urls = site.pages(24)
    result = af.scrape(pd.DataFrame({"url": urls}), heading, backend=backend, sessions=2, tabs=2, **FAST)
    assert result.results["heading"].tolist() == [f"Page {n}" for n in range(24)]
    assert set(result.results["af_status"]) == {"ok"}
    assert sum(site.hits[f"/page/{n}"] for n in range(24)) == 24
    sessions = result.sessions
    assert len(sessions) == 2 and sessions["pages_ok"].sum() == 24 and (sessions["state"] == "ended").all()


def test_failures_are_rows_not_exceptions(backend, site):
    """A 404 and an invalid row come back as statuses on any backend."""
    result = af.scrape([site.url("/status/404"), "nope", site.url("/page/1")], backend=backend, **FAST)
    assert result.results["af_status"].tolist() == ["failed", "invalid", "ok"]


def test_backend_name_is_in_the_result(backend, site):
    """The summary names the backend that ran."""
    result = af.scrape([site.url("/page/1")], heading, backend=backend, **FAST)
    assert result.backend == backend.describe() and backend.describe() in result.summary()
