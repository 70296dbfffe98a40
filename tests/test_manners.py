"""Good manners on loopback sites that push back as real ones do: real Chromium, real servers.

A site that answers 429 beyond 3 concurrent requests, a robots.txt that disallows a path,
a bot challenge, and the identity a run presents (user agent, headers) on both render paths.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest

import anchorframe as af

from .sites_misbehaving import ChallengeSite, RateLimitedSite, RobotsSite

FAST = {"progress": False, "backoff": 0.05}
HEADING = {"heading": "h1"}


@pytest.mark.parametrize("render", ["browser", "http"])
def test_per_site_keeps_within_the_sites_limit(render):
    """per_site=3 against a site that rate-limits beyond 3: 8 tabs, yet never more than 3 requests
    in flight there, no 429 at all, every row ok."""
    with RateLimitedSite(limit=3, hold=0.1) as site:
        urls = site.pages(24)
        result = af.scrape(urls, extract=HEADING, sessions=2, tabs=4, per_site=3, render=render, **FAST)
    assert set(result.results["af_status"]) == {"ok"}
    assert site.max_concurrency <= 3 and site.rejected == 0
    assert result.results["heading"].tolist() == [f"Page {n}" for n in range(24)]


@pytest.mark.parametrize("render", ["browser", "http"])
def test_retry_after_pauses_the_site_and_rows_keep_their_retries(render):
    """The default per_site=8 exceeds the site's 3: it answers 429 with Retry-After: 2. The run
    pauses the whole site for 2 s (no request arrives meanwhile), the rows waiting spend no retry,
    every row ends ok, and the pause is in .errors with scope 'site'."""
    with RateLimitedSite(limit=3, retry_after="2", hold=0.3) as site:
        urls = site.pages(16)
        started = time.monotonic()
        result = af.scrape(urls, extract=HEADING, sessions=2, tabs=4, retries=0, render=render, **FAST)
        elapsed = time.monotonic() - started
    results = result.results
    assert set(results["af_status"]) == {"ok"}, results[["af_status", "af_reason", "af_error"]]
    assert (results["af_attempts"] == 1).all()  # retries=0, yet every throttled row got through
    assert site.rejected >= 1 and site.max_concurrency <= 8
    assert elapsed >= 2.0
    pauses = result.errors[result.errors["scope"] == "site"]
    assert len(pauses) >= 1 and set(pauses["reason"]) == {"rate_limited"}
    assert "Retry-After: 2 s" in pauses["message"].iloc[0] and pauses["site"].iloc[0] in urls[0]
    # No attempt starts while the site is paused (a request started before may still arrive late
    # on a loaded machine, so the run's own record is the judge, not the server's arrivals).
    starts = pd.to_datetime(result.attempts["start"], utc=True)
    for paused_at in pd.to_datetime(pauses["time"], utc=True):
        during = (starts > paused_at) & (starts < paused_at + pd.Timedelta(seconds=1.95))
        assert not during.any(), result.attempts[during]
    throttled = result.attempts[result.attempts["outcome"] == "throttled"]
    assert len(throttled) == site.rejected  # every 429 seen, none counted as a row's failure


def test_robots_txt_disallowed_rows_are_skipped_and_never_fetched():
    """robots.txt disallows /private/: those rows come back skipped / robots_txt, zero requests
    reach them; robots=False fetches them."""
    with RobotsSite() as site:
        urls = [site.url(f"/public/{n}") for n in range(4)] + [site.url(f"/private/{n}") for n in range(4)]
        frame = pd.DataFrame({"url": urls}, index=[f"r{n}" for n in range(8)])
        result = af.scrape(frame, extract=HEADING, sessions=1, tabs=2, render="browser", **FAST)
        assert site.hits("/private/") == 0 and site.hits("/robots.txt") == 1
        private = result.results.loc[[f"r{n}" for n in range(4, 8)]]
        assert set(private["af_status"]) == {"skipped"} and set(private["af_reason"]) == {"robots_txt"}
        assert private["af_error"].str.contains("robots.txt disallows").all()
        assert set(result.results.loc[["r0", "r1", "r2", "r3"], "af_status"]) == {"ok"}
        assert "robots.txt" in result.summary()
        again = af.scrape(frame, extract=HEADING, sessions=1, tabs=2, robots=False, render="browser", **FAST)
        assert set(again.results["af_status"]) == {"ok"} and site.hits("/private/") == 4


def test_robots_txt_is_asked_on_the_http_path_too():
    with RobotsSite() as site:
        urls = [site.url("/public/1"), site.url("/private/1")]
        result = af.scrape(urls, extract=HEADING, render="http", **FAST)
        assert list(result.results["af_status"]) == ["ok", "skipped"]
        assert site.hits("/private/") == 0


def test_a_challenge_page_fails_blocked_after_trying_another_session():
    """A Cloudflare challenge: the row fails 'blocked' (not a selector error), and its retry ran on
    the other session; the ordinary pages are ok."""
    with ChallengeSite("cloudflare") as site:
        urls = [*site.pages(6), site.url("/challenge/1")]
        result = af.scrape(urls, extract=HEADING, sessions=2, tabs=1, retries=1, render="browser", **FAST)
    row = result.results.iloc[6]
    assert row["af_status"] == "failed" and row["af_reason"] == "blocked", row
    assert "Cloudflare" in row["af_error"] and row["af_attempts"] == 2
    attempts = result.attempts[result.attempts["url"] == urls[6]]
    assert attempts["session"].nunique() == 2, attempts  # the retry went to the other session
    assert set(result.results["af_status"].iloc[:6]) == {"ok"}


def test_an_empty_page_where_content_was_expected_is_blocked():
    """An extractor that finds nothing on an empty page: blocked (an empty shell), not ok with Nones."""
    with ChallengeSite() as site:
        result = af.scrape([site.url("/empty/1")], extract=HEADING, retries=0, render="browser", **FAST)
    assert result.results["af_reason"].iloc[0] == "blocked"


@pytest.mark.parametrize("render", ["browser", "http"])
def test_user_agent_and_headers_reach_the_site(render):
    """user_agent= and headers= are sent with every page request, on either path; the header's
    value (a token) is never shown in the result."""
    token = "Bearer secret-token-123"
    with ChallengeSite() as site:
        result = af.scrape(
            site.pages(2),
            extract=HEADING,
            user_agent="acme-research/1.0",
            headers={"Authorization": token, "X-Team": "data"},
            render=render,
            **FAST,
        )
    pages = [headers for path, headers in site.headers if path.startswith("/page/")]
    assert pages and all(h.get("user-agent") == "acme-research/1.0" for h in pages)
    assert all(h.get("authorization") == token and h.get("x-team") == "data" for h in pages)
    assert set(result.results["af_status"]) == {"ok"}
    assert token not in repr(result) and token not in result.results.to_string()


def test_locale_and_timezone_shape_the_local_browser():
    with ChallengeSite() as site:

        async def probe(page, row):
            await page.goto(row.url)
            return await page.evaluate(
                "() => ({lang: navigator.language, tz: Intl.DateTimeFormat().resolvedOptions().timeZone})"
            )

        result = af.scrape(site.pages(1), probe, locale="de-DE", timezone="Asia/Tokyo", **FAST)
    assert result.results[["lang", "tz"]].iloc[0].tolist() == ["de-DE", "Asia/Tokyo"]


def test_bad_manners_options_are_refused_before_anything_starts():
    for options, words in [
        ({"per_site": 0}, "per_site"),
        ({"min_delay": -1}, "min_delay"),
        ({"robots": "yes"}, "robots"),
        ({"renew_context_after": 0}, "renew_context_after"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ]:
        with pytest.raises(af.InputError, match=words):
            af.scrape(["https://example.com/"], extract=HEADING, **options)


def test_low_free_memory_runs_fewer_local_tabs(monkeypatch):
    """When the machine's available memory is below the reserve, a local session runs one tab,
    not the four asked for (a real Chromium; psutil's reading replaced by a low one)."""
    import types

    import psutil

    total = psutil.virtual_memory().total
    low = types.SimpleNamespace(available=64 * 2**20, total=total)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: low)
    active, most = [0], [0]

    async def slow(page, row):
        active[0] += 1
        most[0] = max(most[0], active[0])
        try:
            await page.goto(row.url)
            await page.wait_for_timeout(50)
            return {"h1": await page.inner_text("h1")}
        finally:
            active[0] -= 1

    with ChallengeSite() as site:
        result = af.scrape(site.pages(8), slow, backend="local", sessions=1, tabs=4, **FAST)
    assert set(result.results["af_status"]) == {"ok"}
    assert most[0] == 1
