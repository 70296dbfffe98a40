"""The options of a run as types: what every part may read, nothing that checks or runs. No I/O.

The values here are already checked (``anchorframe._run.options`` turns what a user passes
into them, raising :class:`~anchorframe.errors.InputError` with the fix); the engine, the
shards and the HTTP path read them and never see a raw argument. The literal types name
the choices: :data:`RenderMode` is how a run fetches pages, :data:`Route` the path one row
took.

Example:
    >>> EngineOptions(attempts=Attempts(timeout=10.0), render="auto").attempts.retries
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

from .evidence import DEFAULT_EVIDENCE

if TYPE_CHECKING:
    from ..backends._base import Backend

__all__ = [
    "CONTEXT_RENEW_ROWS",
    "DEFAULT_PER_SITE",
    "DEFAULT_SCHEMES",
    "OPTIONS",
    "RENDERS",
    "Attempts",
    "BrowserOptions",
    "EngineOptions",
    "Headers",
    "Identity",
    "Option",
    "RenderMode",
    "Route",
    "ScrapeOptions",
    "SitePolicy",
    "Sizing",
]

#: How a run fetches pages: HTTP first and a browser only where needed, always a browser, never one.
RenderMode = Literal["auto", "browser", "http"]
#: The path one row's attempt took.
Route = Literal["browser", "http"]
RENDERS: tuple[RenderMode, ...] = ("browser", "http", "auto")
#: ``backend=`` by name (or a Backend object).
BackendName = Literal["auto", "local", "anchor"]
#: ``progress=`` by name (or True, False, None).
ProgressKind = Literal["widgets", "tqdm", "log"]

#: URL schemes a run takes unless told otherwise (file://, chrome://, javascript: are refused).
DEFAULT_SCHEMES = frozenset({"http", "https"})
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


# ---------------------------------------------------------------- the declaration
OptionGroup = Literal[
    "input",
    "backend",
    "sizing",
    "timeouts",
    "browser",
    "render",
    "manners",
    "identity",
    "storage",
    "scale-out",
    "display",
]
#: How the command line takes an option: a number, text, one of ``choices``, ``--x/--no-x``, a
#: comma-separated list, a repeatable ``"Name: value"``, ``MODULE:FUNCTION``; None: Python only.
CliKind = Literal["int", "float", "str", "choice", "flag", "list", "header", "callable"]


@dataclass(frozen=True)
class Option:
    """One option of ``scrape()``: its name, default, group, and how the command line takes it."""

    name: str
    default: Any
    group: OptionGroup
    help: str
    cli: CliKind | None = None
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        """Its command-line flag, e.g. ``--per-site``."""
        return "--" + self.name.replace("_", "-")


#: Every option of ``scrape()``/``ascrape()``/``plan()`` after ``data`` and ``fn``, in the order
#: of their ``def``; the command line's flags are made from it (same names, same defaults) and a
#: test holds each ``def`` to it.
# fmt: off
OPTIONS: tuple[Option, ...] = (
    Option("url", None, "input", "the URL column (default: a column named url)", "str"),
    Option("extract", None, "input", "a dict of column -> CSS selector, instead of fn"),
    Option("backend", "auto", "backend", "where browsers run: auto (Anchor when a key is set), local, anchor",
           "choice", ("auto", "local", "anchor")),
    Option("sessions", None, "sizing", "browser sessions (default: planned)", "int"),
    Option("tabs", None, "sizing", "tabs per session (default: planned)", "int"),
    Option("timeout", 30.0, "timeouts", "seconds for one attempt at one row", "float"),
    Option("retries", 2, "timeouts", "further attempts after a failure a retry may fix", "int"),
    Option("backoff", 0.5, "timeouts", "seconds before a row's first retry, doubled for each later one",
           "float"),
    Option("setup", None, "browser", "an async function (page) run once per session, e.g. to log in",
           "callable"),
    Option("block", None, "browser", "resource types not to load, e.g. image,font,media", "list"),
    Option("progress", None, "display", "show progress (default: when someone is watching)", "flag"),
    Option("dedupe", True, "input", "scrape a URL once and answer every row that has it", "flag"),
    Option("schemes", DEFAULT_SCHEMES, "input", "URL schemes allowed, e.g. http,https", "list"),
    Option("checkpoint", None, "storage", "write rows here as they finish; rerun with it to resume",
           "str"),
    Option("checkpoint_overwrite", False, "storage", "start the checkpoint afresh instead of resuming it",
           "flag"),
    Option("reuse_pages", None, "browser", "keep one page per tab between rows (default: for extractors)",
           "flag"),
    Option("max_replacements", None, "timeouts", "lost or failed sessions that may be replaced", "int"),
    Option("allow_status", None, "timeouts",
           "HTTP statuses >= 400 your scraper's pages may have and still be ok, e.g. 404,410", "list"),
    Option("connect_timeout", 30.0, "timeouts", "seconds to connect to a provisioned session", "float"),
    Option("seconds_per_url", None, "sizing", "the sizing rule's expected seconds per page", "float"),
    Option("target_seconds", None, "sizing", "the wall time the plan aims for", "float"),
    Option("max_sessions", None, "sizing", "at most this many sessions", "int"),
    Option("max_session_minutes", None, "sizing", "at most this many session-minutes (the cost)", "float"),
    Option("render", None, "render", "how extractors fetch pages: auto (HTTP first), browser, http",
           "choice", RENDERS),
    Option("per_site", DEFAULT_PER_SITE, "manners", "rows in flight at once per site", "int"),
    Option("min_delay", 0.0, "manners", "seconds between two starts at one site", "float"),
    Option("robots", True, "manners", "obey each site's robots.txt", "flag"),
    Option("user_agent", None, "identity", "the User-Agent of every request", "str"),
    Option("headers", None, "identity", "extra request headers", "header"),
    Option("locale", None, "identity", "the browser's locale, e.g. de-DE", "str"),
    Option("timezone", None, "identity", "the browser's time zone, e.g. Europe/Berlin", "str"),
    Option("renew_context_after", CONTEXT_RENEW_ROWS, "browser",
           "rows a session's tabs run in one browser context before a fresh one", "int"),
    Option("evidence", DEFAULT_EVIDENCE, "browser",
           "failed browser rows to keep a screenshot and the HTML of (0: none)", "int"),
    Option("workers", 1, "scale-out", "driver processes on this machine", "int"),
    Option("cluster", None, "scale-out", "a Dask scheduler address (or a dask.distributed.Client)", "str"),
    Option("out", None, "scale-out", "a Parquet dataset the shards write the rows to"),
)
# fmt: on
OPTION_NAMES: tuple[str, ...] = tuple(option.name for option in OPTIONS)


@dataclass(frozen=True)
class Sizing:
    """The inputs of the sizing rule (``anchorframe._core.plan.plan_sessions``) a user set."""

    sessions: int | None = None
    tabs: int | None = None
    max_sessions: int | None = None
    seconds_per_url: float | None = None
    target_seconds: float | None = None
    max_session_minutes: float | None = None
    #: Driver processes: the plan never has more sessions than they keep busy.
    workers: int | None = None

    def given(self) -> dict[str, Any]:
        """The values set, by name, as ``plan_sessions`` takes them.

        Example:
            >>> Sizing(tabs=4, workers=2).given()
            {'tabs': 4, 'workers': 2}
        """
        return {name: value for name, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class Attempts:
    """How each row is tried: its time, its retries, and what a session may cost in replacements."""

    timeout: float = 30.0
    retries: int = 2
    backoff: float = 0.5
    connect_timeout: float = 30.0
    #: Lost or failed sessions that may be replaced (None: twice the planned sessions, at least 2).
    max_replacements: int | None = None
    #: Main-document statuses >= 400 a user's scraper may meet and still return its row ok.
    allow_status: frozenset[int] = frozenset()


@dataclass(frozen=True)
class SitePolicy:
    """Good manners at every site: rows in flight, time between starts, robots.txt."""

    per_site: int = DEFAULT_PER_SITE
    min_delay: float = 0.0
    robots: bool = True
    #: Processes that share each site's limits (a sharded run's shards): the time between two
    #: starts at a site (``min_delay``, a robots.txt ``Crawl-delay``) is this many times longer in
    #: each, so that all of them together start no faster than one would.
    sites_shared_by: int = 1


@dataclass(frozen=True)
class BrowserOptions:
    """What each browser session does besides the rows: setup, blocking, pages and contexts."""

    setup: SetupFn | None = None
    block: frozenset[str] = frozenset()
    #: None: reuse for anchorframe's own extractors (they leave no state behind), a page per row otherwise.
    reuse_pages: bool | None = None
    #: Rows a tab runs on one browser context before it opens a fresh one (None: never).
    renew_context_after: int | None = CONTEXT_RENEW_ROWS


@dataclass(frozen=True)
class EngineOptions:
    """How the engine runs each row, in groups (checked values; see ``scrape()`` for each).

    Example:
        >>> EngineOptions(attempts=Attempts(timeout=10.0), render="auto").attempts.retries
        2
    """

    attempts: Attempts = field(default_factory=Attempts)
    sites: SitePolicy = field(default_factory=SitePolicy)
    browser: BrowserOptions = field(default_factory=BrowserOptions)
    identity: Identity = field(default_factory=Identity)
    #: How rows are fetched (see ``scrape(render=...)``).
    render: RenderMode = "browser"
    #: Failed browser attempts whose screenshot and HTML are kept (``anchorframe._core.evidence``).
    evidence: int = DEFAULT_EVIDENCE


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
    sizing: Sizing
    engine: EngineOptions
    call: dict[str, Any]
    workers: int = 1
    cluster: Any = None
    #: ``out=``: the shards write the rows there as a Parquet dataset (``_out.py``).
    out: str | None = None
    #: A dask DataFrame given as input (its partitions go to the shards, ``_dask_input.py``).
    dask_input: Any = None
