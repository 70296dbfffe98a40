"""What a ready-made scraper is: an object that says what it reads, so either route can run it.

A user's callable is Playwright code: it runs in a browser, on a fresh page per row. An
:class:`Extractor` (``anchorframe.extract``'s page summary and ``css(...)``) also says:

* ``http_selectors``: what the HTTP path reads from parsed HTML to give the same values
  (:func:`anchorframe._render.http.fetch_extract`); so ``render="auto"`` and ``"http"`` may
  fetch its rows without a browser;
* ``reuse_page``: it only navigates and reads, so a tab may keep one page for all its rows
  (~1.7x the pages per second of a new page per row, ``benchmarks/``);
* ``wait`` and ``wait_until``: how it waits in the browser, for the page and its selectors.

The engine asks these fields; it never probes a function for attributes.

Example:
    >>> class Title(Extractor):
    ...     http_selectors = {"title": "title"}
    ...     async def __call__(self, page, row):
    ...         await page.goto(row.url)
    ...         return {"title": await page.title()}
    >>> Title().reuse_page, Title().http_selectors
    (True, {'title': 'title'})
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = ["Extractor"]


class Extractor(abc.ABC):
    """A ready-made scraper: ``await extractor(page, row)`` in a browser, or its selectors over HTTP."""

    #: The selectors the HTTP path reads for the same values; None: the page summary's fields.
    http_selectors: Mapping[str, str] | None = None
    #: Whether a tab may keep one page for all its rows (it leaves no state behind).
    reuse_page: ClassVar[bool] = True
    #: Seconds the browser gives the page for every selector to appear.
    wait: float = 0.0
    #: When the browser's navigation is done (Playwright's ``wait_until``).
    wait_until: str = "load"

    @abc.abstractmethod
    async def __call__(self, page: Any, row: Any) -> dict[str, Any]:
        """The values of one row, read from ``page`` after loading ``row.url``."""
