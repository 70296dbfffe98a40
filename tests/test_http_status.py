"""Your own scraper's rows carry their page's HTTP status, and an error page is not 'ok'."""

from __future__ import annotations

import pandas as pd
import pytest

import anchorframe as af

pytestmark = pytest.mark.usefixtures("no_chromium_left")


async def heading(page, row):
    await page.goto(row.url)
    return {"name": await page.inner_text("h1")}


def test_a_404_page_fails_its_row_as_http_error_and_is_not_retried(site):
    """README's ten-line scraper on a 404: failed, http_error, one attempt; ok rows say 200."""
    urls = [*site.pages(2), site.url("/status/404"), site.url("/status/410")]
    result = af.scrape(urls, heading, backend="local", retries=2, backoff=0.01, progress=False)
    frame = result.results
    assert frame["af_status"].tolist() == ["ok", "ok", "failed", "failed"]
    assert frame["af_reason"].tolist()[2:] == ["http_error", "http_error"]
    assert frame["af_http_status"].tolist() == [200, 200, 404, 410]
    assert frame["af_attempts"].tolist()[2:] == [1, 1]  # not retried
    assert "HTTP 404" in frame["af_error"].iloc[2] and "allow_status" in frame["af_error"].iloc[2]


def test_a_5xx_page_is_retried_and_allow_status_keeps_error_pages(site):
    """500 is retried (then failed); allow_status={404} keeps a 404 page ok with its status."""
    urls = [site.url("/status/500"), site.url("/status/404")]
    result = af.scrape(
        urls, heading, backend="local", retries=1, backoff=0.01, allow_status={404}, progress=False
    )
    frame = result.results
    assert frame["af_status"].tolist() == ["failed", "ok"]
    assert frame["af_attempts"].tolist() == [2, 1]
    assert frame["af_http_status"].tolist() == [500, 404]
    assert frame["name"].iloc[1] == "Status 404"


def test_the_page_summary_s_error_rows_say_their_status(site):
    """The page summary's 404 row has af_http_status 404 (its own http_status is a value of ok rows)."""
    result = af.scrape([site.pages(1)[0], site.url("/status/404")], render="browser", progress=False)
    frame = result.results
    assert frame["af_status"].tolist() == ["ok", "failed"]
    assert frame["af_http_status"].tolist() == [200, 404]
    assert isinstance(frame["af_http_status"].dtype, pd.Int64Dtype)


def test_allow_status_is_checked_before_anything_starts():
    """allow_status takes error statuses; anything else is refused with the fix."""
    with pytest.raises(af.InputError, match="allow_status takes error statuses"):
        af.scrape(["https://a.test/"], heading, allow_status={200})
    with pytest.raises(af.InputError, match="allow_status must be HTTP statuses"):
        af.scrape(["https://a.test/"], heading, allow_status=["nope"])
