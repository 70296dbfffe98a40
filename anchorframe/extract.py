"""Ready-made scraping callables for the no-code cases.

* :data:`page_summary` (the default): final URL, HTTP status, title, text length.
* :func:`css` / ``scrape(df, extract={...})``: the text of CSS selectors.

Both are :class:`Extractor` objects: callables ``(page, row)`` like a scraper of yours,
which also say what the HTTP path reads for the same values (``render="auto"`` fetches
their rows without a browser where the HTML holds them) and that a tab may reuse its page.

Both fail a row whose page answers with an HTTP error (4xx, 5xx): a 5xx or a
429 is retried, other statuses are not.

Text is read by the rule in :mod:`anchorframe._render.text` (not ``innerText``): the same
rule the HTTP path applies to parsed HTML, so a value does not depend on which
path fetched the page. In short: script/style/template/noscript and elements
hidden by their own markup (``hidden``, inline ``display:none``) are left out,
``<br>`` and block elements end a line, whitespace runs (non-breaking spaces
included) become one space, lines are trimmed and empty ones dropped.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping
from typing import Any

from ._core.table import Row
from ._render.arrival import Arrivals
from ._render.extractor import Extractor
from ._render.html import split_selectors
from ._render.page_signals import NAVIGATION_JS, PAGE_TEXT_JS, MainDocument, PageText
from ._render.quiet import QUIET_INIT_JS, SETTLE_MS, SOON_SETTLE_MS
from ._render.text import TEXT_JS
from .errors import RowFailed

__all__ = ["CSS", "Extractor", "PageSummary", "css", "page_summary"]

# An evaluate's answer as one JSON string: Playwright's Python client converts a returned value
# element by element (~0.2 ms a page for the extractors' nested lists), json.loads parses a
# string in C. A page whose library gave arrays or objects a toJSON (Prototype.js did) would
# change what JSON.stringify writes, and a page may replace it: there the value itself comes
# back (see _ask).
_ANSWER_JS = """((value) => {
  if (Array.prototype.toJSON || Object.prototype.toJSON) return value;
  const json = JSON.stringify(value);
  return typeof json === "string" && json.startsWith("[") ? json : value;
})"""


async def _ask(page: Any, script: str) -> tuple[list[Any], MainDocument | None]:
    """Run one of the extractors' scripts, whose answer (:data:`_ANSWER_JS`) ends with the page's
    :data:`NAVIGATION_JS`: the values before it, and the page's record, told what it saw."""
    answer = await page.evaluate(script)
    *values, navigation = json.loads(answer) if isinstance(answer, str) else answer
    doc = MainDocument.of(page)
    if doc is not None:
        doc.saw(navigation)
    return values, doc


# The title and body text by the shared rule; the length in code points, as Python's len().
_SUMMARY_JS = (
    "() => { const text = "
    + TEXT_JS
    + """;
  const title = document.querySelector("title");
  const length = document.body ? [...text(document.body)].length : 0;
  return """
    + _ANSWER_JS
    + """([title ? text(title) : "", length, """
    + NAVIGATION_JS
    + """]);
}"""
)

# Waits inside the page (one round trip instead of one per selector and poll) until every
# selector matches, the page has gone quiet (anchorframe._render.quiet) or the budget runs
# out, then reads them all. A field this section's pages have at once or not at all (``soon``,
# anchorframe._render.arrival) is waited for a shorter settle (``soonMs``): when every field
# still missing is such a one, the page has loaded with nothing in flight or due, is not
# leaving (a redirect, a meta refresh) and nothing changed for ``soonMs``, its absence is final.
# A value with nothing in it comes back with what the block-page check reads (title, HTML
# start, text length by the shared rule: no layout), in the same call; and which fields were
# there at the first look (``early``); and the page's document as Navigation Timing has it
# (page_signals.NAVIGATION_JS: the tab then needs no round trip of its own to confirm which
# document the row ended on, even where a script rewrote the URL). Its arguments are written
# into the script once per scraper and set of ``soon`` fields (__ARGUMENTS__): an evaluate
# argument is serialized and checked value by value in Python on every call; the answer
# comes back as one JSON string (_ANSWER_JS).
_CSS_JS = (
    "async () => { const [selectors, waitMs, attrs, settleMs, soon, soonMs] = __ARGUMENTS__;"
    + " const text = "
    + TEXT_JS
    + """;
  const deadline = performance.now() + waitMs;
  const q = window.__afQuiet;
  const sleep = q ? q.sleep : (ms) => new Promise((r) => setTimeout(r, ms));
  const there = ([, sel]) => document.querySelector(sel) !== null;
  const early = selectors.map(there);
  const settled = () => q !== undefined && document.readyState === "complete" && q.pending === 0 &&
    [...q.timers.values()].every((due) => due > deadline);
  const staying = () => !q.leaving && !document.querySelector('meta[http-equiv="refresh" i]');
  const done = () => {
    const missing = selectors.filter((s) => !there(s));
    if (!missing.length || performance.now() >= deadline) return true;
    if (!settled()) return false;
    const still = performance.now() - q.last;
    if (still >= settleMs) return true;
    return still >= soonMs && missing.every(([name]) => soon.includes(name)) && staying();
  };
  if (!early.every(Boolean)) while (!done()) await sleep(25);
  const out = {};
  for (const [name, sel] of selectors) {
    const el = document.querySelector(sel);
    if (!el) { out[name] = null; continue; }
    const attr = attrs[name];
    out[name] = attr ? el.getAttribute(attr) : text(el);
  }
  const seen = Object.values(out).some((v) => v !== null && v.trim()) ? null : """
    + PAGE_TEXT_JS
    + """;
  return """
    + _ANSWER_JS
    + """([out, seen, early, """
    + NAVIGATION_JS
    + """]);
}"""
)
# Pages that carry the quiet watch (an init script, added once per page).
_WATCHED_PAGES: weakref.WeakSet[Any] = weakref.WeakSet()


def check_response(response: Any, url: str) -> int | None:
    """Fail the row on an HTTP error; return the status (None for non-HTTP navigations)."""
    if response is None:
        return None
    status = int(response.status)
    if status >= 400:
        raise RowFailed(
            "http_error",
            f"HTTP {status} {response.status_text or ''}".strip() + f" for {url}",
            retryable=status >= 500 or status == 429,
        )
    return status


class PageSummary(Extractor):
    """The page summary: final URL, HTTP status, title and text length (``af.extract.page_summary``)."""

    http_selectors = None  # the HTTP path computes the summary's own fields
    wait_until = "load"

    def __init__(self) -> None:
        self.__qualname__ = self.__name__ = "page_summary"

    async def __call__(self, page: Any, row: Row) -> dict[str, Any]:
        response = await page.goto(row.url, wait_until=self.wait_until)
        status = check_response(response, row.url)
        (title, text_length), _ = await _ask(page, _SUMMARY_JS)
        return {"final_url": page.url, "http_status": status, "title": title, "text_length": int(text_length)}

    def __repr__(self) -> str:
        return "page_summary"


#: Load the page and return its final URL, HTTP status, title and text length.
#:
#: Example:
#:     >>> import anchorframe as af
#:     >>> af.scrape(["https://example.com"], af.extract.page_summary).results  # doctest: +SKIP
page_summary = PageSummary()


class CSS(Extractor):
    """The text (or an attribute) of each of a dict of CSS selectors; made by :func:`css`."""

    #: Pages of a section that must have had a field at once before it is not waited out, and
    #: one page in ``recheck`` waits it out anyway (:class:`~anchorframe._render.arrival.Arrivals`).
    learn_after = 5
    recheck = 8

    def __init__(
        self, selectors: Mapping[str, str], *, wait: float, wait_until: str, learn: bool = True
    ) -> None:
        self.http_selectors = dict(selectors)
        self.wait = max(0.0, float(wait))
        self.wait_until = wait_until
        self.learn = bool(learn)
        self._pairs, self._attrs = split_selectors(selectors)
        self._reset()
        self.__qualname__ = self.__name__ = f"css({self.http_selectors!r})"

    def _reset(self) -> None:
        # What a run's pages showed at the first look, per run (the run's input table): a
        # scraper used for several runs starts each one afresh. Neither travels in a pickle.
        self._learnt: weakref.WeakKeyDictionary[Any, Arrivals] = weakref.WeakKeyDictionary()
        self._scripts: dict[frozenset[str], str] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_learnt", None)
        state.pop("_scripts", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.pop("_script", None)  # a scraper pickled by anchorframe 0.x before per-section learning
        state.setdefault("learn", True)
        self.__dict__.update(state)
        self._reset()

    def _arrivals(self, row: Any) -> Arrivals | None:
        """What this run has learnt (None: not learning, or a row that belongs to no run)."""
        run = getattr(row, "_table", None)  # anchorframe._core.table.Row: its run's input
        if not (self.learn and self.wait) or run is None:
            return None
        try:
            arrivals = self._learnt.get(run)
            if arrivals is None:
                arrivals = self._learnt[run] = Arrivals(self.learn_after, self.recheck)
        except TypeError:  # not weakly referable: nothing to key it on
            return None
        return arrivals

    def _script(self, soon: frozenset[str]) -> str:
        script = self._scripts.get(soon)
        if script is None:
            if len(self._scripts) >= 64:
                self._scripts.clear()
            pairs = [list(p) for p in self._pairs]
            timing = [SETTLE_MS, sorted(soon), SOON_SETTLE_MS]
            arguments = [pairs, self.wait * 1000, self._attrs, *timing]
            script = self._scripts[soon] = _CSS_JS.replace("__ARGUMENTS__", json.dumps(arguments), 1)
        return script

    async def __call__(self, page: Any, row: Row) -> dict[str, Any]:
        if self.wait and page not in _WATCHED_PAGES:
            await page.add_init_script(QUIET_INIT_JS)
            _WATCHED_PAGES.add(page)
        response = await page.goto(row.url, wait_until=self.wait_until)
        check_response(response, row.url)
        arrivals = self._arrivals(row)
        soon = arrivals.immediate(row.url) if arrivals is not None else frozenset()
        (result, seen, early), doc = await _ask(page, self._script(soon))
        if arrivals is not None:
            names = [name for name, _ in self._pairs]
            arrivals.record(
                row.url,
                early=[name for name, there in zip(names, early, strict=True) if there],
                found=[name for name in names if result.get(name) is not None],
            )
        if doc is not None and seen:
            doc.text = PageText(str(seen[0]), str(seen[1]), int(seen[2]))
        return dict(result)

    def __repr__(self) -> str:
        return self.__qualname__


def css(
    selectors: Mapping[str, str],
    *,
    wait: float = 3.0,
    wait_until: str = "domcontentloaded",
    learn: bool = True,
) -> CSS:
    """A scraper that returns the text of each CSS selector (None where it matches nothing).

    A selector may end with ``@attr`` to read an attribute instead of the text
    (``"link": "a.next@href"``). The page is given up to ``wait`` seconds for
    every selector to appear (pages that render with JavaScript), and less where a
    selector is simply absent: once the page has loaded and gone quiet (no request
    in flight, no timer due, no change for 300 ms; :mod:`anchorframe._render.quiet`),
    what still matches nothing is None. A field five pages of a section had at once
    is waited for less on a page of it that lacks it: 100 ms of calm instead of 300
    (:mod:`anchorframe._render.arrival`; learnt afresh in each run, in each process;
    ``learn=False`` waits every page out in full).

    Example:
        >>> import anchorframe as af
        >>> product = af.extract.css({"name": "h1", "price": ".price"})
        >>> product.http_selectors
        {'name': 'h1', 'price': '.price'}
        >>> af.scrape(df, product)  # doctest: +SKIP
    """
    return CSS(selectors, wait=wait, wait_until=wait_until, learn=learn)
