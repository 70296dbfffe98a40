"""render="browser" | "http" | "auto" on static, JavaScript-rendered and mixed corpora (issue 14).

Each corpus (``benchmarks/render_corpus.py``: ~7 kB product pages; the JavaScript
pages write the same fields into an empty ``<div id=root>`` 100 ms after load; the
mixed corpus is two thirds static, one third JavaScript, interleaved) is served on
127.0.0.1 from a child process and scraped with
``af.scrape(urls, extract={"name": "h1", "price": ".price", "stock": ".stock"},
render=...)``, its defaults otherwise (local Chromium, the plan's sessions and tabs;
a browser run pays for starting Chromium, as a user's run does; Playwright's driver is
the one kept from the warm-up run, as in a notebook's second run), every mode in the
same run, in rotating order when there are several rounds (ratios taken within each
round, then the median). ``render="http"`` runs on the static corpus only: it cannot
read the JavaScript pages, by design.

Targets: static ``auto`` >= 20x ``browser``; JavaScript ``auto`` >= 0.9x ``browser``
with every row correct; mixed ``auto`` >= 2.5x ``browser`` with every row correct.

The mixed corpus has one more contender, ``ceiling``: ``render="browser"`` on its
JavaScript third only, its pages/s counted over the whole corpus. It is what ``auto``
would reach were its HTTP rows free and its decisions known in advance (no HTTP look at
a row that then needs the browser, the browser started at once): no ``auto`` can beat
it on this machine, so it says where the mixed target sits against what is possible.

Run alone: ``flock /tmp/af-browser.lock python -m benchmarks --only render``.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import anchorframe as af

from .render_corpus import SELECTORS, CorpusPage, correct, serve_corpus_elsewhere

__all__ = ["TARGETS", "render_report", "run_render"]

#: Corpus -> the minimum auto / browser pages-per-second ratio (and whether every row must be correct).
TARGETS: dict[str, tuple[float, bool]] = {"static": (20.0, False), "js": (0.9, True), "mixed": (2.5, True)}
MODES: dict[str, tuple[str, ...]] = {
    "static": ("browser", "http", "auto"),
    "js": ("browser", "auto"),
    "mixed": ("browser", "auto", "ceiling"),
}


def _scrape(urls: list[str], rows: list[CorpusPage], render: str) -> dict[str, Any]:
    started = time.perf_counter()
    result = af.scrape(urls, extract=SELECTORS, render=render, backend="local", progress=False)
    seconds = time.perf_counter() - started
    frame = result.results
    ok = (frame["af_status"] == "ok").tolist()
    values = [
        dict(zip(SELECTORS, fields, strict=True)) if good else None
        for good, fields in zip(ok, frame[list(SELECTORS)].itertuples(index=False), strict=True)
    ]
    ways = frame["af_render"].value_counts().to_dict()
    return {
        "pages": len(urls),
        "seconds": seconds,
        "pages_per_s": len(urls) / seconds,
        "correct": correct(rows, values),
        "sessions": len(result.sessions),
        "http_rows": int(ways.get("http", 0)),
        "browser_rows": int(ways.get("browser", 0)),
    }


def _contender(urls: list[str], rows: list[CorpusPage], mode: str) -> dict[str, Any]:
    """One timed run of ``mode``; ``ceiling``: the browser on the JavaScript rows alone (module doc)."""
    if mode != "ceiling":
        return _scrape(urls, rows, mode)
    needs = [i for i, page in enumerate(rows) if page.kind == "js"]
    figures = _scrape([urls[i] for i in needs], [rows[i] for i in needs], "browser")
    figures["pages"] = len(urls)
    figures["pages_per_s"] = len(urls) / figures["seconds"]
    figures["correct"] += len(urls) - len(needs)  # the static rows, taken as read for free
    figures["http_rows"] = len(urls) - len(needs)
    return figures


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median pages/s (its own counts), with the worst correctness of all rounds."""
    ordered = sorted(runs, key=lambda r: r["pages_per_s"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["correct"] = min(r["correct"] for r in runs)
    chosen["sessions_max"] = max(r["sessions"] for r in runs)
    return chosen


def run_render(scale: dict[str, Any], log: Any = print) -> dict[str, Any]:
    """Every corpus with every mode; see the module docstring."""
    pages = scale["render_pages"]
    reps = scale.get("render_reps", 1)
    out: dict[str, Any] = {"reps": reps, "corpora": {}}
    for kind, modes in MODES.items():
        count = pages[kind]
        log(f"render: {kind} corpus, {count} pages, {' / '.join(modes)} ...")
        with serve_corpus_elsewhere(kind, count) as (base_url, rows):
            urls = [base_url + page.path for page in rows]
            if scale.get("warm_up", True):  # imports and the first Chromium start out of the figures
                for mode in modes:
                    if mode != "ceiling":
                        _scrape(urls[:2], rows[:2], mode)
            runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
            ratios: dict[str, list[float]] = {mode: [] for mode in modes if mode != "browser"}
            for rep in range(reps):
                order = modes[rep % len(modes) :] + modes[: rep % len(modes)]
                this_round = {mode: _contender(urls, rows, mode) for mode in order}
                for mode, figures in this_round.items():
                    runs[mode].append(figures)
                    if mode != "browser":
                        ratios[mode].append(figures["pages_per_s"] / this_round["browser"]["pages_per_s"])
        summary = {mode: _median_run(r) for mode, r in runs.items()}
        ratio = {mode: statistics.median(values) for mode, values in ratios.items()}
        minimum, all_correct = TARGETS[kind]
        auto = summary["auto"]
        if "ceiling" in ratios:
            log(f"render: {kind}: auto x{ratio['auto']:.2f}, ceiling x{ratio['ceiling']:.2f} (x browser)")
        out["corpora"][kind] = {
            "pages": count,
            "modes": summary,
            "ratio_vs_browser": ratio,
            "target": minimum,
            "met": ratio["auto"] >= minimum and (not all_correct or auto["correct"] == count),
        }
    from .render_docs import run_docs  # the real-sized corpus (issue 23)

    out["docs"] = run_docs(scale, log)
    return out


def _f(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def render_report(data: dict[str, Any]) -> list[str]:
    """The Markdown section for ``results.md``."""
    lines = [
        '## 7. render="browser" | "http" | "auto"',
        "",
        "`af.scrape(urls, extract={name: h1, price: .price, stock: .stock}, render=...)`, local "
        "Chromium with the plan's defaults (Chromium's start included, as in a user's run; Playwright's "
        "driver kept from the warm-up run, as in a notebook's second run); corpora "
        "served from a child process on 127.0.0.1; "
        f"{data['reps']} round(s), median; ratios against `browser` within each round. `ceiling` "
        "(mixed corpus): the browser on the JavaScript third alone, pages/s over the whole corpus: "
        "what `auto` would reach were its HTTP rows free and known in advance.",
        "",
        "| corpus | pages | render | pages/s | x browser | target | rows correct "
        "| rows over HTTP / browser | browser sessions started |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, corpus in data["corpora"].items():
        for mode, s in corpus["modes"].items():
            ratio = corpus["ratio_vs_browser"].get(mode)
            target = ""
            if mode == "auto":
                need = ">= " + _f(corpus["target"], 1) + "x" + (", all correct" if kind != "static" else "")
                target = f"{need}: {'yes' if corpus['met'] else '**no**'}"
            lines.append(
                f"| {kind} | {corpus['pages']} | {mode} | {_f(s['pages_per_s'])} "
                f"| {'1.0' if ratio is None else _f(ratio, 2)} | {target} | {s['correct']} of {s['pages']} "
                f"| {s['http_rows']} / {s['browser_rows']} | {s['sessions_max']} |"
            )
    lines.append("")
    if "docs" in data:
        from .render_docs import docs_report

        lines += docs_report(data["docs"])
    return lines
