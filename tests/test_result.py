"""The summary and the HTML view of a result, without a browser."""

from __future__ import annotations

import pandas as pd

from anchorframe._core.frames import errors_frame, results_frame, sessions_frame
from anchorframe._core.plan import plan_sessions
from anchorframe._core.table import prepare_input
from anchorframe._run.result import ScrapeResult

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _result(value):
    table = prepare_input(["https://a.test/1", "https://a.test/2", None])
    first, second = table.work
    first.status, first.value, first.attempts = "ok", value, 1
    second.status, second.reason, second.message, second.attempts = (
        "failed",
        "timeout",
        "took <b>too</b> long",
        3,
    )
    outcomes = [first, second, None]
    errors = errors_frame(
        [
            {
                "scope": "url",
                "session": "s1",
                "row": 1,
                "url": "https://a.test/2",
                "attempt": 1,
                "stage": "scrape",
                "reason": "timeout",
                "error_type": "TimeoutError",
                "message": "took <b>too</b> long",
                "time": pd.Timestamp.now(tz="UTC"),
            }
        ]
    )
    return ScrapeResult(
        results=results_frame(table, outcomes),
        errors=errors,
        sessions=sessions_frame([]),
        plan=plan_sessions(2, cores=2),
        backend="local Chromium",
        run_id="r1",
        elapsed=2.0,
    )


def test_summary_counts_every_status():
    """The text summary gives rows by status, throughput and the most common error."""
    text = _result({"title": "A"}).summary()
    assert "1 ok, 1 failed, 1 invalid, 0 skipped" in text and "scrape/timeout" in text


def test_html_escapes_scraped_text_and_shows_screenshots_as_thumbnails():
    """Scraped HTML is escaped in the notebook view; bytes that are images become <img> thumbnails."""
    page = _result({"title": "<script>x</script>", "shot": PNG})._repr_html_()
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    assert 'src="data:image/png;base64,' in page
    assert "took &lt;b&gt;too&lt;/b&gt; long" in page


def test_failed_and_repr():
    """failed() returns failed and skipped rows; the repr is one line."""
    result = _result({"title": "A"})
    assert list(result.failed().index) == [1]
    assert repr(result) == "<ScrapeResult 3 rows: 1 ok, 1 failed, 1 invalid; 0 sessions; 1 errors>"


def test_common_errors_group_by_any_error_column():
    """common_errors() groups by stage and reason by default, and by session or scope on request."""
    result = _result({"title": "A"})
    assert result.common_errors().to_dict("records")[0]["count"] == 1
    by_session = result.common_errors(by="session")
    assert list(by_session.columns) == ["session", "count", "example"]
    assert by_session.iloc[0]["session"] == "s1"


def test_html_summary_shows_counts_sessions_throughput_and_first_rows():
    """The notebook view has rows by status, sessions, throughput, session-minutes and the first rows."""
    page = _result({"title": "A"})._repr_html_()
    for text in ("1 ok", "1 failed", "1 invalid", "0 skipped", "session-minutes", "pages/s", "First rows"):
        assert text in page
    assert "<details open><summary>First rows" in page


def test_html_cuts_long_text_and_escapes_the_index():
    """A page's whole text does not flood the view; an index value is escaped like any cell."""
    result = _result({"text": "x" * 5000})
    result.results.index = ["<i>a</i>", "b", "c"]
    page = result._repr_html_()
    assert "x" * 5000 not in page and "x" * 150 in page
    assert "&lt;i&gt;a&lt;/i&gt;" in page
