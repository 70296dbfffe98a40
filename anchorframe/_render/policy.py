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

**A field absent from a complete page** (real text, not a script shell, not a challenge) is
not, by itself, a reason for a browser: optional fields (a badge, a discount, a second
author) are missing on real pages all the time, and a browser finds them missing too. What
a browser would add is learnt per *section* (host and first path directory:
``docs.example/library/*``; files at the root share ``docs.example/``), field by field
(:meth:`RenderPolicy.absent_route`):

* the section's HTML has shown the field on another page: it is an optional field, missing
  here (no browser);
* the section has not, but pages elsewhere on the site have shown it in their HTML or a
  browser found it missing there too, and this page runs no script those pages do not
  (:func:`~anchorframe._render.challenge.scan_scripts`: script file names and inline code,
  hashes and numbers collapsed): no script here could write it, so it is missing (an index
  page without the "next" link of the others);
* a browser found the field where the HTML lacked it (a check, below): JavaScript writes it
  in this section, so its rows without it in the HTML go to the browser;
* a browser found it missing too, :attr:`~RenderPolicy.confirm` times (default 2): missing;
* nothing known yet: the row waits for the section's other pages (``"wait"``), then is
  *checked in a browser* (``"check"``): its values there are the row's, and they teach the
  section (:meth:`RenderPolicy.checked`).

Example:
    >>> policy = RenderPolicy(seed=1)
    >>> for n in range(4):
    ...     policy.record(f"https://app.example/dash/{n}", "browser")
    >>> policy.choose("https://app.example/dash/99"), policy.choose("https://docs.example/")
    ('browser', 'http')
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = ["AbsentRoute", "RenderPolicy", "Route", "pattern_key", "section_key", "stable_draw"]

Route = Literal["http", "browser"]
#: What a complete page's absent fields mean for its row; see the module docstring.
AbsentRoute = Literal["missing", "browser", "check", "wait"]

_DIGITS = re.compile(r"\d+")


@functools.lru_cache(maxsize=1024)  # a row asks twice (what was learnt, then what it saw)
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


def section_key(url: str) -> tuple[str, str]:
    """(host, first directory) for ``url``: where a field absent from the HTML is judged.

    Example:
        >>> section_key("https://docs.example/library/os.html"), section_key("https://docs.example/faq.html")
        (('docs.example', '/library/*'), ('docs.example', '/'))
    """
    host, pattern = pattern_key(url)
    return (host, pattern) if pattern.endswith("/*") else (host, "/")


@dataclass
class _Fields:
    """What one section taught about its fields."""

    present: set[str] = field(default_factory=set)  # shown by the HTML of some page
    verdict: dict[str, Literal["browser", "missing"]] = field(default_factory=dict)
    confirmed: dict[str, int] = field(default_factory=dict)  # browser checks that found it missing too


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
    #: Browser checks that must find a field missing too before its absence is trusted.
    confirm: int = 2
    _patterns: dict[tuple[str, str], _History] = field(default_factory=dict, repr=False)
    _fields: dict[tuple[str, str], _Fields] = field(default_factory=dict, repr=False)
    #: (host, field) -> the scripts of pages where the field was in the HTML or found missing.
    _known_scripts: dict[tuple[str, str], set[str]] = field(default_factory=dict, repr=False)
    _hosts: dict[str, _History] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window={self.window}: it must be at least 1 attempt.")
        if self.confirm < 1:
            raise ValueError(f"confirm={self.confirm}: it must be at least 1 browser check.")
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

    def seen(
        self,
        url: str,
        values: dict[str, Any],
        absent: tuple[str, ...] = (),
        scripts: frozenset[str] = frozenset(),
    ) -> bool:
        """Learn from a page's HTML which fields it holds (and the scripts it runs); True if
        the site learnt something new about a field."""
        section = section_key(url)
        fields = self._fields.setdefault(section, _Fields())
        present = [name for name, value in values.items() if value is not None and name not in absent]
        learnt = False
        for name in present:
            if name not in fields.present:
                fields.present.add(name)
                learnt = True
            learnt = self._scripts_known(section[0], name, scripts) or learnt
        return learnt

    def _scripts_known(self, host: str, name: str, scripts: frozenset[str]) -> bool:
        """Add ``scripts`` to those known not to write ``name`` where absent; True if any was new."""
        known = self._known_scripts.get((host, name))
        if known is None:
            self._known_scripts[host, name] = set(scripts)
            return True
        if scripts <= known:
            return False
        known |= scripts
        return True

    def absent_route(
        self,
        url: str,
        absent: tuple[str, ...],
        *,
        waited: bool = False,
        scripts: frozenset[str] = frozenset(),
    ) -> AbsentRoute:
        """What the fields ``absent`` from a complete page of ``url`` mean; see the module docstring.

        ``waited``: the row has waited for its section's other pages already ("wait" becomes "check");
        ``scripts``: the scripts the page runs.

        Example:
            >>> policy = RenderPolicy()
            >>> policy.absent_route("https://d.example/lib/a.html", ("note",))
            'wait'
            >>> policy.seen("https://d.example/lib/b.html", {"note": "New in 3.2"})
            True
            >>> policy.absent_route("https://d.example/lib/a.html", ("note",))
            'missing'
        """
        section = section_key(url)
        fields = self._fields.get(section)
        unknown = False
        for name in absent:
            verdict = fields.verdict.get(name) if fields is not None else None
            if verdict == "browser":
                return "browser"
            if verdict is not None or (fields is not None and name in fields.present):
                continue
            known = self._known_scripts.get((section[0], name))
            if known is None or not scripts <= known:
                unknown = True  # no page ran these scripts without the field: one of them may write it
        if unknown:
            return "check" if waited else "wait"
        return "missing"

    def checked(
        self, url: str, absent: tuple[str, ...], values: Any, scripts: frozenset[str] = frozenset()
    ) -> bool:
        """Learn from a row checked in a browser: True if it found a field the HTML lacked.

        ``absent``: the fields the HTML lacked; ``values``: what the browser's extractor returned;
        ``scripts``: the scripts the page runs (they did not write a field found missing).

        Example:
            >>> policy = RenderPolicy(confirm=1)
            >>> policy.checked("https://d.example/app/1", ("price",), {"price": "12 EUR"})
            True
            >>> policy.absent_route("https://d.example/app/2", ("price",))
            'browser'
        """
        section = section_key(url)
        host = section[0]
        fields = self._fields.setdefault(section, _Fields())
        found = isinstance(values, dict) and any(values.get(name) is not None for name in absent)
        for name in absent:
            if fields.verdict.get(name) == "browser":
                continue
            if isinstance(values, dict) and values.get(name) is not None:
                fields.verdict[name] = "browser"
            else:
                self._scripts_known(host, name, scripts)
                fields.confirmed[name] = fields.confirmed.get(name, 0) + 1
                if fields.confirmed[name] >= self.confirm:
                    fields.verdict[name] = "missing"
        self.record(url, "browser" if found else "http")
        if found:  # the pattern's rows go straight to the browser from now on (probes aside), not the host's
            self._patterns.setdefault(pattern_key(url), self._new()).last.extend([True] * self.window)
        return found

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
        return stable_draw(f"{self.seed}\x00{url}")


def stable_draw(text: str) -> float:
    """A number in [0, 1) that ``text`` always gives (a hash): draws that do not depend on the
    order rows arrive in, and the same in every process.

    Example:
        >>> stable_draw("https://a.example/1") == stable_draw("https://a.example/1")
        True
    """
    digest = hashlib.blake2b(text.encode(errors="replace"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
