"""Soak: does a long run stay small? ``python -m benchmarks.soak [ROWS] [--renew N|none] [--tabs T]``.

Scrapes ROWS rows (default 20,000) with ``af.scrape`` on one local session,
a callable that opens a fresh page per row (as a user's callable does), on a
loopback page with a stylesheet, an image, console output, a fetch and a
large script array (the page of ``benchmarks/context_growth.py``). A thread
samples, every second, the RSS of this Python process, of the Playwright
driver (node) and of the Chromium process tree; the run is cut in thirds by
rows done, and the median of each third is printed, with the growth from the
first third to the last (MiB and per 1,000 rows). ``--renew none`` runs the
same without context renewal, to compare.

Not part of CI (20,000 rows take about 50 minutes on 2 cores with a fresh page per row). Run it under the
browser lock::

    flock /tmp/af-browser.lock .venv/bin/python -m benchmarks.soak 20000
"""

from __future__ import annotations

import argparse
import http.server
import json
import statistics
import sys
import threading
import time
from typing import Any

import psutil

import anchorframe as af
from anchorframe._engine.memory import CONTEXT_RENEW_ROWS

from .context_growth import _Handler, _rss_mb

#: ``--page light``: a product page with a stylesheet, an image and a console line, ~1 kB
#: (the heavy page of ``context_growth`` also writes 200 paragraphs and a 20,000-item array).
_LIGHT = (
    "<html><head><title>Item {n}</title><link rel=stylesheet href=/style.css></head><body>"
    "<h1>Item {n}</h1><p class=price>{n}.00</p><img src=/pixel.png>"
    "<script>console.log('row {n}')</script></body></html>"
)


class _LightHandler(_Handler):
    def do_GET(self) -> None:
        if not self.path.startswith("/item/"):
            return super().do_GET()
        body = _LIGHT.replace("{n}", self.path.rsplit("/", 1)[-1]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Sampler(threading.Thread):
    """Samples (rows done, python MiB, driver MiB, chromium MiB) once a second."""

    def __init__(self, progress: list[int]) -> None:
        super().__init__(daemon=True)
        self.progress = progress
        self.samples: list[tuple[int, float, float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self.stop.wait(1.0):
            try:
                children = me.children(recursive=False)
                driver = next((p for p in children if "node" in _name(p)), None)
                chromium = [p for p in me.children(recursive=True) if "chrom" in _name(p)]
                sample = (
                    self.progress[0],
                    _rss_mb(me),
                    _rss_mb(driver),
                    sum(_rss_mb(p) for p in chromium),  # every Chromium process: renderers come and go
                )
            except psutil.Error:  # a renderer ended while it was read: take the next sample
                continue
            self.samples.append(sample)
            if len(self.samples) % 30 == 0:  # a line every ~30 s: a long run shows how it goes
                rows, python_mb, driver_mb, chromium_mb = sample
                print(
                    f"soak: {rows} rows, python {python_mb:.0f} MiB, driver {driver_mb:.0f} MiB, "
                    f"chromium {chromium_mb:.0f} MiB",
                    file=sys.stderr,
                    flush=True,
                )


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return ""


def soak(rows: int, *, renew: int | None, tabs: int, page: str = "heavy") -> dict[str, Any]:
    handler = _LightHandler if page == "light" else _Handler
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.handle_error = lambda *a: None  # type: ignore[method-assign]  # a page closed mid-answer
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    progress = [0]

    async def price(page: Any, row: Any) -> dict[str, str]:
        await page.goto(row.url, wait_until="load")
        value = await page.inner_text(".price")
        progress[0] += 1
        return {"price": value}

    sampler = _Sampler(progress)
    sampler.start()
    started = time.monotonic()
    try:
        result = af.scrape(
            [f"{base}/item/{n}" for n in range(rows)],
            price,
            backend="local",
            sessions=1,
            tabs=tabs,
            renew_context_after=renew,
            robots=False,
            progress=False,
        )
    finally:
        sampler.stop.set()
        sampler.join()
        server.shutdown()
        server.server_close()
    elapsed = time.monotonic() - started
    thirds: list[dict[str, float]] = []
    for third in range(3):
        low, high = rows * third / 3, rows * (third + 1) / 3
        part = [s for s in sampler.samples if low <= s[0] < high] or sampler.samples[-1:]
        thirds.append(
            {
                # Samples are ~1 s apart: rows in the third over its samples is its pace.
                "rows_per_second": round((high - low) / max(1, len(part)), 1),
                "python_mb": round(statistics.median(s[1] for s in part), 1),
                "driver_mb": round(statistics.median(s[2] for s in part), 1),
                "chromium_mb": round(statistics.median(s[3] for s in part), 1),
            }
        )
    growth = {
        key: round(thirds[2][key] - thirds[0][key], 1) for key in ("python_mb", "driver_mb", "chromium_mb")
    }
    return {
        "rows": rows,
        "ok": int(result.counts["ok"]),
        "tabs": tabs,
        "page": page,
        "renew_context_after": renew,
        "seconds": round(elapsed, 1),
        "rows_per_second": round(rows / elapsed, 1),
        "thirds": thirds,
        "growth_first_to_last_third_mb": growth,
        "growth_mb_per_1000_rows": {k: round(v * 1500 / rows, 2) for k, v in growth.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="?", default=20_000)
    parser.add_argument("--renew", default=str(CONTEXT_RENEW_ROWS), help="rows per context, or none")
    parser.add_argument("--tabs", type=int, default=4)
    parser.add_argument("--page", choices=("heavy", "light"), default="heavy")
    args = parser.parse_args()
    renew = None if args.renew == "none" else int(args.renew)
    print(json.dumps(soak(args.rows, renew=renew, tabs=args.tabs, page=args.page)), flush=True)


if __name__ == "__main__":
    main()
