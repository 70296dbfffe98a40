"""af.plan(probe=N): a sample fetched over HTTP estimates the browser share and the cost (no browser)."""

from __future__ import annotations

import pytest

import anchorframe as af
from anchorframe.demo import DemoSite
from anchorframe.errors import InputError

FIELDS = {"name": "h1", "price": ".price", "stock": ".stock"}


def test_a_probe_of_static_and_javascript_pages_estimates_the_browser_share():
    """30 static and 10 JavaScript-rendered demo pages; every URL probed: a share of exactly 25%."""
    with DemoSite(products=30, rendered=10, missing=0) as site:
        urls = [site.url(f"/products/{n}") for n in range(30)]
        urls += [site.url(f"/rendered/{n}") for n in range(10)]
        plain = af.plan(urls, backend="local")
        probed = af.plan(urls, backend="local", extract=FIELDS, probe=40)
        sampled = af.plan(urls, backend="local", extract=FIELDS, probe=8)
    assert plain.browser_share is None and "probe" not in plain.explain()
    assert probed.browser_share == 0.25
    text = probed.explain()
    assert "40 URLs tried over HTTP: 30 read without a browser, 10 need one" in text, text
    assert "about 25% of rows (10) need a browser" in text and "session-minutes" in text
    assert (probed.sessions, probed.tabs) == (plain.sessions, plain.tabs)
    # 8 URLs spread over the 40: 6 static, 2 rendered (every fifth URL).
    assert sampled.browser_share == 0.25 and "8 URLs tried" in sampled.explain()


def test_without_answers_there_is_no_estimate_and_a_bad_probe_is_refused():
    with DemoSite(products=2, rendered=0, missing=2) as site:
        missing = [site.url(f"/missing/{n}") for n in range(2)]
        plan = af.plan(missing, backend="local", probe=2)
    assert plan.browser_share is None and "2 failed; no estimate" in plan.explain()
    with pytest.raises(InputError, match="probe=20"):
        af.plan(["https://a.example/"], backend="local", probe=-1)
