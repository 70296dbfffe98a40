"""Does a long-lived browser context grow? ``python -m benchmarks.context_growth ROWS RENEW_EVERY``.

Runs ROWS rows on one local Chromium, one tab, a new page per row (as the
engine does for a user's callable), on a loopback page with subresources and
console output, first keeping one context for the whole run, then renewing the
context every RENEW_EVERY rows. Prints one JSON line per mode: the RSS of this
Python process, of the Playwright driver (node) and of the Chromium process
tree, sampled at each tenth of the run, plus the mean cost of one renewal.
Run it under the browser lock: ``flock /tmp/af-browser.lock .venv/bin/python -m benchmarks.context_growth``.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import sys
import threading
import time
from typing import Any

import psutil

_PAGE = (
    "<html><head><title>Item {n}</title><link rel=stylesheet href=/style.css></head><body>"
    "<h1>Item {n}</h1><p class=price>{n}.00</p>"
    + "<p>Some descriptive text of the product.</p>"
    * 200
    + "<img src=/pixel.png><script>console.log('row {n}'); window.junk = new Array(20000).fill('x{n}');"
    "fetch('/api?n={n}').then(r => r.text());</script></body></html>"
)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/item/"):
            body, kind = _PAGE.replace("{n}", self.path.rsplit("/", 1)[-1]).encode(), "text/html"
        elif self.path == "/style.css":
            body, kind = b"h1{color:#333}" * 100, "text/css"
        elif self.path == "/pixel.png":
            body, kind = b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"
        else:
            body, kind = b'{"ok": true}', "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _rss_mb(process: psutil.Process | None, tree: bool = False) -> float:
    if process is None:
        return 0.0
    processes = [process, *process.children(recursive=True)] if tree else [process]
    total = 0
    for each in processes:
        try:
            total += each.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


async def _run(base: str, rows: int, renew_every: int | None) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    me = psutil.Process()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        children = me.children(recursive=True)
        driver = next((p for p in children if "node" in p.name()), None)
        chrome = next(
            (
                p
                for p in children
                if "chrom" in p.name() and p.parent() and p.parent().pid == (driver.pid if driver else me.pid)
            ),
            None,
        )
        context = await browser.new_context()
        samples: list[dict[str, float]] = []
        renew_seconds: list[float] = []
        started = time.monotonic()
        for n in range(rows):
            if renew_every and n and n % renew_every == 0:
                t0 = time.perf_counter()
                await context.close()
                context = await browser.new_context()
                renew_seconds.append(time.perf_counter() - t0)
            page = await context.new_page()
            await page.goto(f"{base}/item/{n}", wait_until="load")
            await page.inner_text(".price")
            await page.close()
            if n % max(1, rows // 10) == 0 or n == rows - 1:
                samples.append(
                    {
                        "row": n,
                        "python_mb": round(_rss_mb(me), 1),
                        "driver_mb": round(_rss_mb(driver), 1),
                        "chromium_mb": round(_rss_mb(chrome, tree=True), 1),
                    }
                )
        elapsed = time.monotonic() - started
        await context.close()
        await browser.close()
    return {
        "rows": rows,
        "renew_every": renew_every,
        "rows_per_second": round(rows / elapsed, 1),
        "renew_ms_mean": round(1000 * sum(renew_seconds) / len(renew_seconds), 1) if renew_seconds else None,
        "samples": samples,
    }


def main(rows: int, renew_every: int) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.handle_error = lambda *a: None  # type: ignore[method-assign]  # a page closed mid-answer
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for mode in (None, renew_every):
            print(json.dumps(asyncio.run(_run(base, rows, mode))), flush=True)
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, int(sys.argv[2]) if len(sys.argv) > 2 else 250)
