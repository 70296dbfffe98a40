"""In real Chromium: the main document's status and headers are recorded; challenges and 429s are seen.

Run under the browser lock; one browser for the module (about 5 s in all).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from anchorframe._render.page_signals import MainDocument, blocked_of, read_page, throttle_of

from .conftest import wait_no_chromium
from .sites_misbehaving import CHALLENGE_PAGES, ChallengeSite, RateLimitedSite, RobotsSite


async def _visit(urls: list[str], *, expect_content: bool = False) -> list[tuple]:
    """Open each URL on its own page as a callable would; return (main document, page text, blocked)."""
    from playwright.async_api import async_playwright

    from anchorframe.backends._chromium import find_chromium

    out = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(find_chromium()))
        try:
            context = await browser.new_context()
            for url in urls:
                page = await context.new_page()
                doc = MainDocument.watch(page)
                await page.goto(url)
                text = await read_page(page)
                out.append((doc, text, blocked_of(doc, text, expect_content=expect_content)))
                await page.close()
        finally:
            await browser.close()
    return out


@contextlib.asynccontextmanager
async def _watched_page() -> AsyncIterator[tuple[Any, MainDocument]]:
    """A page of its own Chromium, watched as a row's tab watches it."""
    from playwright.async_api import async_playwright

    from anchorframe.backends._chromium import find_chromium

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(find_chromium()))
        try:
            page = await browser.new_page()
            yield page, MainDocument.watch(page)
        finally:
            await browser.close()


def test_each_vendors_challenge_is_seen_in_the_browser_and_ordinary_pages_are_not(no_chromium_left):
    sites = [ChallengeSite(vendor) for vendor in sorted(CHALLENGE_PAGES)]
    for site in sites:
        site.__enter__()
    try:
        urls = [site.url("/challenge/1") for site in sites] + [sites[0].url("/page/1")]
        seen = asyncio.run(_visit(urls))
    finally:
        for site in sites:
            site.__exit__(None, None, None)
    for site, (doc, text, blocked) in zip(sites, seen[:-1], strict=True):
        status, headers, _ = CHALLENGE_PAGES[site.vendor]
        assert doc.status == status and doc.url.endswith("/challenge/1")
        assert all(doc.headers[name.lower()] == value for name, value in headers.items())
        assert blocked is not None and blocked.vendor == site.vendor, (site.vendor, text)
    doc, text, blocked = seen[-1]
    assert doc.status == 200 and text is not None and text.title == "Page 1" and blocked is None
    assert wait_no_chromium() == []


def test_an_empty_page_is_blocked_where_content_was_expected(no_chromium_left):
    with ChallengeSite() as site:
        ((doc, text, blocked),) = asyncio.run(_visit([site.url("/empty/1")], expect_content=True))
    assert doc.status == 200 and text is not None and text.text_length == 0
    assert blocked is not None and blocked.marker == "empty page"


def test_a_429_with_retry_after_is_seen_as_a_throttle(no_chromium_left):
    with RateLimitedSite(limit=0, retry_after="2") as site:
        ((doc, _, blocked),) = asyncio.run(_visit([site.url("/page/1")]))
    throttle = throttle_of(doc, time.time())
    assert throttle is not None and (throttle.status, throttle.retry_after) == (429, 2.0)
    assert blocked is None  # a plain 429 is a throttle, not a challenge


def test_the_final_url_after_a_redirect_is_recorded(no_chromium_left):
    with RobotsSite(robots_redirect=True) as site:
        ((doc, _, _),) = asyncio.run(_visit([site.url("/robots.txt")]))
    assert doc.status == 200 and doc.url.endswith("/real-robots.txt")


@pytest.mark.parametrize("after_goto", [False, True])
def test_a_navigation_by_click_is_read_from_navigation_timing(no_chromium_left, after_goto):
    """No goto returned the document (a link was clicked): its status and URL still come back,
    also where the row's goto had noted a document before the click."""

    async def visit(start: str) -> MainDocument:
        async with _watched_page() as (page, doc):
            await page.goto(start)
            if not after_goto:
                doc.reset()
            await page.evaluate("document.body.innerHTML = `<a href='/status/404'>gone</a>`")
            await page.click("a")
            await page.wait_for_url("**/status/404")
            await doc.confirm(page)
            return doc

    from .pages import TestSite

    with TestSite() as site:
        doc = asyncio.run(visit(site.url("/page/1")))
    assert doc.status == 404 and doc.url.endswith("/status/404") and doc.headers == {}


async def _after(url: str, then: str) -> MainDocument:
    """goto ``url`` (its load), then ``then`` ("" or a link's href to click, not waited for
    beyond its commit), then confirm the record: what a row's tab would know."""
    async with _watched_page() as (page, doc):
        await page.goto(url)
        if then:
            await page.evaluate(f"document.body.innerHTML = `<a href='{then}'>on</a>`")
            await page.click("a")
            await page.wait_for_url(lambda now: now.endswith(then), wait_until="commit")
        await doc.confirm(page, timeout=1.0)
        return doc


@pytest.mark.parametrize("when", ["inline", "dcl"])
def test_a_script_redirect_within_the_goto_is_the_document_read(no_chromium_left, when):
    """goto returned the first page's response, but its script had sent the page on (while it
    parsed, or on DOMContentLoaded) before the load the goto waited for: the 503 it landed on
    is the document recorded, as a throttle must see it."""
    from .pages import TestSite

    with TestSite() as site:
        doc = asyncio.run(_after(site.url(f"/page/1?redirect=/status/503&when={when}"), ""))
    assert doc.status == 503 and doc.url.endswith("/status/503"), doc


def test_a_navigation_still_loading_is_read_once_committed(no_chromium_left):
    """A click whose document has committed but not reached DOMContentLoaded (its body never
    ends): after a wait for it, its status and URL are read, not the first page's kept."""
    from .pages import TestSite

    with TestSite() as site:
        doc = asyncio.run(_after(site.url("/page/1"), "/endless"))
    assert doc.url.endswith("/endless") and doc.status == 200, doc


@pytest.mark.parametrize("when", ["1", "late"])
def test_a_url_rewritten_by_a_script_is_still_the_navigations_document(no_chromium_left, when):
    """history.replaceState changes the URL, not the document: its status and headers stay. Done
    after the navigation, it costs no round trip; during it (the URL goto returned with is not
    its response's), a scraper of yours gets one, the built-in extractors none."""
    from types import SimpleNamespace

    from anchorframe.extract import css, page_summary

    from .pages import TestSite

    async def visit(url: str, scraper: object | None) -> tuple[MainDocument, str, int]:
        async with _watched_page() as (page, doc):
            if scraper is None:
                await page.goto(url)
            else:
                await scraper(page, SimpleNamespace(url=url))  # type: ignore[operator]
            await page.wait_for_url(lambda now: now.endswith("?rewritten="))
            asked = []
            evaluate = page.evaluate
            page.evaluate = lambda *a, **k: asked.append(a) or evaluate(*a, **k)  # type: ignore[method-assign]
            await doc.confirm(page)
            return doc, page.url, len(asked)

    with TestSite() as site:
        url = site.url(f"/page/1?rewrite={when}")
        seen = {
            name: asyncio.run(visit(url, scraper))
            for name, scraper in (
                ("callable", None),
                ("css", css({"price": ".price"})),
                ("summary", page_summary),
            )
        }
    for name, (doc, now, asked) in seen.items():
        assert now.endswith("/page/1?rewritten="), name
        assert doc.status == 200 and doc.url == url, (name, doc)
        assert doc.headers.get("cache-control") == "no-store", (name, doc.headers)
        assert asked == (1 if name == "callable" and when == "1" else 0), (name, asked)
    assert wait_no_chromium() == []


def test_a_navigations_headers_are_read_from_its_response_only_when_asked_for():
    """Most rows never need them: Playwright's client maps every header on each read."""

    class Response:  # what a navigation returns, in short; counts the reads of its headers
        status, url, reads = 200, "https://a.test/p", 0

        @property
        def headers(self) -> dict[str, str]:
            Response.reads += 1
            return {"Retry-After": "3", "Content-Type": "text/html"}

    doc = MainDocument()
    doc.note(Response())
    assert (doc.status, doc.url, Response.reads) == (200, "https://a.test/p", 0)
    assert doc.headers.get("retry-after") == "3" and "content-type" in doc.headers
    assert doc.headers == {"retry-after": "3", "content-type": "text/html"}
    assert Response.reads == 1
    doc.reset()
    assert doc.headers == {}
