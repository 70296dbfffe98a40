"""Pages that render the same with and without JavaScript, for the text rule and the same-values test.

Each entry of :data:`TRICKY` is (path, HTML, selectors, expected values by the rule in
``anchorframe._render.text``). Every case is one a naive extractor gets wrong somewhere:
whitespace, non-breaking spaces, hidden elements, nested inline/block, tables, unicode.
"""

from __future__ import annotations

import random

from benchmarks.render_corpus import Page

_HEAD = (
    "<!doctype html><html><head><meta charset='utf-8'><title>  Tricky&nbsp;page \n </title>"
    "<noscript><p class=leak>head noscript</p></noscript></head>"
)

CASES: dict[str, tuple[str, str | None]] = {
    # name: (HTML fragment with class=name on the element read, expected text; None: read an attribute)
    "spaces": ("<div class=spaces>  Hello \n\t  world  </div>", "Hello world"),
    "inline": (
        "<p class=inline>Hello <b>bold</b><i> and</i>  <span>  spaced </span>text</p>",
        "Hello bold and spaced text",
    ),
    "nbsp": ("<p class=nbsp>12&nbsp;&nbsp;EUR&#8239;net&ensp;x&#x3000;y</p>", "12 EUR net x y"),
    "hidden": (
        "<div class=hidden>shown <span hidden>h</span><span style='display:none'>n</span>"
        "<span style='color:red; DISPLAY : NONE !important'>n2</span>"
        "<span style='visibility:hidden'>v</span> end</div>",
        "shown end",
    ),
    "skipped": (
        "<div class=skipped>a<script>var x = 1;</script><style>.x{}</style>"
        "<template><p>t</p></template><noscript>ns</noscript>b</div>",
        "ab",
    ),
    "breaks": (
        "<div class=breaks>line1<br>line2<br><br>line3<p>para</p>tail<ul><li>one</li><li>two</li></ul></div>",
        "line1\nline2\nline3\npara\ntail\none\ntwo",
    ),
    "table": (
        "<table class=table><tr><th>A</th><td>1</td></tr><tr><td>2</td><td>3</td></tr></table>",
        "A 1\n2 3",
    ),
    "unicode": (
        "<h2 class=unicode>Ünïcödé 日本語 🎉 Ελληνικά\u200bz</h2>",
        "Ünïcödé 日本語 🎉 Ελληνικά\u200bz",
    ),
    "comment": ("<p class=comment>a<!-- c -->b</p>", "ab"),
    "pre": ("<pre class=pre>  a\n   b  </pre>", "a b"),
    "entities": ("<p class=entities>&lt;tag&gt; &amp; &quot;q&quot;</p>", '<tag> & "q"'),
    "stylesheet": (
        "<style>.gone{display:none}</style><p class=stylesheet>a <span class=gone>b</span> c</p>",
        "a b c",  # hidden by a stylesheet: kept on both paths (a parser cannot see stylesheets)
    ),
    "transform": ("<p class=transform style='text-transform:uppercase'>mixed Case</p>", "mixed Case"),
    "hiddenroot": ("<p class=hiddenroot hidden>root  hidden</p>", "root hidden"),
    "form": (
        "<div class=form>Pick <select><option>a</option></select> <textarea>t</textarea> done</div>",
        "Pick done",
    ),
    "svg": ("<div class=svg><svg width=1 height=1><text>svg text</text></svg> after</div>", "svg text after"),
    "details": ("<details class=details><summary>Sum</summary>Body</details>", "Sum\nBody"),
    "nest": ("<div class=nest><span>a<div>b</div>c</span></div>", "a\nb\nc"),
    "misnested": ("<p class=misnested>para<div>div</div>", "para"),
    "implicit": ("<table class=implicit><tr><td>cell</td></tr></table>", None),
}
ATTRIBUTE_CASES = {
    "href": ("a.link@href", "/x?a=1&b=2"),
    "disabled": ("input.in@DISABLED", ""),
    "missing": ("a.link@title", None),
    "tbody": ("table.implicit > tbody > tr > td", "cell"),
}
ATTRIBUTE_HTML = "<a class=link href='/x?a=1&amp;b=2'>l</a><input class=in disabled value=v>"

TRICKY_HTML = (
    _HEAD
    + "<body><main>"
    + "".join(fragment for fragment, _ in CASES.values())
    + ATTRIBUTE_HTML
    + "</main></body></html>"
)
TRICKY_SELECTORS: dict[str, str] = {
    **{name: f".{name}" for name, (_, value) in CASES.items() if value is not None},
    **{name: selector for name, (selector, _) in ATTRIBUTE_CASES.items()},
}
TRICKY_EXPECTED: dict[str, str | None] = {
    **{name: value for name, (_, value) in CASES.items() if value is not None},
    **{name: value for name, (_, value) in ATTRIBUTE_CASES.items()},
}

_CAFE = (
    "<!doctype html><html><head>{meta}<title>Café “crème”</title></head>"
    "<body><h1>Café “crème” – 5 €</h1></body></html>"
)
_JAPANESE = (
    "<!doctype html><html><head>{meta}<title>日本語のページ</title></head>"
    "<body><h1>こんにちは、世界</h1></body></html>"
)


def charset_pages() -> dict[str, Page]:
    """Pages whose charset only <meta> declares (the header says text/html alone); one in the header."""
    html_only = {"Content-Type": "text/html"}
    return {
        "/cp1252-meta": Page(
            _CAFE.format(meta="<meta charset='windows-1252'>").encode("cp1252"), headers=html_only
        ),
        "/latin1-meta": Page(
            _CAFE.format(
                meta="<meta http-equiv='Content-Type' content='text/html; charset=iso-8859-1'>"
            ).encode("cp1252"),
            headers=html_only,
        ),
        "/sjis-meta": Page(
            _JAPANESE.format(meta="<meta charset='shift_jis'>").encode("shift_jis"), headers=html_only
        ),
        "/sjis-header": Page(
            _JAPANESE.format(meta="").encode("shift_jis"),
            headers={"Content-Type": "text/html; charset=Shift_JIS"},
        ),
    }


def all_pages() -> dict[str, Page]:
    return {"/tricky": Page(TRICKY_HTML), "/": Page(TRICKY_HTML), **charset_pages()}


_TEXTS = (
    "a",
    "Bc",
    " ",
    "  ",
    "\n",
    "\t",
    "&nbsp;",
    "&#x3000;",
    "&#8239;",
    "&amp;",
    "é",
    "日本",
    "🎉",
    "x\u200by",
)
_INLINE = ("span", "b", "i", "a", "em", "code", "small")
_BLOCK = ("div", "p", "section", "h2", "li", "pre", "blockquote", "details")
_SKIPPED = ("script", "style", "template", "noscript", "textarea", "select")
_HIDING = ("hidden", "style='display:none'", "style='Visibility: hidden ;'", "style='display:inline'", "")


def random_fragment(rng: random.Random, depth: int = 0) -> str:
    """Random nested markup: inline and block elements, breaks, tables, hidden and skipped elements."""
    parts = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.35 or depth > 3:
            parts.append("".join(rng.choice(_TEXTS) for _ in range(rng.randint(1, 4))))
        elif roll < 0.45:
            parts.append("<br>")
        elif roll < 0.55:
            tag = rng.choice(_SKIPPED)
            inner = "<option>o</option>" if tag == "select" else "skipped text"
            parts.append(f"<{tag}>{inner}</{tag}>")
        elif roll < 0.62:
            cells = "".join(f"<td>{random_fragment(rng, depth + 2)}</td>" for _ in range(rng.randint(1, 3)))
            parts.append(f"<table><tr>{cells}</tr><tr><th>h</th></tr></table>")
        else:
            tag = rng.choice(_INLINE if roll < 0.8 else _BLOCK)
            attrs = rng.choice(_HIDING) if rng.random() < 0.3 else ""
            parts.append(f"<{tag} {attrs}>{random_fragment(rng, depth + 1)}</{tag}>")
    return "".join(parts)


def random_page(count: int, seed: int) -> str:
    """``count`` random fragments, each in ``<div id=fN>``, in one page."""
    rng = random.Random(seed)
    body = "".join(f"<div id=f{n}>{random_fragment(rng)}</div>" for n in range(count))
    head = "<!doctype html><html><head><meta charset='utf-8'><title>random</title></head>"
    return f"{head}<body>{body}</body></html>"
