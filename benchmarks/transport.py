"""What the way to Chromium costs Playwright's driver: CDP over a WebSocket, or a pipe.

Every anchorframe backend (local Chromium, the emulator, Anchor's cloud sessions) is reached
with ``connect_over_cdp``: a WebSocket, over which Playwright's transport offers
permessage-deflate and Chromium's DevTools server compresses every event it sends (a node
``--cpu-prof`` of the driver put 40 % of its main thread in zlib; ``benchmarks/README.md``
section 8). Playwright's own ``launch()`` speaks to Chromium over a pipe instead, uncompressed.
This experiment runs the tuned script of :mod:`benchmarks.orchestrator` (page per tab, one
waiting evaluate) on the same docs pages against one Chromium of each kind, in alternating
order, and prints the driver's CPU per page (``psutil``: every ``node`` child) and the pages
per second. Not in CI; a lever for the local backend, which launches Chromium itself and
connects over CDP like the cloud.

``flock /tmp/af-browser.lock python -m benchmarks.transport [--pages 200 --rounds 4]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from anchorframe.backends._chromium import CHROMIUM_FLAGS, find_chromium

from .browsers import launch_browsers
from .docs_corpus import DocsServer, docs_pages, docs_root
from .orchestrator import tuned_pages


def _driver_seconds() -> float:
    import psutil

    return sum(
        float(sum(child.cpu_times()[:2]))
        for child in psutil.Process().children()
        if "node" in (child.name() or "").lower()
    )


async def compare(site: DocsServer, pages: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    """``rounds`` x (pipe, CDP) runs of the tuned script on ``pages`` docs pages."""
    from playwright.async_api import async_playwright

    paths = docs_pages(pages)
    runs: dict[str, list[dict[str, float]]] = {"pipe": [], "cdp": []}
    async with async_playwright() as playwright:
        flags = [flag for flag in CHROMIUM_FLAGS if flag != "--headless=new"] + ["--no-sandbox"]
        piped = await playwright.chromium.launch(executable_path=find_chromium(), args=flags)
        process = (await launch_browsers(1))[0]
        over_cdp = await playwright.chromium.connect_over_cdp(process.cdp_url)
        try:
            contexts = {"pipe": await piped.new_context(), "cdp": over_cdp.contexts[0]}
            for context in contexts.values():  # the driver's code, the browsers' caches
                await tuned_pages(context, [site.url(p + "?warm") for p in paths[:8]], "static")
            for number in range(rounds):
                order = list(contexts.items())
                if number % 2:
                    order.reverse()
                for name, context in order:
                    before, started = _driver_seconds(), time.perf_counter()
                    await tuned_pages(context, [site.url(f"{p}?{name}{number}") for p in paths], "static")
                    row = {
                        "driver_ms": (_driver_seconds() - before) * 1000 / len(paths),
                        "pages_per_s": len(paths) / (time.perf_counter() - started),
                    }
                    runs[name].append(row)
                    print(f"round {number + 1} {name}: driver {row['driver_ms']:.1f} ms/page, "
                          f"{row['pages_per_s']:.1f} pages/s", flush=True)  # fmt: skip
        finally:
            await piped.close()
            await over_cdp.close()
            await process.end()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    if docs_root() is None:
        raise SystemExit("No documentation here: apt-get install python3.11-doc")
    with DocsServer() as site:
        runs = asyncio.run(compare(site, args.pages, args.rounds))
    pipe, cdp = runs["pipe"], runs["cdp"]
    for key in ("driver_ms", "pages_per_s"):
        ratio = statistics.median(p[key] / c[key] for p, c in zip(pipe, cdp, strict=True))
        print(
            f"{key}: pipe {statistics.median(r[key] for r in pipe):.1f}, "
            f"CDP {statistics.median(r[key] for r in cdp):.1f}, pipe / CDP x{ratio:.2f}"
        )


if __name__ == "__main__":
    main()
