"""The ledger's decisions, without a browser or an event loop: retries, moves, starvation, records."""

from __future__ import annotations

import random
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from anchorframe._core.events import ROW_DONE, ROW_RETRYING, RunState, SessionState
from anchorframe._core.table import prepare_input
from anchorframe._engine.ledger import Ledger, RetryPolicy
from anchorframe.errors import RowFailed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(urls, retries=2, sessions=("s1",)):
    table = prepare_input(urls, None)
    state = RunState(
        backend="test", rows_total=table.rows, urls_total=len(table.work), sessions_planned=1, tabs=1
    )
    for name in sessions:
        state.sessions[name] = SessionState(session=name)
    events: list[tuple[str, str | None, object]] = []
    clock = Clock()
    ledger = Ledger(
        table,
        state,
        RetryPolicy(retries=retries, backoff=0.5, timeout=5.0),
        emit=lambda name, session, detail: events.append((name, session, detail)),
        secrets=("sk-secret",),
        rng=random.Random(0),
        clock=clock,
        wall=clock,
    )
    return table, state, ledger, events, clock


def test_success_resolves_every_duplicate_row_once():
    """A URL present on three rows is scraped once and counts three ok rows."""
    table, state, ledger, events, clock = make(["https://a.test/1"] * 3 + ["https://a.test/2"])
    first = ledger.start(table.work[0], "s1", 0)
    clock.now += 2.0
    ledger.succeeded(first, {"x": 1})
    assert table.work[0].status == "ok" and table.work[0].attempts == 1 and table.work[0].elapsed == 2.0
    assert state.rows_ok == 3 and ledger.pending == 1 and not ledger.done
    assert state.sessions["s1"].pages_ok == 1
    assert [name for name, *_ in events] == [ROW_DONE]


def test_retryable_failures_are_retried_then_fail_with_their_reason():
    """A timeout is retried `retries` times with a growing delay, then the row fails as `timeout`."""
    table, state, ledger, events, _ = make(["https://a.test/1"], retries=2)
    item = table.work[0]
    delays = []
    for _ in range(2):
        delay = ledger.failed(ledger.start(item, "s1", 0), TimeoutError())
        assert delay is not None and state.retrying == 1
        delays.append(delay)
        assert ledger.retry_due(item) is True and state.retrying == 0
    assert ledger.failed(ledger.start(item, "s1", 0), TimeoutError()) is None
    assert (item.status, item.reason, item.attempts) == ("failed", "timeout", 3)
    assert 0.25 <= delays[0] <= 0.5 and 0.5 <= delays[1] <= 1.0
    assert [r["attempt"] for r in ledger.error_records] == [1, 2, 3]
    assert [name for name, *_ in events] == [ROW_RETRYING, ROW_RETRYING, ROW_DONE]
    assert state.sessions["s1"].pages_failed == 1 and state.sessions["s1"].errors == 3


def test_errors_of_the_callable_are_not_retried():
    """An exception from the user's code fails the row at once (a retry would fail the same way)."""
    table, _, ledger, _, _ = make(["https://a.test/1"])
    assert ledger.failed(ledger.start(table.work[0], "s1", 0), KeyError("price")) is None
    assert (table.work[0].status, table.work[0].reason) == ("failed", "callable_error")


def test_row_failed_says_its_own_reason_and_retryability():
    """RowFailed carries the reason and whether a retry may help."""
    table, _, ledger, _, _ = make(["https://a.test/1"])
    delay = ledger.failed(
        ledger.start(table.work[0], "s1", 0), RowFailed("http_error", "HTTP 503", retryable=True)
    )
    assert delay is not None and ledger.error_records[0]["reason"] == "http_error"


def test_a_moved_row_spends_no_attempt():
    """A session's loss gives the row back unspent: its next attempt has the same number."""
    table, _, ledger, _, _ = make(["https://a.test/1"])
    item = table.work[0]
    attempt = ledger.start(item, "s1", 0)
    assert ledger.moved(attempt) is True
    assert item.attempts == 0 and item.status is None and ledger.error_records == []
    again = ledger.start(item, "s2", 1)
    assert again.number == 1
    ledger.succeeded(again, 1)
    outcomes = [record[7] for record in ledger.attempt_records]
    assert outcomes == ["moved", "ok"] and item.attempts == 1


def test_starvation_fails_every_unresolved_row():
    """With no session left, every row still pending comes back failed/no_sessions."""
    table, state, ledger, _, _ = make([f"https://a.test/{n}" for n in range(4)])
    ledger.succeeded(ledger.start(table.work[0], "s1", 0), 1)
    ledger.failed(ledger.start(table.work[1], "s1", 0), TimeoutError())  # waiting for its retry
    assert ledger.starve(sessions_failed=2) == 3
    assert [w.status for w in table.work] == ["ok", "failed", "failed", "failed"]
    assert {w.reason for w in table.work[1:]} == {"no_sessions"} and state.retrying == 0
    assert ledger.done and ledger.retry_due(table.work[1]) is False


def test_start_of_a_resolved_row_is_refused():
    """A stale queue entry (a row resolved meanwhile) starts no attempt."""
    table, _, ledger, _, _ = make(["https://a.test/1"])
    ledger.starve(sessions_failed=1)
    assert ledger.start(table.work[0], "s1", 0) is None


def test_secrets_never_reach_the_records():
    """An API key in an exception's text is redacted from the error record."""
    table, _, ledger, _, _ = make(["https://a.test/1"])
    ledger.failed(ledger.start(table.work[0], "s1", 0), ValueError("bad key sk-secret"))
    ledger.session_error("s1", "connect", "connect_failed", "Error", "wss://x?apiKey=sk-secret")
    assert all("sk-secret" not in r["message"] for r in ledger.error_records)


def test_cancelled_attempts_leave_the_row_for_skipped():
    """An attempt stopped by the run's end is recorded, and its row stays unresolved (skipped)."""
    table, _, ledger, _, _ = make(["https://a.test/1", "https://a.test/1"])
    ledger.cancelled(ledger.start(table.work[0], "s1", 0))
    assert table.work[0].status is None and ledger.unresolved_rows() == 2


OUTCOMES = st.sampled_from(["ok", "timeout", "callable", "moved", "cancelled"])


@settings(max_examples=300, deadline=None)
@given(
    urls=st.lists(st.integers(0, 12), min_size=1, max_size=30),
    retries=st.integers(0, 3),
    script=st.lists(OUTCOMES, max_size=120),
)
def test_every_row_is_resolved_exactly_once_whatever_happens(urls, retries, script):
    """Any sequence of outcomes, then starvation: each row resolved once, attempts within budget."""
    table, state, ledger, events, clock = make([f"https://a.test/{n}" for n in urls], retries=retries)
    queue = list(table.work)
    waiting = []
    for outcome in script:
        if not queue:
            queue, waiting = waiting, []
            for item in queue:
                ledger.retry_due(item)
        if not queue:
            break
        item = queue.pop(0)
        attempt = ledger.start(item, "s1", 0)
        if attempt is None:
            continue
        clock.now += 0.1
        spent_before = item.attempts
        if outcome == "ok":
            ledger.succeeded(attempt, 1)
        elif outcome in ("timeout", "callable"):
            delay = ledger.failed(attempt, TimeoutError() if outcome == "timeout" else KeyError("x"))
            if delay is not None:
                waiting.append(item)
        elif outcome == "moved":
            assert ledger.moved(attempt)
            assert item.attempts == spent_before
            queue.append(item)
        else:
            ledger.cancelled(attempt)
            queue.append(item)
        assert item.attempts <= retries + 1
    ledger.starve(sessions_failed=0)
    done = [detail for name, _, detail in events if name == ROW_DONE]
    assert len(done) == len(table.work) == len({id(w) for w in done})
    assert all(w.status in ("ok", "failed") for w in table.work)
    assert state.rows_ok + state.rows_failed == table.rows
    assert state.retrying == 0 and ledger.done
    url_errors = sum(1 for record in ledger.error_records if record["scope"] == "url")
    assert url_errors == sum(1 for r in ledger.attempt_records if r[7] in ("timeout", "callable_error"))


def test_the_ledger_imports_no_browser_or_network_library():
    """Deciding needs neither Playwright nor httpx."""
    import subprocess

    code = (
        "import sys, anchorframe._engine.ledger, anchorframe._run.options, anchorframe._engine.supervisor; "
        "print(sorted(m for m in ('playwright', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
