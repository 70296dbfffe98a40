"""The built-in extractors over fetched HTML: the same values as in the browser, or "needs a browser".

No I/O. Given a page's HTML (and its final URL, status and headers), return the
dict that :func:`anchorframe.extract.css` or :func:`~anchorframe.extract.page_summary`
would return for it in a browser, or the reason the row needs a browser instead:
a selector not found, a bot challenge, a script-rendered shell.

The parser is selectolax's lexbor backend: it follows the WHATWG parsing
algorithm as browsers do (``<tbody>`` inserted, misnested tags repaired the same
way), so a selector matches the elements it matches in Chromium; measured 1.7-2.4x
faster than lxml + cssselect (benchmarks/render_corpus.py --parsers).

Example:
    >>> html = "<title>Kettle</title><h1>Kettle</h1><p class=price>12.00&nbsp;EUR</p>"
    >>> extract_html(html, {"name": "h1", "price": ".price"}, final_url="http://x/", status=200).values
    {'name': 'Kettle', 'price': '12.00 EUR'}
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InputError
from .challenge import (
    NOSCRIPT_NOTICE_MAX_TEXT,
    SCAN_BYTES,
    SHELL_MAX_TEXT,
    WEAK_MARKER_MAX_TEXT,
    detect_challenge,
    detect_shell,
    has_weak_marker,
    scan_scripts,
)
from .text import node_text, text_length_at_least

#: Past this many characters of body text no shell or challenge rule depends on the exact count.
TEXT_LIMITS = max(SHELL_MAX_TEXT, NOSCRIPT_NOTICE_MAX_TEXT, WEAK_MARKER_MAX_TEXT)

__all__ = ["HtmlResult", "extract_html", "split_selectors"]


@dataclass(frozen=True)
class HtmlResult:
    """What the parser made of a page: ``values`` (the extractor's dict) or ``needs_browser`` (why not).

    ``challenge`` names the vendor when the page is a bot challenge (``needs_browser`` is then set).
    """

    values: dict[str, Any] | None
    needs_browser: str | None = None
    challenge: str | None = None
    #: The fields whose selector matched nothing in a complete page (``absent="missing"``).
    absent: tuple[str, ...] = ()
    #: The scripts the page runs (:func:`~anchorframe._render.challenge.scan_scripts`): what may
    #: write an absent field in a browser.
    scripts: frozenset[str] = frozenset()


#: A pseudo-class (one colon) and its argument: lexbor does not know every one a browser does
#: (``:focus-visible``, ``:lang(en)``), so a selector is refused only when it fails without them.
_PSEUDO_CLASS = re.compile(r"(?<!:):[A-Za-z-]+(\((?:[^()]|\([^()]*\))*\))?")


def selector_problem(selector: str) -> str | None:
    """Why a CSS selector cannot be used (its syntax is wrong for any browser), or None.

    Example:
        >>> selector_problem("h1[[["), selector_problem("a:focus-visible"), selector_problem("p::first-line")
        ('the CSS selector does not parse', None, 'the CSS selector does not parse')
    """
    from selectolax.lexbor import LexborHTMLParser

    probe = LexborHTMLParser("<html></html>")
    # An unknown pseudo-class stands in as a neutral attribute test, so "div > :focus-visible" stays whole.
    for candidate in (selector, _PSEUDO_CLASS.sub("[data-af]", selector)):
        try:
            probe.css(candidate)
            return None
        except Exception:
            continue
    return "the CSS selector does not parse"


def split_selectors(selectors: Mapping[str, str]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Check ``extract=`` and split it into (name, CSS selector) pairs and {name: attribute}.

    A selector ending in ``@attr`` reads that attribute (``"a.next@href"``); an ``@``
    inside an attribute selector (``a[href*='@']``) does not count.

    Example:
        >>> split_selectors({"name": "h1", "link": "a.next@href"})
        ([('name', 'h1'), ('link', 'a.next')], {'link': 'href'})
    """
    if not isinstance(selectors, Mapping) or not selectors:
        raise InputError(
            "extract= takes a non-empty dict of column name -> CSS selector, "
            "e.g. extract={'name': 'h1', 'price': '.price'}."
        )
    pairs: list[tuple[str, str]] = []
    attrs: dict[str, str] = {}
    for name, selector in selectors.items():
        if not isinstance(name, str) or not name or not isinstance(selector, str) or not selector.strip():
            raise InputError(
                f"extract={{{name!r}: {selector!r}}}: names and selectors must be non-empty strings."
            )
        base, _, attr = (
            selector.rpartition("@") if "@" in selector and not selector.endswith("]") else (selector, "", "")
        )
        if not base:
            base, attr = selector, ""
        problem = selector_problem(base.strip())
        if problem:
            raise InputError(
                f"extract={{{name!r}: {selector!r}}}: {problem}. Fix the selector (e.g. 'h1', '.price', "
                "'a.next@href' for an attribute); nothing was fetched."
            )
        pairs.append((name, base.strip()))
        if attr:
            attrs[name] = attr.strip()
    return pairs, attrs


def extract_html(
    html: str,
    selectors: Mapping[str, str] | None,
    *,
    final_url: str,
    status: int,
    headers: Mapping[str, str] | None = None,
    absent: Literal["browser", "missing"] = "browser",
) -> HtmlResult:
    """The values of ``css(selectors)`` (or of ``page_summary`` when ``selectors`` is None) for a page.

    A selector that matches nothing in a complete document (not a script shell, not a challenge)
    sends the row to a browser (``absent="browser"``, where JavaScript may still write it), or is
    a missing value, as a browser's would be on a page without scripts (``absent="missing"``:
    ``render="http"``, which never calls a complete page a browser page).

    Example:
        >>> extract_html("<div id=root></div><script src=/app.js></script>", None,
        ...              final_url="http://x/", status=200).needs_browser
        'script-rendered shell: an empty application mount point (e.g. <div id=root></div>)'
    """
    from selectolax.lexbor import LexborHTMLParser  # the HTTP path's parser, loaded on first use

    tree = LexborHTMLParser(_neutralise_noscript(html))
    body_text: str | None = None
    text_length: int | None = None
    # The body's text costs a walk of the whole page (~4 ms for 60 kB, ~35 ms for 800 kB): only
    # the page summary needs it whole; the shell and challenge rules only ask "fewer than 1,000
    # characters?", which a lower bound from the parser's own text answers for most pages.
    if selectors is None:
        body_text = node_text(tree.body) if tree.body is not None else ""
        text_length = len(body_text)
    head = html[:SCAN_BYTES].lower()
    scripts, signature = scan_scripts(html)
    if selectors is not None and (scripts or "<noscript" in head or has_weak_marker(html, head)):
        text_length = text_length_at_least(tree.body) if tree.body is not None else 0
        if text_length < TEXT_LIMITS:
            text_length = len(node_text(tree.body)) if tree.body is not None else 0

    challenge = detect_challenge(html, status=status, headers=headers, text_length=text_length, head=head)
    if challenge is not None:
        return HtmlResult(None, f"bot challenge ({challenge.vendor}: {challenge.marker!r})", challenge.vendor)
    if text_length is not None:
        shell = detect_shell(html, text_length=text_length, scripts=scripts)
        if shell is not None:
            return HtmlResult(None, f"script-rendered shell: {shell}")

    if selectors is None:
        title = tree.css_first("title")
        return HtmlResult(
            {
                "final_url": final_url,
                "http_status": status,
                "title": node_text(title) if title is not None else "",
                "text_length": len(body_text or ""),
            }
        )
    pairs, attrs = _split_once(tuple(selectors.items()))
    values: dict[str, Any] = {}
    missing: list[str] = []
    for name, selector in pairs:
        try:
            node = tree.css_first(selector)
        except Exception as exc:  # lexbor rejects a selector Chromium may accept: let the browser judge
            return HtmlResult(None, f"the parser cannot read selector {selector!r} ({exc})")
        if node is None:
            if absent == "missing":
                values[name] = None  # as css() gives in a browser for a selector matching nothing
                missing.append(name)
                continue
            return HtmlResult(None, f"selector {selector!r} ({name}) not found")
        attr = attrs.get(name)
        if attr:
            # As getAttribute: names are case-insensitive, a bare attribute reads "", a missing one None.
            attributes = node.attributes
            key = attr.lower()
            values[name] = (attributes[key] or "") if key in attributes else None
        else:
            values[name] = node_text(node)
    return HtmlResult(values, absent=tuple(missing), scripts=signature)


@functools.lru_cache(maxsize=64)
def _split_once(items: tuple[tuple[str, str], ...]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    # A run's selectors are checked once (split_selectors parses each), not once per page.
    return split_selectors(dict(items))


# A browser running JavaScript parses <noscript> content as raw text up to the first
# </noscript>, so selectors never match inside it (and, in <head>, its markup does not break
# out into <body>). lexbor parses it with scripting off, as markup: empty it first, as the
# browser's tokenizer would read it.
_NOSCRIPT_CONTENT = re.compile(r"(<noscript\b[^>]*>).*?(</noscript\s*>)", re.IGNORECASE | re.DOTALL)


def _neutralise_noscript(html: str) -> str:
    return _NOSCRIPT_CONTENT.sub(r"\1\2", html)
