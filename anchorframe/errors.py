"""The exceptions anchorframe raises.

Only misuse of the API raises; failures of rows and sessions are data in
``ScrapeResult.errors``. Every class derives from :class:`AnchorframeError`::

    AnchorframeError
    ├── InputError (ValueError)          bad DataFrame / URL column / argument
    │   └── InputTypeError (TypeError)    an argument of the wrong kind (a plain def for an async one)
    ├── BrowserNotFoundError             no Chromium to launch
    ├── BackendError                     a backend could not provide sessions at all
    │   └── SessionLaunchError           one local Chromium failed to start
    ├── RunInterrupted                   Ctrl-C / cancellation; carries the partial result
    └── AnchorAPIError                   the Anchor REST API answered with an error
        ├── BadRequestError              400
        ├── AuthenticationError          401
        ├── PaymentRequiredError         402 (insufficient credits)
        ├── NotFoundError                404
        ├── RateLimitError               429 (``retry_after``)
        ├── ServerError                  5xx
        ├── APITimeoutError              no answer in time
        ├── APIConnectionError           no connection
        └── WaitTimeoutError             a wait_* call passed its deadline

Row-level failures inside a user's callable may raise :class:`RowFailed` to mark
a row failed with a reason of their own (``retryable=False`` by default).

Exceptions keep what a user needs (the URL, the session, the HTTP status) and
never a secret: no API key, no CDP URL. They survive pickling.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AnchorAPIError",
    "AnchorframeError",
    "AuthenticationError",
    "BackendError",
    "BadRequestError",
    "BrowserNotFoundError",
    "InputError",
    "InputTypeError",
    "NotFoundError",
    "PaymentRequiredError",
    "RateLimitError",
    "ResultsOnDiskError",
    "RowFailed",
    "RunInterrupted",
    "ServerError",
    "SessionLaunchError",
    "WaitTimeoutError",
]


class AnchorframeError(Exception):
    """Base class of every exception anchorframe raises on purpose."""


#: The package's directory: frames from files under it are anchorframe's own.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class _UserFacing:
    """An error about the user's call: in IPython, its traceback is the user's frames and the message.

    IPython renders an exception through its ``_render_traceback_()`` when it has one; this one
    leaves out anchorframe's own frames, which say nothing about what to change.
    """

    def _render_traceback_(self) -> list[str]:
        import traceback

        assert isinstance(self, BaseException)
        frames = [
            frame
            for frame in traceback.extract_tb(self.__traceback__)
            if f"{_PACKAGE_DIR}" not in frame.filename
        ]
        lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
        return [line.rstrip("\n") for line in lines] + [f"{type(self).__name__}: {self}"]


class InputError(_UserFacing, AnchorframeError, ValueError):
    """The input or an argument cannot be used; the message says how to fix it."""


class InputTypeError(InputError, TypeError):
    """An argument is of the wrong kind (e.g. a plain function where an async one is needed)."""


class BrowserNotFoundError(AnchorframeError, FileNotFoundError):
    """No Chromium executable could be found for the local backend."""


class BackendError(AnchorframeError):
    """A backend could not provide any usable browser session."""


class SessionLaunchError(BackendError):
    """A local Chromium process did not start or did not open its debugging port."""


class ResultsOnDiskError(_UserFacing, AnchorframeError, LookupError):
    """A run with ``out=`` wrote its rows to a Parquet dataset and kept none in memory.

    Read them with ``pd.read_parquet(result.out)`` (when they fit in memory) or
    ``dd.read_parquet(result.out)`` (Dask, any size).
    """


class RunInterrupted(_UserFacing, AnchorframeError, KeyboardInterrupt):
    """A run was interrupted; ``partial`` holds the ScrapeResult of what was done.

    It derives from KeyboardInterrupt so that code which stops on Ctrl-C still does.
    """

    def __init__(self, message: str, partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.partial))


class RowFailed(AnchorframeError):
    """Raise from a scraping callable to fail the current row with a reason.

    Example:
        >>> async def price(page, row):
        ...     await page.goto(row.url)
        ...     if await page.locator(".sold-out").count():
        ...         raise RowFailed("sold_out", "The product is sold out.")
        ...     return await page.inner_text(".price")
    """

    def __init__(self, reason: str, message: str = "", *, retryable: bool = False) -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.retryable = retryable

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_row_failed, (self.reason, str(self), self.retryable))


def _rebuild_row_failed(reason: str, message: str, retryable: bool) -> RowFailed:
    return RowFailed(reason, message, retryable=retryable)


class AnchorAPIError(AnchorframeError):
    """The Anchor Browser API answered with an error, or could not be reached.

    Attributes:
        status_code: the HTTP status, or None when there was no answer.
        method, path: the request, without host, query string or key.
        server_message: the server's own message, when it gave one.
    """

    status_code: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        method: str | None = None,
        path: str | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code
        self.method = method
        self.path = path
        self.server_message = server_message

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_api_error,
            (
                type(self),
                str(self),
                self.status_code,
                self.method,
                self.path,
                self.server_message,
                dict(self.__dict__),
            ),
        )


def _rebuild_api_error(
    cls: type[AnchorAPIError],
    message: str,
    status_code: int | None,
    method: str | None,
    path: str | None,
    server_message: str | None,
    state: dict[str, Any],
) -> AnchorAPIError:
    exc = cls.__new__(cls)
    AnchorAPIError.__init__(
        exc,
        message,
        status_code=status_code,
        method=method,
        path=path,
        server_message=server_message,
    )
    exc.__dict__.update(state)
    return exc


class BadRequestError(AnchorAPIError):
    """400: the request was refused as invalid; ``server_message`` says why."""

    status_code = 400


class AuthenticationError(AnchorAPIError):
    """401: the API key is missing, wrong or expired."""

    status_code = 401


class PaymentRequiredError(AnchorAPIError):
    """402: insufficient credits for the sessions asked for."""

    status_code = 402


class NotFoundError(AnchorAPIError):
    """404: no such batch, session or request."""

    status_code = 404


class RateLimitError(AnchorAPIError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(AnchorAPIError):
    """5xx: the server failed; safe calls are retried before this is raised."""


class APITimeoutError(AnchorAPIError):
    """The API did not answer within the client's timeout."""


class APIConnectionError(AnchorAPIError):
    """The API could not be reached (DNS, refused connection, reset)."""


class WaitTimeoutError(AnchorAPIError):
    """A wait for a batch or an async session passed its deadline; the message says how far it got."""
