"""Soak: 5,000 rows with a failure mix on local Chromium; memory bounded, nothing accumulates.

Takes ~10 minutes on 2 cores, so it runs only when asked: ANCHORFRAME_SOAK=1 pytest tests/test_soak.py -s
"""

from __future__ import annotations

import os
import threading
import time

import pandas as pd
import psutil
import pytest

import anchorframe as af

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("ANCHORFRAME_SOAK"), reason="set ANCHORFRAME_SOAK=1 to run the soak"
    ),
    pytest.mark.usefixtures("no_chromium_left"),
    pytest.mark.timeout(1800),
]
ROWS = int(os.environ.get("ANCHORFRAME_SOAK_ROWS", "5000"))


def test_soak_5000_rows_with_failures(site):
    """Every row back once; RSS and Chromium process counts stay flat over the run."""
    urls = []
    for n in range(ROWS):
        if n % 20 == 0:
            urls.append(site.url(f"/status/404?n={n}"))
        elif n % 50 == 1:
            urls.append(site.url(f"/flaky/{n}?fail=1"))
        elif n % 500 == 2:
            urls.append(site.url(f"/hang?n={n}"))
        else:
            urls.append(site.url(f"/page/{n}"))
    me = psutil.Process()
    samples: list[tuple[float, int, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            chromium = 0
            for child in me.children(recursive=True):
                try:
                    chromium += "chrom" in child.name().lower()
                except psutil.Error:  # a renderer that ended between listing and reading
                    pass
            samples.append((time.monotonic(), me.memory_info().rss, chromium))
            stop.wait(1.0)

    async def scraper(page, row):
        response = await page.goto(row.url)
        if row.position % 97 == 3:
            raise ValueError("a bug in the scraper")
        if response is not None and response.status >= 400:
            raise af.RowFailed("http_error", f"HTTP {response.status}", retryable=response.status >= 500)
        return {"heading": await page.inner_text("h1")}

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        result = af.scrape(
            pd.DataFrame({"url": urls}), scraper, timeout=3, retries=1, progress=False, backoff=0.05
        )
    finally:
        stop.set()
        watcher.join()
    elapsed = time.monotonic() - started
    counts = result.counts
    assert sum(counts.values()) == ROWS and counts["skipped"] == 0
    rss = [s[1] for s in samples]
    chromium = [s[2] for s in samples]
    third = max(1, len(samples) // 3)
    early, late = max(rss[third : 2 * third] or rss), max(rss[2 * third :] or rss)
    print(
        f"\nsoak: {ROWS} rows in {elapsed:.0f} s ({ROWS / elapsed:.1f} rows/s); {counts}; "
        f"peak RSS {max(rss) / 2**20:.0f} MiB (middle third {early / 2**20:.0f}, last third "
        f"{late / 2**20:.0f}); Chromium processes min/max {min(chromium)}/{max(chromium)}"
    )
    assert late < early * 1.25 + 30 * 2**20, "the Python process kept growing"
    assert max(chromium[third:]) <= max(chromium[:third] or chromium) + 2, "Chromium processes accumulated"
