"""Chromium's back-forward cache on and off: ``python -m benchmarks.bfcache [ROUNDS] [PAGES]``.

``af.scrape(urls, extract=..., render="browser")`` over the static corpus of
:mod:`benchmarks.render_corpus` (served from a child process on 127.0.0.1), one
local session of 4 tabs that each navigate one page from row to row, with the
session's Chromium flags as shipped (cache off) and with the cache left on (the
flags before; the hand-written baseline), alternating which goes first each
round. Prints pages/s per round and the medians, and the CPU seconds per row of
the whole process tree (this process, the driver, Chromium). Run it under the
browser lock: ``flock /tmp/af-browser.lock .venv/bin/python -m benchmarks.bfcache``.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from typing import Any

import psutil

import anchorframe as af
from anchorframe.backends import _chromium

from .render_corpus import SELECTORS, correct, serve_corpus_elsewhere

SHIPPED = _chromium.CHROMIUM_FLAGS
#: The same flags with the back-forward cache left on (as before it was turned off).
CACHE_ON = tuple(
    flag.replace(",BackForwardCache", "") for flag in SHIPPED if flag != "--disable-back-forward-cache"
)


def _run(urls: list[str], rows: Any, flags: tuple[str, ...], skip_pid: int) -> tuple[float, float, int]:
    """Seconds, CPU seconds of the tree (the corpus server left out), rows correct."""
    me = psutil.Process()
    cpu: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:  # children's CPU is read while they live: Chromium's are not reaped here
        while not stop.is_set():
            for child in me.children(recursive=True):
                if child.pid != skip_pid:
                    try:
                        times = child.cpu_times()
                        cpu[child.pid] = times.user + times.system
                    except psutil.Error:
                        pass
            stop.wait(0.05)

    _chromium.CHROMIUM_FLAGS = flags
    sampler = threading.Thread(target=sample, daemon=True)
    own = me.cpu_times()
    started = time.perf_counter()
    sampler.start()
    try:
        result = af.scrape(urls, extract=SELECTORS, render="browser", progress=False)
    finally:
        seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        _chromium.CHROMIUM_FLAGS = SHIPPED
    after = me.cpu_times()
    total = (after.user - own.user) + (after.system - own.system) + sum(cpu.values())
    values = [dict(r) for _, r in result.results[list(SELECTORS)].iterrows()]
    return seconds, total, correct(rows, values)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    rounds = int(args[0]) if args else 5
    count = int(args[1]) if len(args) > 1 else 300
    modes = {"cache off (shipped)": SHIPPED, "cache on (before)": CACHE_ON}
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in modes}
    with serve_corpus_elsewhere("static", count) as (base_url, rows):
        server = psutil.Process().children()[0].pid
        urls = [base_url + page.path for page in rows]
        af.scrape(urls[:4], extract=SELECTORS, render="browser", progress=False)  # imports, caches
        for round_ in range(rounds):
            names = list(modes) if round_ % 2 == 0 else list(reversed(modes))
            for name in names:
                seconds, cpu, right = _run(urls, rows, modes[name], server)
                measured[name].append((count / seconds, 1000 * cpu / count))
                print(
                    f"round {round_ + 1} {name:20s} {count / seconds:6.1f} pages/s  "
                    f"{1000 * cpu / count:5.0f} ms CPU/row  {right}/{count} right",
                    flush=True,
                )
    medians = {
        name: (statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs))
        for name, runs in measured.items()
    }
    for name, (rate, cpu) in medians.items():
        print(f"median {name:20s} {rate:6.1f} pages/s  {cpu:5.0f} ms CPU/row")
    off, on = medians["cache off (shipped)"], medians["cache on (before)"]
    print(f"cache off / on: x{off[0] / on[0]:.2f} pages/s, x{off[1] / on[1]:.2f} CPU per row")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
