"""The text rule (anchorframe._render.text) and the extraction over parsed HTML (_render.html). No browser.

The browser side of the same rule is checked against this one in test_same_values.py.
"""

from __future__ import annotations

import doctest
import importlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from anchorframe._render.html import extract_html, split_selectors
from anchorframe._render.text import (
    BREAK,
    TEXT_JS,
    WHITESPACE,
    finish,
    hidden_by_markup,
    node_text,
    spaces,
    text_length_at_least,
)
from anchorframe.errors import InputError

from .render_pages import TRICKY_EXPECTED, TRICKY_HTML, TRICKY_SELECTORS, random_page


@pytest.mark.parametrize(
    "name",
    [
        "anchorframe._render.text",
        "anchorframe._render.html",
        "anchorframe._render.challenge",
        "anchorframe._render.http",
        "anchorframe._render.charset",
    ],
)
def test_docstring_examples(name):
    outcome = doctest.testmod(importlib.import_module(name))
    assert outcome.attempted > 0 and outcome.failed == 0


def text(html: str, selector: str = "div") -> str:
    return node_text(LexborHTMLParser(html).css_first(selector))


def test_every_tricky_case_reads_as_documented():
    values = extract_html(TRICKY_HTML, TRICKY_SELECTORS, final_url="u", status=200).values
    assert values == TRICKY_EXPECTED


@pytest.mark.parametrize(
    ("style", "hidden"),
    [
        ("display:none", True),
        ("DISPLAY : None ; color: red", True),
        ("color:red;display:none!important", True),
        ("visibility: hidden", True),
        ("display: none-ish", False),
        ("display:block", False),
        ("--display:none", False),
        ("", False),
    ],
)
def test_inline_styles_that_hide(style, hidden):
    assert hidden_by_markup({"style": style}) is hidden


def test_the_hidden_attribute_hides_whatever_its_value():
    assert hidden_by_markup({"hidden": None}) and hidden_by_markup({"hidden": "until-found"})


@given(st.lists(st.text(alphabet=WHITESPACE + "ab\u200b", max_size=12), max_size=8))
@settings(deadline=None)  # a shared 2-core machine: time limits would flake
def test_no_value_has_whitespace_runs_edges_or_empty_lines(chunks):
    value = finish([BREAK if c == "" else spaces(c) for c in chunks])
    for line in value.split("\n") if value else []:
        assert line and line == line.strip(WHITESPACE)
        assert "  " not in line and not set(line) & (set(WHITESPACE) - {" "})


@given(st.text(max_size=40))
@settings(deadline=None)  # a shared 2-core machine: time limits would flake
def test_plain_text_reads_as_its_collapsed_self(content):
    """A text node alone is its content with whitespace runs collapsed and trimmed."""
    expected = " ".join("".join(" " if c in WHITESPACE else c for c in content).split(" "))
    expected = " ".join(part for part in expected.split(" ") if part)
    tree = LexborHTMLParser("<div></div>")
    node = tree.css_first("div")
    node.insert_child(content)
    assert node_text(node) == expected.strip(" ")


def test_deeply_nested_inline_and_blocks_join_lines_once():
    html = "<div><section><article><p><span><b>a</b></span></p></article></section><em>b</em><p></p>c</div>"
    assert text(html) == "a\nb\nc"


def test_the_js_rule_carries_the_same_lists():
    for tag in ("'NOSCRIPT'", "'TEMPLATE'", "'TBODY'", "'LI'"):
        assert tag in TEXT_JS
    assert "__" not in TEXT_JS.replace("__proto__", "")  # every placeholder was filled


def test_selectors_split_attribute_reads_as_before():
    assert split_selectors({"a": "a[href$='@x']", "b": "img@src"}) == (
        [("a", "a[href$='@x']"), ("b", "img")],
        {"b": "src"},
    )
    with pytest.raises(InputError, match="does not parse"):
        split_selectors({"c": "@"})  # no selector left before the @
    with pytest.raises(InputError, match="non-empty dict"):
        split_selectors({})
    with pytest.raises(InputError, match="non-empty strings"):
        split_selectors({"a": " "})


def test_a_missing_selector_sends_the_row_to_the_browser():
    result = extract_html("<h1>x</h1>", {"name": "h1", "price": ".price"}, final_url="u", status=200)
    assert result.values is None and result.needs_browser == "selector '.price' (price) not found"


def test_render_http_calls_an_absent_field_of_a_complete_page_missing():
    """absent="missing" (render="http"): the value is None, as css() gives in a browser; shells still
    need a browser."""
    page = "<html><head><title>t</title></head><body><h1>x</h1>" + "<p>text</p>" * 50 + "</body></html>"
    result = extract_html(
        page, {"name": "h1", "price": ".price"}, final_url="u", status=200, absent="missing"
    )
    assert result.needs_browser is None and result.values == {"name": "x", "price": None}
    shell = "<html><body><div id=root></div><script src=/app.js></script></body></html>"
    assert extract_html(shell, {"t": "title"}, final_url="u", status=200, absent="missing").needs_browser


@pytest.mark.parametrize("where", ["head", "body"])
def test_selectors_never_match_inside_noscript_as_in_a_browser_running_javascript(where):
    noscript = "<noscript><p class=n>no</p></noscript>"
    html = f"<html><head>{noscript if where == 'head' else ''}</head><body><h1>x</h1>"
    html += (noscript if where == "body" else "") + "<p>text</p>" * 50
    result = extract_html(html, {"n": ".n"}, final_url="u", status=200)
    assert result.needs_browser == "selector '.n' (n) not found"
    assert extract_html(html, {"h": "h1"}, final_url="u", status=200).values == {"h": "x"}


def test_a_selector_the_parser_rejects_goes_to_the_browser():
    """A pseudo-class lexbor does not know but Chromium does: the browser reads it."""
    result = extract_html("<h1>x</h1>", {"a": "h1:focus-visible"}, final_url="u", status=200)
    assert result.values is None and "cannot read selector" in (result.needs_browser or "")


def test_page_summary_over_html():
    html = "<title> A \n title </title><body><p>one</p><p>two &nbsp;🎉</p></body>"
    values = extract_html(html, None, final_url="http://x/", status=200).values
    assert values == {"final_url": "http://x/", "http_status": 200, "title": "A title", "text_length": 9}


def test_shells_and_challenges_need_a_browser_even_when_every_selector_is_found():
    shell = "<title>App</title><div id='root'></div><script src='/main.js'></script>"
    assert "shell" in (extract_html(shell, {"t": "title"}, final_url="u", status=200).needs_browser or "")
    challenge = "<title>Just a moment...</title><h1>Checking</h1>"
    result = extract_html(challenge, {"h": "h1"}, final_url="u", status=200)
    assert result.challenge == "cloudflare" and result.values is None


@given(st.integers(1, 40), st.integers(0, 10**6))
@settings(deadline=None, max_examples=60)  # a shared 2-core machine: time limits would flake
def test_the_cheap_text_length_never_exceeds_the_text(count, seed):
    """text_length_at_least is a lower bound of len(node_text) on any page (random markup:
    scripts, hidden elements, inline styles, tables, entities): a shell rule may trust it."""
    page = random_page(count, seed)
    body = LexborHTMLParser(page).body
    assert body is not None
    assert text_length_at_least(body) <= len(node_text(body))


def test_the_cheap_text_length_of_the_tricky_page_is_close_to_the_text():
    body = LexborHTMLParser(TRICKY_HTML + "<p>" + "word " * 400 + "</p>").body
    exact = len(node_text(body))
    assert 0.6 * exact <= text_length_at_least(body) <= exact
