"""The misbehaving loopback sites behave as documented (the end-to-end tests rely on them)."""

from __future__ import annotations

import asyncio

import httpx

from .sites_misbehaving import CHALLENGE_PAGES, ChallengeSite, RateLimitedSite, RobotsSite


async def _get_all(urls: list[str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as client:
        return await asyncio.gather(*(client.get(url) for url in urls))


def test_the_rate_limited_site_turns_away_requests_beyond_its_limit_and_counts_the_peak():
    with RateLimitedSite(limit=3, retry_after="2", hold=0.3) as site:
        answers = asyncio.run(_get_all(site.pages(10)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(200) >= 3 and 429 in statuses
    assert all(a.headers["Retry-After"] == "2" for a in answers if a.status_code == 429)
    assert site.max_concurrency > 3 and site.rejected == statuses.count(429)
    assert site.served == statuses.count(200) and site.in_flight == 0


def test_the_rate_limited_site_serves_clients_that_keep_to_the_limit():
    with RateLimitedSite(limit=3, hold=0.05) as site:

        async def main():
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=3)) as client:
                return await asyncio.gather(*(client.get(url) for url in site.pages(9)))

        answers = asyncio.run(main())
    assert [a.status_code for a in answers] == [200] * 9
    assert site.max_concurrency <= 3 and site.rejected == 0


def test_the_robots_site_logs_every_path():
    with RobotsSite() as site:
        asyncio.run(_get_all([site.url("/robots.txt"), site.url("/public/1")]))
        assert sorted(site.requests) == ["/public/1", "/robots.txt"]
        assert site.hits("/private/") == 0


def test_the_challenge_site_serves_each_vendors_page():
    for vendor, (status, headers, html) in CHALLENGE_PAGES.items():
        with ChallengeSite(vendor) as site:
            challenge, page = asyncio.run(_get_all([site.url("/challenge/1"), site.url("/page/1")]))
        assert challenge.status_code == status and challenge.text == html
        for name, value in headers.items():
            assert challenge.headers[name] == value
        assert page.status_code == 200 and "Page 1" in page.text
