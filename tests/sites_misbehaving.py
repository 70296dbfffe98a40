"""Loopback sites that push back as real ones do: rate limits, robots.txt, bot challenges.

Each is a real HTTP server on 127.0.0.1 with a free port, in a thread; use it
as a context manager. Every request's path is logged in ``site.requests`` (in
arrival order, ``/favicon.ico`` included), so a test can prove a path was never
fetched.

* :class:`RateLimitedSite`: answers 429 with ``Retry-After`` to any request
  that would make more than ``limit`` concurrent ones; ``max_concurrency`` is
  the most it ever saw in flight (the rejected request included), ``rejected``
  how many it turned away. ``/favicon.ico`` is answered 404 at once and not
  counted: a browser asks for it beside the page.
* :class:`RobotsSite`: serves a robots.txt (body, status and delay of your
  choice; by default ``/private/`` is disallowed and ``Crawl-delay`` is unset).
* :class:`ChallengeSite`: ``/challenge/<n>`` answers a bot-challenge page of
  the chosen vendor (see :data:`CHALLENGE_PAGES`), ``/page/<n>`` an ordinary page.

Example:
    >>> with RateLimitedSite(limit=3) as site:  # doctest: +SKIP
    ...     urls = site.pages(20)
    ...     ...  # scrape them
    ...     assert site.max_concurrency <= 3
"""

from __future__ import annotations

import http.server
import threading
import time
from typing import Any
from urllib.parse import urlsplit

__all__ = ["CHALLENGE_PAGES", "ChallengeSite", "MisbehavingSite", "RateLimitedSite", "RobotsSite"]


def page_html(number: str) -> str:
    """An ordinary product page, with enough text not to look empty."""
    return (
        f"<html><head><title>Page {number}</title></head><body><h1>Page {number}</h1>"
        f"<p class='price'>{number}.00</p><p>An ordinary product page with a description long enough "
        "to read as content, and a sign-up form protected by a captcha.</p></body></html>"
    )


#: vendor -> (status, headers, html) of a typical challenge or block page.
CHALLENGE_PAGES: dict[str, tuple[int, dict[str, str], str]] = {
    "cloudflare": (
        403,
        {"cf-mitigated": "challenge", "Server": "cloudflare"},
        "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
        "<div id='challenge-running'>Checking your browser</div>"
        "<script>window._cf_chl_opt={cvId: '3', cZone: 'example.com'};</script></body></html>",
    ),
    "akamai": (
        403,
        {"Server": "AkamaiGHost"},
        "<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY><H1>Access Denied</H1>"
        'You don\'t have permission to access "http&#58;&#47;&#47;shop&#46;example&#46;com&#47;" on this '
        "server.<P>Reference&#32;&#35;18&#46;6f5c1402&#46;1700000000&#46;1a2b3c4d<P>"
        "https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;18&#46;6f5c1402</BODY></HTML>",
    ),
    "perimeterx": (
        403,
        {},
        "<html><head><title>Access to this page has been denied</title></head><body>"
        "<div id='px-captcha'></div><p>Press &amp; Hold to confirm you are a human (and not a bot).</p>"
        "<script>window._pxAppId='PXabc123';</script></body></html>",
    ),
    "datadome": (
        403,
        {"X-DataDome": "protected", "X-DD-B": "1"},
        "<html><head><title>example.com</title></head><body>"
        "<script>var dd={'rt':'c','cid':'AHrlqAAAAAMA','hsh':'TEST',"
        "'host':'geo.captcha-delivery.com'}</script>"
        "<script src='https://ct.captcha-delivery.com/c.js'></script></body></html>",
    ),
    "hcaptcha": (
        200,
        {},
        "<html><head><title>Security check</title>"
        "<script src='https://hcaptcha.com/1/api.js' async defer></script></head>"
        "<body><form><div class='h-captcha' data-sitekey='10000000-ffff'></div></form></body></html>",
    ),
    "recaptcha": (
        429,
        {},
        "<html><head><title>Security check</title></head><body><p>Please complete the check below.</p>"
        "<script src='https://www.google.com/recaptcha/api.js'></script>"
        "<div class='g-recaptcha' data-sitekey='k'></div></body></html>",
    ),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        headers = dict(headers or {})
        # A vendor's Server header replaces Python's (send_response writes it from version_string()).
        self.server_version = headers.pop("Server", "MisbehavingSite")
        self.sys_version = ""
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        site = self.server.site
        path = urlsplit(self.path).path
        with site.lock:
            site.requests.append(path)
            site.headers.append((path, {k.lower(): v for k, v in self.headers.items()}))
        site.answer(self, path)


class MisbehavingSite:
    """A threaded loopback server whose :meth:`answer` subclasses write; logs every request path."""

    __test__ = False

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[str] = []
        #: (path, lowercase request headers) of every request, in arrival order.
        self.headers: list[tuple[str, dict[str, str]]] = []
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.site = self  # type: ignore[attr-defined]
        self._server.handle_error = lambda *a: None  # type: ignore[method-assign]
        # A short poll interval: shutdown() waits for one, and tests start many servers.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def pages(self, count: int, prefix: str = "/page") -> list[str]:
        return [self.url(f"{prefix}/{n}") for n in range(count)]

    def hits(self, prefix: str) -> int:
        """How many requests had a path starting with ``prefix``."""
        with self.lock:
            return sum(1 for path in self.requests if path.startswith(prefix))

    def answer(self, handler: _Handler, path: str) -> None:
        if path.startswith("/page/"):
            handler.send(200, page_html(path.rsplit("/", 1)[-1]))
        else:
            handler.send(404, "<h1>Not found</h1>")

    def __enter__(self) -> MisbehavingSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class RateLimitedSite(MisbehavingSite):
    """429 + ``Retry-After`` beyond ``limit`` concurrent requests; each page takes ``hold`` seconds."""

    def __init__(self, limit: int = 3, *, retry_after: str = "2", hold: float = 0.2) -> None:
        super().__init__()
        self.limit = limit
        self.retry_after = retry_after
        self.hold = hold
        self.in_flight = 0
        self.max_concurrency = 0
        self.rejected = 0
        self.served = 0
        #: (monotonic time, path) of every 429 sent, to check the client waited as told.
        self.rejections: list[tuple[float, str]] = []
        #: Monotonic arrival time of every counted request.
        self.arrivals: list[float] = []

    def answer(self, handler: _Handler, path: str) -> None:
        if path == "/favicon.ico" or path == "/robots.txt":
            handler.send(404, "")
            return
        with self.lock:
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_concurrency = max(self.max_concurrency, self.in_flight)
            over = self.in_flight > self.limit
            if over:
                self.rejected += 1
                self.rejections.append((time.monotonic(), path))
        try:
            if over:
                handler.send(429, "<h1>Too Many Requests</h1>", {"Retry-After": self.retry_after})
                return
            time.sleep(self.hold)
            with self.lock:
                self.served += 1
            super().answer(handler, path)
        finally:
            with self.lock:
                self.in_flight -= 1

    def __enter__(self) -> RateLimitedSite:
        super().__enter__()
        return self


DEFAULT_ROBOTS = "User-agent: *\nDisallow: /private/\n"


class RobotsSite(MisbehavingSite):
    """Serves ``robots_txt`` with ``robots_status`` after ``robots_delay`` seconds; pages elsewhere.

    ``robots_redirect=True``: /robots.txt answers 301 to /real-robots.txt, which serves it.
    """

    def __init__(
        self,
        robots_txt: str = DEFAULT_ROBOTS,
        *,
        robots_status: int = 200,
        robots_delay: float = 0.0,
        robots_redirect: bool = False,
    ) -> None:
        super().__init__()
        self.robots_redirect = robots_redirect
        self.robots_txt = robots_txt
        self.robots_status = robots_status
        self.robots_delay = robots_delay

    def answer(self, handler: _Handler, path: str) -> None:
        if path == "/robots.txt" and self.robots_redirect:
            handler.send(301, "", {"Location": "/real-robots.txt"})
        elif path == "/robots.txt":
            time.sleep(self.robots_delay)
            handler.send(self.robots_status, self.robots_txt if self.robots_status == 200 else "error")
        elif path.startswith("/private/") or path.startswith("/public/"):
            handler.send(200, page_html(path.rsplit("/", 1)[-1]))
        elif path == "/real-robots.txt":
            handler.send(200, self.robots_txt)
        else:
            super().answer(handler, path)

    def __enter__(self) -> RobotsSite:
        super().__enter__()
        return self


class ChallengeSite(MisbehavingSite):
    """``/challenge/<n>``: the ``vendor``'s challenge page (:data:`CHALLENGE_PAGES`); ``/page/<n>``: ok."""

    def __init__(self, vendor: str = "cloudflare") -> None:
        super().__init__()
        self.vendor = vendor

    def answer(self, handler: _Handler, path: str) -> None:
        if path.startswith("/challenge/"):
            status, headers, html = CHALLENGE_PAGES[self.vendor]
            handler.send(status, html, headers)
        elif path.startswith("/empty/"):
            handler.send(200, "<html><head><title></title></head><body></body></html>")
        else:
            super().answer(handler, path)

    def __enter__(self) -> ChallengeSite:
        super().__enter__()
        return self
