"""Input checks and frame assembly, without a browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anchorframe._core.frames import results_frame
from anchorframe._core.table import STATUS_COLUMNS, Work, check_url, prepare_input
from anchorframe.errors import InputError


def test_missing_url_column_names_the_columns_and_the_fix():
    """A frame without a URL column is refused with its columns and a suggestion."""
    frame = pd.DataFrame({"link": ["https://a.test/"], "title": ["x"]})
    with pytest.raises(
        InputError, match=r"no column 'url'\. Pass url='link' \(columns: \['link', 'title'\]\)"
    ):
        prepare_input(frame)


def test_named_column_that_does_not_exist():
    """url= naming a missing column says which columns exist."""
    with pytest.raises(InputError, match=r"no column 'href'.*columns: \['u'\]"):
        prepare_input(pd.DataFrame({"u": ["https://a.test"]}), url="href")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "missing URL"),
        (np.nan, "missing URL"),
        ("", "blank URL"),
        ("   ", "blank URL"),
        (42, "not a string"),
        ("example.com/page", "relative URL"),
        ("/page/1", "relative URL"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("chrome://settings", "scheme 'chrome' is not allowed"),
        ("javascript:alert(1)", "scheme 'javascript' is not allowed"),
        ("data:text/html,hi", "scheme 'data' is not allowed"),
        ("ftp://files.test/a", "scheme 'ftp' is not allowed"),
        ("http://", "no host"),
        ("http://bad host/", "malformed"),
        ("http://a.test:99999/", "malformed"),
    ],
)
def test_each_bad_url_is_invalid_with_its_reason(value, reason):
    """Every kind of unusable URL becomes status 'invalid' with a reason, not an exception."""
    url, why = check_url(value)
    assert url is None
    assert reason in why


@pytest.mark.parametrize(
    "value", ["https://a.test", " http://a.test/x?q=1 ", "https://münchen.test/ä", "HTTP://A.TEST"]
)
def test_good_urls_pass(value):
    """http(s) URLs pass, trimmed; unicode hosts are allowed."""
    url, why = check_url(value)
    assert why is None and url == value.strip()


def test_schemes_can_be_widened():
    """schemes= lets a user allow more schemes on purpose."""
    assert check_url("file:///tmp/x.html", frozenset({"file"}))[1] == "malformed URL: no host"
    assert check_url("ftp://a.test/x", frozenset({"ftp"}))[0] == "ftp://a.test/x"


def test_duplicates_are_one_unit_of_work():
    """The same URL on several rows is scraped once and answers all of them."""
    table = prepare_input(["https://a.test/1", "https://b.test", " https://a.test/1", None])
    assert [(w.url, w.positions) for w in table.work] == [
        ("https://a.test/1", [0, 2]),
        ("https://b.test", [1]),
    ]
    assert table.invalid == {3: "missing URL"}


def test_dedupe_off_scrapes_every_row():
    """dedupe=False makes one unit of work per row."""
    table = prepare_input(["https://a.test", "https://a.test"], dedupe=False)
    assert len(table.work) == 2


@pytest.mark.parametrize("data", ["https://a.test", 42, {"url": "x"}])
def test_wrong_input_types_are_refused(data):
    """A string, a number or a dict is refused with how to wrap it."""
    with pytest.raises(InputError, match="DataFrame, a Series or a list"):
        prepare_input(data)


def test_duplicated_column_names_are_refused():
    """Duplicated column names would make rows ambiguous."""
    frame = pd.DataFrame([["https://a.test", 1]], columns=["url", "url"])
    with pytest.raises(InputError, match="duplicated column names"):
        prepare_input(frame)


def test_series_and_list_inputs():
    """A Series keeps its name and index; a list becomes a 'url' column."""
    series = pd.Series(["https://a.test"], index=["k"], name="link")
    table = prepare_input(series)
    assert table.url_column == "link" and list(table.frame.index) == ["k"]
    assert prepare_input(["https://a.test"]).url_column == "url"


def _resolve(table, status="ok", value=None):
    outcomes = [None] * table.rows
    for item in table.work:
        item.status, item.value, item.attempts, item.elapsed = status, value, 1, 0.1
        for position in item.positions:
            outcomes[position] = item
    return outcomes


def test_results_keep_index_order_and_input_columns(caplog):
    """Results have the input's index (non-unique, any dtype) and order, input columns first;
    a scraped column named like an input column is renamed, and the log says so."""
    frame = pd.DataFrame(
        {"url": ["https://a.test/1", None, "https://a.test/1"], "n": [1, 2, 3]}, index=[10, 10, 5]
    )
    table = prepare_input(frame)
    results = results_frame(table, _resolve(table, value={"title": "T", "n": 9}))
    assert list(results.index) == [10, 10, 5]
    assert list(results.columns[:4]) == ["url", "n", "title", "n_scraped"]
    assert "'n' -> 'n_scraped'" in caplog.text
    assert list(results["af_status"]) == ["ok", "invalid", "ok"]
    assert list(results["n"]) == [1, 2, 3]
    assert results["title"].iloc[0] == "T" and pd.isna(results["title"].iloc[1])
    assert set(STATUS_COLUMNS) <= set(results.columns)


def test_scalar_outputs_go_to_a_value_column_and_ints_stay_ints():
    """A scalar lands in 'value'; whole numbers with gaps become Int64, not float."""
    table = prepare_input(["https://a.test", None])
    results = results_frame(table, _resolve(table, value=7))
    assert str(results["value"].dtype) == "Int64"
    assert results["value"].tolist()[0] == 7


def test_earlier_status_columns_are_replaced_not_duplicated():
    """Feeding a result back in drops its af_ columns instead of colliding with them."""
    table = prepare_input(pd.DataFrame({"url": ["https://a.test"], "af_status": ["failed"]}))
    results = results_frame(table, _resolve(table))
    assert list(results.columns).count("af_status") == 1
    assert results["af_status"].iloc[0] == "ok"


def test_unfinished_rows_come_back_skipped():
    """Rows never resolved (an interrupted run) come back 'skipped' with a reason."""
    table = prepare_input(["https://a.test"])
    outcomes = [table.work[0]]
    results = results_frame(table, outcomes, skipped_reason="interrupted")
    assert results["af_status"].iloc[0] == "skipped" and results["af_error"].iloc[0] == "interrupted"


def test_row_object_reads_columns():
    """The row handed to a callable reads columns by attribute and key, and knows its label."""
    table = prepare_input(pd.DataFrame({"url": ["https://a.test"], "category": ["tea"]}, index=["x"]))
    row = table.row(0, table.work[0].url)
    assert (row.url, row.category, row["category"], row.label) == ("https://a.test", "tea", "tea", "x")
    with pytest.raises(AttributeError, match="no column 'nope'"):
        _ = row.nope
    assert isinstance(Work(0, "u", [0]), Work)
