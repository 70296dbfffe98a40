"""Where anchorframe's throughput gap to the tuned script lies: in the page, or in the orchestrator.

:mod:`benchmarks.orchestrator` measures anchorframe against a hand-tuned Playwright script
on CPython's docs. The tuned script knows its site: it waits in the page only for the field
every page has. anchorframe does not: on a page that lacks a field it waits until the page
is quiet, and its init script (the quiet watch, :mod:`anchorframe._render.quiet`) counts
requests and timers so that this wait is short. This experiment swaps the page-side work
while keeping the tuned script's loop (:func:`benchmarks.orchestrator.tuned_pages`):

* *tuned*: the tuned script as in the orchestrator benchmark;
* *tuned + watch*: the same, with anchorframe's quiet watch added to each page;
* *tuned + anchorframe's scripts*: the quiet watch and anchorframe's own extractor script
  (``af.extract.css(fields)``: waits for every field, an absent one until the page is quiet);
* *anchorframe*: ``af.ascrape(urls, extract=fields, render="browser")``;
* with ``--no-absent``, the fields leave out "next", which ~5 % of pages lack (the
  orchestrator benchmark's ``js, every field there`` kind).

Same Chromium, 1 session x 4 tabs, ``/js/`` pages, the order rotated round by round. It
prints each run's pages per second and Chromium CPU per page, then each contender's median
ratio to the tuned script within a round, with the spread. Not in CI; the figures are in
``benchmarks/README.md`` section 8.

``flock /tmp/af-browser.lock python -m benchmarks.page_side [--pages 200 --rounds 6 --no-absent]``
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import anchorframe as af
from anchorframe._render.quiet import QUIET_INIT_JS

from .browsers import launch_browsers
from .docs_corpus import DocsServer, docs_pages, docs_root
from .orchestrator import _CPU, Run, _anchorframe, _fields, _measure, _tuned


def contenders(playwright: Any, cdp: str, kind: str) -> dict[str, Run]:
    """The four ways to read ``kind``'s fields from each page (see the module docstring)."""
    own_script = af.extract.css(_fields(kind))._script(frozenset())  # its evaluate's, nothing learnt
    return {
        "tuned": _tuned(playwright, [cdp], kind),
        "tuned + watch": _tuned(playwright, [cdp], kind, init_script=QUIET_INIT_JS),
        "tuned + anchorframe's scripts": _tuned(
            playwright, [cdp], kind, script=own_script, init_script=QUIET_INIT_JS
        ),
        "anchorframe": _anchorframe([cdp], kind),
    }


async def page_side(site: DocsServer, pages: int, rounds: int, *, absent: bool) -> dict[str, Any]:
    """Every contender on the same ``/js/`` pages, ``rounds`` times in rotating order."""
    from playwright.async_api import async_playwright

    paths = docs_pages(pages)
    kind = "js" if absent else "js, every field there"
    browsers = await launch_browsers(1)
    cpu = _CPU(browsers[0].pid, site.pid)
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        async with async_playwright() as playwright:
            every = contenders(playwright, browsers[0].cdp_url, kind)
            for run in every.values():  # drivers, imports, the browser's caches of stylesheets and scripts
                await run([site.url(f"/js{p}?warm") for p in paths[:8]])
            names = list(every)
            for number in range(rounds):
                shift = number % len(names)
                for index, name in enumerate(names[shift:] + names[:shift]):
                    row = await _measure(
                        cpu, every[name], [site.url(f"/js{p}?s={number}.{index}") for p in paths]
                    )
                    row.pop("values")
                    runs.setdefault(name, []).append(row)
                    print(f"round {number + 1} {name}: {row['pages_per_s']:.2f} pages/s, "
                          f"Chromium {row['chromium_ms']:.1f} ms/page", flush=True)  # fmt: skip
    finally:
        for browser in browsers:
            await browser.end()
    return {"fields": list(_fields(kind)), "runs": runs, "ratios": _ratios(runs)}


def _ratios(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each contender's pages/s over the tuned script's, round by round: median and spread."""
    tuned = runs["tuned"]
    out: dict[str, dict[str, Any]] = {}
    for name, rows in runs.items():
        if name == "tuned":
            continue
        ratios = [r["pages_per_s"] / t["pages_per_s"] for r, t in zip(rows, tuned, strict=True)]
        spread = (min(ratios), max(ratios))
        out[name] = {"median": statistics.median(ratios), "spread": spread, "rounds": ratios}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--no-absent", action="store_true", help='leave out "next" (~5 %% of pages lack it)')
    args = parser.parse_args()
    if docs_root() is None:
        raise SystemExit("No documentation here: apt-get install python3.11-doc (or set AF_DOCS_DIR).")
    from anchorframe._engine.portal import run_in_portal

    with DocsServer() as site:
        data = run_in_portal(page_side(site, args.pages, args.rounds, absent=not args.no_absent))
    fields = ", ".join(data["fields"])
    print(f"fields: {fields}; pages/s over the tuned script's, median of the rounds (spread):")
    for name, ratio in data["ratios"].items():
        low, high = ratio["spread"]
        print(f"  {name}: x{ratio['median']:.2f} ({low:.2f}-{high:.2f})")


if __name__ == "__main__":
    main()
