"""The whole engine on the in-memory FakeBackend: its decisions, with no browser in the way."""

from __future__ import annotations

import asyncio
import inspect

import pandas as pd
import pytest

import anchorframe as af
from anchorframe.backends.fake import FakeBackend, FakeDocument, FakeError

FAST = {"progress": False, "backoff": 0.01}
URLS = [f"https://shop.test/item/{n}" for n in range(40)]


async def heading(page, row):
    await page.goto(row.url)
    return {"h1": await page.inner_text("h1")}


def test_a_callable_always_gets_a_real_page():
    """Whatever the callable reads first, it is handed a page (no bytecode guessing, any Python)."""

    async def row_first(page, row):
        x = row.url
        await page.goto(x)
        return {"page": type(page).__name__}

    result = af.scrape(URLS[:3], row_first, backend=FakeBackend(), **FAST)
    assert result.results["page"].tolist() == ["_FakePage"] * 3


def test_sessions_that_fail_to_provision_are_replaced():
    """Two of four sessions fail to provision: replacements come, every row is ok once."""
    backend = FakeBackend(fail_provision={1, 3})
    result = af.scrape(URLS, heading, backend=backend, sessions=4, tabs=2, **FAST)
    assert (result.results["af_status"] == "ok").all() and sum(backend.hits.values()) == len(URLS)
    failed = result.errors[result.errors["reason"] == "provision_failed"]
    assert sorted(failed["session"]) == ["fake-1", "fake-3"]
    assert (result.sessions["state"] == "ended").sum() == 4 and backend.live == 0


def test_the_account_capacity_is_learned_and_the_run_goes_on_with_fewer_sessions():
    """A plan of 8 on an account that holds 3: the run completes on 3 and says why."""
    backend = FakeBackend(capacity=3)
    result = af.scrape(URLS, heading, backend=backend, sessions=8, tabs=2, **FAST)
    assert (result.results["af_status"] == "ok").all() and sum(backend.hits.values()) == len(URLS)
    assert (result.sessions["state"] == "ended").sum() == 3
    reasons = result.errors["reason"].tolist()
    assert reasons.count("session_limit") == 6  # five refused sessions and the one lowering of the target
    assert "at most 3 session(s)" in " ".join(result.errors["message"])


def test_no_session_at_all_fails_every_row_instead_of_hanging():
    """When every session fails and the budget is spent, the rows come back failed/no_sessions."""
    backend = FakeBackend(fail_provision=set(range(1, 50)))
    result = af.scrape(URLS[:5], heading, backend=backend, sessions=2, max_replacements=3, **FAST)
    assert result.results["af_reason"].tolist() == ["no_sessions"] * 5
    assert (result.errors["reason"] == "provision_failed").sum() == 5  # 2 planned + 3 replacements


def test_timeouts_are_retried_and_then_fail():
    """A page slower than the timeout is tried 1 + retries times and fails as timeout."""
    slow = URLS[0]
    backend = FakeBackend(lambda url: FakeDocument(texts={"h1": url}, delay=5 if url == slow else 0))
    result = af.scrape(URLS[:6], heading, backend=backend, timeout=0.05, retries=2, **FAST)
    row = result.results.iloc[0]
    assert (row["af_status"], row["af_reason"], row["af_attempts"]) == ("failed", "timeout", 3)
    assert (result.results["af_status"].iloc[1:] == "ok").all() and backend.hits[slow] == 3


def test_navigation_errors_are_retried_callable_errors_are_not():
    """A browser error is retried (reason from its text); a bug in the callable is not."""
    broken = URLS[1]

    def documents(url):
        if url == broken:
            return FakeDocument(error=FakeError("net::ERR_CONNECTION_REFUSED"))
        return FakeDocument(texts={"h1": url})

    async def needs_price(page, row):
        await page.goto(row.url)
        return {"price": await page.inner_text(".price")}

    result = af.scrape(URLS[:3], needs_price, backend=FakeBackend(documents), retries=1, **FAST)
    assert set(result.results["af_reason"]) == {"callable_error"}
    assert result.results["af_attempts"].tolist() == [1, 1, 1]


def test_a_session_killed_mid_run_moves_its_rows_unspent():
    """A fake browser dying mid-row: its rows finish elsewhere, each with one attempt."""
    backend = FakeBackend()
    killed = []

    async def kill_once(page, row):
        await page.goto(row.url)
        if not killed and row.position == 5:
            killed.append(backend.kill_session())
            await asyncio.sleep(0.01)
        return {"ok": True}

    result = af.scrape(URLS, kill_once, backend=backend, sessions=2, tabs=2, **FAST)
    assert (result.results["af_status"] == "ok").all() and killed
    assert (result.results["af_attempts"] == 1).all()
    assert result.errors["reason"].tolist() == ["session_lost"]


def test_keyboard_interrupt_in_a_callable_stops_the_run_and_releases_sessions():
    """A KeyboardInterrupt raised by the callable ends the run; every session is released first."""
    backend = FakeBackend()

    async def interrupt(page, row):
        await page.goto(row.url)
        if row.position == 3:
            raise KeyboardInterrupt
        await asyncio.sleep(0.01)
        return 1

    with pytest.raises(KeyboardInterrupt) as raised:
        af.scrape(URLS, interrupt, backend=backend, sessions=2, **FAST)
    assert backend.live == 0
    partial = af.last_result()
    assert partial is not None and len(partial.results) == len(URLS)
    assert isinstance(raised.value, af.RunInterrupted)


def test_a_big_run_through_the_fake_keeps_every_row():
    """10,000 rows on 4 sessions x 4 tabs: every row once, in order."""
    urls = [f"https://shop.test/p/{n}" for n in range(10_000)]
    backend = FakeBackend(lambda url: {"h1": url[-5:]})
    result = af.scrape(pd.DataFrame({"url": urls}), heading, backend=backend, sessions=4, tabs=4, **FAST)
    assert result.results["h1"].tolist() == [u[-5:] for u in urls]
    assert result.sessions["pages_ok"].sum() == 10_000 and sum(backend.hits.values()) == 10_000


def test_ascrape_runs_the_same_engine():
    """ascrape() takes the same options and returns the same result."""

    async def main():
        return await af.ascrape(URLS[:4], heading, backend=FakeBackend(), tabs=2, **FAST)

    result = asyncio.run(main())
    assert result.results["h1"].tolist() == URLS[:4]
    assert inspect.signature(af.scrape).parameters == inspect.signature(af.ascrape).parameters
