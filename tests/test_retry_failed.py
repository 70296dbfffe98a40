"""retry_failed(): only failed and skipped rows again, merged into the first result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import anchorframe as af
from anchorframe._core.frames import results_frame
from anchorframe._core.plan import plan_sessions
from anchorframe._core.table import prepare_input
from anchorframe._run.assemble import merge_results
from anchorframe._run.result import ScrapeResult
from anchorframe.extract import check_response

pytestmark = pytest.mark.usefixtures("no_chromium_left")

FAST = {"progress": False, "backoff": 0.01, "retries": 0}


async def heading(page, row):
    response = await page.goto(row.url)
    check_response(response, row.url)
    return {"heading": await page.inner_text("h1")}


async def heading_and_price(page, row):
    response = await page.goto(row.url)
    check_response(response, row.url)
    return {"heading": await page.inner_text("h1"), "price": float(await page.inner_text(".price"))}


def test_retry_failed_merges_attempts_order_and_outputs(site):
    """Failed rows are redone and merged in place: index, order and dtypes kept, attempts summed."""
    urls = [site.url("/page/1"), site.url("/flaky/2?fail=1"), site.url("/page/3"), site.url("/status/404")]
    frame = pd.DataFrame({"url": urls, "n": [10, 20, 30, 40]}, index=pd.Index(list("zyxw"), name="key"))
    first = af.scrape(frame, heading, **FAST)
    assert first.results["af_status"].tolist() == ["ok", "failed", "ok", "failed"]
    merged = first.retry_failed()
    out = merged.results
    assert list(out.index) == list("zyxw") and out.index.name == "key"
    assert list(out.columns) == list(first.results.columns)
    assert out["af_status"].tolist() == ["ok", "ok", "ok", "failed"]
    assert out["af_attempts"].tolist() == [1, 2, 1, 2]
    assert out["heading"].tolist()[:3] == ["Page 1", "Page 2", "Page 3"] and pd.isna(out["heading"].iloc[3])
    assert (out.dtypes == first.results.dtypes).all()
    assert site.hits["/page/1"] == 1 and site.hits["/flaky/2"] == 2
    assert len(merged.sessions) == 2 and len(merged.errors) == len(first.errors) + 1


def test_retry_with_another_callable_adds_its_columns(site):
    """retry_failed(fn) may use another callable; its new columns are merged, gaps where it did not run."""
    urls = [site.url("/page/1"), site.url("/flaky/5?fail=1")]
    first = af.scrape(urls, heading, **FAST)
    merged = first.retry_failed(heading_and_price, timeout=20)
    out = merged.results
    assert out["heading"].tolist() == ["Page 1", "Page 5"]
    assert out["price"].dtype == "float64" and np.isnan(out["price"].iloc[0]) and out["price"].iloc[1] == 5.0


def test_merged_result_can_be_retried_again(site):
    """A merged result is retryable: attempts keep adding up across three runs."""
    first = af.scrape([site.url("/page/1"), site.url("/flaky/7?fail=2")], heading, **FAST)
    second = first.retry_failed()
    assert second.results["af_status"].tolist() == ["ok", "failed"]
    third = second.retry_failed()
    assert third.results["af_status"].tolist() == ["ok", "ok"]
    assert third.results["af_attempts"].tolist() == [1, 3] and len(third.sessions) == 3
    assert third.retry_failed() is third  # nothing left to retry


def test_merge_keeps_whole_numbers_whole():
    """Merging integer outputs with gaps gives Int64, not float or object (no browser needed)."""
    table = prepare_input(["https://a.test/1", "https://a.test/2", "https://a.test/3"])
    ok, failed, again_ok = table.work
    ok.status, ok.value, ok.attempts = "ok", {"count": 4}, 1
    failed.status, failed.reason, failed.attempts = "failed", "timeout", 1
    again_ok.status, again_ok.reason, again_ok.attempts = "failed", "timeout", 1
    previous = _result(results_frame(table, [ok, failed, again_ok]))
    subset = prepare_input(["https://a.test/2", "https://a.test/3"])
    retried, still_failed = subset.work
    retried.status, retried.value, retried.attempts = "ok", {"count": 7, "extra": True}, 1
    still_failed.status, still_failed.reason, still_failed.attempts = "failed", "timeout", 2
    again = _result(results_frame(subset, [retried, still_failed]))
    merged = merge_results(previous, again, np.array([False, True, True])).results
    assert merged["count"].dtype == "Int64" and merged["count"].tolist()[:2] == [4, 7]
    assert merged["extra"].dtype == "boolean" and merged["af_attempts"].tolist() == [1, 2, 3]
    assert merged["af_status"].tolist() == ["ok", "ok", "failed"]


def _result(results: pd.DataFrame) -> ScrapeResult:
    from anchorframe._core.frames import errors_frame, sessions_frame

    return ScrapeResult(
        results=results,
        errors=errors_frame([]),
        sessions=sessions_frame([]),
        plan=plan_sessions(len(results), cores=2),
        backend="local Chromium",
        run_id="r",
        elapsed=1.0,
    )


def test_a_misspelt_option_of_retry_failed_gets_a_suggestion():
    """retry_failed() takes scrape()'s options and names the one a typo meant, before anything runs."""
    import anchorframe as af
    from anchorframe.backends.fake import FakeBackend

    result = af.scrape(["https://shop.test/a"], backend=FakeBackend(), progress=False)
    with pytest.raises(af.InputError, match=r"retry_failed\(\) got an unexpected keyword argument 'timout'"):
        result.retry_failed(timout=3)
