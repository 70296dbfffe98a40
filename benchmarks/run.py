"""Reproduce every benchmark figure: ``python -m benchmarks [--quick | --smoke]``.

Writes ``results.md`` and ``results.json`` (to ``--out``, default this folder) and
prints the Markdown. Hold the machine's browser lock while it runs, so that no
other browser suite shares the cores:
``flock /tmp/anchorframe-browser.lock python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

from anchorframe._engine.portal import run_in_portal

from . import suites

SECTIONS = ("throughput", "options", "overhead", "memory", "provisioning", "scale", "render", "orchestrator")

SCALES: dict[str, dict[str, Any]] = {
    # ~6-8 minutes on 2 shared cores.
    "full": {
        "configs": suites.CONFIGS,
        "pages_per_worker": 8,
        "min_pages": 16,
        "max_pages": 40,
        "reps": 3,
        "options_pages": 24,
        "overhead_rows": 100_000,
        "overhead_reps": 3,
        "memory_rows": (10_000, 100_000),
        "provision_reps": 3,
        "provision_sessions": 4,
        "provision_emulator": True,
        "provision_anchor_backend": True,
        "warm_up": True,
        "options_variants": None,
        "scale_pages": 300,
        "render_pages": {"static": 300, "js": 120, "mixed": 300},
        "render_reps": 3,
        "docs_pages": 200,
        "orchestrator_pages": 200,
        "orchestrator_js_pages": 200,  # as many as static: a run's fixed cost weighs the same on both
        "orchestrator_rounds": 5,  # the CPU per page of both contenders moves ~20 % round to round
    },
    # ~2 minutes: every section, one round, smaller samples.
    "quick": {
        "configs": suites.CONFIGS,
        "pages_per_worker": 4,
        "min_pages": 8,
        "max_pages": 16,
        "reps": 1,
        "options_pages": 16,
        "overhead_rows": 20_000,
        "overhead_reps": 1,
        "memory_rows": (2_000, 20_000),
        "provision_reps": 1,
        "provision_sessions": 4,
        "provision_emulator": True,
        "provision_anchor_backend": True,
        "warm_up": True,
        "options_variants": None,
        "scale_pages": 100,
        "render_pages": {"static": 150, "js": 60, "mixed": 150},
        "render_reps": 1,
        "docs_pages": 100,
        "orchestrator_pages": 100,
        "orchestrator_js_pages": 50,
        "orchestrator_rounds": 1,
    },
    # Seconds: the harness itself, for tests/test_benchmarks_smoke.py. Figures mean nothing.
    "smoke": {
        "configs": ((1, 2),),
        "pages_per_worker": 1,
        "min_pages": 2,
        "max_pages": 4,
        "reps": 1,
        "options_pages": 4,
        "overhead_rows": 200,
        "overhead_reps": 1,
        "memory_rows": (200,),
        "provision_reps": 1,
        "provision_sessions": 1,
        "provision_emulator": True,
        "provision_anchor_backend": False,
        "warm_up": False,
        "options_variants": 1,
        "scale_pages": 8,
        "render_pages": {"static": 6, "js": 3, "mixed": 6},
        "render_reps": 1,
        "docs_pages": 8,
        "orchestrator_pages": 12,
        "orchestrator_js_pages": 4,
        "orchestrator_rounds": 1,
    },
}

TARGETS = {
    "throughput_vs_tuned": 0.95,
    "throughput_vs_plain": 1.5,
    "first_vs_plain": 1.10,
    "overhead_seconds": 5.0,
}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        chromium = subprocess.run(
            ["/usr/bin/chromium", "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except OSError:
        chromium = "?"
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gb": round(memory_gb, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "pandas": version("pandas"),
        "playwright": version("playwright"),
        "chromium": chromium,
        "load_average": os.getloadavg(),
    }


def run(scale_name: str, sections: set[str], log: Any = print) -> dict[str, Any]:
    scale = SCALES[scale_name]
    started = time.perf_counter()
    out: dict[str, Any] = {
        "scale": scale_name,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    browser_sections = sections & {"throughput", "options", "overhead"}
    if browser_sections:
        out.update(run_in_portal(suites.run_browser_suites(browser_sections, scale, log)))
    if "memory" in sections:
        log("memory ...")
        out["memory"] = suites.memory(scale)
    if "provisioning" in sections:
        log("provisioning ...")
        out["provisioning"] = run_in_portal(suites.provisioning(scale))
    if "scale" in sections:
        from .scale import run_scale  # section 6: benchmarks/scale.py

        # Not "scale": that key names the scale (full, quick, smoke) the figures were run at.
        out["scale_out"] = run_scale(scale, log)
    if "render" in sections:
        from .render import run_render  # section 7: benchmarks/render.py

        out["render"] = run_render(scale, log)
    if "orchestrator" in sections:
        from .orchestrator import run_orchestrator  # section 8: benchmarks/orchestrator.py

        out["orchestrator"] = run_orchestrator(scale, log)
    log("done")
    out["machine"]["load_average_end"] = os.getloadavg()
    out["seconds"] = time.perf_counter() - started
    return out


# ------------------------------------------------------------------------- report
def _f(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def report(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        "# anchorframe benchmarks",
        "",
        f"Scale `{data['scale']}`, {data['date']}, {data.get('seconds', 0):.0f} s in all. "
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}; "
        f"Python {m['python']}, pandas {m['pandas']}, Playwright {m['playwright']}, {m['chromium']}. "
        f"Load average at start {m['load_average'][0]:.1f}, at end {m.get('load_average_end', [0])[0]:.1f} "
        "(other work on the machine adds noise; ratios are taken within each round).",
        "",
    ]
    if "throughput" in data:
        lines += [
            "## 1-2. Throughput and time to first result",
            "",
            "Same Chromium processes over CDP, same tabs, same pages (half static, half rendered by "
            "JavaScript 200 ms after load), rounds interleaved; medians of per-round values. "
            "anchorframe runs its defaults: "
            "`af.scrape(df, extract={name: h1, price: .price, stock: .stock})`.",
            "",
            "| sessions x tabs | pages/round | anchorframe p/s | plain script p/s | tuned script p/s "
            "| af / plain | af / tuned (>= 0.95) | first result af / plain / tuned (s) "
            "| af first / plain first (<= 1.10) | af first / tuned first | rows correct af/plain/tuned |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, config in data["throughput"]["configs"].items():
            s = config["summary"]
            a, p, t = s["anchorframe"], s["plain script"], s["tuned script"]
            vs_tuned = s["ratio_vs_tuned script"]
            first_plain = s["first_ratio_vs_plain script"]
            lines.append(
                f"| {name} | {a['pages']} | {_f(a['pages_per_s'], 1)} | {_f(p['pages_per_s'], 1)} "
                f"| {_f(t['pages_per_s'], 1)} | {_f(s['ratio_vs_plain script'])} "
                f"| {_f(vs_tuned)} {_mark(vs_tuned >= TARGETS['throughput_vs_tuned'])} "
                f"| {_f(a['first_s'])} / {_f(p['first_s'])} / {_f(t['first_s'])} "
                f"| {_f(first_plain)} {_mark(first_plain <= TARGETS['first_vs_plain'])} "
                f"| {_f(s['first_ratio_vs_tuned script'])} "
                f"| {a['correct']}/{p['correct']}/{t['correct']} of {a['pages']} |"
            )
        lines.append("")
    if "options" in data:
        o = data["options"]
        lines += [
            "## 6. Options (1 session x 4 tabs)",
            "",
            "Each variant relative to its default in the same round (extract= variants against "
            "extract= defaults; callable variants against a callable with defaults).",
            "",
            "| variant | pages/s | x default | first result (s) | rows correct |",
            "|---|---|---|---|---|",
        ]
        for name, s in o["summary"].items():
            if not isinstance(s, dict):
                continue
            lines.append(
                f"| {name} | {_f(s['pages_per_s'], 1)} | {_f(o['vs_default'][name])} "
                f"| {_f(s['first_s'])} | {s['correct']} of {s['pages']} |"
            )
        lines.append("")
    if "overhead" in data:
        o = data["overhead"]
        lines += [
            "## 3. Engine overhead",
            "",
            f"{o['rows']:,} unique rows through `async def by_row(page, row): return {{'n': row.position}}`, "
            "1 session x 4 tabs, input checks and result frames included.",
            "",
            "| rows | seconds (median) | target < 5 s (100k) | us/row | fixed start-up (1 row) "
            "| us/row beyond start-up |",
            "|---|---|---|---|---|---|",
            f"| {o['rows']:,} | {_f(o['seconds'])} | {_mark(o['seconds'] < TARGETS['overhead_seconds'])} "
            f"| {_f(o['us_per_row'], 1)} | {_f(o['fixed_seconds'])} s | {_f(o['us_per_row_marginal'], 1)} |",
            "",
            f"Where the time goes (cProfile, one run: {_f(o['profiled_seconds'])} s under the profiler; "
            "cumulative seconds, phases overlap):",
            "",
            "| phase | seconds |",
            "|---|---|",
        ]
        lines += [f"| {label} | {_f(value)} |" for label, value in o["profile_phases"].items()]
        lines += [
            "",
            "<details><summary>Top functions by own time</summary>",
            "",
            "```",
            o["profile_top"],
            "```",
            "",
            "</details>",
            "",
        ]
    if "memory" in data:
        lines += [
            "## 4. Memory",
            "",
            "Peak RSS of a fresh Python process (Chromium excluded) scraping N rows with the callable "
            "above; growth is peak minus RSS before the run (input frame built, warm-up run done).",
            "",
            "| rows | RSS before (MB) | peak (MB) | growth (MB) | results frame (MB) "
            "| growth per row (bytes) | results per row (bytes) |",
            "|---|---|---|---|---|---|---|",
        ]
        for rows, mem in data["memory"].items():
            n = int(rows)
            lines.append(
                f"| {n:,} | {_f(mem['rss_before_mb'], 1)} | {_f(mem['peak_mb'], 1)} "
                f"| {_f(mem['growth_mb'], 1)} "
                f"| {_f(mem['results_mb'], 1)} | {_f(mem['growth_mb'] * 2**20 / n, 0)} "
                f"| {_f(mem['results_mb'] * 2**20 / n, 0)} |"
            )
        sizes = sorted(data["memory"], key=int)
        if len(sizes) >= 2:
            small, large = data["memory"][sizes[0]], data["memory"][sizes[-1]]
            growth = large["growth_mb"] / small["growth_mb"] if small["growth_mb"] > 0 else float("nan")
            results = large["results_mb"] / small["results_mb"]
            lines += [
                "",
                f"From {int(sizes[0]):,} to {int(sizes[-1]):,} rows the peak growth is x{_f(growth, 1)} "
                f"and the results frame x{_f(results, 1)}: growth no faster than the results: "
                f"{_mark(growth <= results * 1.05)}.",
            ]
        lines.append("")
    if "provisioning" in data:
        lines += [
            f"## 5. Provisioning: {data['provisioning']['sessions']} sessions",
            "",
            "From the request to a successful `connect_over_cdp` of the first and of the last session.",
            "",
            "| backend | first usable (s) | last usable (s) |",
            "|---|---|---|",
        ]
        for name, p in data["provisioning"].items():
            if not isinstance(p, dict):
                continue
            if "skipped" in p:
                lines.append(f"| {name} | skipped: {p['skipped']} | |")
            else:
                lines.append(f"| {name} | {_f(p['first_s'])} | {_f(p['last_s'])} |")
        lines.append("")
    if "scale_out" in data:
        from .scale import scale_report

        lines += scale_report(data["scale_out"])
    if "render" in data:
        from .render import render_report

        lines += render_report(data["render"])
    if "orchestrator" in data:
        from .orchestrator import orchestrator_report

        lines += orchestrator_report(data["orchestrator"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--quick", action="store_const", dest="scale", const="quick", help="~2 minutes")
    scale.add_argument(
        "--smoke", action="store_const", dest="scale", const="smoke", help="seconds; figures mean nothing"
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument(
        "--out", default=str(Path(__file__).parent), help="folder for results.md and results.json"
    )
    args = parser.parse_args(argv)
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    data = run(args.scale or "full", sections, log)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    markdown = report(data)
    (out / "results.md").write_text(markdown + "\n")
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
