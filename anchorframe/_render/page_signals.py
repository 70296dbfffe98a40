"""What a row's page said, for the site gate and the blocked-page check: status, headers, title, text.

The user's callable navigates; anchorframe does not. So the tab records the
*main document's* last response (:class:`MainDocument`: the final answer after
redirects) from the navigations the callable makes through the page it was handed
(``goto``, ``reload``, ``go_back``, ``go_forward`` return it), and for a navigation made
otherwise (a click, a form, a script), once its document has loaded, reads its status and
URL from Navigation Timing in one round trip (:meth:`MainDocument.confirm`; its headers
are then unknown); a URL a script changed within the document costs none. The
built-in extractors read Navigation Timing inside their own evaluate
(:data:`NAVIGATION_JS`, :meth:`MainDocument.saw`), so a page whose script rewrote its URL
(``history.replaceState``, as Sphinx's pages do) costs them no second round trip. Not a
``page.on("response")`` listener: that subscribes the page to every response, so each
stylesheet, script and image of a page became a message from Playwright's driver and
an event handled in Python (on 20-700 KB documentation pages, ~40 % of this process's
CPU per page; ``benchmarks/orchestrator.py``). On signs of trouble only, the title,
HTML start and text length are read too: by the built-in extractors inside their own
evaluate (:attr:`MainDocument.text`), else in one more round trip (:func:`read_page`).
From those, with no I/O:

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
import functools
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._manners.sites import parse_retry_after
from .blocked import SCAN_CHARS, Blocked, detect_blocked
from .text import TEXT_JS

__all__ = [
    "NAVIGATION_JS",
    "PAGE_TEXT_JS",
    "MainDocument",
    "PageText",
    "Throttle",
    "blocked_of",
    "read_page",
    "throttle_of",
]

THROTTLE_STATUSES = frozenset({429, 503})
#: The page's methods that navigate its main frame and return the main document's response.
NAVIGATIONS = ("goto", "reload", "go_back", "go_forward")
#: A JavaScript expression, with ``text`` (:data:`TEXT_JS`'s function) in scope: what the
#: block-page check reads, ``[title, start of the HTML, text length]``; the length by the shared
#: rule, not innerText, which lays the whole page out first. The built-in extractors read it in
#: their own evaluate when their value is empty; :func:`read_page` in a round trip of its own.
PAGE_TEXT_JS = f"""[
    document.title || "",
    document.documentElement ? document.documentElement.outerHTML.slice(0, {SCAN_CHARS}) : "",
    document.body ? [...text(document.body)].length : 0,
  ]"""
_READ_SCRIPT = "() => { const text = " + TEXT_JS + "; return " + PAGE_TEXT_JS + "; }"
#: A JavaScript expression: the current document as Navigation Timing has it, ``[location.href,
#: the URL it was loaded from, its response status]`` (responseStatus: Chromium 109+; 0 unknown).
#: The built-in extractors read it in their own evaluate and hand it to :meth:`MainDocument.saw`.
#: ``null`` where the page has no navigation entry (or broke ``performance``).
NAVIGATION_JS = """(() => {
  try {
    const entry = performance.getEntriesByType("navigation")[0];
    if (!entry) return null;
    return [location.href, entry.name, entry.responseStatus || 0];
  } catch (error) {
    return null;
  }
})()"""
_NAVIGATION_SCRIPT = "() => " + NAVIGATION_JS
_WATCHED: weakref.WeakKeyDictionary[Any, MainDocument] = weakref.WeakKeyDictionary()


@dataclass(eq=False)
class MainDocument:
    """The last response of a page's main-frame navigation (status, lowercase headers, final URL).

    Example:
        >>> class Page:  # what Playwright's page.goto returns, in short
        ...     url = ""
        ...     async def goto(self, url):
        ...         self.url = url
        ...         return MainDocument(status=503, headers={"Retry-After": "7"}, url=url)
        >>> page = Page()
        >>> doc = MainDocument.watch(page)
        >>> _ = asyncio.run(page.goto("https://a.com/p"))
        >>> doc.status, doc.headers, MainDocument.of(page) is doc
        (503, {'retry-after': '7'}, True)
    """

    status: int | None = None
    #: Lowercase names; a navigation's are read from its response only when asked for (a
    #: throttle, a sign of trouble): most rows never ask.
    headers: Mapping[str, str] = field(default_factory=dict)
    url: str = ""
    #: What the row's own evaluate read for the block-page check (built-in extractors, on an
    #: all-empty value), so that the tab need not ask the page again.
    text: PageText | None = None
    #: The page's URL when the row's own evaluate last read its document (:meth:`saw`): a
    #: ``history.replaceState`` may have changed it since the navigation, the document not.
    href: str = ""
    #: DOMContentLoaded events of the page's main frame so far, and their count when the noted
    #: navigation returned (or an evaluate last read the document): while they are equal, no
    #: new document has loaded since, and a URL that changed was changed by a script.
    documents: int = field(default=0, repr=False)
    _noted: int = field(default=0, repr=False)
    #: Whether ``documents`` is counted (a page object without Playwright's ``on``: never trusted).
    _counting: bool = field(default=False, repr=False)

    @classmethod
    def watch(cls, page: Any) -> MainDocument:
        """Record the responses of ``page``'s navigations from now on (once per page).

        ``page``'s own :data:`NAVIGATIONS` methods are wrapped (on this page object only):
        each returns the main document's final response, which is noted on its way back.
        """
        record = cls()
        on = getattr(page, "on", None)
        if callable(on):  # an event Playwright's client receives anyway: no subscription, no round trip
            on("domcontentloaded", lambda _page: record._loaded())
            record._counting = True
        for name in NAVIGATIONS:
            original = getattr(page, name, None)
            if original is not None:
                setattr(page, name, _noting(original, record, page))
        with contextlib.suppress(TypeError):  # an object that takes no weak reference: not findable
            _WATCHED[page] = record
        return record

    @classmethod
    def of(cls, page: Any) -> MainDocument | None:
        """The record :meth:`watch` keeps for ``page``, if any."""
        try:
            return _WATCHED.get(page)
        except TypeError:
            return None

    def note(self, response: Any) -> None:
        """Record a navigation's response (None: a navigation with none, e.g. to a fragment)."""
        if response is None:
            return
        try:
            self.status = int(response.status)
            self.headers = _ResponseHeaders(response)
            self.url = str(response.url)
            self._noted = self.documents
        except Exception:  # a response of a closing page: nothing to record
            pass

    def _loaded(self) -> None:
        self.documents += 1

    async def confirm(self, page: Any, timeout: float = 5.0) -> None:
        """Make the record the page's current document's, if a navigation not made through the
        wrapped methods (a click, a form, a script) replaced it: status and URL from Navigation
        Timing in one round trip (:meth:`saw`; a document still loading is given ``timeout`` to
        reach ``DOMContentLoaded`` first). No round trip while the page shows the noted
        navigation's URL or the one the row's own evaluate saw, nor when no document has loaded
        since and none is loading (a script changed the URL: ``history.replaceState``)."""
        url = str(getattr(page, "url", "") or "")
        known = (self.url, self.href)
        if not url.startswith(("http:", "https:")) or any(_same_document(url, u) for u in known):
            return
        if self.url and self._counting and self._noted == self.documents:
            try:
                # Answered in Python while the document has loaded: a new document's commit
                # clears the state (before the URL changes), so this waits for that one.
                await page.wait_for_load_state("domcontentloaded", timeout=timeout * 1000)
            except Exception:  # still loading: read what it is so far
                pass
            else:
                if self._noted == self.documents:
                    return
        with contextlib.suppress(Exception):
            self.saw(await asyncio.wait_for(page.evaluate(_NAVIGATION_SCRIPT), timeout))

    def saw(self, navigation: Any) -> None:
        """What an evaluate read of the page's document (:data:`NAVIGATION_JS`): if it is not the
        document the noted navigation loaded (another URL, or a document loaded since), its
        status and URL are taken (its headers are then unknown); either way the page's URL then
        is known to belong to this record. None (no navigation entry): nothing is learnt.

        Example:
            >>> doc = MainDocument(status=200, headers={"x": "1"}, url="https://a.com/p?q")
            >>> doc.saw(["https://a.com/p?q=", "https://a.com/p?q", 200])  # history.replaceState
            >>> doc.status, doc.headers, doc.href
            (200, {'x': '1'}, 'https://a.com/p?q=')
            >>> doc.saw(["https://a.com/next", "https://a.com/next", 429])  # a click navigated
            >>> doc.status, doc.headers, doc.url
            (429, {}, 'https://a.com/next')
        """
        if not navigation:
            return
        href, name, status = navigation
        # A document loaded since the noted one's (0 <= noted < documents: a reload of the same
        # URL too); unknown (-1: the page moved during the navigation): told by its URL.
        loaded_since = 0 <= self._noted != self.documents
        if loaded_since or not _same_document(str(name), self.url):
            self.status, self.headers, self.url = (int(status) or None), {}, str(name)
        self.href = str(href)
        self._noted = self.documents

    def reset(self) -> None:
        """Forget the last row's response (call before each row on a reused page)."""
        self.status, self.headers, self.url, self.text, self.href = None, {}, "", None, ""


def _noting(
    original: Callable[..., Awaitable[Any]], record: MainDocument, page: Any
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(original)
    async def navigate(*args: Any, **kwargs: Any) -> Any:
        before = record.documents
        response = await original(*args, **kwargs)
        record.note(response)
        if response is not None and (
            record.documents - before > 1 or not _same_document(str(getattr(page, "url", "")), record.url)
        ):
            # The page moved on while it loaded (a script's location.replace, a redirect on
            # DOMContentLoaded), or its URL did (history.replaceState): which document it is
            # now, only confirm() can tell (one round trip).
            record._noted = -1
        return response

    return navigate


class _ResponseHeaders(Mapping[str, str]):
    """A response's headers with lowercase names, read from it on first use (Playwright's client
    maps each header's value on every ``response.headers``: most rows never need them)."""

    __slots__ = ("_read", "_response")

    def __init__(self, response: Any) -> None:
        self._response: Any = response
        self._read: dict[str, str] | None = None

    def _headers(self) -> dict[str, str]:
        if self._read is None:
            try:
                self._read = {str(k).lower(): str(v) for k, v in dict(self._response.headers).items()}
            except Exception:  # a response of a closing page: none known
                self._read = {}
            self._response = None
        return self._read

    def __getitem__(self, name: str) -> str:
        return self._headers()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())

    def __repr__(self) -> str:
        return repr(self._headers())


def _same_document(a: str, b: str) -> bool:
    """Two URLs of one document: equal but for the fragment."""
    return a.partition("#")[0] == b.partition("#")[0]


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
