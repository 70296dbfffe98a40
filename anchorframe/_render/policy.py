"""Learning per site which rows need a browser (render="auto"). No I/O.

Every row starts over HTTP. The engine tells the policy what each HTTP attempt
showed (:meth:`RenderPolicy.record`): done over HTTP, or needed a browser. Outcomes
are kept per *pattern* (host and first path segment, digits collapsed:
``shop.example/products/*``) and per host.

* **Browser-first** once the last :attr:`~RenderPolicy.window` (default 4) HTTP
  attempts of a pattern all needed the browser; a pattern with fewer attempts
  follows its host's last ``window`` attempts. Its rows then go straight to the
  browser, saving an HTTP round trip each.
* **Probes:** a browser-first row is still tried over HTTP with probability
  :attr:`~RenderPolicy.probe_rate` (default 5 %, one row in twenty). The draw is a
  hash of the seed and the URL, so it does not depend on the order rows arrive in
  (concurrency), and a run is reproducible. A probe that succeeds over HTTP puts
  the pattern back to HTTP-first at once.
* Failed HTTP attempts (timeouts, 404...) say nothing about rendering: not recorded.

Example:
    >>> policy = RenderPolicy(seed=1)
    >>> for n in range(4):
    ...     policy.record(f"https://app.example/dash/{n}", "browser")
    >>> policy.choose("https://app.example/dash/99"), policy.choose("https://docs.example/")
    ('browser', 'http')
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = ["RenderPolicy", "Route", "pattern_key"]

Route = Literal["http", "browser"]

_DIGITS = re.compile(r"\d+")


def pattern_key(url: str) -> tuple[str, str]:
    """(host, path pattern) for ``url``: the first path segment with digit runs as ``#``.

    Example:
        >>> pattern_key("https://Shop.example:8443/products/123?x=1")
        ('shop.example:8443', '/products/*')
        >>> pattern_key("https://shop.example/item-42")
        ('shop.example', '/item-#')
    """
    try:
        parts = urlsplit(url)
        host = (parts.netloc.rpartition("@")[2] or "").lower()
        path = parts.path
    except ValueError:  # a malformed URL still gets a (shared) bucket
        host, path = "", url
    segments = [s for s in path.split("/") if s]
    if not segments:
        return host, "/"
    first = _DIGITS.sub("#", segments[0].lower())
    return host, f"/{first}/*" if len(segments) > 1 else f"/{first}"


@dataclass
class _History:
    last: deque[bool]  # True: the attempt needed a browser
    http_done: int = 0
    needed_browser: int = 0

    def browser_first(self, window: int) -> bool:
        return len(self.last) >= window and all(self.last)


@dataclass
class RenderPolicy:
    """Decides ``"http"`` or ``"browser"`` per URL and learns from each HTTP attempt.

    Args:
        window: how many most recent HTTP attempts of a pattern must all have needed
            the browser before its rows go straight to the browser.
        probe_rate: the share of browser-first rows still tried over HTTP.
        seed: makes the probe draws reproducible.
    """

    window: int = 4
    probe_rate: float = 0.05
    seed: int = 0
    _patterns: dict[tuple[str, str], _History] = field(default_factory=dict, repr=False)
    _hosts: dict[str, _History] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window={self.window}: it must be at least 1 attempt.")
        if not 0.0 <= self.probe_rate <= 1.0:
            raise ValueError(f"probe_rate={self.probe_rate}: it must be between 0 and 1.")

    def choose(self, url: str) -> Route:
        """``"browser"`` when the URL's pattern (or host) is browser-first and this is no probe."""
        if not self.browser_first(url):
            return "http"
        return "http" if self._draw(url) < self.probe_rate else "browser"

    def browser_first(self, url: str) -> bool:
        """True when rows like ``url`` have kept needing the browser (probes aside)."""
        host, pattern = pattern_key(url)
        history = self._patterns.get((host, pattern))
        if history is not None and len(history.last) >= self.window:
            return history.browser_first(self.window)
        host_history = self._hosts.get(host)
        return host_history is not None and host_history.browser_first(self.window)

    def record(self, url: str, outcome: Route | Any) -> None:
        """Learn from an HTTP attempt: ``"http"`` (done over HTTP) or ``"browser"`` (needed one).

        An :class:`anchorframe._render.http.HttpOutcome` may be passed as it is: ``done`` counts
        as ``"http"``, ``browser`` as ``"browser"``; a failed attempt is ignored.
        """
        route = getattr(outcome, "route", outcome)
        if route == "done":
            route = "http"
        if route not in ("http", "browser"):
            return  # a failure (or anything else) says nothing about rendering
        needed = route == "browser"
        host, pattern = pattern_key(url)
        for history in (
            self._patterns.setdefault((host, pattern), self._new()),
            self._hosts.setdefault(host, self._new()),
        ):
            history.last.append(needed)
            if needed:
                history.needed_browser += 1
            else:
                history.http_done += 1

    def browser_share(self, host: str | None = None) -> float | None:
        """The share of recorded HTTP attempts that needed a browser (all hosts, or one); None if none.

        Example:
            >>> policy = RenderPolicy()
            >>> policy.record("https://a.example/x", "http"); policy.record("https://a.example/y", "browser")
            >>> policy.browser_share()
            0.5
        """
        histories = list(self._hosts.values()) if host is None else [self._hosts.get(host.lower())]
        needed = sum(h.needed_browser for h in histories if h is not None)
        total = needed + sum(h.http_done for h in histories if h is not None)
        return needed / total if total else None

    def _new(self) -> _History:
        return _History(deque(maxlen=self.window))

    def _draw(self, url: str) -> float:
        digest = hashlib.blake2b(f"{self.seed}\x00{url}".encode(errors="replace"), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64
