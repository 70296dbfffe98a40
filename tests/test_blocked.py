"""Blocked pages: each vendor's challenge is recognised and named; ordinary pages are not flagged. No I/O."""

from __future__ import annotations

import doctest
import re

import pytest

import anchorframe._render.blocked
from anchorframe._render.blocked import blocked_failure, detect_blocked
from anchorframe._render.challenge import detect_challenge

from .sites_misbehaving import CHALLENGE_PAGES, page_html

ARTICLE = "<h1>News</h1><p>" + "A long paragraph of real article text. " * 60 + "</p>"


def visible_text_length(html: str) -> int:
    """A rough stand-in for ``document.body.innerText.length``."""
    return len(re.sub(r"<script.*?</script>|<[^>]+>", "", html, flags=re.S).strip())


def title_of(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html, re.I | re.S)
    return found.group(1) if found else ""


def check(status, headers, html, *, url="https://shop.example.com/p/1", title=None, text_length=None, **kw):
    return detect_blocked(
        status=status,
        headers=headers,
        url=url,
        title=title_of(html) if title is None else title,
        html=html,
        text_length=visible_text_length(html) if text_length is None else text_length,
        **kw,
    )


@pytest.mark.parametrize("vendor", sorted(CHALLENGE_PAGES))
def test_each_vendors_challenge_page_is_blocked_and_named(vendor):
    """The pages the misbehaving ChallengeSite serves, as a browser would see them."""
    status, headers, html = CHALLENGE_PAGES[vendor]
    blocked = check(status, headers, html)
    assert blocked is not None and blocked.vendor == vendor
    assert blocked.message.endswith(".") and "not the page itself" in blocked.message


@pytest.mark.parametrize(
    ("status", "headers", "html", "title", "url", "vendor"),
    [
        (403, {"CF-Mitigated": "challenge"}, "<p>x</p>", "", "https://a.com/", "cloudflare"),
        (200, {}, "<p>wait</p>", "Just a moment...", "https://a.com/", "cloudflare"),
        (200, {}, "<p>x</p>", "", "https://a.com/p?__cf_chl_rt_tk=abc", "cloudflare"),
        (403, {}, "<p>Ray ID</p>", "Attention Required! | Cloudflare", "https://a.com/", "cloudflare"),
        (403, {"Server": "cloudflare"}, "<p>cloudflare</p>", "", "https://a.com/", "cloudflare"),
        (
            403,
            {"Server": "AkamaiGHost"},
            "<h1>Access Denied</h1>",
            "Access Denied",
            "https://a.com/",
            "akamai",
        ),
        (
            403,
            {},
            "<h1>Access Denied</h1>You don't have permission. Reference #18.2d351ab8.1557333295.a4e16ab",
            "Access Denied",
            "https://a.com/",
            "akamai",
        ),
        (200, {}, "<div id='sec-if-cpt-container'></div>", "", "https://a.com/", "akamai"),
        (403, {}, "<p>x</p>", "Access to this page has been denied", "https://a.com/", "perimeterx"),
        (403, {"x-datadome": "protected"}, "<p>x</p>", "", "https://a.com/", "datadome"),
        (200, {}, "<p>x</p>", "", "https://geo.captcha-delivery.com/captcha/?x=1", "datadome"),
        (405, {"x-amzn-waf-action": "captcha"}, "<p>x</p>", "", "https://a.com/", "aws-waf"),
        (200, {}, "<iframe src='/_Incapsula_Resource?SWUDNSAI=1'></iframe>", "", "https://a.com/", "imperva"),
        (200, {}, "<p>x</p>", "", "https://www.google.com/sorry/index?continue=x", "recaptcha"),
        (200, {}, "<div class='h-captcha' data-sitekey='k'></div>", "Hold on", "https://a.com/", "hcaptcha"),
        (403, {}, '<div class="g-recaptcha"></div>' + ARTICLE, "Shop", "https://a.com/", "recaptcha"),
        (200, {}, "<p>x</p>", "Are you a robot?", "https://a.com/", "generic"),
    ],
)
def test_vendor_markers_in_headers_url_title_and_html(status, headers, html, title, url, vendor):
    blocked = check(status, headers, html, title=title, url=url)
    assert blocked is not None and blocked.vendor == vendor


@pytest.mark.parametrize(
    ("html", "status"),
    [
        (page_html("1"), 200),  # mentions "a captcha" in words
        (ARTICLE + "<p>This form is protected by reCAPTCHA and the Google Privacy Policy.</p>", 200),
        (ARTICLE + "<form><div class='g-recaptcha' data-sitekey='k'></div></form>", 200),
        (ARTICLE + "<script src='https://js.datadome.co/tags.js'></script>", 200),
        (ARTICLE + "<script>window._pxAppId='PX1';</script>", 200),
        (ARTICLE + "<script src='/cdn-cgi/challenge-platform/scripts/jsd/main.js'></script>", 200),
        (ARTICLE + "<h2>How to solve a CAPTCHA</h2><p>Just a moment of patience.</p>", 200),
        ("<h1>Access denied to members only?</h1>" + ARTICLE, 200),
        ("<h1>Not found</h1>", 404),
        ("<h1>Forbidden</h1><p>You need to sign in.</p>", 403),
    ],
)
def test_ordinary_pages_are_not_blocked(html, status):
    assert check(status, {"Server": "nginx"}, html) is None


def test_an_empty_page_is_blocked_only_where_content_was_expected():
    empty = "<html><head><title></title></head><body><div id='root'></div></body></html>"
    assert check(200, {}, empty) is None
    blocked = check(200, {}, empty, expect_content=True)
    assert blocked is not None and blocked.marker == "empty page" and "0 characters" in blocked.message
    assert check(200, {}, page_html("3"), expect_content=True) is None
    assert check(404, {}, empty, expect_content=True) is None  # a 404 is its own failure


def test_weak_markers_need_a_blocking_status_or_a_short_page():
    widget = '<div class="g-recaptcha"></div>'
    assert detect_challenge(ARTICLE + widget, status=200, text_length=len(ARTICLE)) is None
    assert detect_challenge(ARTICLE + widget, status=403, text_length=len(ARTICLE)) is not None
    assert detect_challenge(widget, status=200, text_length=5) is not None
    assert detect_challenge(widget, status=200) is not None  # unknown length counts as short


def test_only_the_start_of_a_huge_page_is_searched():
    html = ARTICLE * 200 + "<div id='px-captcha'></div>"
    assert len(html) > anchorframe._render.blocked.SCAN_CHARS
    assert detect_challenge(html, status=200, text_length=len(html)) is None


def test_a_blocked_page_fails_the_row_with_reason_blocked_and_a_retry():
    blocked = check(*CHALLENGE_PAGES["cloudflare"])
    failure = blocked_failure(blocked)
    assert failure.reason == "blocked" and failure.retryable and "Cloudflare" in str(failure)


def test_docstring_examples():
    outcome = doctest.testmod(anchorframe._render.blocked, optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0 and outcome.failed == 0
