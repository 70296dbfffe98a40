"""The measurements. Each returns plain data (dicts and lists) for the report.

Every comparison runs its contenders in the same process, against the same
Chromium processes and corpus, in rotating order (A B C, B C A, C A B...), and
takes each ratio within one round before the median over rounds: the machine is
shared and noisy, and a ratio of two medians taken minutes apart would hide that.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pandas as pd

import anchorframe as af
from anchorframe.backends.fake import FakeBackend

from .browsers import SharedBackend, launch_browsers
from .corpus import CorpusServer, expected, paths
from .scripts import FIELDS, plain_script, tuned_script

Contender = Callable[[list[str], list[str], int], Awaitable[tuple[list[Any], float, float]]]

CONFIGS: tuple[tuple[int, int], ...] = ((1, 1), (1, 4), (2, 2), (2, 4))


# --------------------------------------------------------------------- contenders
def af_contender(fn: Any = None, **options: Any) -> Contender:
    """anchorframe on the shared browsers: ``extract=FIELDS`` unless ``fn`` is given."""

    async def run(urls: list[str], cdp_urls: list[str], tabs: int) -> tuple[list[Any], float, float]:
        started = time.perf_counter()
        kwargs: dict[str, Any] = {"extract": FIELDS} if fn is None else {}
        result = await af.ascrape(
            pd.DataFrame({"url": urls}),
            fn,
            backend=SharedBackend(cdp_urls),
            sessions=len(cdp_urls),
            tabs=tabs,
            progress=False,
            **kwargs,
            **options,
        )
        elapsed = time.perf_counter() - started
        frame = result.results
        values = [
            {name: row[name] for name in FIELDS} if status == "ok" else None
            for row, status in zip(frame.to_dict("records"), frame["af_status"], strict=True)
        ]
        # The engine times the first row from its own start; input checks before it take < 1 ms here.
        return values, result.first_result_s or float("nan"), elapsed

    return run


async def user_callable(page: Any, row: Any) -> dict[str, str]:
    """A callable written the plain way (the body of the plain script's loop)."""
    await page.goto(row.url)
    await page.wait_for_selector(".price")
    return {name: await page.inner_text(selector) for name, selector in FIELDS.items()}


async def by_row(page: Any, row: Any) -> dict[str, int]:
    """A callable that never touches the page: what the engine itself costs per row."""
    return {"n": row.position}


# ------------------------------------------------------------------------ helpers
def _median(values: Sequence[float]) -> float:
    clean = [v for v in values if v == v]
    return statistics.median(clean) if clean else float("nan")


def _correct(base_paths: list[str], values: list[Any]) -> int:
    return sum(1 for p, v in zip(base_paths, values, strict=True) if v == expected(p))


async def _rounds(
    contenders: dict[str, Contender],
    make_urls: Callable[[int], tuple[list[str], list[str]]],
    cdp_urls: list[str],
    tabs: int,
    reps: int,
) -> list[dict[str, Any]]:
    """``reps`` rounds; each runs every contender once, the order rotated per round."""
    names = list(contenders)
    rounds = []
    for rep in range(reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        base_paths, urls = make_urls(rep)
        runs = {}
        for name in order:
            values, first, elapsed = await contenders[name](urls, cdp_urls, tabs)
            runs[name] = {
                "pages": len(urls),
                "seconds": elapsed,
                "pages_per_s": len(urls) / elapsed,
                "first_s": first,
                "correct": _correct(base_paths, values),
            }
        rounds.append({"order": order, "runs": runs})
    return rounds


def _summarise(rounds: list[dict[str, Any]], subject: str, against: Sequence[str]) -> dict[str, Any]:
    names = list(rounds[0]["runs"])
    out: dict[str, Any] = {
        name: {
            "pages_per_s": _median([r["runs"][name]["pages_per_s"] for r in rounds]),
            "first_s": _median([r["runs"][name]["first_s"] for r in rounds]),
            "correct": min(r["runs"][name]["correct"] for r in rounds),
            "pages": rounds[0]["runs"][name]["pages"],
        }
        for name in names
    }
    for other in against:
        out[f"ratio_vs_{other}"] = _median(
            [r["runs"][subject]["pages_per_s"] / r["runs"][other]["pages_per_s"] for r in rounds]
        )
        out[f"first_ratio_vs_{other}"] = _median(
            [r["runs"][subject]["first_s"] / r["runs"][other]["first_s"] for r in rounds]
        )
    return out


def _url_maker(site: CorpusServer, count: int, salt: int) -> Callable[[int], tuple[list[str], list[str]]]:
    def make(rep: int) -> tuple[list[str], list[str]]:
        # A different slice of the corpus per round: no contender sees a page twice in a row.
        base = paths(count, start=(salt * 97 + rep * count) % 600)
        return base, [site.url(p) for p in base]

    return make


# -------------------------------------------------------------------- 1, 2: throughput
async def throughput(site: CorpusServer, browsers: list[Any], scale: dict[str, Any]) -> dict[str, Any]:
    """pages/s and time to first result: anchorframe's defaults vs the two scripts."""
    contenders: dict[str, Contender] = {
        "anchorframe": af_contender(),
        "plain script": plain_script,
        "tuned script": tuned_script,
    }
    cdp = [b.cdp_url for b in browsers]
    if scale["warm_up"]:
        # The first navigations of a fresh browser start its renderer processes: nobody pays that.
        await _rounds(contenders, _url_maker(site, 4, 99), cdp[:2], 2, 1)
    out: dict[str, Any] = {"configs": {}}
    for index, (sessions, tabs) in enumerate(scale["configs"]):
        count = min(scale["max_pages"], max(scale["min_pages"], sessions * tabs * scale["pages_per_worker"]))
        if scale["warm_up"]:
            # Untimed: lets the browsers settle after the previous configuration (renderers of
            # closed pages exiting), which would otherwise tax whoever runs first.
            await tuned_script([site.url(p) for p in paths(4, 500)], cdp[:sessions], tabs)
        rounds = await _rounds(
            contenders, _url_maker(site, count, index), cdp[:sessions], tabs, scale["reps"]
        )
        out["configs"][f"{sessions}x{tabs}"] = {
            "sessions": sessions,
            "tabs": tabs,
            "rounds": rounds,
            "summary": _summarise(rounds, "anchorframe", ["plain script", "tuned script"]),
        }
    return out


# ---------------------------------------------------------------------- 6: options
async def options(site: CorpusServer, browsers: list[Any], scale: dict[str, Any]) -> dict[str, Any]:
    """What page reuse and blocking buy at 1 session x 4 tabs, for extract= and for a user callable."""
    contenders: dict[str, Contender] = {
        "extract= (defaults: page kept per tab)": af_contender(),
        "extract=, reuse_pages=False": af_contender(reuse_pages=False),
        "extract=, block=True (image, font, media)": af_contender(block=True),
        "your callable (default: new page per row)": af_contender(user_callable),
        "your callable, reuse_pages=True": af_contender(user_callable, reuse_pages=True),
        "your callable, block=True": af_contender(user_callable, block=True),
    }
    if scale["options_variants"]:
        keep = [*list(contenders)[: scale["options_variants"]], "your callable (default: new page per row)"]
        contenders = {name: contenders[name] for name in keep}
    count = scale["options_pages"]
    rounds = await _rounds(contenders, _url_maker(site, count, 7), [browsers[0].cdp_url], 4, scale["reps"])
    first = next(iter(contenders))
    baseline = "your callable (default: new page per row)"
    return {
        "rounds": rounds,
        "summary": _summarise(rounds, first, []),
        "vs_default": {
            name: _median(
                [
                    r["runs"][name]["pages_per_s"]
                    / r["runs"][baseline if name.startswith("your") else first]["pages_per_s"]
                    for r in rounds
                ]
            )
            for name in contenders
        },
    }


# --------------------------------------------------------------------- 3: overhead
async def overhead(browsers: list[Any], scale: dict[str, Any]) -> dict[str, Any]:
    """Rows through the in-memory FakeBackend, frames included (1 session x 4 tabs).

    Every row gets a page, as in a real run (a fake page: opening, calling and closing
    it costs no browser work), so what is timed is anchorframe's own cost per row.
    """
    rows = scale["overhead_rows"]
    frame = pd.DataFrame({"url": [f"http://127.0.0.1:9/item/{i}" for i in range(rows)]})
    backend = FakeBackend()

    async def once(data: pd.DataFrame) -> tuple[float, Any]:
        started = time.perf_counter()
        result = await af.ascrape(data, by_row, backend=backend, sessions=1, tabs=4, progress=False)
        return time.perf_counter() - started, result

    timings = []
    for _ in range(scale["overhead_reps"]):
        seconds, result = await once(frame)
        assert (result.results["af_status"] == "ok").all()
        timings.append(seconds)
    # Fixed start-up measured apart: one row.
    fixed = [(await once(frame.head(1)))[0] for _ in range(scale["overhead_reps"])]
    profile = cProfile.Profile()
    profile.enable()
    profiled_seconds, _ = await once(frame)
    profile.disable()
    seconds = _median(timings)
    return {
        "rows": rows,
        "backend": backend.describe(),
        "seconds": seconds,
        "runs": timings,
        "fixed_seconds": _median(fixed),
        "us_per_row": seconds / rows * 1e6,
        "us_per_row_marginal": max(0.0, seconds - _median(fixed)) / rows * 1e6,
        "profiled_seconds": profiled_seconds,
        "profile_phases": _phases(profile),
        "profile_top": _top(profile, 18),
    }


_PHASES = {
    "input checks (prepare_input)": ("_core/table.py", "prepare_input"),
    "engine run (queue, tabs, sessions)": ("_engine/engine.py", "run"),
    "tab loops (Engine._tab)": ("_engine/engine.py", "_tab"),
    "one row on a tab (Tab.run)": ("_engine/tabs.py", "run"),
    "ledger decisions (start/succeeded)": ("_engine/ledger.py", "succeeded"),
    "results frame (results_frame)": ("_core/frames.py", "results_frame"),
}


def _phases(profile: cProfile.Profile) -> dict[str, float]:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    out = {}
    for label, (filename, function) in _PHASES.items():
        out[label] = sum(
            value[3]
            for (path, _, name), value in stats.items()
            if path.endswith(filename) and name == function
        )
    return out


def _top(profile: cProfile.Profile, limit: int) -> str:
    buffer = io.StringIO()
    stats = pstats.Stats(profile, stream=buffer)
    stats.sort_stats("tottime").print_stats(limit)
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(
        line.replace(os.getcwd() + "/", "").replace(sys.prefix, "<python>") for line in lines[start:]
    )


# ----------------------------------------------------------------------- 4: memory
def memory(scale: dict[str, Any]) -> dict[str, Any]:
    """Peak RSS of a fresh process scraping N rows (callable that never touches the page)."""
    out = {}
    for rows in scale["memory_rows"]:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", str(rows)],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        out[str(rows)] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# ----------------------------------------------------------------- 5: provisioning
async def provisioning(scale: dict[str, Any]) -> dict[str, Any]:
    """Seconds until the first and the last of 4 sessions can be driven over CDP."""
    from playwright.async_api import async_playwright

    count = scale["provision_sessions"]
    out: dict[str, Any] = {"sessions": count}
    async with async_playwright() as playwright:
        out["local"] = await _provision_rounds(playwright, af.LocalBackend(), scale["provision_reps"], count)
        if not scale["provision_emulator"]:
            out["emulator"] = {"skipped": "not at this scale"}
            return out
        try:
            from anchorframe.emulator import Emulator
        except ImportError as exc:
            out["emulator"] = {"skipped": f"anchorframe.emulator is not importable yet ({exc})."}
            return out
        with Emulator(seed=1) as emu:
            try:
                if not scale["provision_anchor_backend"]:
                    raise RuntimeError("not at this scale")
                from anchorframe.backends.anchor import AnchorBackend

                backend = AnchorBackend(emu.api_key, base_url=emu.base_url)
            except Exception as exc:  # the backend is being built alongside; the raw API still counts
                out["emulator (AnchorBackend, default polling)"] = {"skipped": f"AnchorBackend: {exc}"}
            else:
                out["emulator (AnchorBackend, default polling)"] = await _provision_rounds(
                    playwright, backend, scale["provision_reps"], count
                )
            out["emulator (REST API, 50 ms polls)"] = await _raw_api_rounds(
                playwright, emu, scale["provision_reps"], count
            )
    return out


async def _provision_rounds(playwright: Any, backend: Any, reps: int, count: int) -> dict[str, Any]:
    firsts, lasts = [], []
    for rep in range(reps):
        ready: list[float] = []
        started = time.perf_counter()
        async with backend.open_pool(f"bench{rep}") as pool:
            async for item in pool.provision(count):
                cdp_url = getattr(item, "cdp_url", None)
                if cdp_url:
                    browser = await playwright.chromium.connect_over_cdp(cdp_url)
                    ready.append(time.perf_counter() - started)
                    await browser.close()
        firsts.append(min(ready) if ready else float("nan"))
        lasts.append(max(ready) if len(ready) == count else float("nan"))
    return {"first_s": _median(firsts), "last_s": _median(lasts), "firsts": firsts, "lasts": lasts}


async def _raw_api_rounds(playwright: Any, emu: Any, reps: int, count: int) -> dict[str, Any]:
    from anchorframe.client import AsyncAnchorClient

    firsts, lasts = [], []
    async with AsyncAnchorClient(emu.api_key, base_url=emu.base_url) as client:
        for _ in range(reps):
            started = time.perf_counter()
            created = await client.create_batch(count)
            ready: dict[str, float] = {}
            while len(ready) < count and time.perf_counter() - started < 120:
                batch = await client.get_batch(created.batch_id)
                for item in batch.ready_sessions:
                    if item.session_id not in ready:
                        browser = await playwright.chromium.connect_over_cdp(item.cdp_url)
                        ready[item.session_id or ""] = time.perf_counter() - started
                        await browser.close()
                if batch.is_terminal and len(ready) < count:
                    break
                await asyncio.sleep(0.05)
            for session_id in ready:
                with contextlib.suppress(Exception):
                    await client.end_session(session_id)
            firsts.append(min(ready.values()) if ready else float("nan"))
            lasts.append(max(ready.values()) if len(ready) == count else float("nan"))
    return {"first_s": _median(firsts), "last_s": _median(lasts), "firsts": firsts, "lasts": lasts}


# -------------------------------------------------------------------- everything
async def run_browser_suites(
    sections: set[str], scale: dict[str, Any], log: Callable[[str], None]
) -> dict[str, Any]:
    """Throughput, options and overhead share one corpus server and two Chromium processes."""
    out: dict[str, Any] = {}
    browsers = await launch_browsers(2)
    try:
        with CorpusServer() as site:
            if "throughput" in sections:
                log("throughput and first result ...")
                out["throughput"] = await throughput(site, browsers, scale)
            if "options" in sections:
                log("options ...")
                out["options"] = await options(site, browsers, scale)
        if "overhead" in sections:
            log("engine overhead ...")
            out["overhead"] = await overhead(browsers, scale)
    finally:
        await asyncio.gather(*(b.end() for b in browsers), return_exceptions=True)
    return out
