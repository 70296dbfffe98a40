"""Identity options: ``user_agent=``, ``headers=``, ``locale=``, ``timezone=``. Checks only, no network.

Each ``check_*`` returns the value to use or raises
:class:`~anchorframe.errors.InputError` naming the option and the fix.
:func:`check_identity` checks them together and returns an
:class:`~anchorframe._core.options.Identity` (the option group's type, with
:class:`~anchorframe._core.options.Headers`), whose ``context_options()`` are the
keyword arguments of Playwright's ``browser.new_context()``.

Header values may be secrets (a bearer token, a session cookie): they never
appear in a repr, a log line or an error message. :class:`Headers` shows names
only, and :meth:`Headers.secrets` lists the values to pass to the ledger's
``secrets=`` so that error messages quoting them are redacted too.

Example:
    >>> identity = check_identity(headers={"Authorization": "Bearer sk-1"}, locale="de-DE",
    ...                           timezone="Europe/Berlin")
    >>> identity.headers
    Headers({'Authorization': '<redacted>'})
    >>> sorted(identity.context_options())
    ['extra_http_headers', 'locale', 'timezone_id']
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from .._core.options import Headers, Identity
from ..errors import InputError, InputTypeError

__all__ = [
    "FORBIDDEN_HEADERS",
    "Headers",
    "Identity",
    "check_headers",
    "check_identity",
    "check_locale",
    "check_timezone",
    "check_user_agent",
]

#: Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, not to a request a browser forwards;
#: Host and Content-Length are the browser's to compute; the rest are Chromium's own.
FORBIDDEN_HEADERS = {
    "connection": "it is hop-by-hop (RFC 9110 §7.6.1)",
    "keep-alive": "it is hop-by-hop (RFC 9110 §7.6.1)",
    "proxy-connection": "it is hop-by-hop (RFC 9110 §7.6.1)",
    "proxy-authenticate": "it is hop-by-hop (RFC 9110 §7.6.1)",
    "proxy-authorization": "it is hop-by-hop (RFC 9110 §7.6.1); configure the proxy itself instead",
    "te": "it is hop-by-hop (RFC 9110 §7.6.1)",
    "trailer": "it is hop-by-hop (RFC 9110 §7.6.1)",
    "transfer-encoding": "it is hop-by-hop (RFC 9110 §7.6.1)",
    "upgrade": "it is hop-by-hop (RFC 9110 §7.6.1)",
    "host": "the browser sets it from each URL",
    "content-length": "the browser computes it for each request",
}
# RFC 9110 §5.1: a field name is a token.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Control characters (CR and LF above all) would split one header into two.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# BCP 47, the usual subset: language, optional script, optional region, optional variants.
_LOCALE = re.compile(
    r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|\d{3}))?(-(?:[A-Za-z0-9]{5,8}|\d[A-Za-z0-9]{3}))*$"
)


def check_user_agent(value: Any) -> str | None:
    """``user_agent=``: None (the browser's own) or one line of text.

    Example:
        >>> check_user_agent("Mozilla/5.0 (compatible; pricebot/1.0)")
        'Mozilla/5.0 (compatible; pricebot/1.0)'
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputTypeError(
            f"user_agent= must be a string, got {type(value).__name__}. "
            "Pass the User-Agent text, e.g. user_agent='Mozilla/5.0 (compatible; mybot/1.0)'."
        )
    if not value.strip():
        raise InputError("user_agent= is empty. Pass the User-Agent text, or None for the browser's own.")
    if _CONTROL.search(value):
        raise InputError(
            "user_agent= contains a line break or control character. Pass a single line of text."
        )
    return value


def check_headers(value: Any) -> Headers | None:
    """``headers=``: None or a mapping of header names to string values, sent with every request.

    Raises InputError for a non-string name or value, a malformed name, a line
    break in a value, a name given twice (in any case), a hop-by-hop header,
    ``Host`` or ``Content-Length``, and ``User-Agent`` (use ``user_agent=``, so
    that ``navigator.userAgent`` says the same). Values never appear in messages.

    Example:
        >>> check_headers({"Accept-Language": "de-DE"})
        Headers({'Accept-Language': 'de-DE'})
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InputTypeError(
            f"headers= must be a mapping of header names to values, got {type(value).__name__}. "
            "Pass e.g. headers={'Accept-Language': 'de-DE'}."
        )
    seen: dict[str, str] = {}
    for name, header_value in value.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise InputError(
                f"headers= has a header name {name!r} that is not a valid HTTP field name "
                "(letters, digits and !#$%&'*+-.^_`|~ only). Fix or remove it."
            )
        lowered = name.lower()
        if lowered in FORBIDDEN_HEADERS:
            raise InputError(
                f"headers= must not set {name!r}: {FORBIDDEN_HEADERS[lowered]}. Remove it from headers=."
            )
        if lowered == "user-agent":
            raise InputError(
                "headers= must not set 'User-Agent'. Pass user_agent=... instead, so that the header "
                "and navigator.userAgent agree."
            )
        if lowered in seen:
            raise InputError(
                f"headers= sets {seen[lowered]!r} and {name!r}, one header in two spellings. Keep one."
            )
        seen[lowered] = name
        if not isinstance(header_value, str):
            raise InputTypeError(
                f"headers= value of {name!r} must be a string, got {type(header_value).__name__}. "
                "Convert it with str()."
            )
        if _CONTROL.search(header_value):
            # The value itself is not shown: it may be a credential.
            raise InputError(
                f"headers= value of {name!r} contains a line break or control character. "
                "Pass a single line of text."
            )
    return Headers(value)


def check_locale(value: Any) -> str | None:
    """``locale=``: None or a BCP 47 language tag such as ``"en-US"``, ``"de"``, ``"zh-Hant-TW"``.

    Example:
        >>> check_locale("fr-CA")
        'fr-CA'
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputTypeError(f"locale= must be a string such as 'en-US', got {type(value).__name__}.")
    if _LOCALE.match(value):
        return value
    hint = value.replace("_", "-").split(".", 1)[0]
    fix = f" Did you mean locale={hint!r}?" if _LOCALE.match(hint) else ""
    raise InputError(
        f"locale={value!r} is not a BCP 47 language tag. Pass a language and optional region, "
        f"such as 'en-US' or 'de'.{fix}"
    )


def check_timezone(value: Any) -> str | None:
    """``timezone=``: None or an IANA time zone name such as ``"Europe/Berlin"`` or ``"UTC"``.

    Example:
        >>> check_timezone("America/New_York")
        'America/New_York'
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputTypeError(
            f"timezone= must be an IANA time zone name such as 'Europe/Berlin', got {type(value).__name__}."
        )
    try:
        zoneinfo.ZoneInfo(value)
        return value
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    known = zoneinfo.available_timezones()
    if not known and re.match(r"^[A-Za-z_]+(/[A-Za-z0-9_+\-]+)*$", value):
        return value  # no time zone database here to check against: let the browser's own decide
    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
    fix = f" Did you mean timezone={close[0]!r}?" if close else ""
    raise InputError(
        f"timezone={value!r} is not an IANA time zone name. Pass one such as 'Europe/Berlin' or "
        f"'UTC' (offsets like 'UTC+2' are not names).{fix}"
    )


def check_identity(
    *, user_agent: Any = None, headers: Any = None, locale: Any = None, timezone: Any = None
) -> Identity:
    """Check the four identity options together; see each ``check_*``.

    Example:
        >>> check_identity(user_agent="bot/1").context_options()
        {'user_agent': 'bot/1'}
    """
    return Identity(
        check_user_agent(user_agent), check_headers(headers), check_locale(locale), check_timezone(timezone)
    )
