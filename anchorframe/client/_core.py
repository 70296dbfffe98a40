"""What the client decides, apart from the I/O that carries it out.

Nothing here opens a socket or sleeps: it reads the configuration, builds request
descriptions, turns answers into models or exceptions and decides how long to wait
before a retry. The flows in ``_flows.py`` use it; the sync and async drivers in
``_client.py`` send what the flows ask for.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .._core.backoff import backoff_delay
from ..errors import (
    AnchorAPIError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "REQUEST_TOKEN_KEY",
    "ApiRequest",
    "ApiResponse",
    "ClientConfig",
    "error_from_response",
    "error_from_transport",
    "resolve_api_key",
    "resolve_base_url",
]

DEFAULT_BASE_URL = "https://api.anchorbrowser.io"
KEY_ENV_VARS = ("ANCHOR_API_KEY", "ANCHORBROWSER_API_KEY")
BASE_URL_ENV_VARS = ("ANCHOR_BASE_URL", "ANCHORBROWSER_BASE_URL")

#: Metadata key that carries the client's request token on every batch it creates,
#: so that a create whose answer was lost can be found by listing batches.
REQUEST_TOKEN_KEY = "anchorframe_request_token"
#: Session tag prefix that carries the request token of an async session.
REQUEST_TAG_PREFIX = "anchorframe-request:"

_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def resolve_api_key(api_key: str | None) -> str:
    """The key from the argument, else ANCHOR_API_KEY, else ANCHORBROWSER_API_KEY."""
    if api_key:
        return api_key
    for name in KEY_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    raise AuthenticationError(
        "No Anchor API key was given. Pass api_key=... or set the ANCHOR_API_KEY "
        "(or ANCHORBROWSER_API_KEY) environment variable; keys are at "
        "https://app.anchorbrowser.io. To run offline, start the emulator "
        "(`anchorframe emulator`) and use its base URL and key."
    )


def resolve_base_url(base_url: str | None) -> str:
    """The base URL from the argument, the environment, or the vendor's default."""
    value = base_url
    if not value:
        for name in BASE_URL_ENV_VARS:
            value = os.environ.get(name, "").strip()
            if value:
                break
    value = (value or DEFAULT_BASE_URL).rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"The Anchor base URL {safe_url(value)!r} is not an http(s) URL. "
            f"Pass base_url='https://...' or fix ANCHOR_BASE_URL."
        )
    return value


def safe_url(url: str) -> str:
    """A URL without user info, query string or fragment: safe to show in a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True)
class ClientConfig:
    """Everything a client needs besides its HTTP connection pool.

    Attributes:
        api_key: sent in the ``anchor-api-key`` header; never shown.
        base_url: scheme, host and optional path prefix of the API.
        timeout: seconds for one HTTP request (connect and read).
        max_retries: extra attempts of a safe call after 429, 5xx or a connection error.
        retry_initial_delay, retry_max_delay: the capped exponential backoff between
            attempts (with full jitter between half and all of the delay).
        max_retry_after: the longest ``Retry-After`` the client is willing to honour.
    """

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 30.0
    max_retries: int = 3
    retry_initial_delay: float = 0.5
    retry_max_delay: float = 8.0
    max_retry_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def headers(self) -> dict[str, str]:
        return {
            "anchor-api-key": self.api_key,
            "accept": "application/json",
            "user-agent": "anchorframe-client",
        }

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        return backoff_delay(
            attempt + 1,
            self.retry_initial_delay,
            self.retry_max_delay,
            self.rng,
            retry_after=retry_after,
            max_retry_after=self.max_retry_after,
        )


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request to the API, before it is sent.

    ``safe`` marks calls that may be re-sent blindly (GET, DELETE, PATCH cancel).
    """

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    safe: bool = True

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def query(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in (self.params or {}).items():
            if value is None:
                continue
            if hasattr(value, "isoformat"):
                value = value.isoformat()
            out[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


@dataclass(frozen=True)
class ApiResponse:
    """An HTTP answer as the flows see it: status, headers and decoded JSON."""

    status_code: int
    headers: Mapping[str, str]
    body: Any
    elapsed: float = 0.0

    @classmethod
    def from_httpx(cls, response: httpx.Response, elapsed: float) -> ApiResponse:
        try:
            body: Any = response.json() if response.content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = response.text[:500]
        return cls(response.status_code, dict(response.headers), body, elapsed)

    def data(self) -> dict[str, Any]:
        """The object under ``data`` (or the whole body if the server did not wrap it)."""
        body = self.body
        if isinstance(body, Mapping):
            inner = body.get("data", body)
            if isinstance(inner, Mapping):
                return dict(inner)
        return {}


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def server_message(body: Any) -> str | None:
    """The message of an ErrorResponse (``{"error": {"code", "message"}}``)."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        if body.get("message"):
            return str(body["message"])
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return None


def is_retryable_status(status_code: int) -> bool:
    return status_code in _RETRYABLE_STATUS or status_code >= 500


def error_from_response(request: ApiRequest, response: ApiResponse) -> AnchorAPIError:
    """The most specific exception for an error answer, with the server's message."""
    status = response.status_code
    message = server_message(response.body)
    said = f": {message}" if message else "."
    where = f"{request.method} {request.path}"
    common: dict[str, Any] = {
        "status_code": status,
        "method": request.method,
        "path": request.path,
        "server_message": message,
    }
    if status == 400 or status == 422:
        return BadRequestError(f"The Anchor API refused {where} as invalid ({status}){said}", **common)
    if status == 403 and message and "cost limit" in message.lower():
        return PaymentRequiredError(
            f"The Anchor API refused {where} (403){said} Raise the project's cost limit in the "
            "Anchor dashboard or ask for fewer sessions.",
            **common,
        )
    if status == 401 or status == 403:
        return AuthenticationError(
            f"The Anchor API rejected the API key for {where} ({status}){said} "
            "Check ANCHOR_API_KEY (or the api_key argument) and the base URL.",
            **common,
        )
    if status == 402:
        return PaymentRequiredError(
            f"The Anchor API answered 402 Payment Required for {where} (insufficient credits){said} "
            "Add credits to the account or ask for fewer sessions.",
            **common,
        )
    if status == 404:
        return NotFoundError(f"The Anchor API found nothing at {where} (404){said}", **common)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        hint = f" The server asked to wait {retry_after:g} s." if retry_after is not None else ""
        if message and ("browser limit" in message.lower() or "concurren" in message.lower()):
            hint = " That is the account's cap on concurrent sessions: end some, or run with fewer sessions."
        return RateLimitError(
            f"The Anchor API rate-limited {where} (429){said}{hint}",
            retry_after=retry_after,
            **common,
        )
    if status >= 500:
        return ServerError(f"The Anchor API failed on {where} ({status}){said}", **common)
    return AnchorAPIError(f"The Anchor API answered {status} to {where}{said}", **common)


def error_from_transport(request: ApiRequest, exc: Exception, timeout: float) -> AnchorAPIError:
    """Map an httpx transport failure to APITimeoutError or APIConnectionError.

    The message names the request by method and path only: the base URL could hold
    credentials and the exception text of httpx could hold the full URL.
    """
    where = f"{request.method} {request.path}"
    common: dict[str, Any] = {"method": request.method, "path": request.path}
    error: AnchorAPIError
    if isinstance(exc, httpx.TimeoutException):
        error = APITimeoutError(
            f"The Anchor API did not answer {where} within {timeout:g} s "
            f"({type(exc).__name__}). Raise timeout=... or try again later.",
            **common,
        )
    else:
        error = APIConnectionError(
            f"Could not reach the Anchor API for {where} ({type(exc).__name__}). "
            "Check the network and the base URL (ANCHOR_BASE_URL).",
            **common,
        )
    # Whether the request may have reached the server decides if a create can be re-sent.
    sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
    error.request_may_have_been_sent = sent  # type: ignore[union-attr]
    return error


def may_have_been_processed(error: AnchorAPIError) -> bool:
    """Whether a failed create may nonetheless have created something on the server."""
    if isinstance(error, (APITimeoutError, APIConnectionError)):
        return bool(getattr(error, "request_may_have_been_sent", True))
    return isinstance(error, ServerError)


def is_capacity_limit(error: AnchorAPIError) -> bool:
    """A 429 that is the account's concurrency cap ("would exceed batch browser limit"), not a rate limit.

    Retrying at once cannot help: a session has to end first.

    Example:
        >>> from anchorframe.errors import RateLimitError
        >>> is_capacity_limit(RateLimitError("x", status_code=429,
        ...     server_message="API key would exceed batch browser limit"))
        True
    """
    if error.status_code != 429:
        return False
    text = (getattr(error, "server_message", None) or str(error)).lower()
    return "browser limit" in text or "concurren" in text


def is_cost_limit(error: AnchorAPIError) -> bool:
    """402 (no credits) or 403 "Project cost limit reached.": spending more is refused."""
    if error.status_code == 402:
        return True
    text = (getattr(error, "server_message", None) or "").lower()
    return error.status_code == 403 and "cost limit" in text


def is_retryable_error(error: AnchorAPIError) -> bool:
    if is_capacity_limit(error):
        return False
    if isinstance(error, (APITimeoutError, APIConnectionError, RateLimitError, ServerError)):
        return True
    return error.status_code is not None and is_retryable_status(error.status_code)
