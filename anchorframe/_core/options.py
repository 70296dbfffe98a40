"""The options of a run as types: what every part may read, nothing that checks or runs. No I/O.

The values here are already checked (``anchorframe._run.options`` turns what a user passes
into them, raising :class:`~anchorframe.errors.InputError` with the fix); the engine, the
shards and the HTTP path read them and never see a raw argument. The literal types name
the choices: :data:`RenderMode` is how a run fetches pages, :data:`Route` the path one row
took.

Example:
    >>> EngineOptions(timeout=10.0, render="auto").retries
    2
    >>> Identity(headers=Headers({"Cookie": "sid=1"}))
    Identity(user_agent=None, headers=Headers({'Cookie': '<redacted>'}), locale=None, timezone=None)
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..backends._base import Backend

__all__ = [
    "CONTEXT_RENEW_ROWS",
    "DEFAULT_PER_SITE",
    "RENDERS",
    "EngineOptions",
    "Headers",
    "Identity",
    "RenderMode",
    "Route",
    "ScrapeOptions",
]

#: How a run fetches pages: HTTP first and a browser only where needed, always a browser, never one.
RenderMode = Literal["auto", "browser", "http"]
#: The path one row's attempt took.
Route = Literal["browser", "http"]
RENDERS: tuple[RenderMode, ...] = ("browser", "http", "auto")

#: Rows in flight at once per site (registered domain), as Scrapy's per-domain default.
DEFAULT_PER_SITE = 8
#: Rows a session's tabs run in one browser context before they move to a fresh one
#: (``anchorframe._engine.memory`` says why).
CONTEXT_RENEW_ROWS = 500

ScrapeFn = Callable[[Any, Any], Awaitable[Any]]
SetupFn = Callable[[Any], Awaitable[Any]]
Seconds = float | timedelta

RESOURCE_TYPES = frozenset(
    {"image", "font", "media", "stylesheet", "script", "xhr", "fetch", "websocket", "manifest", "other"}
)
PROGRESS_KINDS = ("widgets", "tqdm", "log")
SIZING = (
    "sessions",
    "tabs",
    "max_sessions",
    "seconds_per_url",
    "target_seconds",
    "max_session_minutes",
    "workers",  # the plan never has more sessions than the driver processes keep busy
)


#: Header names whose values are shown as ``<redacted>`` (and anything naming a key, token or secret).
SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"})
_SENSITIVE_WORDS = re.compile(r"key|token|secret|auth|session|password|cookie", re.I)


class Headers(Mapping[str, str]):
    """Checked request headers: a read-only mapping whose repr never shows a sensitive value.

    Example:
        >>> Headers({"Cookie": "sid=1", "Accept-Language": "de"})
        Headers({'Cookie': '<redacted>', 'Accept-Language': 'de'})
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str]) -> None:
        self._items = dict(items)

    def __getitem__(self, name: str) -> str:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        shown = {name: ("<redacted>" if is_sensitive(name) else value) for name, value in self._items.items()}
        return f"Headers({shown!r})"

    __str__ = __repr__

    def secrets(self) -> tuple[str, ...]:
        """The sensitive values, for redaction of any text that might quote them."""
        return tuple(value for name, value in self._items.items() if is_sensitive(name) and value)


def is_sensitive(name: str) -> bool:
    """Whether a header's value must not be shown (credentials, cookies, keys, tokens)."""
    return name.lower() in SENSITIVE_HEADERS or bool(_SENSITIVE_WORDS.search(name))


@dataclass(frozen=True)
class Identity:
    """How the browser presents itself; empty by default (the browser's own)."""

    user_agent: str | None = None
    headers: Headers | None = None
    locale: str | None = None
    timezone: str | None = None

    def context_options(self) -> dict[str, Any]:
        """Keyword arguments for Playwright's ``browser.new_context()`` (only those set).

        Example:
            >>> Identity(user_agent="bot/1", timezone="UTC").context_options()
            {'user_agent': 'bot/1', 'timezone_id': 'UTC'}
        """
        options: dict[str, Any] = {}
        if self.user_agent is not None:
            options["user_agent"] = self.user_agent
        if self.headers:
            options["extra_http_headers"] = dict(self.headers)
        if self.locale is not None:
            options["locale"] = self.locale
        if self.timezone is not None:
            options["timezone_id"] = self.timezone
        return options

    def request_headers(self) -> dict[str, str]:
        """The headers of every request, for a context made elsewhere (a cloud session's own).

        There a User-Agent can only be sent as a header; locale and timezone do not apply.

        Example:
            >>> Identity(user_agent="bot/1", headers=Headers({"X-Team": "data"})).request_headers()
            {'X-Team': 'data', 'User-Agent': 'bot/1'}
        """
        headers = dict(self.headers or {})
        if self.user_agent is not None:
            headers.setdefault("User-Agent", self.user_agent)
        return headers

    def secrets(self) -> tuple[str, ...]:
        """Values to redact from any text shown (sensitive header values)."""
        return self.headers.secrets() if self.headers else ()


@dataclass(frozen=True)
class EngineOptions:
    """How each row is attempted (checked values; see ``scrape()`` for each)."""

    timeout: float = 30.0
    retries: int = 2
    backoff: float = 0.5
    max_replacements: int | None = None
    setup: SetupFn | None = None
    block: frozenset[str] = frozenset()
    #: None: reuse for anchorframe's own callables (they leave no state behind), a page per row otherwise.
    reuse_pages: bool | None = None
    connect_timeout: float = 30.0
    #: "browser", "http" or "auto" (see ``scrape(render=...)``).
    render: RenderMode = "browser"
    per_site: int = DEFAULT_PER_SITE
    min_delay: float = 0.0
    robots: bool = True
    identity: Identity = field(default_factory=Identity)
    #: Rows a tab runs on one browser context before it opens a fresh one (None: never).
    renew_context_after: int | None = CONTEXT_RENEW_ROWS


@dataclass(frozen=True)
class ScrapeOptions:
    """Every option of a run, checked. ``call`` keeps them as given, for ``retry_failed``."""

    scraper: ScrapeFn
    url: Hashable | None
    backend: Backend
    progress: bool | str | None
    dedupe: bool
    schemes: frozenset[str]
    checkpoint: str | os.PathLike[str] | None
    checkpoint_overwrite: bool
    sizing: dict[str, Any]
    engine: EngineOptions
    call: dict[str, Any]
    workers: int = 1
    cluster: Any = None
    #: ``out=``: the shards write the rows there as a Parquet dataset (``_out.py``).
    out: str | None = None
    #: A dask DataFrame given as input (its partitions go to the shards, ``_dask_input.py``).
    dask_input: Any = None
