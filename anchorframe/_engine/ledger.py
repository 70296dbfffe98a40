"""The ledger of a run: what happened to every row, and what happens next. No I/O.

The engine asks the ledger and does what it says; the ledger never awaits,
sleeps or touches a browser, so every decision here is tested without one
(``tests/test_ledger.py``, thousands of cases in milliseconds).

A row (a :class:`~anchorframe._core.table.Work`, one per unique URL) is *pending*
until it is resolved ``ok`` or ``failed``. Each try at it is an
:class:`Attempt`, which ends in one of three ways:

* :meth:`Ledger.succeeded`: the row is ``ok``;
* :meth:`Ledger.failed`: the failure is classified; the row is either given a
  retry (the ledger returns the delay; the attempt was spent) or resolved
  ``failed``;
* :meth:`Ledger.moved`: the *session* failed, not the row (its browser died
  mid-attempt). The row goes back to the queue and the attempt is not spent: a
  session's loss is never a row's failure.

When no session is alive or coming, :meth:`Ledger.starve` fails what is left
(``no_sessions``), so that every row comes back. Each attempt is recorded (for
``result.attempts``), and so is each failure (for ``result.errors``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .._core.events import ROW_DONE, ROW_RETRYING, RunState
from .._core.options import Route
from .._core.retry import Failure, backoff_delay, classify_failure
from .._core.secrets import redact
from .._core.table import InputTable, Work
from .._manners.sites import site_key

__all__ = ["Attempt", "Ledger", "RetryPolicy"]

#: ``emit(event_name, session, detail)``: how the ledger tells observers (the engine's emitter).
Emit = Callable[[str, "str | None", Any], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How failed attempts are retried: ``retries`` more tries after a retryable failure."""

    retries: int = 2
    backoff: float = 0.5
    timeout: float = 30.0


@dataclass(eq=False, slots=True)
class Attempt:
    """One try at one row, on one tab of one session."""

    work: Work
    number: int
    session: str
    tab: int
    started: float
    started_wall: float
    #: The path this attempt fetched the page by.
    render: Route = "browser"


class Ledger:
    """Every row's state and the decisions about it; see the module docstring.

    Example:
        >>> from anchorframe._core.table import prepare_input
        >>> from anchorframe._core.events import RunState
        >>> table = prepare_input(["https://example.com/a"], None)
        >>> state = RunState(backend="demo", rows_total=1, urls_total=1, sessions_planned=1, tabs=1)
        >>> ledger = Ledger(table, state, RetryPolicy(retries=1))
        >>> attempt = ledger.start(table.work[0], "s1", 0)
        >>> ledger.failed(attempt, TimeoutError()) is not None   # retryable: a delay comes back
        True
        >>> ledger.retry_due(table.work[0])
        True
        >>> ledger.failed(ledger.start(table.work[0], "s1", 0), TimeoutError()) is None   # retries spent
        True
        >>> table.work[0].status, table.work[0].reason, ledger.done
        ('failed', 'timeout', True)
    """

    def __init__(
        self,
        table: InputTable,
        state: RunState,
        policy: RetryPolicy,
        *,
        emit: Emit | None = None,
        secrets: tuple[str, ...] = (),
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.state = state
        self.policy = policy
        self.pending = sum(1 for item in table.work if item.status is None)
        #: One dict per failure (``result.errors``), in the order they happened.
        self.error_records: list[dict[str, Any]] = []
        #: One tuple per ended attempt:
        #: (session, tab, row position, url, attempt, start, end, outcome, render).
        self.attempt_records: list[tuple[str, int, int, str, int, float, float, str, str]] = []
        self._emit = emit or _no_emit
        self._secrets = secrets
        self._rng = rng or random.Random()
        self._clock = clock
        self._wall = wall
        self._retry_waiting: set[int] = set()

    @property
    def done(self) -> bool:
        """True once every row is resolved."""
        return self.pending <= 0

    # ----------------------------------------------------------------- attempts
    def start(self, item: Work, session: str, tab: int, render: Route = "browser") -> Attempt | None:
        """Begin an attempt at ``item``; None when the row needs none (already resolved)."""
        if item.status is not None:
            return None
        return Attempt(item, item.attempts + 1, session, tab, self._clock(), self._wall(), render)

    def succeeded(self, attempt: Attempt, value: Any) -> None:
        """The attempt returned ``value``: the row is ``ok``."""
        item = attempt.work
        item.attempts = attempt.number
        elapsed = self._end(attempt, "ok")
        item.render = attempt.render
        self._resolve(item, "ok", value=value, elapsed=elapsed, session=attempt.session)

    def failed(self, attempt: Attempt, exc: BaseException | Failure) -> float | None:
        """The attempt raised ``exc`` (or failed as ``Failure`` says): seconds until the row's retry,
        or None when it is resolved failed."""
        item = attempt.work
        item.attempts = attempt.number
        failure = exc if isinstance(exc, Failure) else classify_failure(exc, self.policy.timeout)
        elapsed = self._end(attempt, failure.reason)
        message = redact(failure.message, *self._secrets)
        session = self.state.sessions.get(attempt.session)
        if session is not None:
            session.errors += 1
        self.error_records.append(
            error_record(
                scope="url",
                session=attempt.session,
                row=self.table.frame.index[item.positions[0]],
                url=item.url,
                attempt=attempt.number,
                stage="scrape",
                reason=failure.reason,
                error_type=failure.error_type,
                message=message,
                render=attempt.render,
                site=site_key(item.url),
            )
        )
        if item.status is None and failure.retryable and attempt.number <= self.policy.retries:
            self._retry_waiting.add(item.key)
            self.state.retrying += 1
            self._emit(ROW_RETRYING, attempt.session, item)
            return backoff_delay(attempt.number, self.policy.backoff, rng=self._rng)
        if session is not None:
            session.pages_failed += 1
        item.render = attempt.render
        self._resolve(
            item, "failed", reason=failure.reason, message=message, elapsed=elapsed, session=attempt.session
        )
        return None

    def moved(self, attempt: Attempt, outcome: str = "moved") -> bool:
        """The row goes back unspent: its session was lost mid-attempt (``moved``), or the HTTP path
        found it needs a browser (``needs_browser``). True if it should be queued again."""
        self._end(attempt, outcome)
        return attempt.work.status is None

    def retry_due(self, item: Work) -> bool:
        """A retry's delay has passed. True if the row should be queued again."""
        if item.key in self._retry_waiting:
            self._retry_waiting.discard(item.key)
            self.state.retrying -= 1
        return item.status is None

    def skip(self, item: Work, reason: str, message: str) -> None:
        """Resolve a row ``skipped`` without an attempt (robots.txt disallows it: never fetched)."""
        if item.status is not None:
            return
        self.state.rows_disallowed += len(item.positions)
        self._resolve(item, "skipped", reason=reason, message=message)

    def cancelled(self, attempt: Attempt) -> None:
        """The run was stopped mid-attempt: the row stays unresolved and comes back ``skipped``."""
        self._end(attempt, "cancelled")

    # ------------------------------------------------------------------ the end
    def starve(self, sessions_failed: int, waiting: Callable[[Work], bool] | None = None) -> int:
        """No session is alive or coming: fail every unresolved row waiting for a browser
        (``waiting``, default: all of them) as ``no_sessions``; returns how many."""
        message = (
            f"No browser session was available to scrape this row: {sessions_failed} session(s) failed "
            "(see result.errors where scope == 'session')."
        )
        left = [
            item for item in self.table.work if item.status is None and (waiting is None or waiting(item))
        ]
        for item in left:
            self._resolve(item, "failed", reason="no_sessions", message=message)
        for item in left:
            if item.key in self._retry_waiting:
                self._retry_waiting.discard(item.key)
                self.state.retrying -= 1
        return len(left)

    def unresolved_rows(self) -> int:
        """Input rows whose URL no attempt resolved (they come back ``skipped``)."""
        return sum(len(item.positions) for item in self.table.work if item.status is None)

    # ------------------------------------------------------------------- errors
    def session_error(
        self, session: str | None, stage: str, reason: str, error_type: str, message: str
    ) -> dict[str, Any]:
        """Record a failure of a session (provisioning, connect, set-up, loss); returns the record."""
        record = error_record(
            scope="session",
            session=session,
            stage=stage,
            reason=reason,
            error_type=error_type,
            message=redact(message or reason, *self._secrets),
        )
        self.error_records.append(record)
        return record

    def site_error(self, site: str, reason: str, error_type: str, message: str) -> dict[str, Any]:
        """Record what happened at a whole site (a pause after 429/503); returns the record."""
        record = error_record(
            scope="site",
            session=None,
            stage="scrape",
            reason=reason,
            error_type=error_type,
            message=redact(message, *self._secrets),
            site=site,
        )
        self.error_records.append(record)
        return record

    # ---------------------------------------------------------------- internals
    def _end(self, attempt: Attempt, outcome: str) -> float:
        now = self._clock()
        elapsed = now - attempt.started
        item = attempt.work
        self.attempt_records.append(
            (
                attempt.session,
                attempt.tab,
                item.positions[0],
                item.url,
                attempt.number,
                attempt.started_wall,
                attempt.started_wall + elapsed,
                outcome,
                attempt.render,
            )
        )
        return elapsed

    def _resolve(
        self,
        item: Work,
        status: str,
        *,
        value: Any = None,
        reason: str | None = None,
        message: str | None = None,
        elapsed: float | None = None,
        session: str | None = None,
    ) -> None:
        if item.status is not None:
            return
        item.status = status
        item.value = value
        item.reason = reason
        item.message = message
        item.elapsed = elapsed
        item.session = session
        rows = len(item.positions)
        state = self.state
        if status == "ok":
            state.rows_ok += rows
            live = state.sessions.get(session) if session is not None else None
            if live is not None:
                live.pages_ok += 1
        elif status == "failed":
            state.rows_failed += rows
        if state.first_result_s is None:
            state.first_result_s = self._clock() - state.started
        self.pending -= 1
        self._emit(ROW_DONE, session, item)


def error_record(
    *,
    scope: str,
    session: str | None,
    stage: str,
    reason: str,
    error_type: str,
    message: str | None,
    row: Any = None,
    url: str | None = None,
    attempt: int | None = None,
    render: str | None = None,
    site: str | None = None,
) -> dict[str, Any]:
    """One row of ``result.errors``."""
    return {
        "scope": scope,
        "session": session,
        "row": row,
        "url": url,
        "attempt": attempt,
        "stage": stage,
        "reason": reason,
        "error_type": error_type,
        "message": message or "",
        "time": datetime.now(timezone.utc),
        "render": render,
        "site": site,
    }


def _no_emit(name: str, session: str | None, detail: Any) -> None:
    pass
