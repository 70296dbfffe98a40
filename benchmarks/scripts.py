"""The hand-written asyncio Playwright scripts anchorframe is measured against.

Both take the same URLs, the same Chromium processes (CDP URLs) and the same
number of tabs per browser as anchorframe, start their own Playwright driver
and return ``(results, seconds to the first result, seconds in all)``:

* :func:`plain_script`: what most people write first: one shared queue, a new
  page per URL, ``wait_for_selector``, then one ``inner_text`` call per field;
* :func:`tuned_script`: the best we could write by hand: one page per tab, kept
  for every URL, and one ``evaluate`` that waits inside the page and reads every
  field at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from playwright.async_api import async_playwright

__all__ = ["FIELDS", "WAIT_JS", "plain_script", "tuned_script"]

FIELDS = {"name": "h1", "price": ".price", "stock": ".stock"}

WAIT_JS = """async (fields) => {
  const deadline = performance.now() + 10000;
  while (!fields.every(([, s]) => document.querySelector(s)) && performance.now() < deadline) {
    await new Promise(r => setTimeout(r, 25));
  }
  const out = {};
  for (const [name, s] of fields) {
    const el = document.querySelector(s);
    out[name] = el ? el.innerText.trim() : null;
  }
  return out;
}"""


async def _run(
    urls: Sequence[str], cdp_urls: Sequence[str], tabs: int, tuned: bool
) -> tuple[list[Any], float, float]:
    started = time.perf_counter()
    first: list[float] = []
    results: list[Any] = [None] * len(urls)
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in enumerate(urls):
        queue.put_nowait(item)
    fields = [[name, selector] for name, selector in FIELDS.items()]

    async def plain_worker(context: Any) -> None:
        while not queue.empty():
            index, url = queue.get_nowait()
            page = await context.new_page()
            try:
                await page.goto(url)
                await page.wait_for_selector(".price")
                results[index] = {name: await page.inner_text(sel) for name, sel in FIELDS.items()}
                if not first:
                    first.append(time.perf_counter() - started)
            finally:
                await page.close()

    async def tuned_worker(context: Any) -> None:
        page = await context.new_page()
        try:
            while not queue.empty():
                index, url = queue.get_nowait()
                await page.goto(url, wait_until="domcontentloaded")
                results[index] = await page.evaluate(WAIT_JS, fields)
                if not first:
                    first.append(time.perf_counter() - started)
        finally:
            await page.close()

    async with async_playwright() as playwright:
        browsers = await asyncio.gather(*(playwright.chromium.connect_over_cdp(u) for u in cdp_urls))
        worker = tuned_worker if tuned else plain_worker
        await asyncio.gather(*(worker(b.contexts[0]) for b in browsers for _ in range(tabs)))
        for browser in browsers:
            await browser.close()  # over CDP this only disconnects
    return results, first[0] if first else float("nan"), time.perf_counter() - started


async def plain_script(
    urls: Sequence[str], cdp_urls: Sequence[str], tabs: int
) -> tuple[list[Any], float, float]:
    """A new page per URL, ``wait_for_selector``, one ``inner_text`` per field."""
    return await _run(urls, cdp_urls, tabs, tuned=False)


async def tuned_script(
    urls: Sequence[str], cdp_urls: Sequence[str], tabs: int
) -> tuple[list[Any], float, float]:
    """One page per tab, reused; one in-page ``evaluate`` that waits and reads every field."""
    return await _run(urls, cdp_urls, tabs, tuned=True)
