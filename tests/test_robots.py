"""robots.txt against a real loopback server: rules, Crawl-delay, 404, 5xx, slow, once per origin."""

from __future__ import annotations

import asyncio
import time

import pytest

from anchorframe._manners.robots import USER_AGENT, RobotsCache, origin_of

from .sites_misbehaving import RobotsSite


def run(coro):
    return asyncio.run(coro)


async def verdicts(site: RobotsSite, paths: list[str], **options) -> list:
    async with RobotsCache(**options) as robots:
        return [await robots.check(site.url(path)) for path in paths]


def test_disallowed_paths_are_refused_and_others_allowed():
    with RobotsSite() as site:
        private, public = run(verdicts(site, ["/private/1", "/public/1"]))
    assert (
        not private.allowed and "disallows this path" in private.message and "robots=False" in private.message
    )
    assert public.allowed and public.message == ""
    assert site.requests == ["/robots.txt"]  # the pages themselves were never asked for


def test_our_own_group_wins_over_the_star_group():
    robots = "User-agent: *\nDisallow: /\n\nUser-agent: anchorframe\nDisallow: /private/\n"
    with RobotsSite(robots) as site:
        private, public = run(verdicts(site, ["/private/1", "/public/1"]))
    assert not private.allowed and public.allowed


def test_the_agent_token_is_configurable():
    robots = "User-agent: otherbot\nDisallow: /public/\n"
    with RobotsSite(robots) as site:
        (mine,) = run(verdicts(site, ["/public/1"]))
        (theirs,) = run(verdicts(site, ["/public/1"], agent="otherbot"))
    assert mine.allowed and not theirs.allowed


def test_crawl_delay_is_exposed_for_the_origin():
    with RobotsSite("User-agent: *\nCrawl-delay: 3\nDisallow: /private/\n") as site:

        async def main():
            async with RobotsCache() as robots:
                assert robots.crawl_delay(site.url("/public/1")) is None  # not fetched yet
                verdict = await robots.check(site.url("/public/1"))
                return verdict.crawl_delay, robots.crawl_delay(site.url("/public/2"))

        assert run(main()) == (3.0, 3.0)


@pytest.mark.parametrize("status", [404, 401, 403, 410])
def test_a_4xx_robots_txt_allows_everything(status):
    with RobotsSite(robots_status=status) as site:
        (verdict,) = run(verdicts(site, ["/private/1"]))
    assert verdict.allowed and verdict.crawl_delay is None


@pytest.mark.parametrize("status", [500, 503, 429])
def test_an_unreachable_robots_txt_disallows_everything_after_a_second_try(status):
    with RobotsSite(robots_status=status) as site:
        (verdict,) = run(verdicts(site, ["/public/1"], retry_delay=0.05))
    assert not verdict.allowed
    assert f"HTTP {status}" in verdict.message and "RFC 9309" in verdict.message
    assert site.requests == ["/robots.txt", "/robots.txt"]


def test_a_slow_robots_txt_counts_as_unreachable():
    with RobotsSite(robots_delay=1.0) as site:
        started = time.monotonic()
        (verdict,) = run(verdicts(site, ["/public/1"], timeout=0.2, retry_delay=0.05))
        elapsed = time.monotonic() - started
    assert not verdict.allowed and "no answer in time" in verdict.message
    assert elapsed < 0.9  # two 0.2 s tries, not the server's 1 s


def test_a_closed_port_lets_the_row_through_and_is_asked_again():
    """No connection at all: the row itself will fail with that cause; nothing is cached."""
    with RobotsSite() as site:
        url = site.url("/public/1")
    robots = RobotsCache(retry_delay=0.0)

    async def main():
        try:
            return [await robots.check(url), await robots.check(url)]
        finally:
            await robots.aclose()

    verdicts_ = run(main())
    assert all(v.allowed for v in verdicts_)
    assert robots.fetched == [origin_of(url)] * 2  # asked once per row: no verdict was cached


async def _check_all(urls: list[str], **options) -> list:
    async with RobotsCache(**options) as robots:
        return [await robots.check(url) for url in urls]


def test_redirects_are_followed():
    with RobotsSite(robots_redirect=True) as site:
        private, public = run(verdicts(site, ["/private/1", "/public/1"]))
    assert not private.allowed and public.allowed
    assert site.requests == ["/robots.txt", "/real-robots.txt"]


def test_many_concurrent_checks_fetch_robots_txt_once():
    """A hundred tabs starting at once ask the server once."""
    with RobotsSite(robots_delay=0.2) as site:

        async def main():
            async with RobotsCache() as robots:
                urls = [site.url(f"/public/{n}") for n in range(100)] + [site.url("/private/1")]
                return await asyncio.gather(*(robots.allowed(url) for url in urls))

        answers = run(main())
    assert answers == [True] * 100 + [False]
    assert site.requests == ["/robots.txt"]


def test_the_robots_request_says_who_we_are():
    seen = {}

    class Recording(RobotsSite):
        def answer(self, handler, path):
            seen["ua"] = handler.headers.get("User-Agent")
            super().answer(handler, path)

    with Recording() as site:
        run(verdicts(site, ["/public/1"]))
    assert seen["ua"] == USER_AGENT and USER_AGENT.startswith("anchorframe")


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Example.com/a", "https://example.com"),
        ("https://example.com:443/a", "https://example.com"),
        ("http://example.com:8080/a", "http://example.com:8080"),
        ("http://[::1]:9000/a", "http://[::1]:9000"),
    ],
)
def test_origin_is_scheme_host_and_non_default_port(url, origin):
    assert origin_of(url) == origin


def test_docstring_examples():
    import doctest

    import anchorframe._manners.robots

    outcome = doctest.testmod(anchorframe._manners.robots, optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0 and outcome.failed == 0


def test_closing_the_cache_stops_a_fetch_under_way():
    with RobotsSite(robots_delay=2.0) as site:

        async def main():
            robots = RobotsCache(timeout=5.0)
            check = asyncio.ensure_future(robots.check(site.url("/public/1")))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await robots.aclose()
            with pytest.raises(asyncio.CancelledError):
                await check
            return time.monotonic() - started

        assert run(main()) < 1.0
