"""render="auto" and a field absent from a complete page (issue 23): missing, unless a browser finds it.

Real parts: pages served on 127.0.0.1, local Chromium for the rows that go to a browser.
Each page is a complete document (text, no application shell), as real pages are.
"""

from __future__ import annotations

import pandas as pd
import pytest

import anchorframe as af
from benchmarks.render_corpus import Page, PageServer

pytestmark = pytest.mark.usefixtures("no_chromium_left")

FIELDS = {"name": "h1", "badge": ".badge", "note": ".note"}
_TEXT = "<p>" + "Plain prose of a documentation page, long enough to be a real page. " * 20 + "</p>"
_WRITE_NOTE = (
    "<script>document.addEventListener('DOMContentLoaded', () => setTimeout(() => {"
    "const p = document.createElement('p'); p.className = 'note';"
    "p.textContent = 'note ' + location.pathname;"
    "document.body.appendChild(p); }, 150));</script>"
)


def _page(name: str, *, badge: bool = False, note: bool = False, script: str = "") -> Page:
    parts = [f"<title>{name}</title><h1>{name}</h1>", _TEXT]
    if badge:
        parts.append(f'<span class="badge">badge of {name}</span>')
    if note:
        parts.append(f'<p class="note">static note of {name}</p>')
    return Page(f"<!doctype html><html><body>{''.join(parts)}{script}</body></html>")


def _expected(path: str, *, badge: bool, note: bool | str) -> dict[str, str | None]:
    name = path.rsplit("/", 1)[1]
    return {
        "name": name,
        "badge": f"badge of {name}" if badge else None,
        "note": note if isinstance(note, str) else (f"static note of {name}" if note else None),
    }


def test_an_optional_field_missing_from_a_few_pages_costs_no_browser():
    """60 static pages; the badge is on all but 3 (the first of them among the very first rows),
    no page has the note: every row over HTTP, missing where missing, and no Chromium starts."""
    lacking = {1, 17, 40}
    paths = [f"/docs/p{n}" for n in range(60)]
    pages = {p: _page(p.rsplit("/", 1)[1], badge=n not in lacking, note=n < 30) for n, p in enumerate(paths)}
    with PageServer(pages) as server:
        result = af.scrape([server.url(p) for p in paths], extract=FIELDS, render="auto", progress=False)
    rows = result.results
    expected = [_expected(p, badge=n not in lacking, note=n < 30) for n, p in enumerate(paths)]
    assert rows[list(FIELDS)].replace({float("nan"): None}).to_dict("records") == expected
    assert set(rows["af_status"]) == {"ok"} and set(rows["af_render"]) == {"http"}
    assert len(result.sessions) == 0 and "browser_check" not in set(result.attempts["outcome"])
    assert "60 over HTTP, 0 in a browser" in result.summary()


def test_a_field_javascript_writes_is_found_on_every_page_of_its_section():
    """/app/* pages are complete documents whose note a script writes after load; /docs/* pages have
    it in their HTML. Under auto every note is found: /app/ pages run a script no /docs/ page runs,
    so the first are checked in a browser, which finds the note, and the section's later rows
    without it go to the browser; /docs/* stay on HTTP."""
    docs = [f"/docs/p{n}" for n in range(24)]
    app = [f"/app/p{n}" for n in range(12)]
    paths = [p for pair in zip(docs[:12], app, strict=True) for p in pair] + docs[12:]
    pages = {p: _page(p.rsplit("/", 1)[1], badge=True, note=True) for p in docs}
    pages.update({p: _page(p.rsplit("/", 1)[1], badge=True, script=_WRITE_NOTE) for p in app})
    with PageServer(pages) as server:
        result = af.scrape(
            [server.url(p) for p in paths], extract=FIELDS, render="auto", progress=False, tabs=2
        )
    rows = result.results
    expected = [_expected(p, badge=True, note=f"note {p}" if p.startswith("/app/") else True) for p in paths]
    assert rows[list(FIELDS)].replace({float("nan"): None}).to_dict("records") == expected
    on_app = rows["url"].str.contains("/app/")
    assert set(rows.loc[on_app, "af_render"]) == {"browser"}
    assert set(rows.loc[~on_app, "af_render"]) == {"http"}
    checks = result.attempts[result.attempts["outcome"] == "browser_check"]
    assert 1 <= checks["url"].nunique() <= 12 and checks["url"].str.contains("/app/").all()
    assert f"({checks['url'].nunique()} checked in a browser)" in result.summary()


def test_a_static_field_on_half_the_pages_of_a_section_keeps_its_rows_on_http():
    """The badge is on the odd pages only (the first row lacks it): >= 90 % of rows on HTTP, values right."""
    paths = [f"/shop/item-{n}" for n in range(40)]
    pages = {p: _page(p.rsplit("/", 1)[1], badge=n % 2 == 1, note=True) for n, p in enumerate(paths)}
    with PageServer(pages) as server:
        result = af.scrape([server.url(p) for p in paths], extract=FIELDS, render="auto", progress=False)
    rows = result.results
    expected = [_expected(p, badge=n % 2 == 1, note=True) for n, p in enumerate(paths)]
    assert rows[list(FIELDS)].replace({float("nan"): None}).to_dict("records") == expected
    assert (rows["af_render"] == "http").mean() >= 0.9


def test_a_field_no_page_of_a_section_has_is_checked_by_a_few_rows_then_trusted_missing():
    """No /plain/ page has the note (and no script writes it): a couple of rows are checked in a
    browser, which finds it missing too; the rest stay on HTTP with the note missing."""
    paths = [f"/plain/p{n}" for n in range(50)]
    pages = {p: _page(p.rsplit("/", 1)[1], badge=True) for p in paths}
    with PageServer(pages) as server:
        result = af.scrape([server.url(p) for p in paths], extract=FIELDS, render="auto", progress=False)
    rows = result.results
    assert rows["note"].isna().all() and rows["badge"].notna().all() and set(rows["af_status"]) == {"ok"}
    checked = result.attempts.loc[result.attempts["outcome"] == "browser_check", "url"].nunique()
    assert 1 <= checked <= 4, checked  # policy.confirm (2) at a time, not every waiting row
    assert int((rows["af_render"] == "http").sum()) >= 46


def test_render_http_and_browser_agree_on_absent_fields():
    """The same static pages over HTTP and in the browser: identical values, missing = missing."""
    paths = [f"/docs/p{n}" for n in range(12)]
    pages = {p: _page(p.rsplit("/", 1)[1], badge=n % 3 != 0, note=n % 4 == 0) for n, p in enumerate(paths)}
    with PageServer(pages) as server:
        urls = [server.url(p) for p in paths]
        frames = {
            render: af.scrape(urls, extract=FIELDS, render=render, progress=False).results
            for render in ("http", "browser")
        }
    values = {render: frame[list(FIELDS)].astype(object).where(frame[list(FIELDS)].notna(), None)
              for render, frame in frames.items()}  # fmt: skip
    pd.testing.assert_frame_equal(values["http"], values["browser"])
    assert set(frames["http"]["af_render"]) == {"http"}


def test_a_section_whose_pages_all_lack_a_field_the_site_shows_elsewhere_costs_no_browser():
    """Index pages at the root lack the badge every /docs/ page has in its HTML, and run no script
    the /docs/ pages do not: missing, no browser."""
    paths = [f"/docs/p{n}" for n in range(30)] + ["/index.html", "/genindex.html"]
    pages = {p: _page(p.rsplit("/", 1)[1], badge=p.startswith("/docs/"), note=True) for p in paths}
    with PageServer(pages) as server:
        result = af.scrape([server.url(p) for p in paths], extract=FIELDS, render="auto", progress=False)
    rows = result.results
    assert rows["badge"].isna().tolist() == [False] * 30 + [True, True]
    assert set(rows["af_render"]) == {"http"} and len(result.sessions) == 0
