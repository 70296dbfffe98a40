"""How extracted text is normalised, the same rule in the browser and in the HTML parser. No I/O.

A value must not depend on which path fetched the page (``render="browser"`` or
``"http"``). The browser's ``innerText`` follows CSS, which a parser cannot
know, so neither path uses it: both walk the DOM and apply this rule.

The rule, for the element a selector matched (the *root*):

1. **Omitted subtrees.** A descendant element is skipped with everything in it
   when its tag is in :data:`SKIP_TAGS` (``script``, ``style``, ``template``,
   ``noscript``, ``head``, embedded content such as ``iframe`` or ``select``) or
   when it is hidden *by its own markup*: a ``hidden`` attribute, or an inline
   ``style`` that sets ``display: none`` or ``visibility: hidden``. Text hidden by
   a stylesheet rule stays in, on both paths (a parser cannot see stylesheets).
   The root itself is always read, even when hidden (as ``innerText`` does).
   Comments are never text.
2. **Breaks.** ``<br>`` and the boundaries of block elements (:data:`BLOCK_TAGS`:
   ``p``, ``div``, ``li``, headings, table rows...) end a line; table cells
   (``td``, ``th``) are separated by a space.
3. **Whitespace.** Every character of :data:`WHITESPACE` (ASCII whitespace,
   non-breaking space U+00A0 and the other Unicode spaces, U+FEFF) counts as
   whitespace, newlines in the source included (``<pre>`` too): within a line,
   a run of it becomes one space; lines are trimmed, empty lines dropped, and the
   lines joined with ``"\\n"``.
4. **Case and everything else are kept** (``text-transform`` is CSS: ignored).
   Attribute values (``selector@attr``) are returned as written, not normalised.

Lengths (``text_length``) count Unicode code points, not UTF-16 units.

Example:
    >>> finish([spaces("  Price:\\u00a0"), spaces("12\\n"), BREAK, BREAK, " EUR  "])
    'Price: 12\\nEUR'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "BLOCK_TAGS",
    "BREAK",
    "SKIP_TAGS",
    "TEXT_JS",
    "WHITESPACE",
    "finish",
    "hidden_by_markup",
    "node_text",
    "spaces",
    "text_length_at_least",
]

#: Elements whose content is never text: not rendered, or not part of the document's text.
SKIP_TAGS = frozenset(
    {
        "head",
        "script",
        "style",
        "template",
        "noscript",
        "iframe",
        "object",
        "embed",
        "canvas",
        "video",
        "audio",
        "select",
        "textarea",
        "datalist",
    }
)

#: Elements that start and end a line (their default display is block, list-item or table-ish).
BLOCK_TAGS = frozenset(
    """address article aside blockquote body caption center dd details dialog dir div dl dt
    fieldset figcaption figure footer form frameset h1 h2 h3 h4 h5 h6 header hgroup hr html
    legend li main menu nav ol optgroup option p pre search section summary table tbody tfoot
    thead tr ul""".split()  # noqa: SIM905  (a word list reads better than 50 quoted strings)
)

#: Table cells: separated by a space, on the same line.
CELL_TAGS = frozenset({"td", "th"})

#: The characters counted as whitespace: JavaScript's ``\\s`` set, written out so both sides use one list.
WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"  # noqa: E501

#: A line break in the chunk stream handed to :func:`finish`.
BREAK = "\n"

_SPACES = re.compile(f"[{re.escape(WHITESPACE)}]+")
_SPACES_NO_NEWLINE = re.compile(f"[{re.escape(WHITESPACE.replace(chr(10), ''))}]+")
_STYLE_HIDES = re.compile(
    r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)\s*(?:!\s*important\s*)?(?:;|$)"
)


def hidden_by_markup(attributes: Mapping[str, Any]) -> bool:
    """True when an element's own attributes hide it (``hidden``, inline ``display:none``).

    Example:
        >>> hidden_by_markup({"style": "color: red; DISPLAY : none !important"})
        True
        >>> hidden_by_markup({"class": "hidden"})
        False
    """
    if "hidden" in attributes:
        return True
    style = attributes.get("style")
    return bool(style) and _STYLE_HIDES.search(str(style).lower()) is not None


def finish(chunks: Iterable[str]) -> str:
    """Join chunks into the normalised value (rules 2 and 3).

    Text chunks must have passed through :func:`spaces` (no newline left in them), so
    that only :data:`BREAK` chunks end a line.
    """
    lines = (_SPACES_NO_NEWLINE.sub(" ", line).strip(" ") for line in "".join(chunks).split(BREAK))
    return "\n".join(line for line in lines if line)


def spaces(text: str) -> str:
    """Every run of :data:`WHITESPACE` (newlines included) as one space."""
    return _SPACES.sub(" ", text)


def node_text(root: Any) -> str:
    """The normalised text of a selectolax (lexbor) node, following the module's rule.

    Example:
        >>> from selectolax.lexbor import LexborHTMLParser
        >>> tree = LexborHTMLParser("<div><p>A&nbsp; <b>b</b></p><p hidden>no</p>c<br>d</div>")
        >>> node_text(tree.css_first("div"))
        'A b\\nc\\nd'
    """
    chunks: list[str] = []
    _walk(root, chunks, is_root=True)
    return finish(chunks)


#: Elements whose text may not count as visible (skipped tags, elements hidden by markup).
_NOT_VISIBLE = ", ".join(sorted(SKIP_TAGS)) + ", [hidden], [style]"


def text_length_at_least(root: Any) -> int:
    """A lower bound of ``len(node_text(root))``, from lexbor's own text (no walk in Python).

    The characters that are not whitespace, less those under any element whose text may be
    left out (skipped tags, ``hidden``, any inline ``style``; nested ones subtracted twice):
    ~50x cheaper than :func:`node_text` on a large page, and enough to say "well past 1,000".

    Example:
        >>> from selectolax.lexbor import LexborHTMLParser
        >>> body = LexborHTMLParser("<p>Two words</p><script>var x = 1</script><p hidden>no</p>").body
        >>> text_length_at_least(body), len(node_text(body))
        (8, 9)
    """
    total = _solid(root.text(deep=True, separator="", strip=False))
    for node in root.css(_NOT_VISIBLE):
        total -= _solid(node.text(deep=True, separator="", strip=False))
    return max(0, total)


def _solid(text: str) -> int:
    # str.split() splits on every Unicode space (a superset of WHITESPACE): never more than node_text keeps
    return sum(map(len, text.split()))


def _walk(node: Any, out: list[str], *, is_root: bool = False) -> None:
    # Iterative would save a little on very deep pages; recursion depth is bounded by the
    # parser's own nesting limit (lexbor caps open elements), far below Python's limit.
    tag = node.tag
    if tag == "-text":
        out.append(_SPACES.sub(" ", node.text_content or ""))
        return
    if not node.is_element_node:
        return  # comments, doctype
    if not is_root and (tag in SKIP_TAGS or hidden_by_markup(node.attributes)):
        return
    if tag == "br":
        out.append(BREAK)
        return
    block = tag in BLOCK_TAGS
    cell = tag in CELL_TAGS
    if block:
        out.append(BREAK)
    elif cell:
        out.append(" ")
    child = node.child
    while child is not None:
        _walk(child, out)
        child = child.next
    if block:
        out.append(BREAK)
    elif cell:
        out.append(" ")


# The same rule in the page: ``afText(el)`` returns what :func:`node_text` returns for the
# same element. Built from the Python constants so the two cannot drift apart.
TEXT_JS = """(() => {
  const SKIP = new Set(__SKIP__);
  const BLOCK = new Set(__BLOCK__);
  const CELL = new Set(["TD", "TH"]);
  const HIDES = /__HIDES__/;
  const SPACES = /[__WS__]+/g;
  const SPACES_NO_NL = /[__WS_NO_NL__]+/g;
  const hidden = (el) => el.hasAttribute("hidden") ||
    (el.hasAttribute("style") && HIDES.test(el.getAttribute("style").toLowerCase()));
  const walk = (node, out, isRoot) => {
    if (node.nodeType === 3) { out.push(node.data.replace(SPACES, " ")); return; }
    if (node.nodeType !== 1) return;
    const tag = node.localName.toUpperCase();
    if (!isRoot && (SKIP.has(tag) || hidden(node))) return;
    if (tag === "BR") { out.push("\\n"); return; }
    const block = BLOCK.has(tag), cell = CELL.has(tag);
    if (block) out.push("\\n"); else if (cell) out.push(" ");
    for (let c = node.firstChild; c; c = c.nextSibling) walk(c, out, false);
    if (block) out.push("\\n"); else if (cell) out.push(" ");
  };
  return (el) => {
    const out = [];
    walk(el, out, true);
    return out.join("").split("\\n").map((l) => l.replace(SPACES_NO_NL, " ").replace(/^ +| +$/g, ""))
      .filter((l) => l).join("\\n");
  };
})()"""
for _name, _value in (
    ("__SKIP__", repr(sorted(t.upper() for t in SKIP_TAGS))),
    ("__BLOCK__", repr(sorted(t.upper() for t in BLOCK_TAGS))),
    ("__HIDES__", _STYLE_HIDES.pattern),
    ("__WS_NO_NL__", "".join(f"\\u{ord(c):04x}" for c in WHITESPACE if c != "\n")),
    ("__WS__", "".join(f"\\u{ord(c):04x}" for c in WHITESPACE)),
):
    TEXT_JS = TEXT_JS.replace(_name, _value)
