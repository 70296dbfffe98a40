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

from collections.abc import Mapping
from typing import Any

from ._core.table import Row
from ._render.extractor import Extractor
from ._render.html import split_selectors
from ._render.text import TEXT_JS
from .errors import RowFailed

__all__ = ["CSS", "Extractor", "PageSummary", "css", "page_summary"]

# The title and body text by the shared rule; the length in code points, as Python's len().
_SUMMARY_JS = (
    "() => { const text = "
    + TEXT_JS
    + """;
  const title = document.querySelector("title");
  return [title ? text(title) : "", document.body ? [...text(document.body)].length : 0];
}"""
)

# Waits inside the page (one round trip instead of one per selector and poll)
# until every selector matches or the budget runs out, then reads them all.
_CSS_JS = (
    "async ([selectors, waitMs, attrs]) => { const text = "
    + TEXT_JS
    + """;
  const deadline = performance.now() + waitMs;
  const all = () => selectors.every(([, sel]) => document.querySelector(sel));
  while (!all() && performance.now() < deadline) {
    await new Promise(r => setTimeout(r, 25));
  }
  const out = {};
  for (const [name, sel] of selectors) {
    const el = document.querySelector(sel);
    if (!el) { out[name] = null; continue; }
    const attr = attrs[name];
    out[name] = attr ? el.getAttribute(attr) : text(el);
  }
  return out;
}"""
)


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
        title, text_length = await page.evaluate(_SUMMARY_JS)
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

    def __init__(self, selectors: Mapping[str, str], *, wait: float, wait_until: str) -> None:
        self.http_selectors = dict(selectors)
        self.wait = max(0.0, float(wait))
        self.wait_until = wait_until
        self._pairs, self._attrs = split_selectors(selectors)
        self.__qualname__ = self.__name__ = f"css({self.http_selectors!r})"

    async def __call__(self, page: Any, row: Row) -> dict[str, Any]:
        response = await page.goto(row.url, wait_until=self.wait_until)
        check_response(response, row.url)
        arguments = [[list(p) for p in self._pairs], self.wait * 1000, self._attrs]
        result: dict[str, Any] = await page.evaluate(_CSS_JS, arguments)
        return result

    def __repr__(self) -> str:
        return self.__qualname__


def css(selectors: Mapping[str, str], *, wait: float = 3.0, wait_until: str = "domcontentloaded") -> CSS:
    """A scraper that returns the text of each CSS selector (None where it matches nothing).

    A selector may end with ``@attr`` to read an attribute instead of the text
    (``"link": "a.next@href"``). The page is given up to ``wait`` seconds for
    every selector to appear (pages that render with JavaScript).

    Example:
        >>> import anchorframe as af
        >>> product = af.extract.css({"name": "h1", "price": ".price"})
        >>> product.http_selectors
        {'name': 'h1', 'price': '.price'}
        >>> af.scrape(df, product)  # doctest: +SKIP
    """
    return CSS(selectors, wait=wait, wait_until=wait_until)
