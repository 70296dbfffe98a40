"""af.plan(probe=N): a sample fetched over HTTP estimates the browser share; run in a browser, its CPU."""

from __future__ import annotations

import re

import pytest

import anchorframe as af
from anchorframe._run.result import measured_orchestrator_ms
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


@pytest.mark.usefixtures("no_chromium_left")
def test_a_probe_runs_its_sample_in_a_browser_and_later_plans_size_on_what_it_cost():
    """probe=12 on a cloud plan: the 12 rows run in a local Chromium, the plan says what a page cost
    this process and its driver, and that figure is the one the plans of this process use."""
    with DemoSite(products=12, rendered=0, missing=0) as site:
        urls = [site.url(f"/products/{n}") for n in range(12)]
        plan = af.plan(urls, backend="anchor", extract=FIELDS, render="browser", probe=12)
    text = plan.explain()
    found = re.search(r"12 URLs run in a local browser \(12 ok\): a page cost .* ([\d.]+) ms of CPU", text)
    assert found, text
    assert measured_orchestrator_ms() is not None and f"{measured_orchestrator_ms():.1f}" == found.group(1)
    many = af.plan([f"https://a.example/{n}" for n in range(20000)], backend="anchor", render="browser")
    assert f"at {found.group(1)} ms of CPU per page, as the last run here measured it" in many.explain()


@pytest.mark.usefixtures("no_chromium_left")
def test_a_probe_too_small_to_measure_says_so():
    """probe=3 is below the rows a measure needs: the plan says how many to ask for (or that the
    input has too few)."""
    with DemoSite(products=12, rendered=0, missing=0) as site:
        urls = [site.url(f"/products/{n}") for n in range(12)]
        small = af.plan(urls, backend="anchor", render="browser", probe=3)
        few = af.plan(urls[:3], backend="anchor", render="browser", probe=3)
    assert "not measured (3 URLs sampled, 10 needed: probe=10 or more)" in small.explain()
    assert "not measured (3 URLs sampled, 10 needed: the input has 3 URLs)" in few.explain()


@pytest.mark.usefixtures("no_chromium_left")
def test_a_probe_of_failing_pages_keeps_the_figure_and_the_last_result():
    """12 pages that all answer 404: nothing is measured, the figure measured earlier stays, and
    af.last_result() is still the user's last run, not the probe's."""
    from anchorframe._run.result import note_measured

    before = af.last_result()
    note_measured(33.3)
    try:
        with DemoSite(products=0, rendered=0, missing=12) as site:
            urls = [site.url(f"/missing/{n}") for n in range(12)]
            plan = af.plan(urls, backend="anchor", render="browser", probe=12)
        assert "12 URLs run in a local browser (0 ok); too few ok" in plan.explain(), plan.explain()
        assert "the plan keeps 33.3 ms, measured earlier here" in plan.explain()
        assert measured_orchestrator_ms() == 33.3 and af.last_result() is before
    finally:
        note_measured(None)
