"""The bundled sample site: a small shop served on loopback, and the demo run.

Deterministic pages (the same content every time), so tests and benchmarks
can use it as a corpus:

* ``/products/<n>``  static product pages (``h1``, ``.price``, ``.stock``)
* ``/rendered/<n>``  the same fields, written by JavaScript after a delay
* ``/missing/<n>``   404 Not Found
* ``/slow``          answers after ``slow_seconds``
* ``/``              an index linking every page

Example:
    >>> from anchorframe.demo import DemoSite
    >>> with DemoSite() as site:  # doctest: +SKIP
    ...     df = site.frame()
"""

from __future__ import annotations

import html
import http.server
import random
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

__all__ = ["DemoSite", "product"]

ADJECTIVES = (
    "Sturdy",
    "Quiet",
    "Bright",
    "Compact",
    "Classic",
    "Nimble",
    "Rustic",
    "Polished",
    "Gentle",
    "Bold",
)
NOUNS = (
    "Kettle",
    "Lamp",
    "Backpack",
    "Notebook",
    "Chair",
    "Headphones",
    "Teapot",
    "Umbrella",
    "Clock",
    "Mug",
)


def product(number: int) -> dict[str, Any]:
    """The product shown on page ``number`` (deterministic)."""
    rng = random.Random(number)
    return {
        "name": f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {number}",
        "price": f"{rng.randint(5, 400)}.{rng.choice(('00', '49', '99'))} EUR",
        "stock": rng.choice(("in stock", "in stock", "in stock", "low stock", "sold out")),
    }


def _page(title: str, body: str, script: str = "") -> bytes:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><link rel='icon' href='data:,'></head>"
        f"<body>{body}{script}</body></html>"
    ).encode()


def _product_body(item: dict[str, Any]) -> str:
    return (
        f"<h1>{html.escape(item['name'])}</h1><p class='price'>{item['price']}</p>"
        f"<p class='stock'>{item['stock']}</p><p>A fine thing, described at some length. "
        * 1
        + "Made to last; shipped in recycled packaging.</p>"
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        site = self.server.site
        status, body = 200, b""
        parts = path.strip("/").split("/")
        try:
            if path == "/":
                links = "".join(f"<li><a href='{u}'>{u}</a></li>" for u in site.paths())
                body = _page("anchorframe demo shop", f"<h1>Demo shop</h1><ul>{links}</ul>")
            elif parts[0] == "products" and len(parts) == 2 and 0 <= int(parts[1]) < site.products:
                item = product(int(parts[1]))
                body = _page(item["name"], _product_body(item))
            elif parts[0] == "rendered" and len(parts) == 2 and 0 <= int(parts[1]) < site.rendered:
                number = site.products + int(parts[1])
                item = product(number)
                inner = _product_body(item).replace("'", "\\'")
                delay = site.render_delay_ms
                script = (
                    "<script>setTimeout(function(){"
                    f"document.getElementById('app').innerHTML='{inner}';"
                    f"document.title='{html.escape(item['name'])}';}}, {delay});</script>"
                )
                body = _page("Loading...", "<div id='app'><p class='loading'>Loading...</p></div>", script)
            elif path == "/slow":
                time.sleep(site.slow_seconds)
                item = product(99999)
                body = _page(item["name"], _product_body(item))
            else:
                status, body = 404, _page("Not found", "<h1>Not found</h1>")
        except ValueError:
            status, body = 404, _page("Not found", "<h1>Not found</h1>")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser gave up on the page (a timeout); nothing to tell


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    site: DemoSite

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # dropped connections from closed tabs are expected


class DemoSite:
    """The sample shop on ``http://127.0.0.1:<port>`` (a free port unless given).

    Args:
        products: static product pages.
        rendered: pages written by JavaScript after ``render_delay_ms``.
        missing: links that answer 404.
        slow_seconds: how long ``/slow`` takes.
    """

    def __init__(
        self,
        *,
        products: int = 240,
        rendered: int = 60,
        missing: int = 4,
        slow_seconds: float = 3.0,
        render_delay_ms: int = 300,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.products = products
        self.rendered = rendered
        self.missing = missing
        self.slow_seconds = slow_seconds
        self.render_delay_ms = render_delay_ms
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(
                "The demo site is not running; use `with DemoSite() as site:` or site.start()."
            )
        port = self._server.server_address[1]
        return f"http://{self._host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def paths(self) -> list[str]:
        return (
            [f"/products/{n}" for n in range(self.products)]
            + [f"/rendered/{n}" for n in range(self.rendered)]
            + [f"/missing/{n}" for n in range(self.missing)]
            + ["/slow"]
        )

    def frame(self, *, extras: bool = True) -> pd.DataFrame:
        """Every page as a DataFrame (``url``, ``kind``); ``extras`` adds a duplicate and bad rows."""
        paths = self.paths()
        kinds = [p.split("/")[1] for p in paths]
        urls: list[str | None] = [self.url(p) for p in paths]
        if extras:
            urls += [self.url("/products/0"), None, "file:///etc/passwd", "not a url"]
            kinds += ["products", "blank", "local file", "typo"]
        frame = pd.DataFrame({"url": urls, "kind": kinds})
        frame.index = pd.Index([f"item-{i:04d}" for i in range(len(frame))], name="item")
        return frame

    def start(self) -> DemoSite:
        if self._server is None:
            server = _Server((self._host, self._port), _Handler)
            server.site = self
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, name="anchorframe-demo", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> DemoSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
