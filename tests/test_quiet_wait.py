"""In real Chromium: extract= waits for fields written late, and not for a field that is not there.

A loaded page with no request in flight, no timer due and no change for a settle time is quiet
(:mod:`anchorframe._render.quiet`): a selector still absent then is missing, not late.
"""

from __future__ import annotations

import pandas as pd
import pytest

import anchorframe as af

pytestmark = pytest.mark.usefixtures("no_chromium_left")

FIELDS = {"h": "h1", "price": ".price"}


def test_fields_written_150_to_1000_ms_after_load_are_read(site):
    """A timer 150, 600 or 1000 ms after load, a fetch answered 800 ms after it, or a script inserted
    at load that arrives 800 ms later: each price is found."""
    cases = [(150, "timer"), (600, "timer"), (1000, "timer"), (800, "fetch"), (800, "script")]
    urls = [site.url(f"/late/{n}?after={after}&via={via}") for n, (after, via) in enumerate(cases)]
    result = af.scrape(urls, extract=FIELDS, render="browser", sessions=1, tabs=4, progress=False)
    frame = result.results
    assert list(frame["af_status"]) == ["ok"] * 5, frame[["af_status", "af_error"]]
    assert list(frame["price"]) == ["0.00", "1.00", "2.00", "3.00", "4.00"]


def test_an_absent_selector_does_not_cost_the_whole_wait(site):
    """wait=10 and a selector the page lacks: the row is ok with None, and ends long before 10 s."""
    scraper = af.extract.css({"h": "h1", "badge": ".badge"}, wait=10)
    urls = [site.url("/page/1"), site.url("/late/2?after=300")]
    result = af.scrape(urls, scraper, render="browser", sessions=1, tabs=2, progress=False)
    frame = result.results
    assert list(frame["af_status"]) == ["ok", "ok"] and frame["badge"].isna().all()
    assert list(frame["h"]) == ["Page 1", "Page 2"]
    # Generous: quiet comes ~0.3 s after load; the old wait took the whole 10 s per row.
    assert (result.attempts["duration_s"] < 5.0).all(), result.attempts


def test_a_page_whose_library_changed_json_still_gives_its_fields(site):
    """The extractors answer in one JSON string; a page that gave arrays a toJSON (Prototype.js
    did) would have it double-encoded: there the values come back as values."""
    urls = [site.url("/page/1?tojson=1"), site.url("/page/2?tojson=1&price=none")]
    result = af.scrape(urls, extract=FIELDS, render="browser", sessions=1, tabs=2, progress=False)
    frame = result.results
    assert list(frame["af_status"]) == ["ok", "ok"], frame[["af_status", "af_error"]]
    assert list(frame["h"]) == ["Page 1", "Page 2"] and list(frame["price"].fillna("-")) == ["1.00", "-"]
    summary = af.scrape(urls[:1], af.extract.page_summary, render="browser", progress=False).results
    assert summary.loc[0, "title"] == "Page 1" and summary.loc[0, "http_status"] == 200


def test_a_page_that_never_goes_quiet_still_ends_at_the_wait(site):
    """A timer re-armed every 50 ms keeps the page busy: the absent field costs the wait, no more."""
    scraper = af.extract.css({"h": "h1", "badge": ".badge"}, wait=1.5)
    busy = af.scrape(pd.DataFrame({"url": [site.url("/busy/1")]}), scraper, render="browser", progress=False)
    row = busy.results.iloc[0]
    assert row["af_status"] == "ok" and row["h"] == "Page 1" and pd.isna(row["badge"])
    assert busy.attempts["duration_s"].iloc[0] >= 1.5  # it waited: the page was never quiet


def _learnt(site, scraper, urls):
    """Six static pages of /page/ teach that the price is there at once or not at all; then ``urls``."""
    taught = [site.url(f"/page/{n}") for n in range(6)]
    return af.scrape(taught + urls, scraper, render="browser", sessions=1, tabs=1, progress=False)


def _scraper(recheck: int, **options):
    scraper = af.extract.css(FIELDS, **options)
    scraper.recheck = recheck  # 0: no page is a recheck (the draw hashes the URL, whose port varies)
    return scraper


def test_a_field_a_section_has_at_once_or_never_is_waited_for_less(site):
    """Once /page/ pages showed the price at the first look, a /page/ without it ends after a short
    calm (100 ms): here a text rewritten every 200 ms (never quiet) would have cost the whole wait."""
    result = _learnt(site, _scraper(0, wait=3), [site.url("/page/7?price=none&churn=200")])
    row = result.results.iloc[-1]
    assert row["af_status"] == "ok" and row["h"] == "Page 7" and pd.isna(row["price"])
    assert result.attempts["duration_s"].iloc[-1] < 2.0, result.attempts  # the wait is 3 s


@pytest.mark.parametrize("how", ["recheck", "learn=False"])
def test_a_recheck_or_learn_false_waits_the_absent_field_out(site, how):
    """The same page on a recheck (recheck=1: every page), or with learning off, waits until quiet:
    here the whole wait."""
    scraper = _scraper(1, wait=1.5) if how == "recheck" else _scraper(0, wait=1.5, learn=False)
    result = _learnt(site, scraper, [site.url("/page/7?price=none&churn=200")])
    assert result.results.iloc[-1]["af_status"] == "ok"
    assert result.attempts["duration_s"].iloc[-1] >= 1.5


@pytest.mark.parametrize("via", ["fetch", "timer", "script", "body", "frames"])
def test_a_learnt_field_written_late_is_still_read_and_then_waited_for(site, via):
    """After the lesson, a /page/ whose price is written 600 ms after load (by a fetch, a timer, an
    inserted script, once a slow body was read, or three animation frames after that) still gets
    it; from then on the section waits for the price in full (a never-quiet page without it takes
    the whole wait)."""
    late = site.url(f"/page/10?after=600&via={via}")
    result = _learnt(site, _scraper(0, wait=1.5), [late, site.url("/page/11?price=none&churn=200")])
    assert result.results["price"].iloc[-2] == "10.00", result.results
    assert result.attempts["duration_s"].iloc[-1] >= 1.5
