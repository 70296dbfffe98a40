"""Blocked pages are not data: bot challenges, block pages and empty shells. No I/O.

:func:`detect_blocked` looks at what a browser saw of a row's page: the
main document's status, headers and final URL, its title, the start of its
HTML and the length of its visible text. It answers a :class:`Blocked` naming
the vendor where known, or None for an ordinary page. Evidence, strongest first:

1. **Headers** only a challenge carries: Cloudflare's ``cf-mitigated:
   challenge``; DataDome's ``x-datadome`` on a 403/429; AWS WAF's
   ``x-amzn-waf-action: captcha|challenge``; Akamai's ``Server: AkamaiGHost``
   on a 403 titled "Access Denied".
2. **Final URL** of a challenge redirect (``__cf_chl_`` tokens,
   ``/cdn-cgi/challenge-platform/``, ``captcha-delivery.com``, Google's
   ``/sorry/``).
3. **Title** of a vendor's challenge ("Just a moment...", "Attention
   Required! | Cloudflare", "Access to this page has been denied"), and
   Akamai's "Access Denied" page with its ``Reference #18.…`` line.
4. **Markers in the HTML** (:func:`anchorframe._render.challenge.detect_challenge`). *Strong* markers appear
   only on challenge pages (``_cf_chl_opt``, ``px-captcha``,
   ``geo.captcha-delivery.com``...). *Weak* ones (a captcha widget, a vendor's
   script) also sit on ordinary pages the vendor lets through, so they count
   only with a blocking status (401/403/429/503) or a page with little text.
   Words alone never count: a page that says "captcha" is not a captcha.
5. **An empty page where content was expected** (``expect_content=True``,
   e.g. the callable found nothing): a 2xx page whose visible text is shorter
   than :data:`EMPTY_MAX_TEXT` after rendering.

The HTML and header markers are the HTTP render path's
(:func:`anchorframe._render.challenge.detect_challenge`), so both paths call the same
pages blocked; this module adds what only a browser row has (final URL, title,
rendered text) and a few markers to move into ``_challenge`` in time.

Example:
    >>> detect_blocked(status=403, headers={"cf-mitigated": "challenge"}, url="https://a.com/",
    ...                title="Just a moment...", html="", text_length=0).vendor
    'cloudflare'
    >>> detect_blocked(status=200, headers={}, url="https://a.com/", title="Kettle",
    ...                html="<h1>Kettle</h1><p>Protected by reCAPTCHA.</p>", text_length=2000) is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import RowFailed
from .challenge import SCAN_BYTES, WEAK_MARKER_MAX_TEXT, Challenge, detect_challenge

__all__ = [
    "BLOCKED_REASON",
    "EMPTY_MAX_TEXT",
    "SCAN_CHARS",
    "Blocked",
    "blocked_failure",
    "detect_blocked",
]

#: The row's failure reason for a blocked page.
BLOCKED_REASON = "blocked"
#: A rendered page with less visible text than this is empty (when content was expected).
EMPTY_MAX_TEXT = 20
#: How much of the HTML is searched (the HTTP path's detector reads as much).
SCAN_CHARS = SCAN_BYTES

_BLOCKING_STATUSES = frozenset({401, 403, 405, 429, 503})
# Markers the HTTP path's detector (anchorframe._render.challenge) does not have yet; worth moving there.
_EXTRA_STRONG = (("akamai", "errors&#46;edgesuite&#46;net"),)  # Akamai's page escapes its own URL
_EXTRA_WEAK = (("hcaptcha", "class='h-captcha'"), ("recaptcha", "class='g-recaptcha'"))
_TITLES = (
    ("cloudflare", "just a moment"),
    ("cloudflare", "attention required! | cloudflare"),
    ("perimeterx", "access to this page has been denied"),
    ("generic", "are you a robot"),
    ("generic", "verify you are human"),
)
_URLS = (
    ("cloudflare", "__cf_chl_"),
    ("cloudflare", "/cdn-cgi/challenge-platform/"),
    ("datadome", "captcha-delivery.com"),
    ("recaptcha", "google.com/sorry/"),
)
# Akamai's block page: "Reference #18.6f5c1402.1700000000.1a2b3c4d", often HTML-escaped.
_AKAMAI_REFERENCE = re.compile(r"reference\s*(?:#|&#35;|&#32;&#35;)\s*\d+(?:\.|&#46;)[0-9a-f]+", re.I)


@dataclass(frozen=True)
class Blocked:
    """Why a page counts as blocked; ``message`` is a sentence for ``result.errors``."""

    vendor: str
    marker: str
    message: str


def detect_blocked(
    *,
    status: int | None,
    headers: Mapping[str, str] | None,
    url: str,
    title: str,
    html: str,
    text_length: int | None = None,
    expect_content: bool = False,
) -> Blocked | None:
    """Whether the page a row landed on is a block or challenge page (see the module docstring).

    Args:
        status: the main document's HTTP status (None if unknown).
        headers: its response headers (any case).
        url: the page's final URL, after redirects.
        title: ``document.title``.
        html: the start of the page's HTML (``SCAN_CHARS`` is enough).
        text_length: length of the visible text (``document.body.innerText``), if known.
        expect_content: the caller expected data here (e.g. the callable found nothing),
            so an empty 2xx page counts as blocked.

    Example:
        >>> detect_blocked(status=200, headers={}, url="https://a.com/p", title="", html="<body></body>",
        ...                text_length=0, expect_content=True).marker
        'empty page'
    """
    found = _find(status, headers or {}, url, title, html, text_length)
    if found is not None:
        vendor, marker = found
        who = "a bot challenge" if vendor == "generic" else f"a {_VENDOR_NAMES.get(vendor, vendor)} challenge"
        shown = f"HTTP {status}, " if status is not None else ""
        return Blocked(
            vendor,
            marker,
            f"The site answered with {who} or block page ({shown}{marker!r}), not the page itself.",
        )
    if (
        expect_content
        and (status is None or 200 <= status < 300)
        and text_length is not None
        and text_length < EMPTY_MAX_TEXT
    ):
        return Blocked(
            "unknown",
            "empty page",
            f"The page rendered with {text_length} characters of text where content was expected; "
            "the site may be blocking automated browsers.",
        )
    return None


def blocked_failure(blocked: Blocked) -> RowFailed:
    """The row failure to raise for a blocked page: reason ``blocked``, worth a retry elsewhere.

    Example:
        >>> failure = blocked_failure(Blocked("akamai", "AkamaiGHost", "Blocked."))
        >>> failure.reason, failure.retryable
        ('blocked', True)
    """
    return RowFailed(BLOCKED_REASON, blocked.message, retryable=True)


_VENDOR_NAMES = {
    "cloudflare": "Cloudflare",
    "akamai": "Akamai",
    "perimeterx": "PerimeterX (HUMAN)",
    "datadome": "DataDome",
    "imperva": "Imperva",
    "sucuri": "Sucuri",
    "aws-waf": "AWS WAF",
    "hcaptcha": "hCaptcha",
    "recaptcha": "reCAPTCHA",
}


def _find(
    status: int | None,
    headers: Mapping[str, str],
    url: str,
    title: str,
    html: str,
    text_length: int | None,
) -> tuple[str, str] | None:
    lowered_headers = {name.lower(): value.lower() for name, value in headers.items()}
    waf_action = lowered_headers.get("x-amzn-waf-action")
    if waf_action in ("captcha", "challenge"):
        return "aws-waf", f"x-amzn-waf-action: {waf_action}"
    challenge: Challenge | None = detect_challenge(
        html, status=status, headers=headers, text_length=text_length
    )
    if challenge is not None:
        return challenge.vendor, challenge.marker
    page = html[:SCAN_CHARS].lower()
    for vendor, marker in _EXTRA_STRONG:
        if marker in page:
            return vendor, marker
    if status in _BLOCKING_STATUSES or text_length is None or text_length < WEAK_MARKER_MAX_TEXT:
        for vendor, marker in _EXTRA_WEAK:
            if marker in page:
                return vendor, marker
    lowered_title = title.strip().lower()
    if (
        status == 403
        and "akamaighost" in lowered_headers.get("server", "")
        and lowered_title == "access denied"
    ):
        return "akamai", "Server: AkamaiGHost, Access Denied"
    lowered_url = url.lower()
    for vendor, marker in _URLS:
        if marker in lowered_url:
            return vendor, f"redirected to {marker}"
    for vendor, marker in _TITLES:
        if lowered_title.startswith(marker):
            return vendor, f"title {title.strip()!r}"
    if lowered_title == "access denied" and _AKAMAI_REFERENCE.search(html[:SCAN_CHARS]):
        return "akamai", "Access Denied, Reference #"
    return None
