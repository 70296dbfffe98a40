"""What a row's page said, for the site gate and the blocked-page check: status, headers, title, text.

The user's callable navigates; anchorframe does not. So the tab records the
*main document's* last response as it arrives (:class:`MainDocument`, a
``page.on("response")`` listener: the final answer after redirects) and, when
a row ends, reads the page's title, HTML start and text length in one
round trip (:func:`read_page`). From those, with no I/O:

* :func:`throttle_of`: the site answered 429 or 503: slow down, and for how
  long (``Retry-After``, RFC 9110 §10.2.3);
* :func:`blocked_of`: the page is a challenge or block page
  (:func:`anchorframe._render.blocked.detect_blocked`).

Example:
    >>> doc = MainDocument(status=429, headers={"retry-after": "2"}, url="https://a.com/p")
    >>> throttle_of(doc, now=0.0)
    Throttle(status=429, retry_after=2.0)
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from .._manners.sites import parse_retry_after
from .blocked import SCAN_CHARS, Blocked, detect_blocked

__all__ = ["MainDocument", "PageText", "Throttle", "blocked_of", "read_page", "throttle_of"]

THROTTLE_STATUSES = frozenset({429, 503})
_READ_SCRIPT = f"""() => [
  document.title || "",
  document.documentElement ? document.documentElement.outerHTML.slice(0, {SCAN_CHARS}) : "",
  document.body ? document.body.innerText.trim().length : 0,
]"""


@dataclass(eq=False)
class MainDocument:
    """The last response of a page's main-frame navigation (status, lowercase headers, final URL)."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    url: str = ""

    @classmethod
    def watch(cls, page: Any) -> MainDocument:
        """Record ``page``'s main-document responses from now on (attach once per page)."""
        record = cls()

        def on_response(response: Any) -> None:
            try:
                if response.frame == page.main_frame and response.request.is_navigation_request():
                    record.status = response.status
                    record.headers = dict(response.headers)
                    record.url = response.url
            except Exception:  # a response of a closing page: nothing to record
                pass

        page.on("response", on_response)
        return record

    def reset(self) -> None:
        """Forget the last row's response (call before each row on a reused page)."""
        self.status, self.headers, self.url = None, {}, ""


@dataclass(frozen=True)
class Throttle:
    """The site asked to slow down: its status and the ``Retry-After`` seconds, if it said."""

    status: int
    retry_after: float | None


@dataclass(frozen=True)
class PageText:
    """What :func:`read_page` read: the title, the start of the HTML, the visible text's length."""

    title: str
    html: str
    text_length: int


def throttle_of(doc: MainDocument, now: float) -> Throttle | None:
    """A 429/503 main document means "slow down"; ``now`` is ``time.time()`` (for an HTTP-date)."""
    if doc.status not in THROTTLE_STATUSES:
        return None
    return Throttle(doc.status, parse_retry_after(doc.headers.get("retry-after"), now))


async def read_page(page: Any, timeout: float = 5.0) -> PageText | None:
    """Title, HTML start and text length in one round trip; None if the page cannot answer."""
    with contextlib.suppress(Exception):
        title, html, length = await asyncio.wait_for(page.evaluate(_READ_SCRIPT), timeout)
        return PageText(str(title), str(html), int(length))
    return None


def blocked_of(doc: MainDocument, text: PageText | None, *, expect_content: bool = False) -> Blocked | None:
    """Whether the row's page is a block or challenge page (see :mod:`anchorframe._render.blocked`).

    Example:
        >>> doc = MainDocument(status=403, headers={"cf-mitigated": "challenge"}, url="https://a.com/")
        >>> blocked_of(doc, PageText("Just a moment...", "", 0)).vendor
        'cloudflare'
    """
    return detect_blocked(
        status=doc.status,
        headers=doc.headers,
        url=doc.url,
        title=text.title if text else "",
        html=text.html if text else "",
        text_length=text.text_length if text else None,
        expect_content=expect_content,
    )
