"""anchorframe: scrape a DataFrame of URLs with real browsers, get DataFrames back.

Example:
    >>> import anchorframe as af
    >>> result = af.scrape(df, extract={"name": "h1", "price": ".price"})  # doctest: +SKIP
    >>> result.results, result.errors, result.sessions  # doctest: +SKIP
"""

from . import extract
from ._checkpoint import load_checkpoint
from ._frames import Row
from ._plan import Plan
from ._result import ScrapeResult
from ._scrape import ascrape, last_result, plan, scrape
from .backends import Backend, LocalBackend
from .backends.anchor import AnchorBackend, reap
from .client import AnchorClient, AsyncAnchorClient
from .errors import (
    AnchorAPIError,
    AnchorframeError,
    BackendError,
    BrowserNotFoundError,
    InputError,
    RowFailed,
    RunInterrupted,
)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The emulator pulls in a web server stack: loaded on first use, not on `import anchorframe`.
    if name == "Emulator":
        from .emulator import Emulator

        return Emulator
    raise AttributeError(f"module 'anchorframe' has no attribute {name!r}")


__all__ = [
    "AnchorAPIError",
    "AnchorBackend",
    "AnchorClient",
    "AnchorframeError",
    "AsyncAnchorClient",
    "Backend",
    "BackendError",
    "BrowserNotFoundError",
    "Emulator",
    "InputError",
    "LocalBackend",
    "Plan",
    "Row",
    "RowFailed",
    "RunInterrupted",
    "ScrapeResult",
    "__version__",
    "ascrape",
    "extract",
    "last_result",
    "load_checkpoint",
    "plan",
    "reap",
    "scrape",
]
