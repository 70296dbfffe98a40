"""render= on real-sized pages (issue 23): CPython's documentation, with absent fields and a JavaScript field.

Three corpora from :mod:`benchmarks.docs_corpus` (pages of 20-700 KB, served by a child
process on 127.0.0.1), each scraped with ``af.scrape(urls, extract=..., render=...)`` and
its defaults otherwise (local Chromium, the plan's sessions and tabs), every mode in the
same run, in rotating order, ratios taken within each round, then the median:

* ``docs``: ``title``, ``h1`` and the "next" link (absent from ~5 % of pages: index pages).
  Modes ``browser``, ``http``, ``auto`` and ``plain``: a hand-written loop (one
  ``httpx.AsyncClient``, as many requests at a time as the HTTP path's fetchers, selectolax,
  each selector's text or attribute): the pace of a plain script. Targets: ``auto`` >= 15x
  ``browser`` with every value the browser's (missing = missing) and no browser started;
  ``http`` >= 0.8x ``plain``.
* ``half``: ``/library/*`` pages and a field present on about half of them (the first "New
  in version" note). Target: >= 90 % of rows over HTTP under ``auto``, every value the browser's.
* ``js``: the ``docs`` pages interleaved with as many ``/js/*`` pages, whose ``.af-note``
  JavaScript writes after load. ``ceiling``: the browser on the ``/js/*`` half alone, pages/s
  over the whole corpus (what ``auto`` would reach were its HTTP rows free and its decisions
  known in advance). Target: ``auto`` >= 0.9x ``ceiling``, every value the browser's (every
  note found).

"Rows right" compares each row's values with the ``browser`` run's of the same round.

Run alone: ``flock /tmp/af-browser.lock python -m benchmarks --only render``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import anchorframe as af

from .docs_corpus import FIELDS, HALF_FIELDS, JS_FIELDS, DocsServer, docs_pages, docs_root

__all__ = ["docs_report", "run_docs"]

#: Corpus -> (modes, the fields read).
CORPORA: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "docs": (("browser", "http", "auto", "plain"), FIELDS),
    "half": (("browser", "auto"), HALF_FIELDS),
    "js": (("browser", "auto", "ceiling"), JS_FIELDS),
}


async def plain_loop(urls: list[str], fields: dict[str, str], concurrency: int) -> list[dict[str, Any]]:
    """The hand-written baseline: httpx, ``concurrency`` requests at a time, selectolax."""
    import httpx
    from selectolax.lexbor import LexborHTMLParser

    parts = [(name, *selector.partition("@")[::2]) for name, selector in fields.items()]
    out: list[dict[str, Any]] = [{} for _ in urls]
    todo = iter(enumerate(urls))
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            for index, url in todo:
                tree = LexborHTMLParser((await client.get(url)).text)
                for name, css, attr in parts:
                    node = tree.css_first(css)
                    if node is None:
                        out[index][name] = None
                    else:
                        out[index][name] = node.attributes.get(attr) if attr else node.text(strip=True)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def _scrape(urls: list[str], fields: dict[str, str], mode: str) -> dict[str, Any]:
    started = time.perf_counter()
    if mode == "plain":
        from anchorframe._engine.http_stage import HTTP_CONCURRENCY

        values = asyncio.run(plain_loop(urls, fields, HTTP_CONCURRENCY))
        seconds = time.perf_counter() - started
        return {"pages": len(urls), "seconds": seconds, "pages_per_s": len(urls) / seconds, "values": values}
    result = af.scrape(urls, extract=fields, render=mode, backend="local", progress=False)
    seconds = time.perf_counter() - started
    frame = result.results
    columns = frame[list(fields)].astype(object).where(frame[list(fields)].notna(), None)
    ok = (frame["af_status"] == "ok").tolist()
    values = [row if good else None for good, row in zip(ok, columns.to_dict("records"), strict=True)]
    ways = frame["af_render"].value_counts().to_dict()
    attempts = result.attempts
    checked = attempts.loc[attempts["outcome"] == "browser_check", "url"].nunique() if len(attempts) else 0
    return {
        "pages": len(urls),
        "seconds": seconds,
        "pages_per_s": len(urls) / seconds,
        "values": values,
        "sessions": len(result.sessions),
        "http_rows": int(ways.get("http", 0)),
        "browser_rows": int(ways.get("browser", 0)),
        "checked": int(checked),
    }


def _contender(urls: list[str], js: list[bool], fields: dict[str, str], mode: str) -> dict[str, Any]:
    if mode != "ceiling":
        return _scrape(urls, fields, mode)
    needs = [url for url, scripted in zip(urls, js, strict=True) if scripted]
    figures = _scrape(needs, fields, "browser")
    figures.update(pages=len(urls), pages_per_s=len(urls) / figures["seconds"], values=None)
    figures["http_rows"] = len(urls) - len(needs)
    return figures


def _corpus(kind: str, count: int) -> tuple[list[str], list[bool]]:
    """Paths of a corpus and whether each is a JavaScript page."""
    if kind == "half":
        paths = docs_pages(count, under="library/")
        return paths, [False] * len(paths)
    paths = docs_pages(count)
    if kind == "docs":
        return paths, [False] * len(paths)
    mixed = [p for path in paths[: count // 2] for p in (path, "/js" + path)]
    return mixed, [p.startswith("/js/") for p in mixed]


def run_docs(scale: dict[str, Any], log: Any = print) -> dict[str, Any]:
    """Every docs corpus with its modes; see the module docstring."""
    if docs_root() is None:
        return {"skipped": "no documentation installed (apt-get install python3-doc)"}
    count = scale.get("docs_pages", 200)
    reps = scale.get("render_reps", 1)
    out: dict[str, Any] = {"reps": reps, "corpora": {}}
    with DocsServer() as server:
        for kind, (modes, fields) in CORPORA.items():
            paths, js = _corpus(kind, count)
            urls = [server.url(p) for p in paths]
            log(f"render: {kind} docs corpus, {len(urls)} pages, {' / '.join(modes)} ...")
            if scale.get("warm_up", True):
                for mode in modes:
                    if mode != "ceiling":
                        _scrape(urls[:2], fields, mode)
            rounds: list[dict[str, dict[str, Any]]] = []
            for rep in range(reps):
                order = modes[rep % len(modes) :] + modes[: rep % len(modes)]
                rounds.append({mode: _contender(urls, js, fields, mode) for mode in order})
            out["corpora"][kind] = _summarise(kind, modes, rounds, len(urls))
    return out


def _summarise(
    kind: str, modes: tuple[str, ...], rounds: list[dict[str, dict[str, Any]]], pages: int
) -> dict:
    summary: dict[str, Any] = {}
    for mode in modes:
        runs = [r[mode] for r in rounds]
        chosen = dict(sorted(runs, key=lambda f: f["pages_per_s"])[len(runs) // 2])
        # Right: the browser's values of the same round (missing = missing); the worst round counts.
        chosen["right"] = min(
            sum(a == b for a, b in zip(r[mode]["values"], r["browser"]["values"], strict=True))
            if r[mode]["values"] is not None
            else pages
            for r in rounds
        )
        chosen["sessions_max"] = max(f.get("sessions", 0) for f in runs)
        chosen.pop("values", None)
        summary[mode] = chosen

    def ratio(mode: str, base: str) -> float:
        return statistics.median(r[mode]["pages_per_s"] / r[base]["pages_per_s"] for r in rounds)

    auto = summary["auto"]
    figures: dict[str, Any] = {"pages": pages, "modes": summary, "auto_vs_browser": ratio("auto", "browser")}
    all_right = auto["right"] == pages
    if kind == "docs":
        figures["http_vs_plain"] = ratio("http", "plain")
        figures["met"] = figures["auto_vs_browser"] >= 15 and all_right and figures["http_vs_plain"] >= 0.8
    elif kind == "half":
        figures["met"] = all_right and auto["http_rows"] >= 0.9 * pages
    else:
        figures["auto_vs_ceiling"] = ratio("auto", "ceiling")
        figures["met"] = all_right and figures["auto_vs_ceiling"] >= 0.9
    return figures


def docs_report(data: dict[str, Any]) -> list[str]:
    """The Markdown sub-section for ``results.md``."""
    lines = ["### Real-sized pages: CPython's documentation (20-700 KB)", ""]
    if "skipped" in data:
        return [*lines, f"Skipped: {data['skipped']}.", ""]
    lines += [
        f"`benchmarks/render_docs.py`; {data['reps']} round(s), median; ratios within each round. "
        "Rows right: the same values as the browser's run of that round (missing = missing).",
        "",
        "| corpus | pages | render | pages/s | x browser | rows right | over HTTP / browser "
        "| checked in a browser | sessions | target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, corpus in data["corpora"].items():
        base = corpus["modes"]["browser"]["pages_per_s"]
        for mode, s in corpus["modes"].items():
            target = ""
            if mode == "auto":
                need = {
                    "docs": ">= 15x browser, all right, no browser",
                    "half": ">= 90 % over HTTP, all right",
                    "js": ">= 0.9x ceiling, all right",
                }[kind]
                extra = f" (x{corpus['auto_vs_ceiling']:.2f} ceiling)" if "auto_vs_ceiling" in corpus else ""
                target = f"{need}{extra}: {'yes' if corpus['met'] else '**no**'}"
            elif mode == "http" and "http_vs_plain" in corpus:
                target = f"x{corpus['http_vs_plain']:.2f} plain (>= 0.8)"
            lines.append(
                f"| {kind} | {corpus['pages']} | {mode} | {s['pages_per_s']:.1f} | "
                f"{s['pages_per_s'] / base:.2f} | {s['right']} of {corpus['pages']} | "
                f"{s.get('http_rows', '')} / {s.get('browser_rows', '')} | {s.get('checked', '')} | "
                f"{s['sessions_max']} | {target} |"
            )
    lines.append("")
    return lines
