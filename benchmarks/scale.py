"""Scale-out benchmarks: what a page costs the orchestrator, and workers=1 vs workers=2.

1. **Orchestrator CPU per page** (this Python process + its Playwright Node driver,
   ms of CPU per page; the browser's own CPU is not counted): anchorframe with
   ``extract=`` and with a plain callable, the tuned hand-written script
   (``benchmarks/scripts.py``) and a raw-CDP lower bound (a minimal client on
   ``websockets``: ``Page.navigate`` + one ``Runtime.evaluate`` per page, no driver),
   all on the same Chromium and pages in one run. Python's CPU is ``os.times()`` of
   this process; the driver's is the ``children`` CPU of ``os.times()``: the driver is
   the only child that ends (and is reaped) inside the measured window (Chromium and
   the corpus server outlive it). ``_plan.ORCHESTRATOR_MS_PER_PAGE`` comes from here.
2. **workers=1 vs workers=2** on a workload where the orchestrator is the bottleneck:
   static pages with images, fonts and media blocked (Chromium has little to do), and
   a callable that reads the page's HTML and parses it in Python (``html.parser``,
   repeated to ``PARSE_SECONDS`` of CPU per page, as scrapers that post-process in Python do).
   One process then spends its core in Python while its Chromium idles; a second
   process (its own Chromium, driver and event loop) adds a second core.
"""

from __future__ import annotations

import asyncio
import html.parser
import json
import os
import time
import urllib.request
from typing import Any

import anchorframe as af

from .browsers import SharedBackend, launch_browsers
from .corpus import CorpusServer
from .scripts import FIELDS, WAIT_JS, tuned_script

__all__ = ["run_scale", "scale_report"]

TABS = 4
#: Python CPU per page of the orchestrator-bound workload (post-processing in Python).
PARSE_SECONDS = 0.06


def _cpu() -> tuple[float, float]:
    """(CPU seconds of this process, CPU seconds of its reaped children)."""
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system


async def _measure(pages: int, run: Any, log: Any = print, name: str = "") -> dict[str, float]:
    log(f"scale: {name} ...")
    own0, kids0 = _cpu()
    started = time.perf_counter()
    try:
        await asyncio.wait_for(run(), 120)
    except Exception as exc:  # one contender failing must not lose the others' figures
        log(f"scale: {name} failed: {type(exc).__name__}: {exc}")
        nan = float("nan")
        return {"python_ms": nan, "driver_ms": nan, "total_ms": nan, "pages_per_s": nan}
    seconds = time.perf_counter() - started
    own1, kids1 = _cpu()
    python_ms, driver_ms = (own1 - own0) * 1000 / pages, (kids1 - kids0) * 1000 / pages
    return {
        "python_ms": python_ms,
        "driver_ms": driver_ms,
        "total_ms": python_ms + driver_ms,
        "pages_per_s": pages / seconds,
    }


async def plain_callable(page: Any, row: Any) -> dict[str, str]:
    await page.goto(row.url, wait_until="domcontentloaded")
    await page.wait_for_selector(".price")
    return {name: await page.inner_text(selector) for name, selector in FIELDS.items()}


async def raw_cdp(urls: list[str], cdp_url: str, tabs: int) -> None:
    """A lower bound: CDP over one websocket, no Playwright driver, one evaluate per page."""
    import websockets

    endpoint = cdp_url if cdp_url.startswith("ws") else await asyncio.to_thread(_browser_endpoint, cdp_url)
    fields = [[name, selector] for name, selector in FIELDS.items()]
    expression = f"({WAIT_JS})({json.dumps(fields)})"
    async with websockets.connect(endpoint, max_size=None) as ws:
        counter = iter(range(1, 1 << 30))
        waiting: dict[int, asyncio.Future[Any]] = {}
        loaded: dict[str, asyncio.Event] = {}

        async def call(method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
            number = next(counter)
            message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
            if session:
                message["sessionId"] = session
            future = waiting[number] = asyncio.get_running_loop().create_future()
            try:
                await ws.send(json.dumps(message))
                return await future
            finally:
                waiting.pop(number, None)

        async def read() -> None:
            async for text in ws:
                message = json.loads(text)
                future = waiting.get(message.get("id", -1))
                if future is not None and not future.done():
                    if "error" in message:
                        future.set_exception(RuntimeError(str(message["error"])))
                    else:
                        future.set_result(message.get("result"))
                elif message.get("method") == "Page.domContentEventFired":
                    event = loaded.get(message.get("sessionId", ""))
                    if event is not None:
                        event.set()

        reader = asyncio.ensure_future(read())
        queue = list(urls)

        async def tab() -> None:
            target = (await call("Target.createTarget", {"url": "about:blank"}))["targetId"]
            session = (await call("Target.attachToTarget", {"targetId": target, "flatten": True}))[
                "sessionId"
            ]
            loaded[session] = asyncio.Event()
            await call("Page.enable", session=session)
            while queue:
                url = queue.pop()
                loaded[session].clear()
                await call("Page.navigate", {"url": url}, session)
                await loaded[session].wait()
                evaluate = {"expression": expression, "awaitPromise": True, "returnByValue": True}
                await call("Runtime.evaluate", evaluate, session)
            await call("Target.closeTarget", {"targetId": target})

        await asyncio.gather(*(tab() for _ in range(tabs)))
        reader.cancel()


def _browser_endpoint(cdp_url: str) -> str:
    with urllib.request.urlopen(f"{cdp_url}/json/version") as answer:
        return str(json.load(answer)["webSocketDebuggerUrl"])


class _Parser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags += 1


async def parse_in_python(page: Any, row: Any) -> dict[str, int]:
    """Orchestrator-bound: the page's HTML parsed in Python, ``PARSE_SECONDS`` of CPU per page."""
    await page.goto(row.url, wait_until="domcontentloaded")
    text = await page.content()
    tags = 0
    deadline = time.process_time() + PARSE_SECONDS
    while time.process_time() < deadline:
        parser = _Parser()
        parser.feed(text)
        tags = parser.tags
    return {"tags": tags}


async def orchestrator_cpu(site: CorpusServer, pages: int, log: Any = print) -> dict[str, dict[str, float]]:
    browsers = await launch_browsers(1)
    cdp = [browsers[0].cdp_url]
    urls = [site.url(f"/static/{n % 300}") for n in range(pages)]
    common = {"backend": SharedBackend(cdp), "sessions": 1, "tabs": TABS, "progress": False}
    out: dict[str, dict[str, float]] = {}
    try:
        await af.ascrape(urls[:8], extract=FIELDS, **common)  # warm-up (imports, the browser's caches)
        runs = {
            "extract=": lambda: af.ascrape(urls, extract=FIELDS, **common),
            "plain callable": lambda: af.ascrape(urls, plain_callable, **common),
            "tuned script": lambda: tuned_script(urls, cdp, TABS),
            "raw CDP": lambda: raw_cdp(urls, cdp[0], TABS),
        }
        for name, run in runs.items():
            out[name] = await _measure(pages, run, log, name)
            log(f"scale: {name}: {out[name]}")
    finally:
        for browser in browsers:
            await browser.end()
    return out


def workers_speedup(site: CorpusServer, pages: int) -> dict[str, Any]:
    urls = [site.url(f"/static/{n % 300}?w={n}") for n in range(pages)]
    out: dict[str, Any] = {}
    for workers in (1, 2):
        result = af.scrape(
            urls, parse_in_python, backend="local", workers=workers, sessions=workers, tabs=TABS,
            block=True, progress=False,
        )  # fmt: skip
        ok = int((result.results["af_status"] == "ok").sum())
        # Steady state: from the first result to the last, so that starting the shard processes
        # and their Chromium (a few seconds, once per run) is not what is compared.
        steady = result.elapsed - (result.first_result_s or 0.0)
        out[f"workers={workers}"] = {
            "pages_per_s": (ok - 1) / steady if steady > 0 else float("nan"),
            "overall_pages_per_s": ok / result.elapsed,
            "seconds": result.elapsed,
            "ok": ok,
        }
    out["ratio"] = out["workers=2"]["pages_per_s"] / out["workers=1"]["pages_per_s"]
    return out


def run_scale(scale: dict[str, Any], log: Any = print) -> dict[str, Any]:
    """Both measurements; ``scale["scale_pages"]`` pages each."""
    from anchorframe._engine.portal import run_in_portal

    pages = int(scale.get("scale_pages", 200))
    with CorpusServer() as site:
        log("scale: orchestrator CPU per page ...")
        cpu = run_in_portal(orchestrator_cpu(site, pages, log))
        log("scale: workers=1 vs workers=2 ...")
        speed = workers_speedup(site, pages)
        log(f"scale: {speed}")
    return {"pages": pages, "cpu": cpu, "workers": speed}


def scale_report(data: dict[str, Any]) -> list[str]:
    """The markdown section of ``benchmarks/results.md``."""
    lines = [
        f"## 6. Scale out: orchestrator CPU per page, workers=1 vs 2 ({data['pages']} pages each)",
        "",
        "CPU this process and its Playwright driver spend per page (ms; the browser's own CPU is "
        "not counted), same Chromium and pages, one run:",
        "",
        "| contender | Python ms | driver ms | total ms/page | pages/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in data["cpu"].items():
        lines.append(
            f"| {name} | {row['python_ms']:.1f} | {row['driver_ms']:.1f} | {row['total_ms']:.1f} "
            f"| {row['pages_per_s']:.1f} |"
        )
    w = data["workers"]
    lines += [
        "",
        f"Orchestrator-bound workload (blocked sub-resources, {PARSE_SECONDS * 1000:.0f} ms of Python "
        "parsing per page), steady state (first to last result): "
        f"workers=1 {w['workers=1']['pages_per_s']:.1f} pages/s, workers=2 "
        f"{w['workers=2']['pages_per_s']:.1f} pages/s: **x{w['ratio']:.2f}** (with start-up: "
        f"{w['workers=1']['overall_pages_per_s']:.1f} vs {w['workers=2']['overall_pages_per_s']:.1f}).",
        "",
    ]
    return lines


if __name__ == "__main__":
    result = run_scale(
        {"scale_pages": int(os.environ.get("SCALE_PAGES", "200"))}, log=lambda m: print(m, flush=True)
    )
    print(json.dumps(result, indent=1))
    print("\n".join(scale_report(result)))
