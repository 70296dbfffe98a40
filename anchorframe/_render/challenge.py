"""Does a fetched page need a browser? Bot challenges and script-rendered shells. No I/O.

Two questions asked of a page fetched over plain HTTP, from its status, headers,
HTML and normalised body text (see :mod:`anchorframe._render.text`):

* :func:`detect_challenge`: is this a bot challenge or block page (Cloudflare,
  Akamai, PerimeterX/HUMAN, DataDome, Imperva, Sucuri, AWS WAF, hCaptcha,
  reCAPTCHA, Turnstile)? *Strong* markers appear only on challenge pages and
  decide alone. *Weak* markers (a vendor's script or a captcha widget, also found
  on ordinary pages the vendor lets through) count only when the status is
  401/403/429/503 or the page has little text (< :data:`WEAK_MARKER_MAX_TEXT`).
* :func:`detect_shell`: is this an empty page that JavaScript fills in (a React/
  Vue/Angular mount point, a "Loading..." page, a noscript "enable JavaScript")?

Both err toward the browser: a false alarm costs one browser row, a miss returns
wrong values.

Example:
    >>> detect_challenge("<title>Just a moment...</title>", status=403).vendor
    'cloudflare'
    >>> detect_shell("<div id=root></div><script src=app.js></script>", body_text="") is not None
    True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "SHELL_MAX_TEXT",
    "WEAK_MARKER_MAX_TEXT",
    "Challenge",
    "detect_challenge",
    "detect_shell",
    "executable_scripts",
    "has_weak_marker",
]

#: A page with less normalised body text than this and at least one script is a shell.
SHELL_MAX_TEXT = 200
#: A noscript "enable JavaScript" notice makes a shell only on pages with less text than this.
NOSCRIPT_NOTICE_MAX_TEXT = 1000
#: Weak challenge markers count on pages with less body text than this (or a blocking status).
WEAK_MARKER_MAX_TEXT = 1000
#: Only the start of a page is searched for markers: challenge pages are small.
SCAN_BYTES = 200_000

_BLOCKING_STATUSES = frozenset({401, 403, 429, 503})

# (vendor, lowercase marker). Markers are searched in the lowercased start of the HTML.
_STRONG = (
    ("cloudflare", "<title>just a moment...</title>"),
    ("cloudflare", "_cf_chl_opt"),
    ("cloudflare", "cf-browser-verification"),
    ("cloudflare", "attention required! | cloudflare"),
    ("cloudflare", "cf-error-details"),
    ("akamai", "/_sec/cp_challenge/"),
    ("akamai", "sec-if-cpt-container"),
    ("akamai", "errors.edgesuite.net"),
    ("perimeterx", "px-captcha"),
    ("perimeterx", "captcha.px-cdn.net"),
    ("perimeterx", "press &amp; hold"),
    ("datadome", "geo.captcha-delivery.com"),
    ("datadome", "ct.captcha-delivery.com"),
    ("imperva", "_incapsula_resource"),
    ("imperva", "incapsula incident id"),
    ("sucuri", "sucuri website firewall"),
    ("aws-waf", "awswafintegration"),
    ("generic", "checking your browser before accessing"),
    ("generic", "verify you are human"),
    ("generic", "are you a robot"),
    ("generic", "our systems have detected unusual traffic"),
)
_WEAK = (
    ("cloudflare", "cf-chl"),
    ("cloudflare", "/cdn-cgi/challenge-platform/"),
    ("cloudflare", "challenges.cloudflare.com/turnstile"),
    ("perimeterx", "_pxappid"),
    ("perimeterx", "client.perimeterx.net"),
    ("datadome", "js.datadome.co"),
    ("datadome", "captcha-delivery.com"),
    ("hcaptcha", "hcaptcha.com/1/api.js"),
    ("hcaptcha", 'class="h-captcha"'),
    ("recaptcha", "www.google.com/recaptcha/"),
    ("recaptcha", "www.recaptcha.net/recaptcha/"),
    ("recaptcha", 'class="g-recaptcha"'),
    ("akamai", "access denied"),
)


@dataclass(frozen=True)
class Challenge:
    """A challenge or block page: which vendor (``"generic"`` when unknown) and the marker seen."""

    vendor: str
    marker: str


def detect_challenge(
    html: str,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    text_length: int | None = None,
    head: str | None = None,
) -> Challenge | None:
    """The challenge a page shows, or None for an ordinary page.

    ``headers`` are the response's (any case); ``text_length`` the length of the
    page's normalised body text, when known (unknown counts as short); ``head``
    ``html[:SCAN_BYTES].lower()`` when the caller has it already.

    Example:
        >>> detect_challenge("<script src='https://js.datadome.co/tags.js'></script>", status=200,
        ...                  text_length=5000) is None
        True
        >>> detect_challenge("<div class=\\"g-recaptcha\\"></div>", status=403).vendor
        'recaptcha'
    """
    lowered = {k.lower(): v.lower() for k, v in (headers or {}).items()}
    if lowered.get("cf-mitigated") == "challenge":
        return Challenge("cloudflare", "cf-mitigated: challenge")
    if "x-datadome" in lowered and status in _BLOCKING_STATUSES:
        return Challenge("datadome", "x-datadome header")
    page = head if head is not None else html[:SCAN_BYTES].lower()
    for vendor, marker in _STRONG:
        if marker in page:
            return Challenge(vendor, marker)
    weak_counts = status in _BLOCKING_STATUSES or text_length is None or text_length < WEAK_MARKER_MAX_TEXT
    if weak_counts:
        for vendor, marker in _WEAK:
            if marker in page:
                return Challenge(vendor, marker)
    if status in (403, 503) and "cloudflare" in lowered.get("server", "") and "cloudflare" in page:
        return Challenge("cloudflare", f"HTTP {status} from Cloudflare")
    return None


def has_weak_marker(html: str, head: str | None = None) -> bool:
    """True when a weak marker is present, so :func:`detect_challenge` needs ``text_length``."""
    page = head if head is not None else html[:SCAN_BYTES].lower()
    return any(marker in page for _, marker in _WEAK)


_SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
_SCRIPT_TYPE = re.compile(r"""\btype\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
_EXECUTABLE_TYPES = frozenset(
    {"", "text/javascript", "application/javascript", "module", "text/ecmascript", "application/ecmascript"}
)
_NOSCRIPT = re.compile(r"<noscript\b[^>]*>(.*?)</noscript>", re.IGNORECASE | re.DOTALL)
_NOSCRIPT_NOTICE = re.compile(
    r"(enable|turn on|activate|allow)\s+javascript|javascript\s+(is\s+)?(required|disabled|must be enabled)"
    r"|requires?\s+javascript|need(s)?\s+(to\s+enable\s+)?javascript",
    re.IGNORECASE,
)
# An empty mount point: <div id="root"></div> and the like (React, Next, Nuxt, Gatsby, Vue, Angular).
_EMPTY_MOUNT = re.compile(
    r"""<(?:div|main|section)\b[^>]*\bid\s*=\s*["']?(?:root|app|__next|__nuxt|___gatsby|q-app|svelte)["']?"""
    r"""[^>]*>\s*</(?:div|main|section)>|<app-root\b[^>]*>\s*</app-root>""",
    re.IGNORECASE,
)


def executable_scripts(html: str) -> int:
    """How many ``<script>`` tags would run (JSON and template scripts do not count)."""
    return scan_scripts(html)[0]


_SCRIPT_SRC = re.compile(r"""\bsrc\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
_VARYING = re.compile(r"[0-9a-f]{8,}|\d+")  # content hashes and numbers in names and inline code
_INLINE_SAMPLE = 160
#: What an inline script that may write the page's content mentions (DOM writes, loading more
#: code or data, a framework's render); one that mentions none (a config line) writes no field.
_WRITES_CONTENT = re.compile(
    r"document\.|innerHTML|outerHTML|insertAdjacent|appendChild|createElement|textContent|innerText"
    r"|\.append\(|\.prepend\(|\.html\(|\.text\(|replaceWith|fetch\(|XMLHttpRequest|import\(|\$\(|jQuery"
    r"|render|hydrate|mount"
)


def scan_scripts(html: str) -> tuple[int, frozenset[str]]:
    """How many ``<script>`` tags would run, and their names: ``src:`` file names, ``inline:`` code starts.

    An inline script that mentions no way to write the page (no DOM write, no fetch, no
    framework render: ``var config = {...}``) is counted but not named: it writes no field.

    Hashes and numbers are collapsed (``app.3f2a9c1d.js`` and ``app.77e01b2a.js`` are one
    script), so pages of one template share a signature; a page that runs a script the others
    do not (a section's client-side renderer) stands out.

    Example:
        >>> count, names = scan_scripts('<script src="/s/app.3f2a9c1d.js?v=2"></script><script>x = 1</script>'
        ...     '<script type="application/json">{}</script><script>render(42)</script>')
        >>> count, sorted(names)
        (3, ['inline:render(#)', 'src:app.#.js'])
    """
    names = set()
    count = 0
    for match in _SCRIPT_TAG.finditer(html):
        attributes = match.group(1)
        kind = _SCRIPT_TYPE.search(attributes)
        if (kind.group(1).lower() if kind else "") not in _EXECUTABLE_TYPES:
            continue
        count += 1
        source = _SCRIPT_SRC.search(attributes)
        if source:
            name = source.group(1).split("?", 1)[0].rsplit("/", 1)[-1]
            names.add("src:" + _VARYING.sub("#", name))
        else:
            start = match.end()
            end = html.find("</script", start, start + 100 * _INLINE_SAMPLE)
            code = html[start : end if end >= 0 else start + 100 * _INLINE_SAMPLE]
            if _WRITES_CONTENT.search(code):
                names.add(
                    "inline:"
                    + _VARYING.sub("#", " ".join(code[: 4 * _INLINE_SAMPLE].split())[:_INLINE_SAMPLE])
                )
    return count, frozenset(names)


def detect_shell(
    html: str, *, body_text: str | None = None, text_length: int | None = None, scripts: int | None = None
) -> str | None:
    """Why the page looks like a script-rendered shell, or None when it looks complete.

    ``body_text`` is the page's normalised body text (:func:`anchorframe._render.text.node_text`);
    or pass only its length (``text_length``; a lower bound is enough when it is past the limits).
    ``scripts``: :func:`executable_scripts` of ``html``, when the caller counted them already.

    Example:
        >>> detect_shell("<p>Loading...</p><script>load()</script>", body_text="Loading...")
        'little body text (10 characters) and 1 script'
        >>> detect_shell("<h1>Kettle</h1><p>12.00 EUR</p>", body_text="Kettle\\n12.00 EUR") is None
        True
    """
    length = len(body_text) if body_text is not None else (text_length or 0)
    scripts = executable_scripts(html) if scripts is None else scripts
    if scripts and _EMPTY_MOUNT.search(html):
        return "an empty application mount point (e.g. <div id=root></div>)"
    if scripts and length < SHELL_MAX_TEXT:
        plural = "" if scripts == 1 else "s"
        return f"little body text ({length} characters) and {scripts} script{plural}"
    if length < NOSCRIPT_NOTICE_MAX_TEXT:
        for notice in _NOSCRIPT.findall(html[:SCAN_BYTES]):
            if _NOSCRIPT_NOTICE.search(notice):
                return "a <noscript> notice asks for JavaScript"
    return None
