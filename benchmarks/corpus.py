"""The benchmark corpus: a deterministic shop served on loopback, in its own process.

* ``/static/<n>``    a product page (``h1``, ``.price``, ``.stock``) with two images,
  a web font and a video, as real product pages have;
* ``/rendered/<n>``  the same page written by JavaScript ``delay_ms`` after load;
* ``/img/<n>.png``, ``/font/<n>.woff2``, ``/media/<n>.webm``: the sub-resources.

The server runs in a child process (``python -m benchmarks.corpus``) so that its
threads never compete with the measured code for the GIL; every byte is built
once, up front, from fixed seeds.
"""

from __future__ import annotations

import argparse
import html
import http.server
import random
import struct
import subprocess
import sys
import zlib
from typing import Any
from urllib.parse import urlsplit

STATIC_PAGES = 300
RENDERED_PAGES = 300
RENDER_DELAY_MS = 200
IMAGE_VARIANTS = 16


def product(number: int) -> dict[str, str]:
    """The fields shown on page ``number``: what every scraper must read back."""
    rng = random.Random(number)
    return {
        "name": f"Item {number} {rng.choice(('Kettle', 'Lamp', 'Chair', 'Mug', 'Clock'))}",
        "price": f"{rng.randint(5, 400)}.{rng.choice(('00', '49', '99'))} EUR",
        "stock": rng.choice(("in stock", "low stock", "sold out")),
    }


def _png(seed: int, side: int = 96) -> bytes:
    """A noisy RGB PNG (barely compressible: ~27 KB for 96 x 96)."""
    rng = random.Random(seed)
    raw = b"".join(b"\x00" + rng.randbytes(side * 3) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _body(number: int) -> str:
    item = product(number)
    image = number % IMAGE_VARIANTS
    return (
        f"<h1>{html.escape(item['name'])}</h1>"
        f"<img src='/img/{image}.png' width=96 height=96><img src='/img/{(image + 1) % IMAGE_VARIANTS}.png'>"
        f"<p class='price'>{item['price']}</p><p class='stock'>{item['stock']}</p>"
        "<p class='blurb'>Made to last; shipped in recycled packaging. " + "Lorem ipsum dolor. " * 20 + "</p>"
        f"<video src='/media/{image}.webm' preload='auto' muted></video>"
    )


def _document(title: str, body: str, script: str = "") -> bytes:
    style = (
        "<style>@font-face{font-family:Shop;src:url(/font/0.woff2) format('woff2')}"
        "body{font-family:Shop,sans-serif}</style>"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<link rel='icon' href='data:,'>{style}</head><body>{body}{script}</body></html>"
    ).encode()


class Corpus:
    """Every response of the corpus, built once."""

    def __init__(
        self, static: int = STATIC_PAGES, rendered: int = RENDERED_PAGES, delay_ms: int = RENDER_DELAY_MS
    ):
        self.static = static
        self.rendered = rendered
        self.delay_ms = delay_ms
        rng = random.Random(7)
        self.images = {f"/img/{n}.png": _png(n) for n in range(IMAGE_VARIANTS)}
        self.fonts = {"/font/0.woff2": rng.randbytes(12_000)}
        self.media = {f"/media/{n}.webm": rng.randbytes(60_000) for n in range(IMAGE_VARIANTS)}

    def page(self, path: str) -> tuple[int, str, bytes]:
        kind, _, number = path.strip("/").partition("/")
        if path in self.images:
            return 200, "image/png", self.images[path]
        if path in self.fonts:
            return 200, "font/woff2", self.fonts[path]
        if path in self.media:
            return 200, "video/webm", self.media[path]
        if number.isdigit():
            n = int(number)
            if kind == "static" and n < self.static:
                return 200, "text/html; charset=utf-8", _document(product(n)["name"], _body(n))
            if kind == "rendered" and n < self.rendered:
                inner = _body(self.static + n).replace("\\", "\\\\").replace("'", "\\'")
                script = (
                    f"<script>setTimeout(function(){{document.getElementById('app').innerHTML='{inner}';}},"
                    f" {self.delay_ms});</script>"
                )
                body = "<div id='app'><p class='loading'>Loading...</p></div>"
                return 200, "text/html; charset=utf-8", _document("Loading...", body, script)
        return 404, "text/html; charset=utf-8", _document("Not found", "<h1>Not found</h1>")


def expected(path: str, static: int = STATIC_PAGES) -> dict[str, str]:
    """What a scraper must return for ``path`` (``/static/<n>`` or ``/rendered/<n>``)."""
    kind, _, number = path.strip("/").partition("/")
    return product(int(number) + (static if kind == "rendered" else 0))


def paths(
    count: int, start: int = 0, static: int = STATIC_PAGES, rendered: int = RENDERED_PAGES
) -> list[str]:
    """``count`` page paths, static and rendered alternating, from offset ``start`` (wrapping)."""
    out = []
    for i in range(start, start + count):
        kind, size = ("static", static) if i % 2 == 0 else ("rendered", rendered)
        out.append(f"/{kind}/{(i // 2) % size}")
    return out


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        status, content_type, body = self.server.corpus.page(urlsplit(self.path).path)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class QuietServer(http.server.ThreadingHTTPServer):
    """A threading server whose dropped connections (tabs closed mid-response) print nothing."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # tabs closed mid-response drop their connections


class _Server(QuietServer):
    corpus: Corpus


class ChildServer:
    """A corpus server in a child process (``python -m <module> ARGS`` prints its port first).

    Its threads never compete with the measured code for the GIL. Subclasses say the command.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def command(self) -> list[str]:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        port = int(self._proc.stdout.readline().strip())
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def pid(self) -> int | None:
        """The child's process id (a CPU sampler leaves it out), None when not running."""
        return self._proc.pid if self._proc is not None else None


class CorpusServer(ChildServer):
    """``with CorpusServer() as site: site.url("/static/1")`` (a child process on 127.0.0.1)."""

    def __init__(self, delay_ms: int = RENDER_DELAY_MS) -> None:
        super().__init__()
        self.delay_ms = delay_ms

    def command(self) -> list[str]:
        return [sys.executable, "-m", "benchmarks.corpus", "--delay-ms", str(self.delay_ms)]


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the benchmark corpus on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=int, default=RENDER_DELAY_MS)
    args = parser.parse_args()
    server = _Server(("127.0.0.1", args.port), _Handler)
    server.corpus = Corpus(delay_ms=args.delay_ms)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
