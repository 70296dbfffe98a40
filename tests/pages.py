"""A loopback HTTP server for the tests: pages with known content and known misbehaviour.

Paths:
  /page/<n>            a static page: <h1>Page n</h1> <p class=price>n.00</p>
                       ?price=none: without the price; ?churn=ms: a text rewritten every
                       ms by setInterval (nothing pending; never quiet below 300 ms); ?after=ms&via=...:
                       the price written late, as /late/<n> does; ?rewrite=1: a script
                       rewrites the URL at once (history.replaceState, as Sphinx's pages do;
                       =late: 100 ms after the load event);
                       ?tojson=1: arrays get a toJSON, as Prototype.js gave them;
                       ?redirect=path&when=inline|dcl: a script sends the page on to path
                       (location.replace) while it parses, or on DOMContentLoaded
  /js/<n>?delay=ms     the same, written by JavaScript after a delay
  /late/<n>?after=ms&via=timer|fetch|script|body|frames
                       <h1> at once; the price written ms after the load event, by a timer,
                       once a fetch of /slow?s=ms/1000 has answered, or by a script the page
                       inserts at load, which the server sends ms later (/script/<n>?s=seconds);
                       body: once a fetch's body (/trickle) has been read; frames: three
                       animation frames after that (as a framework renders)
  /busy/<n>            the static page, with a timer re-armed every 50 ms (never quiet)
  /flaky/<n>?fail=k    500 for the first k requests, then the page
  /status/<code>       answers with that HTTP status
  /hang                never answers (until the server stops)
  /slow?s=seconds      answers after a delay
  /trickle?s=seconds   JSON whose headers and first byte come at once, the rest after a delay
  /popup               opens a window and an alert
  /download            a file download instead of a page
  /endless             sends its head, then never finishes the body
Every request is counted in ``site.hits[path]``.
"""

from __future__ import annotations

import collections
import http.server
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8") -> None:
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        site = self.server.site
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        with site.lock:
            site.hits[path] += 1
            hits = site.hits[path]
        segments = path.strip("/").split("/")
        head = segments[0]
        number = segments[1] if len(segments) > 1 else "0"
        page = f"<title>Page {number}</title><h1>Page {number}</h1><p class='price'>{number}.00</p>"
        if head == "page" and "after" not in query:
            if query.get("price") == "none":
                page = page.split("<p class='price'>")[0]
            if query.get("churn"):
                page += (
                    "<span id=clock></span><script>setInterval(() => "
                    "{ document.getElementById('clock').textContent = Date.now(); }, "
                    f"{int(query['churn'])});</script>"
                )
            if query.get("tojson"):
                page += "<script>Array.prototype.toJSON = () => '[?]';</script>"
            if query.get("redirect"):
                go = f"location.replace({query['redirect']!r})"
                if query.get("when") == "dcl":
                    go = f"document.addEventListener('DOMContentLoaded', () => {go})"
                page = f"<script>{go}</script>" + page
            if query.get("rewrite"):
                rewrite = "history.replaceState(null, '', location.pathname + '?rewritten=')"
                if query["rewrite"] == "late":
                    rewrite = f"addEventListener('load', () => setTimeout(() => {rewrite}, 100))"
                page += f"<script>{rewrite};</script>"
            self._send(200, page)
        elif head == "js":
            delay = int(query.get("delay", "200"))
            inner = page.replace("'", "\\'")
            self._send(
                200,
                f"<div id=app>loading</div><script>setTimeout(()=>{{document.getElementById('app')"
                f".innerHTML='{inner}'}}, {delay})</script>",
            )
        elif head in ("late", "page"):
            after = int(query.get("after", "500"))
            price = f"document.body.insertAdjacentHTML('beforeend', '<p class=price>{number}.00</p>')"
            if query.get("via") == "fetch":
                write = f"fetch('/slow?s={after / 1000}').then(() => {{ {price}; }})"
            elif query.get("via") == "body":  # headers at once, the body later; written after it is read
                write = f"fetch('/trickle?s={after / 1000}').then((r) => r.text()).then(() => {{ {price}; }})"
            elif query.get("via") == "frames":  # as a framework renders: frames after the body's read
                write = (
                    f"fetch('/trickle?s={after / 1000}').then((r) => r.json()).then(() => {{ "
                    "const later = (n, then) => "
                    "n ? requestAnimationFrame(() => later(n - 1, then)) : then(); "
                    f"later(3, () => {{ {price}; }}); }})"
                )
            elif query.get("via") == "script":
                write = (
                    "const s = document.createElement('script'); "
                    f"s.src = '/script/{number}?s={after / 1000}'; document.head.appendChild(s)"
                )
            else:
                write = f"setTimeout(() => {{ {price}; }}, {after})"
            self._send(
                200,
                f"<title>Page {number}</title><h1>Page {number}</h1>"
                f"<script>addEventListener('load', () => {{ {write}; }});</script>",
            )
        elif head == "script":
            time.sleep(float(query.get("s", "0")))
            body = f"document.body.insertAdjacentHTML('beforeend', '<p class=price>{number}.00</p>');"
            self._send(200, body, "application/javascript")
        elif head == "busy":
            self._send(200, page + "<script>(function tick() { setTimeout(tick, 50); })();</script>")
        elif head == "flaky":
            if hits <= int(query.get("fail", "1")):
                self._send(500, "<h1>Server error</h1>")
            else:
                self._send(200, page)
        elif head == "status":
            self._send(int(number), f"<h1>Status {number}</h1>")
        elif head == "hang":
            site.released.wait(60)
        elif head == "slow":
            time.sleep(float(query.get("s", "1")))
            self._send(200, page)
        elif head == "trickle":
            try:
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body[:1])
                self.wfile.flush()
                time.sleep(float(query.get("s", "1")))
                self.wfile.write(body[1:])
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif head == "download":
            try:
                data = b"a,b\n1,2\n" * 1000
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Disposition", "attachment; filename=data.csv")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif head == "endless":
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                self.wfile.write(b"<h1>Endless</h1>")
                self.wfile.flush()
                site.released.wait(60)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif head == "popup":
            self._send(200, "<h1>Popup</h1><script>window.open('/page/1'); alert('hi');</script>")
        else:
            self._send(404, "<h1>Not found</h1>")


class TestSite:
    """Start with ``with TestSite() as site:``; ``site.url('/page/1')``."""

    __test__ = False

    def __init__(self) -> None:
        self.hits: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.released = threading.Event()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.site = self  # type: ignore[attr-defined]
        self._server.handle_error = lambda *a: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def pages(self, count: int, prefix: str = "/page") -> list[str]:
        return [self.url(f"{prefix}/{n}") for n in range(count)]

    def __enter__(self) -> TestSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
