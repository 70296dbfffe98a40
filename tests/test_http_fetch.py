"""The HTTP path against real loopback servers: charsets, compression, redirects, statuses, timeouts."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from anchorframe._render.charset import decode_html
from anchorframe._render.http import HttpOutcome, fetch_extract, fetch_page, make_client, probe
from benchmarks.render_corpus import Page, PageServer

from .render_pages import charset_pages

HEADING = {"heading": "h1"}
STATIC = "<!doctype html><title>T</title><h1>Hello</h1><p>" + "static text " * 30 + "</p>"

PAGES: dict[str, Page] = {
    **charset_pages(),
    "/plain": Page(STATIC),
    "/gzip": Page(STATIC, encoding="gzip"),
    "/br": Page(STATIC, encoding="br"),
    "/r1": Page(status=301, headers={"Location": "/r2"}),
    "/r2": Page(status=302, headers={"Location": "/plain"}),
    "/loop": Page(status=302, headers={"Location": "/loop"}),
    "/404": Page("<h1>Not found</h1>", status=404),
    "/429": Page("<h1>Slow down</h1>", status=429, headers={"Retry-After": "1"}),
    "/500": Page("<h1>Oops</h1>", status=500),
    "/403": Page("<h1>Forbidden</h1>", status=403),
    "/challenge": Page(
        "<html><head><title>Just a moment...</title></head>"
        "<body><script>window._cf_chl_opt={}</script></body>",
        status=503,
    ),
    "/pdf": Page(b"%PDF-1.4 ...", headers={"Content-Type": "application/pdf"}),
    "/slow-head": Page(STATIC, delay=2.0),
    "/slow-body": Page(STATIC * 4, trickle=0.2),
    "/shell": Page("<div id='root'></div><script src='/app.js'></script>"),
}


@pytest.fixture(scope="module")
def server():
    with PageServer(PAGES) as running:
        yield running


def fetch(server: PageServer, path: str, selectors: Any = HEADING, timeout: float = 5.0) -> HttpOutcome:
    async def run() -> HttpOutcome:
        async with make_client() as client:
            return await fetch_extract(client, server.url(path), selectors, timeout=timeout)

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("path", "heading", "title"),
    [
        ("/cp1252-meta", "Café “crème” – 5 €", "Café “crème”"),
        ("/latin1-meta", "Café “crème” – 5 €", "Café “crème”"),  # iso-8859-1 means windows-1252
        ("/sjis-meta", "こんにちは、世界", "日本語のページ"),
        ("/sjis-header", "こんにちは、世界", "日本語のページ"),
    ],
)
def test_the_charset_the_page_declares_is_used(server, path, heading, title):
    assert fetch(server, path).values == {"heading": heading}
    assert fetch(server, path, None).values["title"] == title


@pytest.mark.parametrize("path", ["/gzip", "/br"])
def test_compressed_bodies_are_decoded(server, path):
    outcome = fetch(server, path)
    assert outcome.done and outcome.values == {"heading": "Hello"}
    assert outcome.headers["content-encoding"] == path.strip("/")


def test_redirects_are_followed_and_the_final_url_reported_as_a_browser_does(server):
    outcome = fetch(server, "/r1", None)
    assert outcome.done and outcome.final_url == server.url("/plain") == outcome.values["final_url"]
    assert outcome.values["http_status"] == 200
    assert fetch(server, "/r1#part", None).values["final_url"] == server.url("/plain#part")


def test_a_redirect_loop_fails_the_row_as_a_navigation_error(server):
    outcome = fetch(server, "/loop")
    assert outcome.failed and outcome.failure is not None and outcome.failure.reason == "navigation"


@pytest.mark.parametrize(
    ("path", "retryable"), [("/404", False), ("/429", True), ("/500", True), ("/nowhere", False)]
)
def test_http_errors_are_classified_as_the_browser_path_does(server, path, retryable):
    outcome = fetch(server, path)
    assert outcome.failed and outcome.failure is not None
    assert (outcome.failure.reason, outcome.failure.retryable) == ("http_error", retryable)
    status = int(path.strip("/")) if path != "/nowhere" else 404
    assert (
        outcome.failure.message.startswith(f"HTTP {status} ") and server.url(path) in outcome.failure.message
    )
    assert outcome.status == status and outcome.values is None


def test_a_403_or_a_challenge_goes_to_the_browser(server):
    forbidden = fetch(server, "/403")
    assert forbidden.needs_browser and "403" in (forbidden.reason or "")
    challenge = fetch(server, "/challenge")
    assert challenge.needs_browser and challenge.challenge == "cloudflare" and challenge.status == 503


def test_non_html_and_shells_go_to_the_browser(server):
    assert "not HTML (application/pdf)" in (fetch(server, "/pdf").reason or "")
    shell = fetch(server, "/shell", None)
    assert shell.needs_browser and "shell" in (shell.reason or "")


@pytest.mark.parametrize("path", ["/slow-head", "/slow-body"])
def test_a_slow_page_times_out_like_a_browser_row(server, path):
    """The timeout covers the whole row: a slow head, or a body trickling past it."""
    started = time.monotonic()
    outcome = fetch(server, path, timeout=0.8)
    assert time.monotonic() - started < 1.8
    assert outcome.failed and outcome.failure is not None
    assert (outcome.failure.reason, outcome.failure.retryable) == ("timeout", True)
    assert outcome.failure.message == "The row did not finish within the 0.8 s timeout."


def test_a_refused_connection_is_a_retryable_navigation_failure():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there

    async def run() -> HttpOutcome:
        async with make_client() as client:
            return await fetch_extract(client, f"http://127.0.0.1:{port}/", None, timeout=5)

    outcome = asyncio.run(run())
    assert outcome.failed and outcome.failure is not None
    assert (outcome.failure.reason, outcome.failure.retryable) == ("navigation", True)
    assert f"127.0.0.1:{port}" in outcome.failure.message


def test_one_client_fetches_many_pages_concurrently_over_its_pool(server):
    async def run() -> list[HttpOutcome]:
        async with make_client(max_connections=4) as client:
            return await asyncio.gather(
                *(fetch_extract(client, server.url("/plain"), HEADING, timeout=5) for _ in range(40))
            )

    assert all(o.done and o.values == {"heading": "Hello"} for o in asyncio.run(run()))


def test_a_body_over_the_size_cap_goes_to_the_browser(server):
    async def run() -> Exception | None:
        async with make_client() as client:
            try:
                await fetch_page(client, server.url("/plain"), max_bytes=100)
            except Exception as exc:
                return exc
            return None

    assert "larger than" in str(asyncio.run(run()))


@pytest.mark.parametrize(
    ("body", "content_type", "text", "codec"),
    [
        ("\ufeffhé".encode(), "text/html; charset=cp1252", "hé", "utf-8"),  # a BOM wins
        ("hé".encode("cp1252"), "", "hé", "cp1252"),  # not UTF-8: windows-1252
        ("hé".encode(), "", "hé", "utf-8"),
        (b"<meta charset='utf-16'>h", "", "<meta charset='utf-16'>h", "utf-8"),
        (b"<meta charset='no-such-codec'>h", "", "<meta charset='no-such-codec'>h", "utf-8"),
    ],
)
def test_decoding_follows_the_browsers_order(body, content_type, text, codec):
    assert decode_html(body, content_type) == (text, codec)


def test_the_client_has_no_time_limit_of_its_own_only_the_rows():
    """httpx's default 5 s per phase would fail rows that the browser path gives 30 s."""
    client = make_client()
    try:
        assert client.timeout.read is None and client.timeout.connect is None
    finally:
        asyncio.run(client.aclose())


def test_the_client_speaks_http2_when_h2_is_installed():
    pytest.importorskip("h2")
    client = make_client()
    try:
        assert client._transport._pool._http2 is True  # type: ignore[attr-defined]
    finally:
        asyncio.run(client.aclose())


def test_a_probe_estimates_the_share_of_rows_that_need_a_browser(server):
    paths = ["/plain", "/gzip", "/shell", "/pdf", "/404", "/challenge"]
    summary = asyncio.run(probe([server.url(p) for p in paths], {"heading": "h1"}, timeout=5))
    assert (summary.done, summary.needs_browser, summary.failed) == (2, 3, 1)
    assert summary.reasons == {"shell": 1, "not HTML": 1, "challenge": 1}
    assert summary.browser_share == pytest.approx(3 / 5)
