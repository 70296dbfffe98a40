"""render="auto" end to end with local Chromium: the demo shop, and learning which pages need a browser."""

from __future__ import annotations

import pandas as pd
import pytest

import anchorframe as af
from anchorframe.demo import DemoSite, product
from benchmarks.render_corpus import SELECTORS, serve_corpus

pytestmark = pytest.mark.usefixtures("no_chromium_left")
FIELDS = {"name": "h1", "price": ".price", "stock": ".stock"}


def test_the_demo_shop_says_which_rows_went_over_http_and_which_needed_the_browser():
    """Static products over HTTP, JavaScript-rendered pages in the browser (all correct), 404s failed."""
    with DemoSite(products=16, rendered=5, missing=2, render_delay_ms=100) as site:
        frame = site.frame(extras=False)
        frame = frame[frame["kind"] != "slow"]  # /slow only waits: nothing to learn here
        result = af.scrape(frame, extract=FIELDS, render="auto", backend="local", progress=False, retries=0)
    rows = result.results
    by_kind = {kind: rows[rows["kind"] == kind] for kind in ("products", "rendered", "missing")}
    assert set(by_kind["products"]["af_render"]) == {"http"}
    assert set(by_kind["products"]["af_status"]) == {"ok"}
    rendered = by_kind["rendered"]
    assert set(rendered["af_render"]) == {"browser"} and set(rendered["af_status"]) == {"ok"}
    for n, row in enumerate(rendered.itertuples()):
        item = product(16 + n)
        assert (row.name, row.price, row.stock) == (item["name"], item["price"], item["stock"])
    assert set(by_kind["missing"]["af_status"]) == {"failed"}
    # The 404 pages fail either way. Their pattern (/missing/*) has no history (failures teach
    # nothing), so it follows the host's last attempts: over HTTP, or in the browser when the
    # five rendered pages were learnt first (the fetchers give way while the browser starts).
    assert set(by_kind["missing"]["af_reason"]) == {"http_error"}
    over_http = int((rows["af_render"] == "http").sum())
    assert 16 <= over_http <= 18, over_http
    summary = result.summary()
    assert f"fetched: {over_http} over HTTP, {23 - over_http} in a browser" in summary, summary
    assert "fetched" in result._repr_html_() and len(result.sessions) == 1


def test_once_a_path_pattern_keeps_needing_the_browser_its_queued_rows_skip_http():
    """Mixed corpus (a third rendered by JavaScript under /app/): every row right, few wasted HTTP tries."""
    with serve_corpus("mixed", 90) as (server, pages):
        urls = [server.url(p.path) for p in pages]
        result = af.scrape(urls, extract=SELECTORS, render="auto", backend="local", progress=False)
    rows = result.results
    assert rows[list(SELECTORS)].to_dict("records") == [p.expected for p in pages]
    kinds = [p.kind for p in pages]
    assert rows["af_render"].tolist() == ["http" if k == "static" else "browser" for k in kinds]
    attempts = result.attempts
    js_over_http = attempts[(attempts["render"] == "http") & attempts["url"].str.contains("/app/")]
    # 16 fetchers take the first rows at once; after 4 rendered pages /app/* goes straight to the
    # browser (plus ~5 % probes). Without the learning all 30 would be tried over HTTP first.
    assert len(js_over_http) <= 12, len(js_over_http)
    # While the browser starts, one fetcher goes on and the others give way (its start would
    # otherwise wait behind the HTTP path's callbacks).
    session = result.sessions.iloc[0]
    began = session["started"] + pd.Timedelta(seconds=0.05)
    ready = session["started"] + pd.Timedelta(seconds=float(session["ready_s"]))
    http = attempts[attempts["render"] == "http"]
    during = http[(http["start"] > began) & (http["start"] < ready)]
    assert set(during["tab"]) <= {0}, during[["tab", "start", "url"]].to_string()


def test_by_default_a_static_input_is_read_over_http_and_starts_no_browser():
    """render=None with extract=: "auto"; every row over HTTP, no Chromium, and the summary and
    the timeline say so (no session line of zeros; the fetchers' lanes are named as such)."""
    with DemoSite(products=12, rendered=0, missing=0) as site:
        urls = [site.url(f"/products/{n}") for n in range(12)]
        result = af.scrape(urls, extract=FIELDS, backend="local", progress=False)
    assert set(result.results["af_render"]) == {"http"} and set(result.results["af_status"]) == {"ok"}
    assert result.results["name"].tolist() == [product(n)["name"] for n in range(12)]
    assert len(result.sessions) == 0
    summary = result.summary()
    assert "sessions: none (no row needed a browser)" in summary and "session time" not in summary, summary
    assert "none (no row needed a browser)" in result._repr_html_()
    from anchorframe._display.timeline_layout import layout_timeline

    lanes = layout_timeline(result.attempts, result.sessions).lanes
    assert lanes and all(lane.startswith("HTTP · fetcher ") for lane in lanes), lanes
