"""The same values whichever path fetched the page: Chromium (the browser extractors) vs the HTTP path.

One browser run reads every page with ``css()`` and ``page_summary`` (and, for the
record, ``innerText``); the HTTP path reads the same loopback pages; every value
is compared. Pages: the demo shop, the tricky pages of ``tests/render_pages.py``
(whitespace, nbsp, hidden elements, nesting, tables, unicode, attributes) and
pages whose charset only ``<meta>`` declares.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

import anchorframe as af
from anchorframe._render.http import HttpOutcome, fetch_extract, make_client
from anchorframe._render.text import TEXT_JS, node_text
from anchorframe.demo import DemoSite
from benchmarks.render_corpus import SELECTORS, Page, PageServer, serve_corpus

from .render_pages import TRICKY_EXPECTED, TRICKY_SELECTORS, all_pages, random_page

pytestmark = pytest.mark.usefixtures("no_chromium_left")

DEMO = {"name": "h1", "price": ".price", "stock": ".stock"}
CHARSET = {"heading": "h1"}

_INNER_TEXT_JS = """(selectors) => Object.fromEntries(Object.entries(selectors).map(([name, sel]) => {
  const el = document.querySelector(sel.split("@")[0]);
  return [name, el ? el.innerText.trim() : null];
}))"""


def _browser_values(urls_selectors: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """One local-Chromium run: for each URL, the css() values, the page summary and innerText."""

    async def read_all(page: Any, row: Any) -> dict[str, Any]:
        selectors = urls_selectors[row.url]
        values = await af.extract.css(selectors, wait=0)(page, row)
        inner = await page.evaluate(_INNER_TEXT_JS, selectors)
        await page.goto("about:blank")  # else a URL with a #fragment is a same-document navigation
        summary = await af.extract.page_summary(page, row)
        return {"payload": json.dumps({"css": values, "summary": summary, "inner": inner})}

    result = af.scrape(list(urls_selectors), read_all, backend="local", progress=False, retries=0, timeout=20)
    frame = result.results
    assert (frame.af_status == "ok").all(), frame[["url", "af_status", "af_error"]].to_string()
    return {row.url: json.loads(row.payload) for row in frame.itertuples()}


def _http_values(urls_selectors: dict[str, dict[str, str]]) -> dict[str, tuple[HttpOutcome, HttpOutcome]]:
    async def run() -> dict[str, tuple[HttpOutcome, HttpOutcome]]:
        async with make_client() as client:
            out = {}
            for url, selectors in urls_selectors.items():
                css = await fetch_extract(client, url, selectors, timeout=10)
                summary = await fetch_extract(client, url, None, timeout=10)
                out[url] = (css, summary)
            return out

    return asyncio.run(run())


def _compare(urls_selectors: dict[str, dict[str, str]]) -> tuple[dict[str, Any], dict[str, Any]]:
    browser = _browser_values(urls_selectors)
    http = _http_values(urls_selectors)
    compared = 0
    for url in urls_selectors:
        css, summary = http[url]
        assert css.done, (url, css.reason)
        assert summary.done, (url, summary.reason)
        assert css.values == browser[url]["css"], url
        assert summary.values == browser[url]["summary"], url
        compared += len(css.values or {}) + len(summary.values or {})
    assert compared >= 4 * len(urls_selectors)
    return browser, http


def test_tricky_and_charset_pages_give_identical_values_on_both_paths():
    """Every value of every tricky page is equal on both paths, and equal to the documented rule."""
    pages = all_pages()
    with PageServer(pages) as server:
        urls_selectors = {server.url(path): CHARSET for path in pages if path not in ("/tricky", "/")}
        urls_selectors[server.url("/tricky")] = TRICKY_SELECTORS
        urls_selectors[server.base_url + "#top"] = TRICKY_SELECTORS  # final URL: root path, fragment kept
        browser, http = _compare(urls_selectors)
        tricky = server.url("/tricky")
        assert http[server.base_url + "#top"][1].values["final_url"] == server.url("/#top")
        assert http[tricky][0].values == TRICKY_EXPECTED
        assert http[tricky][1].values["title"] == "Tricky page"
        assert http[server.url("/cp1252-meta")][0].values == {"heading": "Café “crème” – 5 €"}
        assert http[server.url("/sjis-meta")][0].values == {"heading": "こんにちは、世界"}
        assert http[server.url("/sjis-header")][1].values["title"] == "日本語のページ"
        # Why not innerText: it follows CSS, which the parser cannot see, and keeps nbsp.
        inner = browser[tricky]["inner"]
        assert inner["stylesheet"] == "a c" != http[tricky][0].values["stylesheet"]
        assert inner["nbsp"] != http[tricky][0].values["nbsp"]


def test_demo_site_gives_identical_values_and_sends_rendered_pages_to_the_browser():
    """Static demo pages: identical values; JavaScript-rendered ones: the HTTP path asks for a browser."""
    with DemoSite(products=12, rendered=3, missing=1) as site:
        static = {site.url(f"/products/{n}"): DEMO for n in range(12)}
        _compare(static)

        async def others() -> list[HttpOutcome]:
            async with make_client() as client:
                urls = [site.url(f"/rendered/{n}") for n in range(3)] + [site.url("/missing/0")]
                return [await fetch_extract(client, u, s, timeout=10) for u in urls for s in (DEMO, None)]

        *rendered, missing_css, missing_summary = asyncio.run(others())
        assert all(o.needs_browser and "shell" in (o.reason or "") for o in rendered), rendered
        for outcome in (missing_css, missing_summary):
            assert outcome.failed and outcome.failure is not None
            assert (outcome.failure.reason, outcome.failure.retryable) == ("http_error", False)


def test_render_corpus_static_pages_match_their_expected_rows_on_both_paths():
    """The benchmark's static corpus reads correctly both ways (its expected values are right)."""
    with serve_corpus("static", 6) as (server, rows):
        urls = {server.url(r.path): SELECTORS for r in rows}
        _, http = _compare(urls)
        for row in rows:
            assert http[server.url(row.path)][0].values == row.expected


def test_js_and_mixed_corpora_read_correctly_in_the_browser_and_go_there_from_http():
    """The JavaScript pages' expected values are what Chromium reads; the HTTP path sends them on."""
    with serve_corpus("mixed", 6) as (server, rows):
        assert [r.kind for r in rows] == ["static", "static", "js"] * 2
        urls = [server.url(r.path) for r in rows]
        result = af.scrape(
            urls, extract=SELECTORS, render="browser", backend="local", progress=False, retries=0, timeout=20
        )
        browser = [{k: getattr(r, k) for k in SELECTORS} for r in result.results.itertuples()]
        assert browser == [r.expected for r in rows]
        http = _http_values(dict.fromkeys(urls, SELECTORS))
        for row, url in zip(rows, urls, strict=True):
            css = http[url][0]
            if row.kind == "static":
                assert css.done and css.values == row.expected
            else:
                assert css.needs_browser and "shell" in (css.reason or ""), css


def test_random_markup_reads_the_same_in_chromium_and_in_the_parser():
    """400 random fragments (nesting, breaks, tables, hidden/skipped elements, odd whitespace)."""
    count = 400
    html = random_page(count, seed=14)
    js = "(count) => { const text = " + TEXT_JS + ";\n"
    js += "  return Array.from({length: count}, (_, n) => text(document.getElementById('f' + n))); }"

    async def read(page: Any, row: Any) -> dict[str, Any]:
        await page.goto(row.url)
        return {"payload": json.dumps(await page.evaluate(js, count))}

    with PageServer({"/random": Page(html)}) as server:
        result = af.scrape([server.url("/random")], read, backend="local", progress=False, retries=0)
    browser = json.loads(result.results.payload.iloc[0])
    tree = LexborHTMLParser(html)
    parser = [node_text(tree.css_first(f"#f{n}")) for n in range(count)]
    differing = [(n, b, p) for n, (b, p) in enumerate(zip(browser, parser, strict=True)) if b != p]
    assert differing == []
    assert sum(1 for value in parser if "\n" in value) > 50 and sum(1 for value in parser if not value) < 100
