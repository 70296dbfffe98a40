"""A real corpus: Python's own Sphinx documentation (Debian's ``python3.11-doc``), served on loopback.

Synthetic pages are small and uniform; real ones are 20-700 KB, carry stylesheets and
scripts, and lack an optional field now and then. This corpus is the HTML documentation
of CPython (``/usr/share/doc/python3.11/html``, about 460 pages of 20-700 KB; any other
Sphinx build works: ``AF_DOCS_DIR``), served as it is, by a child process (its threads never
compete with the measured code for the GIL):

* ``/<path>``: the page as shipped, its ``_static`` stylesheets and scripts with it;
* ``/js/<path>``: the same page with a script that writes ``<p class="af-note">`` into the
  body :data:`JS_DELAY_MS` after ``DOMContentLoaded``: a field only a browser finds.

:func:`docs_pages` picks ``n`` pages evenly from the sorted list (deterministic). The fields
read (:data:`FIELDS`) are real ones: ``title`` and ``h1`` on every page, ``next`` (the
"next page" link) missing on ~5 % of pages, ``added`` (the first "New in version" note)
on about half of ``/library/*``. ``JS_FIELDS`` adds the note the script writes.

Run ``python -m benchmarks.docs_corpus --check`` to see the corpus and the fields' shares.
Install it with ``apt-get install python3.11-doc`` (or ``python3-doc``).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import mimetypes
import os
import sys
from pathlib import Path

from .corpus import ChildServer, QuietServer

DEFAULT_ROOTS = ("/usr/share/doc/python3.11/html", "/usr/share/doc/python3-doc/html")
#: The pages measured: real-world sized (the issue's 20-700 KB).
MIN_BYTES, MAX_BYTES = 20_000, 700_000
JS_DELAY_MS = 150

#: What a scraper reads on every page (``extract=``); ``next`` is absent on ~5 % of pages.
FIELDS: dict[str, str] = {"title": "title", "h1": "h1", "next": "a[accesskey='N']@href"}
#: A field present on about half the pages of one pattern (``/library/*``).
HALF_FIELDS: dict[str, str] = {**FIELDS, "added": "span.versionmodified.added"}
#: The field JavaScript writes on ``/js/*`` pages (absent from their HTML).
JS_FIELDS: dict[str, str] = {**FIELDS, "note": ".af-note"}

_SCRIPT = (
    "<script>document.addEventListener('DOMContentLoaded', () => setTimeout(() => {{"
    "const p = document.createElement('p'); p.className = 'af-note';"
    "p.textContent = 'note: ' + location.pathname; document.body.appendChild(p);"
    "}}, {delay}));</script>"
)


def docs_root() -> Path | None:
    """The documentation's directory, or None when it is not installed here."""
    for candidate in (os.environ.get("AF_DOCS_DIR"), *DEFAULT_ROOTS):
        if candidate and (Path(candidate) / "index.html").is_file():
            return Path(candidate)
    return None


@functools.lru_cache(maxsize=4)
def _sized_pages(root: str) -> tuple[str, ...]:
    base = Path(root)
    found = []
    for path in sorted(base.rglob("*.html")):
        relative = path.relative_to(base).as_posix()
        if relative.startswith(("_", "js/")):
            continue
        if MIN_BYTES <= path.stat().st_size <= MAX_BYTES:
            found.append(relative)
    return tuple(found)


def docs_pages(n: int, root: Path | None = None, *, under: str = "") -> list[str]:
    """``n`` page paths (``/library/os.html``...), evenly spread over the sorted sized pages.

    ``under``: only pages under that directory (``"library/"``).
    """
    base = root or docs_root()
    if base is None:
        raise FileNotFoundError("no Sphinx documentation here: apt-get install python3.11-doc")
    pages = [p for p in _sized_pages(str(base)) if p.startswith(under)]
    if n >= len(pages):
        return ["/" + p for p in pages]
    step = len(pages) / n
    return ["/" + pages[int(i * step)] for i in range(n)]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        scripted = path.startswith("/js/")
        relative = path[4:] if scripted else path.lstrip("/")
        body = self.server.read(relative or "index.html")
        if body is None:
            self._send(404, b"not found", "text/plain")
            return
        kind = mimetypes.guess_type(relative)[0] or "application/octet-stream"
        if scripted and kind == "text/html":
            body = body.replace(b"</body>", _SCRIPT.format(delay=JS_DELAY_MS).encode() + b"</body>", 1)
        self._send(200, body, kind + ("; charset=utf-8" if kind.startswith("text/") else ""))

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600")
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a tab closed mid-response

    def log_message(self, *args: object) -> None:
        pass


class _Server(QuietServer):
    root: Path

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (one server per process, lives as long)
    def read(self, relative: str) -> bytes | None:
        path = (self.root / relative).resolve()
        if self.root not in path.parents or not path.is_file():
            return None
        return path.read_bytes()


class DocsServer(ChildServer):
    """``with DocsServer() as site: site.url("/library/os.html")`` (a child process on 127.0.0.1).

    Example:
        >>> with DocsServer() as site:  # doctest: +SKIP
        ...     urls = [site.url(p) for p in docs_pages(200)]
    """

    def __init__(self, root: Path | None = None) -> None:
        super().__init__()
        self.root = root or docs_root()
        if self.root is None:
            raise FileNotFoundError("no Sphinx documentation here: apt-get install python3.11-doc")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "benchmarks.docs_corpus", "--serve", str(self.root)]


def _check(n: int) -> None:
    from selectolax.lexbor import LexborHTMLParser

    root = docs_root()
    if root is None:
        print("no documentation installed: apt-get install python3.11-doc")
        return
    pages = docs_pages(n, root)
    sizes = [(root / p.lstrip("/")).stat().st_size for p in pages]
    print(f"{root}: {len(_sized_pages(str(root)))} pages of 20-700 KB; {len(pages)} picked")
    median = sorted(sizes)[len(sizes) // 2]
    print(f"  sizes: median {median / 1000:.0f} KB, largest {max(sizes) / 1000:.0f} KB")
    for name, selector in HALF_FIELDS.items():
        css = selector.partition("@")[0]
        missing = sum(
            LexborHTMLParser((root / p.lstrip("/")).read_text(errors="replace")).css_first(css) is None
            for p in pages
        )
        print(f"  {name} ({selector}): missing on {missing} of {len(pages)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve (or --check) the documentation corpus on 127.0.0.1.")
    parser.add_argument("--serve", metavar="DIR")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--check", type=int, nargs="?", const=200, metavar="N")
    args = parser.parse_args()
    if args.check:
        _check(args.check)
        return
    server = _Server(("127.0.0.1", args.port), _Handler)
    server.root = Path(args.serve or docs_root() or ".").resolve()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
