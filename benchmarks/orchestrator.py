"""What a browser page costs the orchestrator, on real-sized pages: anchorframe vs the tuned script.

With cloud sessions the only work left on the user's machine is the orchestrator: this
Python process and Playwright's Node driver. Their CPU per page decides how many sessions
one process keeps busy, and ``anchorframe/_core/plan.py``'s ``ORCHESTRATOR_MS_PER_PAGE``
is set from this benchmark.

* **Corpus**: CPython's Sphinx documentation (:mod:`benchmarks.docs_corpus`, 20-700 KB pages
  with their stylesheets and scripts), static pages and the ``/js/`` pattern whose field
  JavaScript writes after load, read twice: with the "next" link, which ~5 % of pages lack, and
  without it (``js, every field there``: :data:`KINDS`). Every run reads a fresh URL of each
  page (a query string the server ignores), so no contender gets the main documents from the
  browser's cache.
* **Contenders**, on the same Chromium over CDP, 1 session x :data:`TABS` tabs, same pages,
  in alternating order round by round (A B, B A, ...):
  * *anchorframe*: ``af.ascrape(urls, extract=FIELDS, render="browser")``, its defaults;
  * *tuned script*: one page per tab kept for every URL, ``goto`` to ``domcontentloaded``,
    one ``evaluate`` that waits inside the page for the fields it knows every page has,
    then reads them all (:data:`TUNED_JS`). Its driver is started once, like anchorframe's
    warm one; each run connects over CDP, as anchorframe does.
* **Ratios** anchorframe / tuned are taken within each round; the report gives their median,
  their spread and a 95 % interval of the median (:func:`median_interval`), which says whether
  the rounds tell the ratio apart from 1.0 (:func:`verdict`).
* **CPU** of each process, sampled with ``psutil`` before and after each run: this Python
  process, the Playwright driver (every ``node`` child: only the running contender's works),
  and Chromium (the browser process and its descendants, each with the children it has
  reaped: a renderer that exited during the run is counted in its zygote's figure).
  *orchestrator* = Python + driver. Also each anchorframe run's own figure: the CPU its
  saturation watch sampled, per page (``result.orchestrator_ms_per_page``).

``python -m benchmarks --only orchestrator`` or, alone,
``flock /tmp/af-browser.lock python -m benchmarks.orchestrator [--pages 200 --rounds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anchorframe as af

from .browsers import SharedBackend, launch_browsers
from .docs_corpus import FIELDS, JS_FIELDS, DocsServer, docs_pages, docs_root

__all__ = ["median_interval", "orchestrator_report", "run_orchestrator", "tuned_pages", "verdict"]

TABS = 4
#: What the tuned script waits for (it knows its site): the h1 on static pages, the note on /js/ ones.
REQUIRED = {"static": ["h1"], "js": [".af-note"], "js, every field there": [".af-note"]}
#: The kinds of run, each on its own pages and fields: ``js, every field there`` is the ``/js/``
#: pages without the "next" link, which ~5 % of them lack. There anchorframe has no absent field
#: to wait out (it cannot know "next" is optional; the tuned script's author does), so the pair
#: shows the orchestration's own cost apart from that wait.
KINDS = ("static", "js", "js, every field there")
#: Rounds under which no interval is given: a bootstrap of 2-4 values says little.
INTERVAL_ROUNDS = 5

TUNED_JS = """async ([fields, required]) => {
  const deadline = performance.now() + 10000;
  while (!required.every(s => document.querySelector(s)) && performance.now() < deadline) {
    await new Promise(r => setTimeout(r, 25));
  }
  const out = {};
  for (const [name, sel, attr] of fields) {
    const el = document.querySelector(sel);
    out[name] = el ? (attr ? el.getAttribute(attr) : el.innerText.trim()) : null;
  }
  return out;
}"""

Run = Callable[[list[str]], Awaitable[tuple[list[Any], float | None]]]


def _fields(kind: str) -> dict[str, str]:
    if kind == "js, every field there":
        return {name: selector for name, selector in JS_FIELDS.items() if name != "next"}
    return dict(JS_FIELDS if kind == "js" else FIELDS)


def _prefix(kind: str) -> str:
    return "/js" if kind.startswith("js") else ""


class _CPU:
    """CPU seconds of this process, its Playwright drivers and one Chromium's process tree."""

    def __init__(self, chromium_pid: int, server_pid: int | None) -> None:
        import psutil

        self.me = psutil.Process()
        self.chromium = psutil.Process(chromium_pid)
        self.skip = {chromium_pid, server_pid}

    def sample(self) -> dict[str, float]:
        import psutil

        def seconds(process: Any, reaped: bool = False) -> float:
            try:
                times = process.cpu_times()
            except psutil.Error:
                return 0.0
            # reaped: with the children it has waited for, e.g. a renderer that exited during the run
            return float(sum(times[:4] if reaped else times[:2]))

        drivers = sum(
            seconds(child)
            for child in self.me.children()
            if child.pid not in self.skip and "node" in (child.name() or "").lower()
        )
        tree = [self.chromium, *self.chromium.children(recursive=True)]
        browser = sum(seconds(process, reaped=True) for process in tree)
        return {"python": seconds(self.me), "driver": drivers, "chromium": browser}


def _anchorframe(cdp: list[str], kind: str) -> Run:
    async def run(urls: list[str]) -> tuple[list[Any], float | None]:
        result = await af.ascrape(
            urls,
            extract=_fields(kind),
            render="browser",
            backend=SharedBackend(cdp),
            sessions=1,
            tabs=TABS,
            progress=False,
        )
        frame = result.results
        values = [
            {name: row[name] for name in _fields(kind)} if row["af_status"] == "ok" else None
            for row in frame.to_dict("records")
        ]
        return values, result.orchestrator_ms_per_page

    return run


async def tuned_pages(
    context: Any, urls: list[str], kind: str, *, script: str | None = None, init_script: str | None = None
) -> list[Any]:
    """The tuned script on ``context``: :data:`TABS` pages, each ``goto`` + one waiting ``evaluate``.

    ``script`` (evaluated with no argument) replaces :data:`TUNED_JS` and ``init_script`` is added
    to each page: other page-side work under the same loop (:mod:`benchmarks.page_side`).
    """
    fields = [[name, *selector.split("@", 1)] for name, selector in _fields(kind).items()]
    argument = [[field if len(field) == 3 else [*field, ""] for field in fields], REQUIRED[kind]]
    results: list[Any] = [None] * len(urls)
    queue = list(enumerate(urls))

    async def worker() -> None:
        page = await context.new_page()
        try:
            if init_script is not None:
                await page.add_init_script(init_script)
            while queue:
                index, url = queue.pop(0)
                await page.goto(url, wait_until="domcontentloaded")
                if script is None:
                    results[index] = await page.evaluate(TUNED_JS, argument)
                else:
                    results[index] = await page.evaluate(script)
        finally:
            await page.close()

    await asyncio.gather(*(worker() for _ in range(TABS)))
    return results


def _tuned(playwright: Any, cdp: list[str], kind: str, **page_side: str | None) -> Run:
    """The tuned script as a contender (``page_side``: :func:`tuned_pages`' ``script``, ``init_script``)."""

    async def run(urls: list[str]) -> tuple[list[Any], float | None]:
        browser = await playwright.chromium.connect_over_cdp(cdp[0])
        results = await tuned_pages(browser.contexts[0], urls, kind, **page_side)
        await browser.close()  # over CDP: disconnects
        return results, None

    return run


def _correct(kind: str, values: list[Any]) -> int:
    """Rows with an h1 (and, on /js/ pages, the note JavaScript wrote)."""
    need = ("h1", "note") if kind.startswith("js") else ("h1",)
    return sum(1 for v in values if v and all(v.get(name) for name in need))


async def _measure(cpu: _CPU, run: Run, urls: list[str]) -> dict[str, Any]:
    before = cpu.sample()
    started = time.perf_counter()
    values, own = await run(urls)
    seconds = time.perf_counter() - started
    after = cpu.sample()
    pages = len(urls)
    ms = {name: (after[name] - before[name]) * 1000 / pages for name in before}
    return {
        "python_ms": ms["python"],
        "driver_ms": ms["driver"],
        "orchestrator_ms": ms["python"] + ms["driver"],
        "chromium_ms": ms["chromium"],
        "pages_per_s": pages / seconds,
        "own_ms": own,
        "values": values,
    }


async def orchestrator_cpu(site: DocsServer, scale: dict[str, Any], log: Any = print) -> dict[str, Any]:
    """Every round, each of :data:`KINDS`: anchorframe and the tuned script in alternating order."""
    from playwright.async_api import async_playwright

    pages = docs_pages(int(scale.get("orchestrator_pages", 200)))
    js_pages = pages[: int(scale.get("orchestrator_js_pages", len(pages)))]
    rounds = int(scale.get("orchestrator_rounds", 5))
    browsers = await launch_browsers(1)
    cdp = [browsers[0].cdp_url]
    cpu = _CPU(browsers[0].pid, site.pid)
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {kind: {} for kind in KINDS}
    try:
        async with async_playwright() as playwright:
            contenders = {
                kind: {"anchorframe": _anchorframe(cdp, kind), "tuned script": _tuned(playwright, cdp, kind)}
                for kind in rows
            }
            for kind in rows:  # imports, both drivers, the browser's caches of stylesheets and scripts
                for run in contenders[kind].values():
                    await run([site.url(f"{_prefix(kind)}{p}?warm") for p in pages[:8]])
            for number in range(rounds):
                for kind, paths in zip(KINDS, (pages, js_pages, js_pages), strict=True):
                    order = list(contenders[kind].items())
                    if number % 2:
                        order.reverse()
                    for name, run in order:
                        urls = [site.url(f"{_prefix(kind)}{p}?r={number}{name[0]}{kind[-1]}") for p in paths]
                        row = await _measure(cpu, run, urls)
                        row["correct"] = _correct(kind, row.pop("values"))
                        row["pages"] = len(urls)
                        rows[kind].setdefault(name, []).append(row)
                        log(f"orchestrator: round {number + 1} {kind} {name}: " + _brief(row))
    finally:
        for browser in browsers:
            await browser.end()
    return {"tabs": TABS, "rounds": rounds, "runs": rows, "summary": _summarise(rows)}


def _brief(row: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())


def median_interval(values: list[float], *, draws: int = 5000, seed: int = 24) -> tuple[float, float]:
    """A 95 % interval of the median of ``values`` (the percentile bootstrap; seeded: reproducible).

    Rounds on a shared machine move by several per cent; this says whether a median ratio is
    told apart from 1.0 by them or not.

    Example:
        >>> median_interval([1.0, 1.0, 1.0])
        (1.0, 1.0)
        >>> low, high = median_interval([0.9, 0.95, 1.0, 1.05, 1.1])
        >>> low < statistics.median([0.9, 0.95, 1.0, 1.05, 1.1]) < high
        True
    """
    draw = random.Random(seed)
    medians = sorted(statistics.median(draw.choices(values, k=len(values))) for _ in range(draws))
    return medians[int(draws * 0.025)], medians[int(draws * 0.975) - 1]


def verdict(interval: tuple[float, float]) -> str:
    """``below 1``, ``above 1`` or ``not told apart from 1``: where a ratio's 95 % interval lies.

    Example:
        >>> verdict((0.93, 0.98)), verdict((0.97, 1.04))
        ('below 1', 'not told apart from 1')
    """
    low, high = interval
    return "below 1" if high < 1 else "above 1" if low > 1 else "not told apart from 1"


def _summarise(rows: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Medians per contender and kind, and anchorframe / tuned within each round, then the median
    with its spread over the rounds and a 95 % interval (:func:`median_interval`)."""
    out: dict[str, Any] = {}
    for kind, by_name in rows.items():
        medians = {
            name: {
                key: statistics.median(r[key] for r in runs if r[key] is not None)
                if any(r[key] is not None for r in runs)
                else None
                for key in runs[0]
            }
            for name, runs in by_name.items()
        }
        af_runs, tuned_runs = by_name["anchorframe"], by_name["tuned script"]
        per_round = {
            key: [a[key] / t[key] for a, t in zip(af_runs, tuned_runs, strict=True)]
            for key in ("python_ms", "driver_ms", "orchestrator_ms", "chromium_ms", "pages_per_s")
        }
        ratios = {key: statistics.median(values) for key, values in per_round.items()}
        spread = {key: (min(values), max(values)) for key, values in per_round.items()}
        interval = {
            key: median_interval(values)
            for key, values in per_round.items()
            if len(values) >= INTERVAL_ROUNDS
        }
        out[kind] = {"medians": medians, "af_over_tuned": ratios, "spread": spread, "interval": interval}
    return out


def run_orchestrator(scale: dict[str, Any], log: Any = print) -> dict[str, Any]:
    """The whole benchmark; ``scale``: ``orchestrator_pages``, ``_js_pages`` and ``_rounds``."""
    from anchorframe._engine.portal import run_in_portal

    if docs_root() is None:
        log("orchestrator: skipped, no documentation here (apt-get install python3.11-doc)")
        return {"skipped": "no Sphinx documentation here: apt-get install python3.11-doc"}
    with DocsServer() as site:
        return run_in_portal(orchestrator_cpu(site, scale, log))


def orchestrator_report(data: dict[str, Any]) -> list[str]:
    """The markdown section of ``benchmarks/results.md``."""
    from anchorframe._core.plan import ORCHESTRATOR_MS_PER_PAGE

    if "skipped" in data:
        return ["## 8. Orchestrator CPU per page on real-sized pages", "", f"Skipped: {data['skipped']}.", ""]
    lines = [
        "## 8. Orchestrator CPU per page on real-sized pages (CPython's docs, 20-700 KB)",
        "",
        f'1 session x {data["tabs"]} tabs, `extract=` of the docs\' fields, `render="browser"`, the same '
        f"Chromium and pages, {data['rounds']} interleaved rounds; medians (ratios taken within each round). "
        "CPU per page in ms; orchestrator = Python + driver.",
        "",
        "| pages | contender | Python | driver | orchestrator | Chromium | pages/s | own figure "
        "| rows right |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for kind, summary in data["summary"].items():
        for name, m in summary["medians"].items():
            own = f"{m['own_ms']:.1f}" if m.get("own_ms") is not None else "-"
            lines.append(
                f"| {kind} | {name} | {m['python_ms']:.1f} | {m['driver_ms']:.1f} | "
                f"**{m['orchestrator_ms']:.1f}** | {m['chromium_ms']:.1f} | {m['pages_per_s']:.1f} | {own} | "
                f"{m['correct']:.0f} of {m['pages']:.0f} |"
            )
    lines.append("")
    for kind, summary in data["summary"].items():
        r, spread, interval = summary["af_over_tuned"], summary.get("spread", {}), summary.get("interval", {})

        def ratio(
            key: str,
            r: dict[str, float] = r,
            spread: dict[str, Any] = spread,
            interval: dict[str, Any] = interval,
        ) -> str:
            low, high = spread.get(key, (r[key], r[key]))
            within = interval.get(key)
            told = (
                f"; 95 % interval {within[0]:.2f}-{within[1]:.2f}, {verdict(within)}"
                if within
                else f"; no interval under {INTERVAL_ROUNDS} rounds"
            )
            return f"x{r[key]:.2f} (rounds {low:.2f}-{high:.2f}{told})"

        lines += [
            f"* {kind}, anchorframe / tuned:",
            f"  * orchestrator {ratio('orchestrator_ms')} (goal: <= 1.0)",
            f"  * Python {ratio('python_ms')} (goal: <= 1.3)",
            f"  * pages/s {ratio('pages_per_s')} (goal: >= 1.0)",
            f"  * Chromium {ratio('chromium_ms')}",
        ]
    static = data["summary"]["static"]["medians"]["anchorframe"]["orchestrator_ms"]
    lines += [
        f"* the plan's figure: {ORCHESTRATOR_MS_PER_PAGE:g} ms/page "
        f"({ORCHESTRATOR_MS_PER_PAGE / static:.2f}x the measured {static:.1f} on static pages; within 20 %: "
        f"{'yes' if abs(ORCHESTRATOR_MS_PER_PAGE / static - 1) <= 0.2 else 'no'})",
        "",
    ]
    return lines


async def _profile_target(site: DocsServer, pages: int, rounds: int) -> None:
    """anchorframe alone on ``pages`` static pages, ``rounds`` times: what a profiler samples."""
    browsers = await launch_browsers(1)
    try:
        paths, run = docs_pages(pages), _anchorframe([browsers[0].cdp_url], "static")
        await run([site.url(p + "?warm") for p in paths[:8]])
        cpu = _CPU(browsers[0].pid, site.pid)
        for number in range(rounds):
            row = await _measure(cpu, run, [site.url(f"{p}?p={number}") for p in paths])
            row.pop("values")
            print("anchorframe: " + _brief(row), flush=True)
    finally:
        for browser in browsers:
            await browser.end()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--js-pages", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument(
        "--profile-target",
        action="store_true",
        help="run anchorframe alone (for py-spy: py-spy record --gil -f raw -o prof.txt -- python -m "
        "benchmarks.orchestrator --profile-target)",
    )
    args = parser.parse_args()
    if args.profile_target:
        from anchorframe._engine.portal import run_in_portal

        with DocsServer() as site:
            run_in_portal(_profile_target(site, args.pages, args.rounds))
        return
    scale = {
        "orchestrator_pages": args.pages,
        "orchestrator_js_pages": args.js_pages if args.js_pages is not None else args.pages,
        "orchestrator_rounds": args.rounds,
    }
    data = run_orchestrator(scale, log=lambda m: print(m, flush=True))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(data, out, indent=1)
    print("\n".join(orchestrator_report(data)))


if __name__ == "__main__":
    main()
