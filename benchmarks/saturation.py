"""Saturation on and off: a run whose scraper spends 40 ms of this process's CPU per row.

No browser: FakeBackend pages with 0.2 s of latency, 8 sessions x 2 tabs, 500 rows.
"off" sets every threshold of ``anchorframe._engine.saturation`` out of reach. Prints, per
setting, pages/s, sessions (replacements included), sessions retired as saturated,
and session-minutes. On a machine whose cores are shared the process may never
reach its own core (its CPU share stays low while the loop lags): then neither
setting retires anything, as designed. Run: ``python -m benchmarks.saturation``.
"""

from __future__ import annotations

import time

import anchorframe as af
from anchorframe._engine import saturation as _saturation
from anchorframe.backends.fake import FakeBackend, FakeDocument

ROWS = 500


async def burn(page, row):  # type: ignore[no-untyped-def]
    await page.goto(row.url)
    end = time.process_time() + 0.04  # 40 ms of this process's CPU per row
    while time.process_time() < end:
        pass
    return {"h1": await page.inner_text("h1")}


def main() -> None:
    urls = [f"https://shop.test/{n}" for n in range(ROWS)]
    defaults = (_saturation.CPU_HIGH, _saturation.CPU_WITH_LAG, _saturation.LAG_ALONE)
    for label in ("off", "on"):
        values = (9.0, 9.0, 9.0) if label == "off" else defaults
        _saturation.CPU_HIGH, _saturation.CPU_WITH_LAG, _saturation.LAG_ALONE = values
        backend = FakeBackend(lambda url: FakeDocument(texts={"h1": url}, delay=0.2))
        start = time.monotonic()
        result = af.scrape(urls, burn, backend=backend, sessions=8, tabs=2, progress=False, retries=0)
        sessions = result.sessions
        retired = int(sessions["error"].fillna("").str.contains("saturated").sum())
        print(
            f"saturation {label}: {result.counts['ok']} ok in {time.monotonic() - start:.1f} s, "
            f"{result.pages_per_second:.1f} pages/s, {len(sessions)} sessions, {retired} retired, "
            f"{result.session_minutes:.2f} session-minutes",
            flush=True,
        )


if __name__ == "__main__":
    main()
