"""Ready-made scraping callables for the no-code cases.

* :func:`page_summary` (the default): final URL, HTTP status, title, text length.
* :func:`css` / ``scrape(df, extract={...})``: the text of CSS selectors.

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
from ._render.html import split_selectors
from ._render.text import TEXT_JS
from .errors import RowFailed

__all__ = ["css", "page_summary"]

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


async def page_summary(page: Any, row: Row) -> dict[str, Any]:
    """Load the page and return its final URL, HTTP status, title and text length.

    Example:
        >>> import anchorframe as af
        >>> af.scrape(["https://example.com"], af.extract.page_summary).results  # doctest: +SKIP
    """
    response = await page.goto(row.url, wait_until="load")
    status = check_response(response, row.url)
    title, text_length = await page.evaluate(_SUMMARY_JS)
    return {"final_url": page.url, "http_status": status, "title": title, "text_length": int(text_length)}


# These callables only navigate and read, so the engine may keep one page per tab for
# them (reuse_pages=None): ~1.7x the pages per second of a new page per row (benchmarks/).
page_summary.af_reuse_page = True  # type: ignore[attr-defined]
# What the HTTP path needs to compute the same values (anchorframe._render.http.fetch_extract):
# None means "the page summary", a dict the css() selectors. User callables have no such attribute.
page_summary.af_http_selectors = None  # type: ignore[attr-defined]


def css(selectors: Mapping[str, str], *, wait: float = 3.0, wait_until: str = "domcontentloaded") -> Any:
    """A callable that returns the text of each CSS selector (None where it matches nothing).

    A selector may end with ``@attr`` to read an attribute instead of the text
    (``"link": "a.next@href"``). The page is given up to ``wait`` seconds for
    every selector to appear (pages that render with JavaScript).

    Example:
        >>> import anchorframe as af
        >>> product = af.extract.css({"name": "h1", "price": ".price"})
        >>> af.scrape(df, product)  # doctest: +SKIP
    """
    pairs, attrs = split_selectors(selectors)
    wait_ms = max(0.0, float(wait)) * 1000

    async def extract_css(page: Any, row: Row) -> dict[str, Any]:
        response = await page.goto(row.url, wait_until=wait_until)
        check_response(response, row.url)
        result: dict[str, Any] = await page.evaluate(_CSS_JS, [[list(p) for p in pairs], wait_ms, attrs])
        return result

    extract_css.__qualname__ = extract_css.__name__ = f"css({dict(selectors)!r})"
    extract_css.af_reuse_page = True  # type: ignore[attr-defined]
    extract_css.af_http_selectors = dict(selectors)  # type: ignore[attr-defined]
    return extract_css
