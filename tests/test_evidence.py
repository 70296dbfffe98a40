"""What the browser saw when a row failed: kept, bounded, masked, stored, and shown (issue 26)."""

from __future__ import annotations

import asyncio
import pickle
import time

import ipywidgets
import pandas as pd
import pytest

import anchorframe as af
from anchorframe._core.evidence import RUN_BYTES, EvidenceBudget
from anchorframe._render.evidence import CAPTURE_SECONDS, Witness

JPEG = b"\xff\xd8"


async def price_or_raise(page, row):
    """Raises on odd pages, after the page loaded: its screenshot shows the page."""
    await page.goto(row.url)
    number = int(row.url.rstrip("/").rsplit("/", 1)[1])
    if number % 2:
        raise ValueError(f"no price on page {number}")
    return {"price": await page.inner_text(".price")}


async def always_raise(page, row):
    await page.goto(row.url)
    raise ValueError("broken on purpose")


def test_show_of_a_failed_row_holds_its_error_and_an_inline_screenshot(site, no_chromium_left):
    """A callable raising on some rows: those keep a JPEG and the HTML; show() and explore() show them."""
    frame = pd.DataFrame({"url": [site.url(f"/page/{n}") for n in range(4)]}, index=["a", "b", "c", "d"])
    result = af.scrape(frame, price_or_raise, backend="local", retries=0, progress=False)
    assert result.counts["failed"] == 2
    assert sorted(result.evidence["url"]) == [site.url("/page/1"), site.url("/page/3")]
    kept = result.evidence.iloc[0]
    assert kept["screenshot"].startswith(JPEG) and len(kept["screenshot"]) < 400_000
    assert "<h1>Page" in kept["html"] and kept["page_url"] == kept["url"]
    assert kept["reason"] == "callable_error" and "no price" in kept["message"]
    assert "2 failed attempts kept a screenshot" in result.summary()

    view = result.show("b")
    page = view._repr_html_()
    assert "no price on page 1" in page  # the error, in the headline and the attempt
    assert 'src="data:image/jpeg;base64,' in page
    assert "<details>" in page and "&lt;h1&gt;Page 1" in page  # HTML one click away, escaped
    text = repr(view)
    assert text.startswith("Row b: failed (callable_error): ") and "attempts (1):" in text
    assert "data:image" not in result.show("a")._repr_html_()  # an ok row has none

    explorer = result.explore()
    assert isinstance(explorer, ipywidgets.Widget)
    assert explorer.status.value == "failed" and len(explorer.rows.options) == 2
    first = explorer.view.label
    explorer.next()
    assert explorer.view.label != first and "data:image/jpeg" in explorer.detail.value
    explorer.status.value = "(all)"
    assert len(explorer.rows.options) == 4
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "Row " in bundle["text/html"]


def test_a_run_where_every_row_fails_keeps_bounded_evidence_and_stays_small(site, no_chromium_left):
    """Every row fails: only the first evidence= attempts are kept, and the result pickles small."""
    urls = [site.url(f"/page/{n}") for n in range(8)]
    result = af.scrape(urls, always_raise, backend="local", retries=0, evidence=3, progress=False)
    assert result.counts["failed"] == 8
    assert len(result.evidence) == 3
    assert len(pickle.dumps(result)) < 3 * 400_000 + 200_000
    none = af.scrape(urls[:2], always_raise, backend="local", retries=0, evidence=0, progress=False)
    assert len(none.evidence) == 0 and none.counts["failed"] == 2


def test_evidence_never_holds_a_secret(site, no_chromium_left):
    """A sensitive header's value and an apiKey= parameter are masked in the kept HTML and URL."""

    async def leak(page, row):
        await page.goto(row.url)
        await page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p>key sk-secret-123</p>')")
        raise ValueError("failed")

    url = site.url("/page/1?apiKey=sk-in-url")
    result = af.scrape(
        [url], leak, backend="local", retries=0, headers={"X-Api-Key": "sk-secret-123"}, progress=False
    )
    (record,) = result.evidence.to_dict("records")
    assert "sk-secret-123" not in record["html"] and "<redacted>" in record["html"]
    assert "sk-in-url" not in record["page_url"]
    assert "sk-secret" not in repr(result.show(0)) and "sk-secret" not in result.show(0)._repr_html_()


def test_evidence_is_kept_in_the_checkpoint_and_out(site, tmp_path, no_chromium_left):
    """A loaded or resumed checkpoint still has its evidence, and out= stores it beside the rows."""
    urls = [site.url(f"/page/{n}") for n in range(3)]
    checkpoint = tmp_path / "run.ckpt"
    first = af.scrape(urls, price_or_raise, backend="local", retries=0, checkpoint=checkpoint, progress=False)
    assert len(first.evidence) == 1
    loaded = af.load_checkpoint(checkpoint)
    assert list(loaded.evidence["url"]) == [site.url("/page/1")]
    assert loaded.evidence["screenshot"].iloc[0].startswith(JPEG)
    assert "data:image/jpeg" in loaded.show(1)._repr_html_()
    resumed = af.scrape(
        urls, price_or_raise, backend="local", retries=0, checkpoint=checkpoint, progress=False
    )
    assert len(resumed.evidence) == 2  # the first run's and this run's attempt at the failing row
    assert len(af.load_checkpoint(checkpoint).evidence) == 2

    out = tmp_path / "out"
    sharded = af.scrape(
        urls, price_or_raise, backend="local", retries=0, out=str(out), workers=2, progress=False
    )
    assert len(sharded.evidence) == 1  # it came back from the shard that ran the row
    (stored,) = out.glob("_evidence-*.parquet")
    assert pd.read_parquet(stored)["screenshot"].iloc[0].startswith(JPEG)
    assert len(pd.read_parquet(out)) == 3  # the dataset's readers skip it


def test_the_budget_keeps_the_first_failures_and_a_byte_cap():
    """evidence=50 by default; past the count or the run's bytes, records are dropped and counted."""
    budget = EvidenceBudget()
    for n in range(60):
        budget.take({"url": f"https://a.test/{n}", "html": "x" * 1000, "screenshot": b"y" * 1000})
    assert len(budget.records) == 50 and budget.dropped == 10 and budget.bytes == 100_000
    small = EvidenceBudget(50, max_bytes=RUN_BYTES)
    big = {"url": "u", "html": "x" * (RUN_BYTES // 2), "screenshot": None}
    assert small.take(big) and not small.take(dict(big, html="x" * (RUN_BYTES // 2 + 1)))


def test_a_capture_is_bounded_in_time_and_never_raises():
    """A page that hangs or errors gives what it gave in CAPTURE_SECONDS; nothing is raised."""

    class Hanging:
        url = "https://a.test/"

        def is_closed(self):
            return False

        async def content(self):
            await asyncio.sleep(60)

        async def screenshot(self, **options):
            raise RuntimeError("Target closed")

    started = time.monotonic()
    assert asyncio.run(Witness(5).capture(Hanging())) is None
    assert time.monotonic() - started < CAPTURE_SECONDS + 0.5
    assert asyncio.run(Witness(0).capture(Hanging())) is None  # evidence=0 takes nothing


def test_show_names_the_fix_for_an_unknown_label(site, no_chromium_left):
    """show() of a label the input does not have raises InputError naming the index."""
    result = af.scrape([site.url("/page/0")], price_or_raise, backend="local", progress=False)
    with pytest.raises(af.InputError, match="No row is labelled 'zz'"):
        result.show("zz")


def test_evidence_is_checked_before_anything_starts():
    """evidence= takes a count: anything else is refused with the fix."""
    with pytest.raises(af.InputError, match="evidence"):
        af.scrape(["https://a.test/"], price_or_raise, evidence=-1)


def test_show_and_explore_work_for_a_polars_input(site, no_chromium_left):
    """A polars input's rows are labelled by position: show(1) and explore() find them."""
    polars = pytest.importorskip("polars")
    frame = polars.DataFrame({"url": [site.url("/page/0"), site.url("/page/1")]})
    result = af.scrape(frame, price_or_raise, backend="local", retries=0, progress=False)
    assert isinstance(result.results, polars.DataFrame)
    assert "data:image/jpeg;base64," in result.show(1)._repr_html_()
    explorer = result.explore()
    assert len(explorer.rows.options) == 1 and explorer.view.label == 1


def test_an_error_page_and_a_selector_timeout_keep_evidence_too(site, no_chromium_left):
    """A page answering 404 to a scraper that returned, and a selector that timed out, are evidenced."""

    async def wait_for_missing(page, row):
        await page.goto(row.url)
        if "status" in row.url:
            return {"title": await page.title()}
        await page.wait_for_selector(".nowhere", timeout=300)

    urls = [site.url("/status/404"), site.url("/page/1")]
    result = af.scrape(urls, wait_for_missing, backend="local", retries=0, progress=False)
    reasons = dict(zip(result.evidence["url"], result.evidence["reason"], strict=True))
    assert reasons == {urls[0]: "http_error", urls[1]: "timeout"}
    assert all(shot.startswith(JPEG) for shot in result.evidence["screenshot"])
