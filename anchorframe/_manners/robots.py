"""robots.txt: fetched once per origin per run, parsed with protego, asked before a row starts.

RFC 9309 (the Robots Exclusion Protocol) scopes a robots.txt to one origin
(scheme, host and port, §2.3), so the cache here is keyed by origin; a site
(:func:`anchorframe._manners.sites.site_key`) may span several.

What an answer means (RFC 9309 §2.3.1):

* **2xx**: the file's rules, for the group of :data:`ROBOTS_AGENT` (or ``*``).
  Only its first 500 KiB are read (§2.5 asks parsers to read at least that much).
* **3xx**: followed, up to five hops (§2.3.1.2).
* **4xx** ("unavailable", §2.3.1.3): no rules; everything is allowed. 429 is
  the exception: it is the server saying "slow down", so it counts as below.
* **No connection at all** (the name does not resolve, the port is closed):
  the page itself cannot be fetched either, so the row is let through to fail
  with that cause (``navigation``, retried as any row), and robots.txt is asked
  again for the next row; nothing is cached. Were it read as a disallow, an
  unreachable host's rows would come back ``skipped`` for a reason that hides
  the real one.
* **5xx, 429 or a timeout** ("unreachable", §2.3.1.4): the
  RFC says the crawler MUST assume a complete disallow. We do, after one
  second try, for the rest of the run: a row is never fetched against a site's
  wishes because its robots.txt was briefly down; the rows come back
  ``skipped`` with reason ``robots_txt``, and the message says so (and that
  ``robots=False`` turns the check off). Google does the same for 5xx
  (https://developers.google.com/search/docs/crawling-indexing/robots/robots_txt).

``Crawl-delay`` (not in the RFC, but widely used) is exposed per origin by
:meth:`RobotsCache.crawl_delay`; the engine hands it to
:meth:`anchorframe._manners.sites.SiteGate.set_min_delay`.

Concurrent callers for one origin share one fetch: a hundred tabs starting at
once ask the server once.

Example:
    >>> async def main():  # doctest: +SKIP
    ...     async with RobotsCache() as robots:
    ...         verdict = await robots.check("https://example.com/private/1")
    ...         return verdict.allowed, verdict.crawl_delay
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .._core.tls import shared_ssl_context

__all__ = [
    "MAX_ROBOTS_BYTES",
    "ROBOTS_AGENT",
    "USER_AGENT",
    "RobotsCache",
    "RobotsVerdict",
    "origin_of",
]

#: The product token matched against ``User-agent:`` lines (RFC 9309 §2.2.1: letters, ``_`` and ``-``).
ROBOTS_AGENT = "anchorframe"
#: The User-Agent header of the robots.txt request itself.
USER_AGENT = f"{ROBOTS_AGENT} (+https://pypi.org/project/anchorframe/)"
#: Bytes of a robots.txt read at most (RFC 9309 §2.5: at least 500 KiB must be parsed).
MAX_ROBOTS_BYTES = 500 * 1024
#: Redirect hops followed to reach a robots.txt (RFC 9309 §2.3.1.2: at least five).
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class RobotsVerdict:
    """Whether a URL may be fetched, and why not when it may not."""

    allowed: bool
    crawl_delay: float | None
    #: A whole sentence for ``result.errors`` when not allowed ("" when allowed).
    message: str = ""


@dataclass(frozen=True)
class _Rules:
    parser: Any  # a protego.Protego, or None: no rules (allow all)
    disallow_all: bool
    why: str  # for an unreachable robots.txt: what happened
    #: No connection could be made: allow this row, cache nothing (see the module docstring).
    no_connection: bool = False


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, the scope of one robots.txt (RFC 9309 §2.3).

    Example:
        >>> origin_of("https://Shop.Example.com:443/a?b=1"), origin_of("http://127.0.0.1:8080/x")
        ('https://shop.example.com', 'http://127.0.0.1:8080')
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


class RobotsCache:
    """robots.txt of every origin a run touches, fetched at most once each; see the module docstring.

    Args:
        agent: the product token matched against ``User-agent:`` lines.
        user_agent: the User-Agent header sent when fetching robots.txt.
        timeout: seconds for one fetch (connect + read), short: a robots.txt is small.
        client: an ``httpx.AsyncClient`` to use (not closed here); one is made otherwise.
        retry_delay: seconds before the second try at an unreachable robots.txt.
    """

    def __init__(
        self,
        *,
        agent: str = ROBOTS_AGENT,
        user_agent: str = USER_AGENT,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
        retry_delay: float = 1.0,
    ) -> None:
        self.agent = agent
        self.user_agent = user_agent
        self.timeout = timeout
        self.retry_delay = retry_delay
        self._own_client = client is None
        self._client = client
        self._rules: dict[str, asyncio.Future[_Rules]] = {}
        #: Origins fetched, in order (for the summary and tests).
        self.fetched: list[str] = []

    async def __aenter__(self) -> RobotsCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop fetches still under way and close the HTTP client if this cache made it."""
        pending = [future for future in self._rules.values() if not future.done()]
        for future in pending:
            future.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None and self._own_client:
            await client.aclose()

    async def check(self, url: str) -> RobotsVerdict:
        """Whether ``url`` may be fetched, fetching its origin's robots.txt on first use."""
        origin = origin_of(url)
        future = self._rules.get(origin)
        if future is None:
            future = self._rules[origin] = asyncio.ensure_future(self._load(origin))
        rules = await asyncio.shield(future)
        if rules.no_connection:
            if self._rules.get(origin) is future:
                del self._rules[origin]  # ask again for the next row of this origin
            return RobotsVerdict(True, None)
        return self._verdict(rules, url, origin)

    async def allowed(self, url: str) -> bool:
        """Whether ``url`` may be fetched (:meth:`check` without the details)."""
        return (await self.check(url)).allowed

    def crawl_delay(self, url: str) -> float | None:
        """The ``Crawl-delay`` for our agent at ``url``'s origin, once its robots.txt is known."""
        future = self._rules.get(origin_of(url))
        if future is None or not future.done() or future.cancelled() or future.exception():
            return None
        parser = future.result().parser
        delay = parser.crawl_delay(self.agent) if parser is not None else None
        return float(delay) if delay is not None else None

    def _verdict(self, rules: _Rules, url: str, origin: str) -> RobotsVerdict:
        if rules.disallow_all:
            return RobotsVerdict(
                False,
                None,
                f"{origin}/robots.txt could not be fetched ({rules.why}); RFC 9309 says to treat every "
                "path as disallowed then. Pass robots=False to scrape this site anyway.",
            )
        if rules.parser is None:
            return RobotsVerdict(True, None)
        delay = self.crawl_delay(url)
        if rules.parser.can_fetch(url, self.agent):
            return RobotsVerdict(True, delay)
        return RobotsVerdict(
            False,
            delay,
            f"{origin}/robots.txt disallows this path for {self.agent!r}. "
            "Pass robots=False to scrape it anyway (only where you have the right to).",
        )

    async def _load(self, origin: str) -> _Rules:
        self.fetched.append(origin)
        rules = await self._fetch(origin)
        # One more try: a blip should not cost a whole site.
        if rules.disallow_all and not rules.no_connection:
            await asyncio.sleep(self.retry_delay)
            rules = await self._fetch(origin)
        return rules

    async def _fetch(self, origin: str) -> _Rules:
        if self._client is None:
            self._client = httpx.AsyncClient(verify=shared_ssl_context())
            self._own_client = True
        url = f"{origin}/robots.txt"
        try:
            for _ in range(MAX_REDIRECTS + 1):
                status, location, body = await asyncio.wait_for(self._get(url), self.timeout)
                if 300 <= status < 400 and location:
                    url = str(httpx.URL(url).join(location))
                    continue
                break
            else:
                return _Rules(None, False, "")  # too many redirects: RFC 9309 §2.3.1.2, unavailable
        except (httpx.ConnectError, ConnectionRefusedError) as exc:
            return _Rules(None, True, type(exc).__name__, no_connection=True)
        except (httpx.HTTPError, OSError, asyncio.TimeoutError) as exc:
            timed_out = isinstance(exc, (asyncio.TimeoutError, httpx.TimeoutException))
            what = "no answer in time" if timed_out else type(exc).__name__
            return _Rules(None, True, what)
        if 200 <= status < 300:
            import protego

            text = body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
            return _Rules(protego.Protego.parse(text), False, "")
        if status == 429 or status >= 500:
            return _Rules(None, True, f"HTTP {status}")
        return _Rules(None, False, "")  # 4xx (and odd 1xx/3xx without a Location): no rules

    async def _get(self, url: str) -> tuple[int, str | None, bytes]:
        assert self._client is not None
        request = self._client.build_request(
            "GET", url, headers={"User-Agent": self.user_agent}, timeout=self.timeout
        )
        response = await self._client.send(request, stream=True, follow_redirects=False)
        try:
            body = b""
            if 200 <= response.status_code < 300:
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= MAX_ROBOTS_BYTES:
                        break
            return response.status_code, response.headers.get("location"), body
        finally:
            await response.aclose()
