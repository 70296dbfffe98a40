"""scrape() end to end on real local Chromium and pages served on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pandas as pd
import psutil
import pytest

import anchorframe as af
from anchorframe.errors import InputError, RunInterrupted

pytestmark = pytest.mark.usefixtures("no_chromium_left")

FAST = {"progress": False, "backoff": 0.01}


async def heading(page, row):
    await page.goto(row.url)
    return {"heading": await page.inner_text("h1")}


def test_results_align_with_the_input_index(site):
    """Results keep the input's index, order and columns; outputs are added as columns."""
    urls = site.pages(6)
    frame = pd.DataFrame({"url": urls[::-1], "n": range(6)}, index=pd.Index(list("fedcba"), name="key"))
    result = af.scrape(frame, heading, **FAST)
    out = result.results
    assert list(out.index) == list("fedcba") and out.index.name == "key"
    assert list(out["n"]) == list(range(6))
    assert list(out["heading"]) == [f"Page {n}" for n in range(5, -1, -1)]
    assert set(out["af_status"]) == {"ok"} and (out["af_attempts"] == 1).all()
    assert len(result.sessions) == 1 and result.sessions["pages_ok"].iloc[0] == 6


def test_invalid_rows_are_reported_and_never_scraped(site):
    """NaN, blank, relative and non-http URLs come back 'invalid' with a reason; the rest is scraped."""
    frame = pd.DataFrame(
        {"url": [site.url("/page/1"), None, "  ", "/page/2", "file:///etc/passwd", "javascript:alert(1)"]}
    )
    result = af.scrape(frame, heading, **FAST)
    status = result.results["af_status"].tolist()
    assert status == ["ok", "invalid", "invalid", "invalid", "invalid", "invalid"]
    reasons = result.results["af_error"].tolist()[1:]
    assert reasons[0] == "missing URL" and reasons[1] == "blank URL" and "relative URL" in reasons[2]
    assert "'file' is not allowed" in reasons[3] and "'javascript' is not allowed" in reasons[4]
    validate = result.errors[result.errors["stage"] == "validate"]
    assert len(validate) == 5 and set(validate["reason"]) == {"invalid_url"}


def test_empty_input_returns_the_full_schema_without_a_browser():
    """An empty frame gives an empty result with every column, and starts no browser."""
    result = af.scrape(pd.DataFrame({"url": pd.Series([], dtype=object)}), heading, **FAST)
    assert len(result.results) == 0
    assert {"af_status", "af_reason", "af_error", "af_attempts"} <= set(result.results.columns)
    assert list(result.errors.columns)[:3] == ["scope", "session", "row"] and len(result.sessions) == 0


def test_all_invalid_input_starts_no_browser():
    """When no URL is usable, no session is started and every row is 'invalid'."""
    result = af.scrape([None, "ftp://x.test/a"], heading, **FAST)
    assert result.counts["invalid"] == 2 and len(result.sessions) == 0


def test_missing_column_is_an_error_before_any_browser():
    """A missing URL column raises at once, naming the columns."""
    with pytest.raises(InputError, match=r"Pass url='link'"):
        af.scrape(pd.DataFrame({"link": ["https://a.test"]}), heading, **FAST)


def test_duplicates_are_scraped_once_and_answered_for_every_row(site):
    """A URL on three rows is fetched once; all three rows get its answer."""
    url = site.url("/page/7")
    result = af.scrape([url, site.url("/page/8"), url, url], heading, **FAST)
    assert site.hits["/page/7"] == 1
    assert result.results["heading"].tolist() == ["Page 7", "Page 8", "Page 7", "Page 7"]


def test_plain_function_is_refused_with_the_async_form():
    """A plain def gets a TypeError that shows how to write it async."""

    def title(page, row):
        return page.title()

    with pytest.raises(TypeError, match=r"async def title\(page, row\)"):
        af.scrape(["https://a.test"], title, **FAST)


def test_scalar_and_none_outputs(site):
    """A scalar return fills 'value'; None leaves the row ok with no output."""

    async def status(page, row):
        response = await page.goto(row.url)
        return None if row.url.endswith("/1") else response.status

    result = af.scrape(site.pages(3), status, **FAST)
    assert result.results["af_status"].tolist() == ["ok"] * 3
    assert result.results["value"].tolist()[0] == 200 and pd.isna(result.results["value"].iloc[1])


def test_default_summary_and_css_extract(site):
    """Without a callable a page summary comes back; extract= reads CSS selectors, JS-rendered too."""
    summary = af.scrape([site.url("/page/3"), site.url("/status/404")], **FAST).results
    assert summary["title"].iloc[0] == "Page 3" and summary["http_status"].iloc[0] == 200
    assert summary["final_url"].iloc[0] == site.url("/page/3") and summary["text_length"].iloc[0] > 0
    assert summary["af_status"].iloc[1] == "failed" and summary["af_reason"].iloc[1] == "http_error"
    extracted = af.scrape(
        [site.url("/page/4"), site.url("/js/5?delay=300")],
        extract={"name": "h1", "price": ".price", "absent": ".nope"},
        **FAST,
    )
    out = extracted.results
    assert out["name"].tolist() == ["Page 4", "Page 5"] and out["price"].tolist() == ["4.00", "5.00"]
    assert out["absent"].isna().all()


def test_retries_with_backoff_recover_a_flaky_page(site):
    """A page that fails twice (HTTP 500) succeeds on the third attempt; each failure is recorded."""
    result = af.scrape([site.url("/flaky/1?fail=2")], **FAST)
    row = result.results.iloc[0]
    assert row["af_status"] == "ok" and row["af_attempts"] == 3
    assert result.errors["attempt"].tolist() == [1, 2] and set(result.errors["reason"]) == {"http_error"}


def test_retries_are_bounded(site):
    """retries=1 gives up after two attempts and reports the last reason."""
    result = af.scrape([site.url("/flaky/2?fail=5")], retries=1, **FAST)
    row = result.results.iloc[0]
    assert (row["af_status"], row["af_attempts"], row["af_reason"]) == ("failed", 2, "http_error")


def test_callable_errors_are_not_retried(site):
    """An exception from the user's code fails the row at once with its type and message."""

    async def broken(page, row):
        raise KeyError("price")

    result = af.scrape([site.url("/page/1")], broken, **FAST)
    row = result.results.iloc[0]
    assert (row["af_status"], row["af_reason"], row["af_attempts"]) == ("failed", "callable_error", 1)
    assert result.errors["error_type"].iloc[0] == "KeyError"


def test_timeout_ends_a_hanging_page_and_the_run(site):
    """A page that never answers times out per attempt; other rows are unaffected."""
    result = af.scrape([site.url("/hang"), site.url("/page/1")], heading, timeout=1.0, retries=1, **FAST)
    hang, ok = result.results["af_status"].tolist()
    assert (hang, ok) == ("failed", "ok")
    assert result.results["af_reason"].iloc[0] == "timeout" and result.results["af_attempts"].iloc[0] == 2
    assert result.elapsed < 15


def test_a_killed_browser_moves_its_rows_without_spending_retries(site):
    """Killing one of two browsers mid-run: its rows finish elsewhere, the session shows as lost."""
    killed = threading.Event()
    done = []

    async def slow_heading(page, row):
        await page.goto(row.url)
        await asyncio.sleep(0.3)
        done.append(row.url)
        if len(done) == 6 and not killed.is_set():
            killed.set()
            browsers = [p for p in psutil.Process().children() if "chrom" in p.name().lower()]
            os.killpg(browsers[0].pid, signal.SIGKILL)
        return {"heading": await page.inner_text("h1")}

    result = af.scrape(site.pages(30), slow_heading, sessions=2, tabs=2, retries=0, **FAST)
    assert killed.is_set()
    out = result.results
    assert out["af_status"].tolist() == ["ok"] * 30, out[out["af_status"] != "ok"][["af_reason", "af_error"]]
    assert (out["af_attempts"] == 1).all()
    lost = result.errors[(result.errors["scope"] == "session") & (result.errors["reason"] == "session_lost")]
    assert len(lost) == 1
    assert "lost" in result.sessions["state"].tolist()
    assert len(result.sessions) == 3  # a replacement was started while rows remained


def test_sync_scrape_inside_a_running_event_loop(site):
    """scrape() works where a loop already runs (as in Jupyter), twice in a row."""

    async def notebook_cell():
        first = af.scrape([site.url("/page/1")], heading, **FAST)
        second = af.scrape([site.url("/page/2")], heading, **FAST)
        return first, second

    first, second = asyncio.run(notebook_cell())
    assert first.results["heading"].iloc[0] == "Page 1" and second.results["heading"].iloc[0] == "Page 2"


def test_ascrape_is_the_same_engine(site):
    """await ascrape() returns the same result shape."""
    result = asyncio.run(af.ascrape(site.pages(3), heading, **FAST))
    assert result.results["heading"].tolist() == ["Page 0", "Page 1", "Page 2"]


def test_cancelled_ascrape_releases_browsers_and_keeps_the_partial_result(site):
    """Cancelling ascrape() ends every browser; af.last_result() holds every row once."""
    started = asyncio.Event()

    async def slow(page, row):
        await page.goto(row.url)
        started.set()
        await asyncio.sleep(30)

    async def main():
        task = asyncio.ensure_future(af.ascrape(site.pages(8), slow, **FAST))
        await asyncio.sleep(0.2)
        while not any(p for p in psutil.Process().children() if "chrom" in p.name().lower()):
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    partial = af.last_result()
    assert partial is not None and partial.interrupted
    assert len(partial.results) == 8 and set(partial.results["af_status"]) == {"skipped"}


def test_an_exception_escaping_the_run_still_releases_browsers(site):
    """A BaseException from the callable stops the run, propagates, and leaves no Chromium."""

    async def stop(page, row):
        raise SystemExit("stop now")

    with pytest.raises(SystemExit, match="stop now"):
        af.scrape(site.pages(3), stop, **FAST)


def test_setup_runs_once_per_session(site):
    """setup(page) runs once for each session before its rows (e.g. to set cookies)."""
    calls = []

    async def setup(page):
        calls.append(1)
        await page.context.add_cookies([{"name": "token", "value": "t", "url": site.base_url}])

    async def cookie(page, row):
        await page.goto(row.url)
        return {"cookies": len(await page.context.cookies())}

    result = af.scrape(site.pages(4), cookie, setup=setup, **FAST)
    assert calls == [1] and result.results["cookies"].tolist() == [1, 1, 1, 1]


def test_sigint_during_scrape_raises_with_the_partial_result(site):
    """Ctrl-C during scrape() ends the run promptly with every row accounted for."""

    async def slow(page, row):
        await page.goto(row.url)
        await asyncio.sleep(30)

    timer = threading.Timer(4.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(RunInterrupted) as caught:
            af.scrape(site.pages(5), slow, **FAST)
    finally:
        timer.cancel()
    partial = caught.value.partial
    assert partial is not None and len(partial.results) == 5
    assert set(partial.results["af_status"]) == {"skipped"}
    assert af.last_result() is partial


def test_bad_arguments_are_clear_errors():
    """Negative timeouts, unknown options and both fn and extract are refused up front."""
    with pytest.raises(InputError, match="timeout must be"):
        af.scrape(["https://a.test"], heading, timeout=-1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        af.scrape(["https://a.test"], heading, tbas=3)
    with pytest.raises(InputError, match="not both"):
        af.scrape(["https://a.test"], heading, extract={"a": "h1"})
    with pytest.raises(InputError, match="backend must be"):
        af.scrape(["https://a.test"], heading, backend="cloudy")


def test_plan_does_not_start_a_browser(site):
    """af.plan sizes the run and explains it, without provisioning."""
    plan = af.plan([*site.pages(10), None], backend="local")
    assert plan.urls == 10 and plan.invalid == 1 and plan.sessions >= 1
    assert "session(s) x" in plan.explain()


def test_any_exception_in_the_waiting_thread_stops_the_run(site):
    """An exception raised by a signal handler while scrape() waits ends the run and its browsers."""

    async def hang(page, row):
        await page.goto(row.url)
        await asyncio.sleep(60)

    def alarm(signum, frame):
        raise TimeoutError("the job's own deadline")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, 4.0)
    try:
        with pytest.raises(TimeoutError, match="own deadline"):
            af.scrape(site.pages(3), hang, **FAST)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    partial = af.last_result()
    assert partial is not None and partial.interrupted and len(partial.results) == 3
