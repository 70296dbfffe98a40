"""The user's edges: misuse refused before anything starts, results that travel (no browser here)."""

from __future__ import annotations

import pickle

import pytest

import anchorframe as af
from anchorframe.backends.fake import FakeBackend, FakeDocument
from anchorframe.errors import InputError, InputTypeError

URLS = ["https://shop.test/a", "https://shop.test/b", "https://shop.test/missing"]


async def heading(page, row):
    await page.goto(row.url)
    return {"h1": await page.inner_text("h1")}


def pages(url: str) -> FakeDocument:
    if url.endswith("missing"):
        return FakeDocument(texts={"h1": "gone"}, status=404)
    return FakeDocument(texts={"h1": url})


def test_a_callable_of_the_wrong_shape_is_refused_before_any_session_starts():
    """async def one(page) would fail every row: it is refused with the fix, nothing started."""

    async def one(page):
        return {}

    async def setup():
        return None

    backend = FakeBackend(pages)
    with pytest.raises(
        InputTypeError, match=r"one\(\) takes the parameters \(page\).*async def one\(page, row\)"
    ):
        af.scrape(URLS, one, backend=backend, progress=False)
    with pytest.raises(InputTypeError, match=r"setup\(\) takes no parameters.*async def setup\(page\)"):
        af.scrape(URLS, heading, setup=setup, backend=backend, progress=False)
    assert backend.sessions_started == 0


def test_a_checkpoint_path_that_is_a_file_is_refused_with_the_fix(tmp_path):
    """checkpoint= naming a file is an InputError naming the fix, not a raw NotADirectoryError."""
    taken = tmp_path / "run.parquet"
    taken.write_text("not a checkpoint")
    backend = FakeBackend(pages)
    with pytest.raises(InputError, match="is a file; a checkpoint is a directory"):
        af.scrape(URLS, heading, checkpoint=taken, backend=backend, progress=False)
    assert backend.sessions_started == 0 and taken.read_text() == "not a checkpoint"


def test_a_result_pickles_and_retries_after_unpickling():
    """A result crosses a process boundary (pickle) and retry_failed() still works on the copy."""
    result = af.scrape(URLS, heading, backend=FakeBackend(pages), progress=False, retries=0)
    copy = pickle.loads(pickle.dumps(result))
    assert copy.results.equals(result.results) and copy.counts == result.counts
    assert copy.attempts.equals(result.attempts)
    again = copy.retry_failed(backend=FakeBackend(lambda url: FakeDocument(texts={"h1": url})))
    assert again.counts["ok"] == 3


def test_a_pickled_result_holds_no_api_key():
    """The retry hook travels without the backend's key (read from the environment again)."""
    from anchorframe._core.table import prepare_input
    from anchorframe._run.assemble import rerun_for
    from anchorframe._run.scrape import scrape

    key = "sk-never-in-a-pickle-42"
    table = prepare_input(URLS, None)
    rerun = rerun_for(table, {"fn": heading, "backend": af.AnchorBackend(key)}, scrape)
    result = af.scrape(URLS, heading, backend=FakeBackend(pages), progress=False)
    result._rerun = rerun
    blob = pickle.dumps(result)
    assert key.encode() not in blob
    assert pickle.loads(blob)._rerun is not None  # it can still retry (the key from ANCHOR_API_KEY)


def test_a_scraper_that_cannot_travel_leaves_a_result_that_says_why_it_cannot_retry():
    """A scraper defined in a function (as in a cell): the result still pickles; retry_failed() on
    the copy names the cause."""

    async def local_heading(page, row):
        return await heading(page, row)

    result = af.scrape(URLS, local_heading, backend=FakeBackend(pages), progress=False, retries=0)
    copy = pickle.loads(pickle.dumps(result))
    with pytest.raises(RuntimeError, match="could not travel with it"):
        copy.retry_failed()


def test_a_rerun_of_a_finished_checkpoint_says_its_rows_came_from_the_checkpoint(tmp_path):
    """The summary of a resumed run counts the rows it kept apart; attempts and pages/s are this run's."""
    path = tmp_path / "run.ckpt"
    urls = URLS[:2]
    first = af.scrape(urls, heading, backend=FakeBackend(pages), checkpoint=path, progress=False)
    assert first.resumed_rows == 0 and "from the checkpoint" not in first.summary()
    again = af.scrape(urls, heading, backend=FakeBackend(pages), checkpoint=path, progress=False)
    assert again.counts["ok"] == 2 and again.resumed_rows == 2
    text = again.summary()
    assert "2 rows in" in text and "(2 from the checkpoint, 0 this run)" in text
    assert "0 attempts" in text and again.pages_per_second == 0


def test_progress_log_prints_lines_where_logging_was_never_configured():
    """progress="log" in a plain script (no logging.basicConfig) still writes its lines to stderr."""
    import subprocess
    import sys

    code = (
        "import anchorframe as af\n"
        "from anchorframe.backends.fake import FakeBackend, FakeDocument\n"
        "async def heading(page, row):\n"
        "    await page.goto(row.url)\n"
        "    return {'h1': await page.inner_text('h1')}\n"
        "backend = FakeBackend(lambda url: FakeDocument(texts={'h1': url}))\n"
        "urls = ['https://shop.test/a', 'https://shop.test/b']\n"
        "af.scrape(urls, heading, backend=backend, progress='log')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "anchorframe: done: 2 rows (2 ok" in done.stderr


def test_a_cloud_plan_needs_no_key_and_takes_every_scrape_option(monkeypatch):
    """af.plan(backend="anchor") estimates without a key; timeout= and render= are accepted."""
    for name in ("ANCHOR_API_KEY", "ANCHORBROWSER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    urls = [f"https://shop.test/{n}" for n in range(500)]
    plan = af.plan(urls, backend="anchor", timeout=10, render="browser", per_site=4)
    assert plan.backend == "anchor" and plan.sessions >= 1 and plan.est_session_minutes > 0
    with pytest.raises(af.AnchorframeError, match="No Anchor API key"):
        af.scrape(urls, heading, backend="anchor", progress=False)  # a run still needs one


def test_a_selector_that_does_not_parse_is_refused_before_anything_starts():
    """extract={"h": "h1[[["} names the selector and the fix; a browser-only pseudo-class still passes."""
    backend = FakeBackend(pages)
    for bad in ("h1[[[", "div >", "h1,,h2", "p::first-line"):
        with pytest.raises(InputError, match=r"extract=\{'h': .*the CSS selector does not parse"):
            af.scrape(URLS, extract={"h": bad}, backend=backend, progress=False)
    assert backend.sessions_started == 0
    browser_only = {"h": "a:focus-visible", "lang": "html:lang(en) h1", "n": "div > :focus-visible"}
    assert af.extract.css(browser_only).http_selectors == browser_only


def test_render_http_returns_a_complete_page_s_absent_field_as_missing(site):
    """render="http" on pages that lack one field: rows ok, the field missing, no browser (issue 23, 2)."""
    result = af.scrape(site.pages(3), extract={"h": "h1", "badge": ".badge"}, render="http", progress=False)
    frame = result.results
    assert frame["af_status"].tolist() == ["ok"] * 3 and frame["af_render"].tolist() == ["http"] * 3
    assert frame["h"].notna().all() and frame["badge"].isna().all()
    assert len(result.sessions) == 0


def test_a_credential_header_never_travels_in_a_pickled_result():
    """headers={"Authorization": ...}: the pickled result holds no token (and says why it cannot retry)."""
    token = "Bearer sk-header-never-pickled-7"
    result = af.scrape(URLS[:2], heading, backend=FakeBackend(pages), headers={"Authorization": token},
                       progress=False)  # fmt: skip
    blob = pickle.dumps(result)
    assert token.encode() not in blob and b"sk-header-never-pickled-7" not in blob
    with pytest.raises(RuntimeError, match="headers= holding a credential"):
        pickle.loads(blob).retry_failed()


def test_data_and_fn_may_be_passed_by_name():
    """scrape(df, fn=...) and plan(data=...) work as the signature says; a typo still gets its hint."""
    result = af.scrape(data=URLS[:1], fn=heading, backend=FakeBackend(pages), progress=False)
    assert result.counts["ok"] == 1
    assert af.plan(data=URLS, backend="local").urls == 3
    with pytest.raises(InputTypeError, match="did you mean 'fn'"):
        af.scrape(URLS, fnn=heading)
