"""anchorframe: scrape a DataFrame of URLs with real browsers, get DataFrames back.

Example:
    >>> import anchorframe as af
    >>> result = af.scrape(df, extract={"name": "h1", "price": ".price"})  # doctest: +SKIP
    >>> result.results, result.errors, result.sessions  # doctest: +SKIP
"""

from . import extract
from ._frames import Row
from ._plan import Plan
from ._result import ScrapeResult
from ._scrape import ascrape, last_result, plan, scrape
from .backends import Backend, LocalBackend
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

__all__ = [
    "AnchorAPIError",
    "AnchorframeError",
    "Backend",
    "BackendError",
    "BrowserNotFoundError",
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
    "plan",
    "scrape",
]
