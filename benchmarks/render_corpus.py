"""Corpora for render="browser" | "http" | "auto" (issue 14), served on loopback, with the expected values.

* ``static``: product pages complete in their HTML (about 7 kB each, like a small shop page).
* ``js``: the same fields written by JavaScript into an empty ``<div id=root>`` after a delay.
* ``mixed``: two thirds static, one third JavaScript, interleaved.

Every page has ``h1``, ``.price`` and ``.stock``; :data:`SELECTORS` reads them and
``CorpusPage.expected`` is what a correct row holds. :class:`PageServer` serves any
set of pages (status, headers, gzip/br, delays, trickled bodies); the tests use it too.

Measure the HTTP path against the current browser path on the static corpus::

    flock /tmp/af-browser.lock .venv/bin/python -m benchmarks.render_corpus --pages 300
    .venv/bin/python -m benchmarks.render_corpus --parsers  # selectolax vs lxml+cssselect (pip install both)
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import html
import http.server
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from anchorframe.demo import product

SELECTORS: dict[str, str] = {"name": "h1", "price": ".price", "stock": ".stock"}


@dataclass
class Page:
    """One route of a :class:`PageServer`: what it answers and how."""

    body: bytes | str = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    encoding: str | None = None  # "gzip" or "br": compress the body and say so
    delay: float = 0.0  # seconds before the head
    trickle: float = 0.0  # seconds between body chunks of 64 bytes (a slow body)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body go out in two writes: with Nagle's algorithm the second waits for the
    # client's delayed ACK (40 ms), which would cap a keep-alive connection at ~25 pages/s.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        page = self.server.pages.get(path) or Page(b"<h1>Not found</h1>", 404)
        with self.server.lock:
            self.server.hits[path] = self.server.hits.get(path, 0) + 1
        body = page.body.encode() if isinstance(page.body, str) else page.body
        headers = dict(page.headers)
        if page.encoding == "gzip":
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        elif page.encoding == "br":
            import brotli  # the httpx[brotli] extra

            body = brotli.compress(body)
            headers["Content-Encoding"] = "br"
        try:
            if page.delay:
                time.sleep(page.delay)
            self.send_response(page.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if page.trickle:
                for start in range(0, len(body), 64):
                    self.wfile.write(body[start : start + 64])
                    self.wfile.flush()
                    if self.server.closing.wait(page.trickle):
                        return
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout): expected


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    pages: Mapping[str, Page]
    hits: dict[str, int]
    lock: threading.Lock
    closing: threading.Event

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class PageServer:
    """Serve ``pages`` (path -> :class:`Page`) on ``http://127.0.0.1:<free port>``.

    Example:
        >>> with PageServer({"/": Page("<h1>Hi</h1>")}) as server:  # doctest: +SKIP
        ...     server.url("/")
    """

    def __init__(self, pages: Mapping[str, Page]) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.pages = pages
        self._server.hits = {}
        self._server.lock = threading.Lock()
        self._server.closing = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, name="render-corpus", daemon=True)

    @property
    def hits(self) -> dict[str, int]:
        return self._server.hits

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def __enter__(self) -> PageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.closing.set()
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class CorpusPage:
    path: str
    kind: str  # "static" or "js"
    expected: dict[str, str]


def _filler(number: int) -> str:
    # Realistic bulk around the fields: navigation, a description, a spec table, a footer.
    nav = "".join(f"<li><a href='/c/{i}'>Category {i}</a></li>" for i in range(12))
    paragraphs = "".join(
        f"<p>Paragraph {i} about item {number}: sturdy, useful and&nbsp;well made. "
        "It ships in recycled packaging and comes with a two-year warranty.</p>"
        for i in range(30)
    )
    specs = "".join(f"<tr><th>Spec {i}</th><td>{(number * 7 + i) % 97} units</td></tr>" for i in range(40))
    return (
        f"<header><nav><ul>{nav}</ul></nav></header><section class='description'>{paragraphs}</section>"
        f"<table class='specs'>{specs}</table>"
        "<footer><p>© Demo shop · <a href='/terms'>Terms</a></p></footer>"
    )


def _fields(item: Mapping[str, str]) -> str:
    # Inline markup and an nbsp inside the price: both paths must read "12.00 EUR".
    amount, currency = item["price"].split(" ")
    return (
        f"<h1>{html.escape(item['name'])}</h1>"
        f"<p class='price'><span>{amount}</span>&nbsp;<b>{currency}</b></p>"
        f"<p class='stock'>\n  {item['stock']}\n</p>"
    )


def static_page(number: int) -> str:
    item = product(number)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(item['name'])}</title>"
        "<link rel='icon' href='data:,'></head>"
        f"<body><main>{_fields(item)}{_filler(number)}</main></body></html>"
    )


def js_page(number: int, delay_ms: int = 100) -> str:
    item = product(number)
    content = (_fields(item) + _filler(number)).replace("\\", "\\\\").replace("`", "\\`")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Loading</title>"
        "<link rel='icon' href='data:,'></head><body><div id='root'></div>"
        f"<script>setTimeout(function () {{ document.getElementById('root').innerHTML = `{content}`;"
        f" document.title = {html.escape(item['name'])!r}; }}, {delay_ms});</script></body></html>"
    )


def expected(number: int) -> dict[str, str]:
    item = product(number)
    return {"name": item["name"], "price": item["price"], "stock": item["stock"]}


def corpus(kind: str, count: int, *, js_delay_ms: int = 100) -> tuple[dict[str, Page], list[CorpusPage]]:
    """Pages and their expected rows for ``kind`` in ("static", "js", "mixed")."""
    if kind not in ("static", "js", "mixed"):
        raise ValueError(f"Unknown corpus {kind!r}: use 'static', 'js' or 'mixed'.")
    pages: dict[str, Page] = {}
    rows: list[CorpusPage] = []
    for number in range(count):
        is_js = kind == "js" or (kind == "mixed" and number % 3 == 2)
        path = f"/{'app' if is_js else 'item'}/{number}"
        body = js_page(number, js_delay_ms) if is_js else static_page(number)
        pages[path] = Page(body)
        rows.append(CorpusPage(path, "js" if is_js else "static", expected(number)))
    return pages, rows


@contextmanager
def serve_corpus(kind: str, count: int, **options: Any) -> Iterator[tuple[PageServer, list[CorpusPage]]]:
    """Serve a corpus; yield the server and the pages (``server.url(page.path)``)."""
    pages, rows = corpus(kind, count, **options)
    with PageServer(pages) as server:
        yield server, rows


def correct(rows: Iterable[CorpusPage], values: Iterable[Mapping[str, Any] | None]) -> int:
    """How many rows hold exactly the expected values."""
    return sum(
        1
        for page, got in zip(rows, values, strict=True)
        if got is not None and all(got.get(k) == v for k, v in page.expected.items())
    )


# --- standalone measurements -------------------------------------------------------------------


async def _http_run(urls: list[str], concurrency: int) -> tuple[list[Any], float]:
    from anchorframe._render.http import fetch_extract, make_client

    semaphore = asyncio.Semaphore(concurrency)
    async with make_client(max_connections=concurrency) as client:

        async def one(url: str) -> Any:
            async with semaphore:
                return await fetch_extract(client, url, SELECTORS, timeout=30)

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one(u) for u in urls))
        return outcomes, time.perf_counter() - started


def _serve_in_child(kind: str, count: int, urls: Any) -> None:
    pages, _ = corpus(kind, count)
    with PageServer(pages) as server:
        urls.put(server.base_url)
        threading.Event().wait()  # until the parent ends this process


@contextmanager
def serve_corpus_elsewhere(kind: str, count: int) -> Iterator[tuple[str, list[CorpusPage]]]:
    """Serve a corpus from a child process (its GIL is not the measured client's); yield base URL, pages."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_serve_in_child, args=(kind, count, queue), daemon=True)
    child.start()
    try:
        base_url = queue.get(timeout=30)
        yield base_url, corpus(kind, count)[1]
    finally:
        child.kill()
        child.join(5)


def measure(count: int, concurrency: int, repeat: int = 3) -> dict[str, Any]:
    """Pages/s on the static corpus: the HTTP path (best of ``repeat``), ``af.scrape(extract=...)``."""
    import anchorframe as af

    report: dict[str, Any] = {}
    with serve_corpus_elsewhere("static", count) as (base_url, rows):
        urls = [base_url + p.path for p in rows]
        runs = [asyncio.run(_http_run(urls, concurrency)) for _ in range(repeat)]
        outcomes, seconds = min(runs, key=lambda run: run[1])
        done = [o.values if o.done else None for o in outcomes]
        report["http"] = {"pages": count, "seconds": seconds, "pages_per_s": count / seconds}
        report["http"]["correct"] = correct(rows, done)
        started = time.perf_counter()
        result = af.scrape(urls, extract=SELECTORS, backend="local", progress=False)
        seconds = time.perf_counter() - started
        frame = result.results
        values = [dict(r) for _, r in frame[list(SELECTORS)].iterrows()]
        report["browser"] = {"pages": count, "seconds": seconds, "pages_per_s": count / seconds}
        report["browser"]["correct"] = correct(rows, values)
    report["ratio"] = report["http"]["pages_per_s"] / report["browser"]["pages_per_s"]
    return report


def _read_selectolax(doc: str) -> list[str]:
    from selectolax.lexbor import LexborHTMLParser

    from anchorframe._render.text import node_text

    tree = LexborHTMLParser(doc)
    return [node_text(tree.css_first(s)) for s in SELECTORS.values()]


def _read_lxml(doc: str, compiled: list[Any]) -> list[str]:
    from lxml import html as lxml_html  # measured only; not a dependency

    tree = lxml_html.fromstring(doc)
    return [c(tree)[0].text_content() for c in compiled]


def measure_parsers(repeat: int = 5) -> dict[str, float]:
    """Parse once, select the three fields, read their text: pages per second, selectolax vs lxml."""
    from lxml.cssselect import CSSSelector  # measured only; not a dependency

    small = [static_page(n) for n in range(200)]
    rows = "".join(
        f"<tr><td class='c{i % 7}'>cell {i}</td><td><a href='/p/{i}'>link {i}</a></td></tr>"
        for i in range(8000)
    )
    big = [static_page(1).replace("</main>", f"<table>{rows}</table></main>")]
    compiled = [CSSSelector(s) for s in SELECTORS.values()]
    results: dict[str, float] = {}
    for label, docs in (
        (f"corpus page ({len(small[0]) // 1000} kB)", small),
        (f"large page ({len(big[0]) // 1000} kB)", big),
    ):
        for name, run in (
            ("selectolax", _read_selectolax),
            ("lxml+cssselect", lambda d: _read_lxml(d, compiled)),
        ):
            started = time.perf_counter()
            for _ in range(repeat):
                for doc in docs:
                    run(doc)
            results[f"{label}: {name}"] = repeat * len(docs) / (time.perf_counter() - started)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--parsers", action="store_true", help="only compare the HTML parsers")
    args = parser.parse_args(argv)
    if args.parsers:
        for name, parsed in measure_parsers().items():
            print(f"{name:45s} {parsed:10.0f} pages/s")
        return 0
    report = measure(args.pages, args.concurrency)
    for path in ("http", "browser"):
        r = report[path]
        rate = f"{r['pages_per_s']:.1f} pages/s"
        print(f"{path:8s} {r['pages']} pages in {r['seconds']:.2f} s: {rate}, {r['correct']} correct")
    print(f"ratio http/browser: {report['ratio']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
