"""The HTTP path: fetch one URL with httpx, extract over the HTML, say done, failed or "needs a browser".

One :class:`httpx.AsyncClient` per run (:func:`make_client`: one connection pool,
HTTP/2 where the server offers it, redirects followed, gzip/deflate/br decoded).
:func:`fetch_extract` never raises for a row's trouble: it returns an
:class:`HttpOutcome` that is one of

* ``done``: ``values`` is the dict ``css()``/``page_summary`` returns in a browser;
* ``browser``: the row needs a browser (``reason`` says why: a selector not found,
  a script-rendered shell, a bot challenge, a 401/403, not HTML, a protocol error);
* ``failed``: ``failure`` is an :class:`anchorframe._core.retry.Failure` classified as
  the browser path classifies the same trouble (404 fails, 429/5xx and timeouts
  are retryable, connection errors are retryable ``navigation``).

The page's text is decoded as a browser decodes it (:mod:`anchorframe._render.charset`).

Example:
    >>> async def main(urls):  # doctest: +SKIP
    ...     async with make_client() as client:
    ...         return [await fetch_extract(client, u, {"name": "h1"}, timeout=30) for u in urls]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from .._core.retry import Failure, classify_failure, first_line
from .._core.tls import shared_ssl_context
from ..errors import RowFailed
from .challenge import detect_challenge
from .charset import decode_html
from .html import extract_html

__all__ = [
    "DEFAULT_USER_AGENT",
    "HttpOutcome",
    "HttpPage",
    "ProbeSummary",
    "fetch_extract",
    "fetch_page",
    "make_client",
    "probe",
]

#: A desktop Chrome's User-Agent: some sites answer unknown clients with a different page,
#: and the HTTP path must see what the browser path sees. Pass the browser's own to match exactly.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
#: Larger bodies are left to the browser (a parser holding a 20 MB page is the wrong tool).
MAX_BYTES = 20 * 1024 * 1024
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_REPLACE_WITH_BROWSER = (401, 403)


def make_client(
    *,
    max_connections: int = 64,
    http2: bool = True,
    user_agent: str = DEFAULT_USER_AGENT,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """The run's one HTTP client: a pool of ``max_connections``, HTTP/2, redirects followed.

    HTTP/2 needs the ``h2`` package (``httpx[http2]``); without it the client speaks HTTP/1.1.

    Example:
        >>> client = make_client(max_connections=8)
        >>> client.follow_redirects
        True
    """
    if http2:
        try:
            import h2  # noqa: F401  (httpx imports it itself; checked here to fall back quietly)
        except ImportError:
            http2 = False
    base = {
        "User-Agent": user_agent,
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "en-US,en;q=0.9",
    }
    return httpx.AsyncClient(
        http2=http2,
        follow_redirects=True,
        max_redirects=20,  # Chromium's limit
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        headers={**base, **(headers or {})},
        # No per-phase limits of the client's own (httpx's default is 5 s): each request
        # gets the row's timeout, and fetch_extract bounds the whole row with it.
        timeout=None,
        verify=shared_ssl_context(),
    )


@dataclass(frozen=True)
class HttpPage:
    """A fetched page: where it ended up, its status and headers (lowercase names), its decoded HTML."""

    url: str
    final_url: str
    status: int
    reason_phrase: str
    headers: dict[str, str]
    html: str
    encoding: str
    http_version: str
    nbytes: int


@dataclass(frozen=True)
class HttpOutcome:
    """What the HTTP path made of a row; see the module docstring.

    Example:
        >>> HttpOutcome("http://x/", "browser", reason="selector '.price' (price) not found").needs_browser
        True
    """

    url: str
    route: Literal["done", "browser", "failed"]
    values: dict[str, Any] | None = None
    reason: str | None = None
    failure: Failure | None = None
    final_url: str | None = None
    status: int | None = None
    challenge: str | None = None
    elapsed: float = 0.0
    nbytes: int = 0
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    #: Fields whose selector matched nothing in the complete page (their values are None).
    absent: tuple[str, ...] = ()
    #: The scripts the page runs (``challenge.scan_scripts``): what may write an absent field.
    scripts: frozenset[str] = frozenset()

    @property
    def done(self) -> bool:
        return self.route == "done"

    @property
    def needs_browser(self) -> bool:
        return self.route == "browser"

    @property
    def failed(self) -> bool:
        return self.route == "failed"


async def fetch_extract(
    client: httpx.AsyncClient,
    url: str,
    selectors: Mapping[str, str] | None,
    *,
    timeout: float | None,
    absent: Literal["browser", "missing"] = "browser",
) -> HttpOutcome:
    """Fetch ``url`` and extract ``selectors`` (``None``: the page summary) within ``timeout`` seconds.

    ``absent``: what a selector matching nothing in a complete page means (see ``extract_html``).

    The timeout covers the whole row (connect, redirects, body, parse), as the
    browser path's per-row timeout does.
    """
    started = time.perf_counter()
    try:
        if timeout is None:
            return await _fetch_extract(client, url, selectors, started, None, absent)
        return await asyncio.wait_for(
            _fetch_extract(client, url, selectors, started, timeout, absent), timeout
        )
    except (asyncio.TimeoutError, httpx.TimeoutException) as exc:
        failure = classify_failure(TimeoutError(), timeout)
        if isinstance(exc, httpx.TimeoutException):
            failure = Failure("timeout", True, type(exc).__name__, failure.message)
        return HttpOutcome(url, "failed", reason=failure.message, failure=failure, elapsed=_since(started))


@dataclass(frozen=True)
class ProbeSummary:
    """What a sample of URLs showed over HTTP (``af.plan(probe=N)``): counts and why rows need a browser."""

    done: int
    needs_browser: int
    failed: int
    reasons: dict[str, int]

    @property
    def browser_share(self) -> float | None:
        """The share of answered rows (done or needing a browser) that need one; None if none answered."""
        answered = self.done + self.needs_browser
        return self.needs_browser / answered if answered else None


async def probe(
    urls: Iterable[str],
    selectors: Mapping[str, str] | None,
    *,
    timeout: float = 15.0,
    concurrency: int = 8,
    client: httpx.AsyncClient | None = None,
) -> ProbeSummary:
    """Try ``urls`` over HTTP (no browser) to estimate the share of rows that will need one.

    Example:
        >>> summary = asyncio.run(probe(sample_urls, {"name": "h1"}))  # doctest: +SKIP
        >>> summary.browser_share  # doctest: +SKIP
        0.25
    """
    owned = client is None
    active = client if client is not None else make_client(max_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)

    async def one(url: str) -> HttpOutcome:
        async with gate:
            return await fetch_extract(active, url, selectors, timeout=timeout)

    try:
        outcomes = await asyncio.gather(*(one(url) for url in urls))
    finally:
        if owned:
            await active.aclose()
    reasons: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.needs_browser:
            # "selector '.price' (price) not found" -> "selector not found": a short, countable reason
            key = _reason_kind(outcome.reason or "")
            reasons[key] = reasons.get(key, 0) + 1
    return ProbeSummary(
        done=sum(o.done for o in outcomes),
        needs_browser=sum(o.needs_browser for o in outcomes),
        failed=sum(o.failed for o in outcomes),
        reasons=reasons,
    )


def _reason_kind(reason: str) -> str:
    for kind in ("selector", "shell", "challenge", "not HTML", "HTTP 40", "larger than", "could not read"):
        if kind in reason:
            return {"HTTP 40": "HTTP 401/403", "larger than": "too large"}.get(kind, kind)
    return "other"


async def _fetch_extract(
    client: httpx.AsyncClient,
    url: str,
    selectors: Mapping[str, str] | None,
    started: float,
    timeout: float | None,
    absent: Literal["browser", "missing"] = "browser",
) -> HttpOutcome:
    try:
        page = await fetch_page(client, url, timeout=timeout)
    except _TooLarge as exc:
        return HttpOutcome(url, "browser", reason=str(exc), elapsed=_since(started))
    except (httpx.RemoteProtocolError, httpx.DecodingError, httpx.LocalProtocolError) as exc:
        # A browser's network stack copes with some servers httpx rejects: let it try.
        reason = f"the HTTP client could not read the response ({type(exc).__name__}: {first_line(exc)})"
        return HttpOutcome(url, "browser", reason=reason, elapsed=_since(started))
    except (httpx.TransportError, httpx.TooManyRedirects, httpx.InvalidURL) as exc:
        message = f"{first_line(exc) or type(exc).__name__} (navigating to {url})"
        failure = Failure("navigation", not isinstance(exc, httpx.InvalidURL), type(exc).__name__, message)
        return HttpOutcome(url, "failed", reason=message, failure=failure, elapsed=_since(started))

    common: dict[str, Any] = {
        "final_url": page.final_url,
        "status": page.status,
        "nbytes": page.nbytes,
        "headers": page.headers,
    }
    content_type = page.headers.get("content-type", "").split(";")[0].strip().lower()
    is_html = content_type in _HTML_TYPES or (not content_type and page.html.lstrip()[:1] == "<")
    if page.status >= 400:
        if is_html:
            # A block page is often a 403/503 with a challenge: the browser may pass it.
            challenge = detect_challenge(page.html, status=page.status, headers=page.headers)
            if challenge is not None:
                reason = f"bot challenge ({challenge.vendor}: {challenge.marker!r})"
                return HttpOutcome(
                    url,
                    "browser",
                    reason=reason,
                    challenge=challenge.vendor,
                    elapsed=_since(started),
                    **common,
                )
        if page.status in _REPLACE_WITH_BROWSER:
            reason = f"HTTP {page.status} to a plain HTTP client; a browser may be let in"
            return HttpOutcome(url, "browser", reason=reason, elapsed=_since(started), **common)
        error = RowFailed(
            "http_error",
            f"HTTP {page.status} {page.reason_phrase}".strip() + f" for {url}",
            retryable=page.status >= 500 or page.status == 429,
        )
        failure = classify_failure(error)
        return HttpOutcome(
            url, "failed", reason=failure.message, failure=failure, elapsed=_since(started), **common
        )
    if not is_html:
        reason = f"the response is not HTML ({content_type or 'no Content-Type'})"
        return HttpOutcome(url, "browser", reason=reason, elapsed=_since(started), **common)
    try:
        result = extract_html(
            page.html,
            selectors,
            final_url=page.final_url,
            status=page.status,
            headers=page.headers,
            absent=absent,
        )
    except Exception as exc:  # a parser bug must cost a browser row, not the run
        reason = f"the HTML parser failed ({type(exc).__name__}: {first_line(exc)})"
        return HttpOutcome(url, "browser", reason=reason, elapsed=_since(started), **common)
    if result.values is None:
        return HttpOutcome(
            url, "browser", reason=result.needs_browser, challenge=result.challenge,
            elapsed=_since(started), **common,
        )  # fmt: skip
    return HttpOutcome(
        url,
        "done",
        values=result.values,
        absent=result.absent,
        scripts=result.scripts,
        elapsed=_since(started),
        **common,
    )


class _TooLarge(Exception):
    pass


async def fetch_page(
    client: httpx.AsyncClient, url: str, *, timeout: float | None = None, max_bytes: int = MAX_BYTES
) -> HttpPage:
    """GET ``url`` (redirects followed) and decode its body; httpx's errors pass through.

    ``timeout`` bounds each phase (connect, each read); :func:`fetch_extract` bounds the whole.
    """
    async with client.stream("GET", url, timeout=timeout) as response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise _TooLarge(f"the page is larger than {max_bytes // (1024 * 1024)} MB")
            chunks.append(chunk)
    body = b"".join(chunks)
    headers = {k.lower(): v for k, v in response.headers.items()}
    html, encoding = decode_html(body, headers.get("content-type", ""))
    return HttpPage(
        url=url,
        final_url=_final_url(url, str(response.url)),
        status=response.status_code,
        reason_phrase=response.reason_phrase,
        headers=headers,
        html=html,
        encoding=encoding,
        http_version=response.http_version,
        nbytes=size,
    )


def _final_url(requested: str, final: str) -> str:
    """The final URL as a browser's ``page.url`` shows it.

    Example:
        >>> _final_url("http://Example.com#top", "http://example.com")
        'http://example.com/#top'
    """
    parts = urlsplit(final)
    if not parts.path and parts.scheme in ("http", "https"):
        parts = parts._replace(path="/")  # browsers show the root path; httpx leaves it out
    # Browsers keep the requested URL's #fragment across redirects that carry none; httpx drops it.
    fragment = requested.partition("#")[2]
    if fragment and not parts.fragment:
        parts = parts._replace(fragment=fragment)
    return urlunsplit(parts)


def _since(started: float) -> float:
    return time.perf_counter() - started
