"""anchorframe: scrape a DataFrame of URLs with real browsers, get DataFrames back.

Example:
    >>> import anchorframe as af
    >>> result = af.scrape(df, extract={"name": "h1", "price": ".price"})  # doctest: +SKIP
    >>> result.results, result.errors, result.sessions  # doctest: +SKIP
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from . import extract
from ._core.plan import Plan
from ._core.table import Row
from ._run.result import ScrapeResult
from ._run.scrape import ascrape, last_result, load_checkpoint, plan, scrape
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

if _TYPE_CHECKING:
    from .backends._anchor_reap import reap
    from .backends.anchor import AnchorBackend
    from .client import AnchorClient, AsyncAnchorClient
    from .emulator import Emulator

__version__ = "0.1.0"


#: Public names loaded on first use: the cloud client pulls in httpx, the emulator a web
#: server stack. `import anchorframe` (and the engine's deciding modules) load neither.
_LAZY = {
    "AnchorBackend": ".backends.anchor",
    "reap": ".backends._anchor_reap",
    "AnchorClient": ".client",
    "AsyncAnchorClient": ".client",
    "Emulator": ".emulator",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'anchorframe' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The public names only: the parts (``_run``, ``_engine``...) are bound as a side effect of
    # importing from them, and a tab-completion list of them would read as API.
    return sorted(__all__)


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
