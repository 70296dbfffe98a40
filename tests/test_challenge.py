"""Bot challenges and script-rendered shells are recognised; ordinary pages are not flagged. No I/O."""

from __future__ import annotations

import pytest

from anchorframe._render.challenge import detect_challenge, detect_shell

ARTICLE = "<h1>News</h1>" + "<p>" + "A long paragraph of real article text. " * 60 + "</p>"


@pytest.mark.parametrize(
    ("html", "status", "headers", "vendor"),
    [
        ("<html><head><title>Just a moment...</title></head><body></body></html>", 403, {}, "cloudflare"),
        ("<script>window._cf_chl_opt={cvId:'3'}</script>", 503, {}, "cloudflare"),
        ("<p>ok</p>", 403, {"CF-Mitigated": "challenge"}, "cloudflare"),
        ("<p>Cloudflare Ray ID: 1</p>", 403, {"Server": "cloudflare"}, "cloudflare"),
        ("<title>Access Denied</title>Reference #18.1 https://errors.edgesuite.net/18.1", 403, {}, "akamai"),
        ("<div id='sec-if-cpt-container'></div>", 200, {}, "akamai"),
        ("<div id='px-captcha'></div><p>Press &amp; Hold to confirm</p>", 403, {}, "perimeterx"),
        (
            "<script src='https://geo.captcha-delivery.com/captcha/?initialCid=x'></script>",
            403,
            {},
            "datadome",
        ),
        ("<p>blocked</p>", 403, {"X-DataDome": "protected"}, "datadome"),
        ("<script src='https://hcaptcha.com/1/api.js'></script>", 200, {}, "hcaptcha"),
        ('<div class="g-recaptcha" data-sitekey="k"></div>', 429, {}, "recaptcha"),
        ("<iframe src='/_Incapsula_Resource?SWUDNSAI=1'></iframe>", 200, {}, "imperva"),
        ("<h1>Please verify you are human</h1>", 200, {}, "generic"),
    ],
)
def test_vendors_challenge_pages_are_recognised(html, status, headers, vendor):
    challenge = detect_challenge(html, status=status, headers=headers, text_length=len(html))
    assert challenge is not None and challenge.vendor == vendor


@pytest.mark.parametrize(
    "extra",
    [
        "<script src='https://js.datadome.co/tags.js'></script>",
        "<script>window._pxAppId='PX1';</script>",
        "<script src='/cdn-cgi/challenge-platform/scripts/jsd/main.js'></script>",
        '<form><div class="g-recaptcha" data-sitekey="k"></div></form>',
        "<p>Access denied to members only? Sign up below.</p>",
    ],
)
def test_a_vendors_script_on_an_ordinary_page_is_not_a_challenge(extra):
    """Protected sites carry the vendor's script on every page they let through."""
    html = ARTICLE + extra
    assert detect_challenge(html, status=200, headers={}, text_length=len(ARTICLE)) is None
    assert detect_challenge(html, status=403, headers={}, text_length=len(ARTICLE)) is not None


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<div id='root'></div><script type='module' src='/src/main.js'></script>", ""),
        ("<div id=\"__next\"></div><script src='/_next/app.js'></script>", ""),
        ("<app-root></app-root><script src='main.js'></script>", ""),
        ("<div id=app><p>Loading...</p></div><script>setTimeout(render, 10)</script>", "Loading..."),
        ("<noscript>You need to enable JavaScript to run this app.</noscript><p>Hi</p>", "Hi"),
    ],
)
def test_script_rendered_shells_are_recognised(html, text):
    assert detect_shell(html, body_text=text) is not None


@pytest.mark.parametrize(
    ("html", "text"),
    [
        (ARTICLE, ARTICLE),
        (ARTICLE + "<script src='analytics.js'></script>", ARTICLE),
        ("<h1>Tiny</h1><p>static</p>", "Tiny\nstatic"),
        ("<h1>Tiny</h1><script type='application/ld+json'>{}</script>", "Tiny"),
        (ARTICLE * 3 + "<noscript>Please enable JavaScript for comments.</noscript>", ARTICLE * 3),
    ],
)
def test_complete_pages_are_not_shells(html, text):
    assert detect_shell(html, body_text=text) is None
