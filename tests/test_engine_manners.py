"""The engine's per-site decisions on the in-memory FakeBackend (a fake by design: no browser).

Per-site limits across sessions, pauses after 429 that spend no retry, giving up on a site
that never relents, a blocked page retried on another session, context renewal with setup.
The same behaviours on real Chromium and real servers: tests/test_manners.py.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest

import anchorframe as af
from anchorframe._engine.manners import GIVE_UP_AFTER
from anchorframe._engine.tabs import SharedContext
from anchorframe.backends.fake import FakeBackend, FakeDocument

FAST = {"progress": False, "backoff": 0.01}


def _urls(sites: int, per_site: int) -> list[str]:
    return [f"https://shop{s}.example/item/{n}" for n in range(per_site) for s in range(sites)]


def test_per_site_caps_every_session_and_tab_together_and_other_sites_run_meanwhile():
    active: Counter[str] = Counter()
    most: Counter[str] = Counter()
    overall = [0, 0]

    async def slow(page, row):
        await page.goto(row.url)
        site = urlsplit(row.url).hostname
        active[site] += 1
        overall[0] += 1
        most[site] = max(most[site], active[site])
        overall[1] = max(overall[1], overall[0])
        await asyncio.sleep(0.01)
        active[site] -= 1
        overall[0] -= 1
        return {"ok": True}

    urls = _urls(sites=3, per_site=30)
    result = af.scrape(urls, slow, backend=FakeBackend(), sessions=4, tabs=4, per_site=2, **FAST)
    assert set(result.results["af_status"]) == {"ok"}
    assert max(most.values()) == 2  # never more than per_site at one site, over 16 tabs
    assert overall[1] == 6  # the three sites ran side by side, each at its cap


def test_a_429_pauses_its_site_and_the_rows_keep_their_retries():
    answered: Counter[str] = Counter()

    def documents(url: str) -> FakeDocument:
        answered[url] += 1
        if "shop0" in url and answered[url] == 1:  # each shop0 page: 429 the first time
            return FakeDocument(status=429, headers={"retry-after": "1"})
        return FakeDocument(texts={"h1": url})

    async def heading(page, row):
        response = await page.goto(row.url)
        if response.status >= 400:
            raise RuntimeError(f"HTTP {response.status}")
        return {"h1": await page.inner_text("h1")}

    urls = _urls(sites=2, per_site=6)
    started = time.monotonic()
    result = af.scrape(urls, heading, backend=FakeBackend(documents), sessions=1, tabs=2, retries=0, **FAST)
    elapsed = time.monotonic() - started
    results = result.results
    assert set(results["af_status"]) == {"ok"} and (results["af_attempts"] == 1).all()
    attempts = result.attempts
    assert (attempts["outcome"] == "throttled").sum() == 6  # every 429: an attempt, not a failure
    site_rows = result.errors[result.errors["scope"] == "site"]
    assert len(site_rows) >= 1 and set(site_rows["site"]) == {"shop0.example"}
    assert "Retry-After: 1 s" in site_rows["message"].iloc[0]
    assert elapsed >= 1.0
    assert "pause(s)" in result.summary()


def test_a_site_that_never_relents_fails_its_rows_rate_limited():
    def documents(url: str) -> FakeDocument:
        return FakeDocument(status=429, headers={"retry-after": "0"})

    async def visit(page, row):
        await page.goto(row.url)
        return {"ok": True}

    result = af.scrape(["https://a.example.org/1"], visit, backend=FakeBackend(documents), retries=0, **FAST)
    row = result.results.iloc[0]
    assert row["af_status"] == "failed" and row["af_reason"] == "rate_limited", row
    assert (result.attempts["outcome"] == "throttled").sum() == GIVE_UP_AFTER - 1


def test_a_blocked_page_is_retried_on_another_session():
    def documents(url: str) -> FakeDocument:
        if url.endswith("/challenge"):
            return FakeDocument(status=403, headers={"cf-mitigated": "challenge"}, title="Just a moment...")
        return FakeDocument(texts={"h1": url})

    async def visit(page, row):
        response = await page.goto(row.url)
        if response.status >= 400:
            raise RuntimeError(f"HTTP {response.status}")
        return {"h1": await page.inner_text("h1")}

    urls = [f"https://b.example.net/{n}" for n in range(6)] + ["https://b.example.net/challenge"]
    result = af.scrape(urls, visit, backend=FakeBackend(documents), sessions=2, tabs=1, retries=2, **FAST)
    row = result.results.iloc[6]
    assert row["af_status"] == "failed" and row["af_reason"] == "blocked" and row["af_attempts"] == 3
    sessions = result.attempts[result.attempts["url"] == urls[6]]["session"].tolist()
    assert sessions[0] != sessions[1], sessions  # the first retry went to the session that had not seen it
    assert "Cloudflare" in row["af_error"]


def test_each_tab_moves_to_a_fresh_context_after_renew_context_after_rows_and_runs_setup_again():
    setups = []

    async def setup(page):
        setups.append(page)

    async def visit(page, row):
        await page.goto(row.url)
        return {"ok": True}

    backend = FakeBackend()
    urls = [f"https://c.example.com/{n}" for n in range(12)]
    result = af.scrape(
        urls, visit, backend=backend, sessions=1, tabs=1, setup=setup, renew_context_after=3, **FAST
    )
    assert set(result.results["af_status"]) == {"ok"}
    assert len(setups) == 4  # the session's context, then one per renewal (rows 4, 7 and 10)
    never = af.scrape(urls, visit, backend=FakeBackend(), sessions=1, tabs=1, setup=setup,
                      renew_context_after=None, **FAST)  # fmt: skip
    assert set(never.results["af_status"]) == {"ok"} and len(setups) == 5


def test_a_renewal_whose_setup_fails_costs_no_row_and_is_given_up_after_three():
    """The session goes on in the context it has; each failed renewal is a session error."""
    calls = []

    async def failing_after_first(page):
        calls.append(page)
        if len(calls) > 1:
            raise RuntimeError("login form changed")

    async def visit(page, row):
        await page.goto(row.url)
        return {"ok": True}

    urls = [f"https://c.example.com/{n}" for n in range(15)]
    result = af.scrape(urls, visit, backend=FakeBackend(), sessions=1, tabs=1, setup=failing_after_first,
                       renew_context_after=3, retries=0, **FAST)  # fmt: skip
    assert set(result.results["af_status"]) == {"ok"} and (result.results["af_attempts"] == 1).all()
    assert len(calls) == 1 + SharedContext.GIVE_UP_AFTER  # tried at rows 4, 7 and 10; not at 13
    renewals = result.errors[result.errors["reason"] == "renewal_failed"]
    assert len(renewals) == 3 and set(renewals["scope"]) == {"session"}
    assert set(renewals["stage"]) == {"setup"}
    assert "login form changed" in renewals["message"].iloc[0]
    assert "keeps its context to the end" in renewals["message"].iloc[-1]
    assert result.sessions["state"].tolist() == ["ended"]

    calls.clear()

    async def failing_once(page):
        calls.append(page)
        if len(calls) == 2:
            raise RuntimeError("flaky login")

    result = af.scrape(urls, visit, backend=FakeBackend(), sessions=1, tabs=1, setup=failing_once,
                       renew_context_after=3, retries=0, **FAST)  # fmt: skip
    assert set(result.results["af_status"]) == {"ok"}
    assert len(calls) == 5  # the first context, a failed try at row 4, fresh ones at rows 7, 10 and 13
    assert (result.errors["reason"] == "renewal_failed").sum() == 1


async def visit(page, row):
    await page.goto(row.url)
    return {"ok": True}


def test_a_sessions_tabs_share_one_context_and_move_to_a_fresh_one_together():
    # A context per tab ran at less than half the pace of one shared (Chromium gives each
    # context its own processes; see _engine/tabs.py): the session renews, its tabs follow.
    backend = FakeBackend()
    urls = [f"https://c.example.com/{n}" for n in range(24)]
    result = af.scrape(urls, visit, backend=backend, sessions=1, tabs=3, renew_context_after=4, **FAST)
    assert set(result.results["af_status"]) == {"ok"}
    # A fresh context after 4 rows and the 2 the other tabs start while it is being made.
    assert 3 <= backend.contexts_made <= 5, backend.contexts_made
    # Open at once: the session's first (kept), the one being left and the fresh one; with a
    # context per tab, the first and 3 more.
    assert backend.most_contexts <= 3, backend.most_contexts


def test_a_context_closes_once_its_last_tab_has_left_never_under_a_tab():
    class Context:
        def __init__(self, number):
            self.number, self.inside, self.closed = number, 0, False

        async def close(self):
            assert self.inside == 0, f"context {self.number} closed with {self.inside} tab(s) in it"
            self.closed = True

    made = []

    async def fresh():
        await asyncio.sleep(0.003)  # a renewal takes a while: the other tabs go on meanwhile
        made.append(Context(len(made) + 1))
        return made[-1]

    async def tab(shared, rows):
        held = None
        for _ in range(rows):
            context = await shared.take(held)
            if context is not held:
                context.inside += 1
                if held is not None:
                    held.inside -= 1
                    await shared.leave(held)
                held = context
            assert not context.closed
            await asyncio.sleep(0.001)
        held.inside -= 1
        await shared.leave(held)

    async def main():
        first = Context(0)
        shared = SharedContext(first, renew=fresh, renew_after=10)
        await asyncio.gather(*(tab(shared, 40) for _ in range(4)))
        await shared.aclose()
        return first, shared

    first, shared = asyncio.run(main())
    # 160 rows, 10 per context and those the other tabs ran while a fresh one was being made.
    assert 4 <= shared.renewals == len(made) <= 15
    assert all(context.closed for context in made) and not first.closed  # the first is the browser's


def test_a_cloud_session_with_a_saved_profile_keeps_its_own_context():
    class ProfileBackend(FakeBackend):
        keeps_first_context = True

    backend = ProfileBackend()
    urls = [f"https://c.example.com/{n}" for n in range(12)]
    result = af.scrape(urls, visit, backend=backend, tabs=2, renew_context_after=2, **FAST)
    assert set(result.results["af_status"]) == {"ok"} and backend.contexts_made == 0


def test_header_values_never_show_in_errors():
    token = "tok-5ecret-value"

    async def leaky(page, row):
        raise RuntimeError(f"the server refused Authorization: Bearer {token}")

    result = af.scrape(["https://d.example.com/1"], leaky, backend=FakeBackend(), retries=0,
                       headers={"Authorization": f"Bearer {token}"}, **FAST)  # fmt: skip
    assert token not in result.errors.to_string() and token not in result.results.to_string()
    assert result.results["af_reason"].iloc[0] == "callable_error"


def test_a_credential_header_is_refused_with_workers():
    with pytest.raises(af.InputError, match="setup="):
        af.scrape(["https://d.example.com/1"], extract={"h": "h1"}, workers=2,
                  headers={"Cookie": "session=abc"})  # fmt: skip
