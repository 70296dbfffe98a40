"""Retry decisions: what a failure means and how long to wait. No I/O.

A failure of the *session* (the browser died) is not a failure of the row: the
engine moves the row to another session without spending a retry. Everything
else is classified here into a short ``reason`` and whether trying again can help.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..errors import RowFailed
from .backoff import backoff_delay  # the one backoff of the package

__all__ = ["Failure", "backoff_delay", "classify_failure", "first_line", "looks_like_lost_browser"]


@dataclass(frozen=True)
class Failure:
    reason: str
    retryable: bool
    error_type: str
    message: str


_NAVIGATION_ERRORS = ("net::ERR_", "NS_ERROR_", "Navigation failed", "navigating to")


def classify_failure(exc: BaseException, timeout: float | None = None) -> Failure:
    """Name a failed attempt's reason and whether a retry may succeed.

    Example:
        >>> classify_failure(TimeoutError()).reason
        'timeout'
        >>> classify_failure(KeyError("price")).retryable
        False
    """
    error_type = type(exc).__name__
    message = first_line(exc) or error_type
    if isinstance(exc, RowFailed):
        return Failure(exc.reason, exc.retryable, error_type, message)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or error_type == "TimeoutError":
        if timeout is not None and not str(exc):
            message = f"The row did not finish within the {timeout:g} s timeout."
        return Failure("timeout", True, error_type, message)
    module = type(exc).__module__ or ""
    if module.startswith("playwright"):
        text = str(exc)
        if "crashed" in text.lower():
            return Failure("page_crashed", True, error_type, message)
        if any(marker in text for marker in _NAVIGATION_ERRORS):
            return Failure("navigation", True, error_type, message)
        if "has been closed" in text or "Target closed" in text:
            return Failure("page_closed", True, error_type, message)
        return Failure("browser_error", True, error_type, message)
    # An exception from the user's own code: a retry would fail the same way.
    return Failure("callable_error", False, error_type, message)


def looks_like_lost_browser(exc: BaseException) -> bool:
    """True for errors that a dead browser connection produces (checked against the connection)."""
    text = str(exc)
    return any(
        marker in text
        for marker in (
            "has been closed",
            "Browser closed",
            "Connection closed",
            "Target closed",
            "browser has disconnected",
            "Browser has been closed",
        )
    )


def first_line(error: BaseException | str, limit: int = 500) -> str:
    """The first line of an error's message (or of ``error`` itself), at most ``limit`` characters.

    Example:
        >>> first_line(ValueError("bad value\\ncall log: ..."))
        'bad value'
    """
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else ""
