"""Any DataFrame in, the same kind out: pandas, polars (eager and lazy) and pyarrow inputs.

Each run is real (the engine, the ledger, the frames) on the in-memory FakeBackend: no browser.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import anchorframe as af
from anchorframe.backends.fake import FakeBackend
from anchorframe.errors import InputError

pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")
pytest.importorskip("narwhals")

A, B, C = "https://shop.test/a", "https://shop.test/b", "https://shop.test/c"
#: Out of order on purpose (the result keeps the input's order), with a duplicated URL, a
#: missing one, a whole-number column with a gap (pandas would make it float) and text.
COLUMNS = {
    "sku": [30, 10, 20, 40, 50],
    "url": [C, A, None, B, A],
    "stock": [3, None, 1, 0, 7],
    "note": ["x", None, "z", "w", "v"],
}
#: URLs whose rows the scraper fails (emptied by the fixture below).
FAILING: set[str] = set()


@pytest.fixture(autouse=True)
def nothing_fails():
    FAILING.clear()
    yield
    FAILING.clear()


async def heading(page, row):
    """Reads the page's h1 (the FakeBackend answers the URL) and a column of the row."""
    await page.goto(row.url)
    if row.url in FAILING:
        raise RuntimeError("the price is not there yet")
    return {"h1": (await page.inner_text("h1")).rsplit("/", 1)[-1], "sku_seen": row.get("sku")}


def page_of(url: str) -> dict[str, str]:
    """The fake web: every page's h1 is its URL (a named function, so that a result pickles whole)."""
    return {"h1": url}


def make(kind: str):
    if kind == "pandas":
        return pd.DataFrame(COLUMNS, index=pd.Index(["r1", "r2", "r3", "r4", "r5"], name="id"))
    if kind == "polars":
        return pl.DataFrame(COLUMNS)
    if kind == "polars-lazy":
        return pl.DataFrame(COLUMNS).lazy()
    return pa.table(COLUMNS)


def column(frame, name: str) -> list:
    """A column of any kind as a Python list, with None for a gap."""
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if isinstance(frame, pl.DataFrame):
        return frame[name].to_list()
    if isinstance(frame, pa.Table):
        return frame.column(name).to_pylist()
    return [None if pd.isna(v) else v for v in frame[name].tolist()]


def columns_of(frame) -> list[str]:
    if isinstance(frame, pl.LazyFrame):
        return frame.collect_schema().names()
    if isinstance(frame, pa.Table):
        return frame.column_names
    return list(frame.columns)


def scrape(data, **options):
    return af.scrape(
        data, heading, backend=FakeBackend(documents=page_of), progress=False, retries=0, **options
    )


KINDS = ["pandas", "polars", "polars-lazy", "pyarrow"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_rows_in_the_same_order_come_back_as_the_same_kind(kind):
    """One row per input row, input order, the user's columns kept, outputs and status beside them."""
    data = make(kind)
    result = scrape(data)
    results = result.results
    assert type(results) is type(data)
    assert columns_of(results)[:4] == ["sku", "url", "stock", "note"]
    assert {"h1", "sku_seen", "af_status", "af_reason", "af_attempts", "af_http_status"} <= set(
        columns_of(results)
    )
    assert column(results, "sku") == COLUMNS["sku"]
    assert column(results, "url") == COLUMNS["url"]
    assert column(results, "stock") == COLUMNS["stock"]
    assert column(results, "note") == COLUMNS["note"]
    assert column(results, "h1") == ["c", "a", None, "b", "a"]
    assert column(results, "sku_seen") == [30, 10, None, 40, 10]  # a duplicate is scraped once
    assert column(results, "af_status") == ["ok", "ok", "invalid", "ok", "ok"]
    assert column(results, "af_reason")[2] == "invalid_url"
    assert result.counts == {"ok": 4, "failed": 0, "invalid": 1, "skipped": 0}
    assert isinstance(result.errors, pd.DataFrame)  # the run's own frames stay pandas (documented)
    assert isinstance(result.attempts, pd.DataFrame) and isinstance(result.sessions, pd.DataFrame)


def test_a_pandas_input_keeps_its_index_and_imports_no_compatibility_layer():
    """pandas stays the default: its index and order come back, and narwhals is never imported."""
    code = textwrap.dedent(
        """
        import sys
        import pandas as pd
        import anchorframe as af
        from anchorframe.backends.fake import FakeBackend

        frame = pd.DataFrame({"url": ["https://shop.test/b", "https://shop.test/a"]}, index=[7, 3])
        results = af.scrape(frame, backend=FakeBackend(), progress=False).results
        assert type(results) is pd.DataFrame and list(results.index) == [7, 3], results
        assert list(results["url"]) == ["https://shop.test/b", "https://shop.test/a"]
        assert [m for m in sys.modules if m.startswith(("narwhals", "polars"))] == []
        """
    )
    root = Path(__file__).resolve().parents[1]  # this checkout's anchorframe, wherever pytest runs
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env=env, cwd=root)


@pytest.mark.parametrize("kind", ["polars", "polars-lazy", "pyarrow"])
def test_the_users_columns_keep_their_types(kind):
    """A whole-number column with a gap stays whole numbers: it never goes through pandas and back."""
    data = make(kind)
    results = scrape(data).results
    if kind == "pyarrow":
        assert results.schema.field("stock").type == pa.int64()
        assert results.schema.field("af_attempts").type == pa.int64()
    else:
        schema = results.collect_schema()
        assert schema["stock"] == pl.Int64 and schema["note"] == pl.String
        assert schema["af_attempts"] == pl.Int64 and schema["af_http_status"] == pl.Int64


@pytest.mark.parametrize("kind", KINDS)
def test_failed_rows_come_back_as_the_same_kind(kind):
    """failed() selects the failed rows, in order, as a frame of the input's kind."""
    FAILING.update({A, B})
    result = scrape(make(kind))
    failed = result.failed()
    assert type(failed) is type(make(kind))
    assert column(failed, "sku") == [10, 40, 50]
    assert column(failed, "af_reason") == ["callable_error"] * 3
    assert not result.ok


@pytest.mark.parametrize("kind", ["polars", "polars-lazy", "pyarrow"])
def test_retry_failed_merges_into_the_same_kind(kind):
    """retry_failed() on a polars/pyarrow result scrapes only the failed rows and keeps kind and order."""
    FAILING.add(A)
    first = scrape(make(kind))
    assert column(first.results, "af_status") == ["ok", "failed", "invalid", "ok", "failed"]
    FAILING.clear()
    merged = first.retry_failed()
    assert type(merged.results) is type(make(kind))
    assert column(merged.results, "sku") == COLUMNS["sku"]
    assert column(merged.results, "af_status") == ["ok", "ok", "invalid", "ok", "ok"]
    assert column(merged.results, "h1") == ["c", "a", None, "b", "a"]
    assert column(merged.results, "af_attempts") == [1, 2, 0, 1, 2]


def test_a_pickled_polars_result_comes_back_polars_and_still_retries():
    """A result pickles with its input's kind; after unpickling it retries its failed rows."""
    FAILING.add(B)
    first = scrape(make("polars"))
    _ = first.results  # the polars view, made once, is not what travels
    again = pickle.loads(pickle.dumps(first))
    assert isinstance(again.results, pl.DataFrame)
    assert again.results.equals(first.results)
    FAILING.clear()
    merged = again.retry_failed()
    assert isinstance(merged.results, pl.DataFrame)
    assert column(merged.results, "af_status") == ["ok", "ok", "invalid", "ok", "ok"]


def test_a_checkpoint_resumes_a_lazy_polars_input(tmp_path):
    """The same LazyFrame with the same checkpoint resumes: rows already ok are not scraped again."""
    checkpoint = tmp_path / "run.parquet"
    FAILING.add(B)
    first = scrape(make("polars-lazy"), checkpoint=checkpoint)
    assert first.counts["failed"] == 1
    FAILING.clear()
    backend = FakeBackend(documents=page_of)
    second = af.scrape(
        make("polars-lazy"), heading, backend=backend, progress=False, retries=0, checkpoint=checkpoint
    )
    assert isinstance(second.results, pl.LazyFrame)
    assert column(second.results, "af_status") == ["ok", "ok", "invalid", "ok", "ok"]
    assert column(second.results, "sku") == COLUMNS["sku"]
    assert second.resumed_rows == 3
    assert set(backend.hits) == {B}
    assert isinstance(af.load_checkpoint(checkpoint).results, pd.DataFrame)  # documented: pandas


def test_a_polars_series_of_urls_gives_a_polars_frame():
    """A polars Series is its own URL column, whatever its name; a polars DataFrame comes back."""
    results = scrape(pl.Series("link", [B, A])).results
    assert isinstance(results, pl.DataFrame)
    assert column(results, "link") == [B, A] and column(results, "h1") == ["b", "a"]


def test_plan_takes_a_polars_frame():
    """af.plan() reads a polars frame as scrape() does: duplicates and invalid rows counted."""
    plan = af.plan(make("polars"), backend=FakeBackend(documents=page_of))
    assert (plan.rows, plan.urls) == (5, 3)


def test_status_columns_of_an_earlier_result_are_redone():
    """A polars result handed back in (e.g. failed()) has its af_* columns replaced, not doubled."""
    FAILING.add(A)
    failed = scrape(make("polars")).failed()
    FAILING.clear()
    results = scrape(failed.select("sku", "url")).results
    assert column(results, "af_status") == ["ok", "ok"]
    again = scrape(failed).results
    assert columns_of(again).count("af_status") == 1
    assert column(again, "af_status") == ["ok", "ok"]


async def mixed(page, row):
    """A price that is a number on one page and text on another."""
    await page.goto(row.url)
    return {"price": 12 if row.url == A else "n/a"}


def test_a_column_of_mixed_types_comes_back_as_json_text(caplog):
    """Arrow holds one type per column: a mixed column is JSON text, and the log names it."""
    with caplog.at_level(logging.WARNING, logger="anchorframe"):
        result = af.scrape(
            pl.DataFrame({"url": [A, B]}), mixed, backend=FakeBackend(documents=page_of), progress=False
        )
        results = result.results
    assert column(results, "price") == ["12", '"n/a"']
    assert "['price']" in caplog.text and "JSON text" in caplog.text
    assert result._frame["price"].tolist() == [12, "n/a"]  # the pandas rows keep the objects


def test_without_narwhals_the_error_names_the_extra(monkeypatch):
    """A polars frame where narwhals is missing: the error says what to install, before anything runs."""
    for name in ("narwhals", "narwhals.stable", "narwhals.stable.v2"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(InputError, match=r"pip install 'anchorframe\[polars\]'"):
        af.plan(make("polars"), backend=FakeBackend(documents=page_of))
    with pytest.raises(InputError, match=r"pip install 'anchorframe\[arrow\]'"):
        af.plan(make("pyarrow"), backend=FakeBackend(documents=page_of))


def test_an_unsupported_object_of_a_frame_library_is_refused_with_the_fix():
    """A pyarrow Array is not a table: the error names what scrape() takes."""
    with pytest.raises(InputError, match=r"a list of URLs \(pandas, polars or pyarrow\), not StringArray"):
        af.plan(pa.array([A, B]), backend=FakeBackend(documents=page_of))


def test_shards_read_pandas_rows_and_the_result_is_polars():
    """workers=2: the shard processes get the pandas rows, and the result comes back as polars."""
    results = scrape(make("polars"), workers=2, sessions=2, tabs=2).results
    assert isinstance(results, pl.DataFrame)
    assert column(results, "sku") == COLUMNS["sku"]
    assert column(results, "af_status") == ["ok", "ok", "invalid", "ok", "ok"]
