"""FakeBackend: an in-memory backend for testing the engine without a browser. A fake, by design.

Its sessions hand out pages that are plain Python objects: ``goto`` looks the
URL up in a table of documents (or asks a function), ``inner_text`` and
``title`` read from the document, and nothing is rendered. Failures are
injected by configuration: sessions that fail to provision, a session that dies
after some rows, pages that raise or hang. It exists for two jobs: the engine's
decisions are tested against it in milliseconds, and the engine's own cost is
benchmarked on it (``benchmarks/``) with no browser in the way. Real runs use
:class:`~anchorframe.LocalBackend` or :class:`~anchorframe.AnchorBackend`.

Example:
    >>> import anchorframe as af
    >>> from anchorframe.backends.fake import FakeBackend
    >>> async def heading(page, row):
    ...     await page.goto(row.url)
    ...     return {"h1": await page.inner_text("h1")}
    >>> backend = FakeBackend(documents=lambda url: {"h1": url.rsplit("/", 1)[-1]})
    >>> af.scrape(["https://example.com/a", "https://example.com/b"], heading,
    ...           backend=backend, progress=False).results["h1"].tolist()
    ['a', 'b']
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._base import Backend, Provisioned, ProvisionFailure, SessionHandle, SessionPool

if TYPE_CHECKING:
    from .._core.plan import Plan

__all__ = ["FakeBackend", "FakeDocument", "FakeError"]


class FakeError(Exception):
    """What a fake page raises; its message mimics the browser error it stands for."""


@dataclass
class FakeDocument:
    """A page of the fake web: an HTTP status and the text of each selector."""

    status: int = 200
    texts: dict[str, str] = field(default_factory=dict)
    title: str = ""
    #: Seconds ``goto`` takes (awaited: the engine's timeout applies).
    delay: float = 0.0
    #: Raise this from ``goto`` instead of loading (e.g. ``FakeError("net::ERR_CONNECTION_REFUSED")``).
    error: BaseException | None = None
    #: Response headers (e.g. ``{"retry-after": "2"}`` with a 429).
    headers: dict[str, str] = field(default_factory=dict)


Documents = Callable[[str], "FakeDocument | Mapping[str, str] | None"]


class FakeBackend(Backend):
    """An in-memory backend (see the module docstring): for tests and engine benchmarks only.

    Args:
        documents: URL -> FakeDocument (or a dict of selector -> text, or None for a 404).
            Default: every URL answers 200 with ``{"h1": <the URL>}``.
        fail_provision: session numbers (1-based, in provisioning order) that fail to provision.
        lose_after: session number -> rows after which that session's browser "dies".
        provision_delay: seconds each session takes to become ready.
        capacity: at most this many sessions at once; beyond it, provisioning fails with
            ``reason="session_limit"`` and this capacity (as an account's concurrency cap).
    """

    name = "fake"
    kind = "local"
    web = False  # its pages are in memory: no robots.txt to ask, and no network to ask it on

    def __init__(
        self,
        documents: Documents | None = None,
        *,
        fail_provision: frozenset[int] | set[int] = frozenset(),
        lose_after: Mapping[int, int] | None = None,
        provision_delay: float = 0.0,
        capacity: int | None = None,
    ) -> None:
        self.documents = documents or (lambda url: FakeDocument(texts={"h1": url}))
        self.fail_provision = frozenset(fail_provision)
        self.lose_after = dict(lose_after or {})
        self.provision_delay = provision_delay
        self.capacity = capacity
        #: URL -> how many times a page loaded it, over every run of this backend.
        self.hits: Counter[str] = Counter()
        self.sessions_started = 0
        self.live = 0
        #: Contexts made with new_context(), and the most open at once in one browser.
        self.contexts_made = 0
        self.most_contexts = 0
        # A plain int, not itertools.count: the backend pickles (to shards, with a result) on every
        # Python (itertools objects stop pickling in 3.14 and warn in 3.12-3.13).
        self._last_number = 0
        self._pools: list[_FakePool] = []

    def open_pool(self, run_id: str, plan: Plan | None = None) -> SessionPool:
        pool = _FakePool(self)
        self._pools.append(pool)
        return pool

    def kill_session(self) -> str | None:
        """Make the browser of one live session "die" now (as a crash would); returns its name."""
        for pool in self._pools:
            for name, browser in pool.browsers.items():
                if browser.connected:
                    browser.disconnect()
                    return name
        return None

    def describe(self) -> str:
        return "fake (in-memory)"

    def document(self, url: str) -> FakeDocument:
        found = self.documents(url)
        if found is None:
            return FakeDocument(status=404)
        if isinstance(found, FakeDocument):
            return found
        return FakeDocument(texts=dict(found))


class _FakePool(SessionPool):
    uses_playwright = False

    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend
        self.browsers: dict[str, _FakeBrowser] = {}

    async def provision(self, count: int) -> AsyncIterator[Provisioned]:  # type: ignore[override]
        backend = self.backend
        for _ in range(count):
            backend._last_number += 1
            number = backend._last_number
            if backend.provision_delay:
                await asyncio.sleep(backend.provision_delay)
            if number in backend.fail_provision:
                yield ProvisionFailure(
                    f"Fake session {number} failed to provision.", session_id=f"fake-{number}"
                )
                continue
            if backend.capacity is not None and backend.live >= backend.capacity:
                yield ProvisionFailure(
                    f"The account would exceed its limit of {backend.capacity} live session(s).",
                    session_id=f"fake-{number}",
                    reason="session_limit",
                    replaceable=False,
                    capacity=backend.capacity,
                )
                continue
            backend.sessions_started += 1
            backend.live += 1
            name = f"fake-{number}"
            self.browsers[name] = _FakeBrowser(backend, backend.lose_after.get(number))
            yield SessionHandle(session_id=name, cdp_url=f"fake://{name}", ready_s=backend.provision_delay)

    async def connect(self, handle: SessionHandle, playwright: Any, timeout: float) -> Any:
        return self.browsers[handle.session_id]

    async def end_session(self, handle: SessionHandle) -> None:
        browser = self.browsers.pop(handle.session_id, None)
        if browser is not None:
            self.backend.live -= 1
            browser.disconnect(notify=False)

    async def aclose(self) -> None:
        for name in list(self.browsers):
            await self.end_session(SessionHandle(session_id=name, cdp_url=""))


class _FakeBrowser:
    def __init__(self, backend: FakeBackend, lose_after: int | None) -> None:
        self.backend = backend
        self.lose_after = lose_after
        self.loads = 0
        self.connected = True
        self.contexts: list[_FakeContext] = [_FakeContext(self)]
        self._listeners: list[Callable[[Any], Any]] = []

    def on(self, event: str, callback: Callable[[Any], Any]) -> None:
        if event == "disconnected":
            self._listeners.append(callback)

    def is_connected(self) -> bool:
        return self.connected

    async def new_context(self, **options: Any) -> _FakeContext:
        context = _FakeContext(self)
        self.contexts.append(context)
        self.backend.contexts_made += 1
        self.backend.most_contexts = max(self.backend.most_contexts, len(self.contexts))
        return context

    async def close(self) -> None:
        self.disconnect(notify=False)

    def disconnect(self, *, notify: bool = True) -> None:
        if not self.connected:
            return
        self.connected = False
        if notify:
            for callback in self._listeners:
                callback(self)


class _FakeContext:
    def __init__(self, browser: _FakeBrowser) -> None:
        self.browser = browser

    async def new_page(self) -> _FakePage:
        if not self.browser.connected:
            raise FakeError("Target page, context or browser has been closed")
        return _FakePage(self.browser)

    async def route(self, pattern: str, handler: Any) -> None:
        pass

    async def set_extra_http_headers(self, headers: dict[str, str]) -> None:
        pass

    async def close(self) -> None:
        if self in self.browser.contexts:
            self.browser.contexts.remove(self)


@dataclass
class _FakeRequest:
    def is_navigation_request(self) -> bool:
        return True


@dataclass
class _FakeResponse:
    status: int
    status_text: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    url: str = ""
    frame: Any = None
    request: _FakeRequest = field(default_factory=_FakeRequest)


class _FakePage:
    def __init__(self, browser: _FakeBrowser) -> None:
        self.browser = browser
        self.url = "about:blank"
        self.document: FakeDocument | None = None
        self.closed = False
        #: The page's one frame (responses of its navigations name it, as Playwright's do).
        self.main_frame = object()
        self._on_response: list[Callable[[Any], Any]] = []

    def set_default_timeout(self, milliseconds: float) -> None:
        pass

    def on(self, event: str, callback: Callable[[Any], Any]) -> None:
        if event == "response":
            self._on_response.append(callback)

    def is_closed(self) -> bool:
        return self.closed

    async def close(self) -> None:
        self.closed = True

    def _check(self) -> None:
        if not self.browser.connected:
            raise FakeError("Target page, context or browser has been closed")

    async def goto(self, url: str, **options: Any) -> _FakeResponse:
        self._check()
        browser = self.browser
        if browser.lose_after is not None and browser.loads >= browser.lose_after:
            browser.disconnect()
            raise FakeError("Target page, context or browser has been closed")
        browser.loads += 1
        browser.backend.hits[url] += 1
        document = browser.backend.document(url)
        # A real page load always yields to the event loop; so does the fake one.
        await asyncio.sleep(document.delay)
        if document.error is not None:
            raise document.error
        self.url = url
        self.document = document
        headers = dict(document.headers)
        response = _FakeResponse(document.status, headers=headers, url=url, frame=self.main_frame)
        for callback in self._on_response:
            callback(response)
        return response

    async def inner_text(self, selector: str, **options: Any) -> str:
        self._check()
        texts = self.document.texts if self.document else {}
        if selector not in texts:
            raise FakeError(f"Timeout waiting for selector {selector!r}")
        return texts[selector]

    async def title(self) -> str:
        self._check()
        return self.document.title if self.document else ""
