"""AnchorBackend end to end against the emulator, with real Chromium behind it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pytest

import anchorframe as af
from anchorframe import reap
from anchorframe.backends.anchor import AnchorBackend, run_tags
from anchorframe.client import AnchorClient
from anchorframe.emulator import Emulator
from anchorframe.errors import AuthenticationError, PaymentRequiredError

from .conftest import anchor_backend

pytestmark = pytest.mark.usefixtures("no_chromium_left")
FAST = {"progress": False, "backoff": 0.01}


async def heading(page, row):
    await page.goto(row.url)
    return {"heading": await page.inner_text("h1")}


def _paths(emu: Emulator, method: str, prefix: str) -> list[str]:
    return [r.path for r in emu.requests if r.method == method and r.path.startswith(prefix)]


def test_a_few_hundred_pages_over_several_cloud_sessions(emulator, site):
    """200 pages over 3 cloud sessions: every row back once, sessions and session-minutes reported."""
    result = af.scrape(site.pages(200), heading, backend=anchor_backend(emulator), sessions=3, tabs=2, **FAST)
    assert set(result.results["af_status"]) == {"ok"} and len(result.results) == 200
    assert result.results["heading"].iloc[199] == "Page 199"
    sessions = result.sessions
    assert len(sessions) == 3 and sessions["batch"].notna().all() and sessions["batch"].nunique() == 1
    assert (sessions["ready_s"] > 0).all() and sessions["pages_ok"].sum() == 200
    assert result.session_minutes > 0 and "session-minutes" in result.summary()
    assert len(_paths(emulator, "POST", "/v1/batch-sessions")) == 1


def test_more_than_1000_sessions_are_planned_as_several_batches():
    """Sizing alone (nothing provisioned): 1001+ sessions become batches of at most 1000.

    64 driver processes keep that many busy; with the default (one per core) the plan is capped
    at what this machine's processes can drive, and says so."""
    backend = AnchorBackend("plan-only-key", base_url="http://127.0.0.1:9")
    urls = [f"https://shop.test/item/{n}" for n in range(100_000)]
    sizing = {"seconds_per_url": 3.0, "target_seconds": 60, "max_sessions": 2500}
    plan = af.plan(urls, backend=backend, workers=64, **sizing)
    assert plan.sessions > 1000 and max(plan.batches) <= 1000 and sum(plan.batches) == plan.sessions
    assert len(plan.batches) == 2 and "session-minutes" in plan.explain()
    one = af.plan(urls, backend=backend, workers=1, **sizing)
    assert one.sessions < plan.sessions / 32 and one.batches == (one.sessions,)
    assert "capped at" in one.explain() and "workers=1" in one.explain()


def test_configuration_is_passed_through_with_safety_timeouts():
    """The user's configuration is kept; idle_timeout and max_duration are added unless given."""
    backend = AnchorBackend(
        "k",
        base_url="http://127.0.0.1:9",
        configuration={
            "browser": {"viewport": {"width": 800, "height": 600}},
            "session": {"timeout": {"idle_timeout": 1}},
        },
    )
    configuration = backend.batch_configuration("run1", None)
    assert configuration["browser"] == {"viewport": {"width": 800, "height": 600}}
    assert configuration["session"]["timeout"]["idle_timeout"] == 1
    assert configuration["session"]["timeout"]["max_duration"] >= 10
    assert "anchorframe-run-run1" in configuration["session"]["tags"]
    assert backend.configuration["session"]["timeout"] == {"idle_timeout": 1}  # not mutated


def test_provisioning_failures_are_reported_and_replaced_by_batch_retry(site):
    """Sessions that fail to provision show in .errors with the server's text and are retried."""
    with Emulator(seed=11, fail_provision=0.5) as emu:
        result = af.scrape(site.pages(16), heading, backend=anchor_backend(emu), sessions=4, tabs=2, **FAST)
        assert set(result.results["af_status"]) == {"ok"}
        failed = result.errors[
            (result.errors["scope"] == "session") & (result.errors["stage"] == "provision")
        ]
        assert len(failed) >= 1 and failed["message"].str.len().min() > 0
        assert (result.sessions["state"] == "failed").sum() == len(failed)
        assert any(path.endswith("/retry") for path in _paths(emu, "POST", "/v1/batch-sessions/"))
        time.sleep(0.5)
        assert emu.live_sessions == 0


def test_a_session_killed_mid_run_is_replaced_by_an_async_session(emulator, site):
    """A cloud browser killed mid-run: its rows finish elsewhere, an async session replaces it."""
    killed = threading.Event()
    done: list[str] = []

    def crash_one() -> None:
        with AnchorClient(emulator.api_key, base_url=emulator.base_url) as client:
            batch = client.get_batch(client.list_batches().batches[0].batch_id)
            live = [s.session_id for s in batch.sessions if s.status == "completed"]
            emulator.crash_session(live[0])

    async def slow_heading(page, row):
        await page.goto(row.url)
        await asyncio.sleep(0.2)
        done.append(row.url)
        if len(done) == 5 and not killed.is_set():
            killed.set()
            await asyncio.get_running_loop().run_in_executor(None, crash_one)
        return {"heading": await page.inner_text("h1")}

    result = af.scrape(
        site.pages(30), slow_heading, backend=anchor_backend(emulator), sessions=2, tabs=2, retries=0, **FAST
    )
    assert killed.is_set()
    assert set(result.results["af_status"]) == {"ok"} and (result.results["af_attempts"] == 1).all()
    lost = result.errors[result.errors["reason"] == "session_lost"]
    assert len(lost) == 1 and lost["scope"].iloc[0] == "session"
    assert _paths(emulator, "POST", "/v1/sessions/async"), "no async session was requested"
    assert len(result.sessions) == 3


def test_no_credits_is_a_clear_error_before_any_row_fails(site):
    """402 from the API raises PaymentRequiredError at once; no row is marked failed."""
    with Emulator(seed=1, credit_limit=0) as emu:
        with pytest.raises(PaymentRequiredError, match=r"(?i)credit"):
            af.scrape(site.pages(3), heading, backend=anchor_backend(emu), **FAST)
        partial = af.last_result()
        assert partial is not None and "failed" not in set(partial.results["af_status"])


def test_a_bad_key_is_a_clear_error_that_does_not_show_the_key(emulator, site):
    """401 raises AuthenticationError whose message does not contain the key."""
    backend = AnchorBackend(
        "wrong-key-123456", base_url=emulator.base_url, poll_interval=0.2, min_poll_interval=0.1
    )
    with pytest.raises(AuthenticationError) as caught:
        af.scrape(site.pages(2), heading, backend=backend, **FAST)
    assert "wrong-key-123456" not in str(caught.value) and "wrong-key-123456" not in repr(backend)


def test_429_and_500_bursts_are_survived(site):
    """With a third of API calls answered 429 or 500, the run still ends with every row ok."""
    with Emulator(seed=5, rate_limit=0.2, server_error=0.15, retry_after=0.1) as emu:
        result = af.scrape(site.pages(12), heading, backend=anchor_backend(emu), sessions=2, tabs=2, **FAST)
        assert set(result.results["af_status"]) == {"ok"}
        statuses = {r.status for r in emu.requests}
        assert 429 in statuses and 500 in statuses
        time.sleep(0.5)
        assert emu.live_sessions == 0


def test_nothing_left_after_an_exception(emulator, site):
    """An exception escaping the run still ends every cloud session."""

    async def stop(page, row):
        await page.goto(row.url)
        raise SystemExit("stop")

    with pytest.raises(SystemExit):
        af.scrape(site.pages(4), stop, backend=anchor_backend(emulator), **FAST)
    assert emulator.live_sessions == 0


def test_nothing_left_after_a_cancellation(emulator, site):
    """Cancelling ascrape() mid-run ends every cloud session; the partial result has every row."""

    async def slow(page, row):
        await page.goto(row.url)
        await asyncio.sleep(30)

    async def main():
        task = asyncio.ensure_future(
            af.ascrape(site.pages(6), slow, backend=anchor_backend(emulator), **FAST)
        )
        while emulator.live_sessions == 0:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert emulator.live_sessions == 0
    partial = af.last_result()
    assert (
        partial is not None and len(partial.results) == 6 and set(partial.results["af_status"]) == {"skipped"}
    )


def test_nothing_left_after_sigint_to_a_script(emulator, site, tmp_path):
    """SIGINT delivered to a script mid-run: the script stops and every cloud session is ended."""
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(f"""
        import asyncio, anchorframe as af
        async def slow(page, row):
            await page.goto(row.url)
            await asyncio.sleep(60)
        af.scrape({site.pages(6)!r}, slow, backend="anchor", progress=False)
    """)
    )
    env = {**os.environ, "ANCHOR_API_KEY": emulator.api_key, "ANCHOR_BASE_URL": emulator.base_url}
    process = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while emulator.live_sessions == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert emulator.live_sessions > 0
        time.sleep(2)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode != 0 and "RunInterrupted" in stderr
    assert emulator.api_key not in stderr
    time.sleep(0.5)
    assert emulator.live_sessions == 0


def test_secrets_never_reach_frames_summary_or_logs(site, caplog):
    """The key and CDP URLs are absent from results, errors, sessions, summary and DEBUG logs."""
    caplog.set_level(logging.DEBUG)
    with Emulator(seed=11, fail_provision=0.4) as emu:
        result = af.scrape(
            [*site.pages(6), site.url("/status/500")],
            heading,
            backend=anchor_backend(emu),
            sessions=2,
            retries=0,
            **FAST,
        )
        texts = [
            result.results.to_csv(),
            result.errors.to_csv(),
            result.sessions.to_csv(),
            result.summary(),
            result._repr_html_(),
            repr(result),
            caplog.text,
        ]
        for text in texts:
            assert emu.api_key not in text
            assert "/devtools/browser/" not in text and "ws://" not in text


def test_reap_ends_what_a_crashed_run_left(emulator):
    """Sessions tagged with a run's id are found by reap() through the session listing and ended."""
    with AnchorClient(emulator.api_key, base_url=emulator.base_url) as client:
        mine = client.create_batch(2, configuration={"session": {"tags": run_tags("crashed-run")}})
        client.wait_batch(mine.batch_id, initial_interval=0.2)
        other = client.create_batch(1, configuration={"session": {"tags": ["someone-else"]}})
        client.wait_batch(other.batch_id, initial_interval=0.2)
    assert emulator.live_sessions == 3
    preview = reap(api_key=emulator.api_key, base_url=emulator.base_url, dry_run=True)
    assert set(preview["action"]) == {"would end"} and len(preview) == 2 and emulator.live_sessions == 3
    done = reap(run_id="crashed-run", api_key=emulator.api_key, base_url=emulator.base_url)
    assert list(done["action"]) == ["ended", "ended"] and set(done["run"]) == {"crashed-run"}
    assert emulator.live_sessions == 1  # the batch of someone else is left alone
    with AnchorClient(emulator.api_key, base_url=emulator.base_url) as client:
        for batch in client.list_batches().batches:
            client.delete_batch(batch.batch_id)


def test_auto_picks_anchor_when_a_key_is_set(monkeypatch, emulator):
    """backend='auto' is Anchor with a key in the environment, local without."""
    from anchorframe._run.options import resolve_backend

    assert resolve_backend("auto").name == "local"
    monkeypatch.setenv("ANCHOR_API_KEY", emulator.api_key)
    monkeypatch.setenv("ANCHOR_BASE_URL", emulator.base_url)
    chosen = resolve_backend("auto")
    assert chosen.name == "anchor" and emulator.api_key not in repr(chosen)
    assert isinstance(pd.DataFrame(), pd.DataFrame)


def test_poll_interval_ramps_to_the_documented_backoff():
    """Polls start at the minimum, ramp x1.5 to 5 s before any session, then back off to 30 s."""
    from anchorframe.backends._anchor_polling import next_poll_interval

    def series(any_ready, steps, start=1.0):
        out, interval = [], start
        for _ in range(steps):
            interval = next_poll_interval(
                interval, fresh=False, any_ready=any_ready, minimum=1, documented=5, cap=30
            )
            out.append(round(interval, 2))
        return out

    assert series(False, 6) == [1.5, 2.25, 3.38, 5, 5, 5]
    assert series(True, 6, start=5.0) == [7.5, 11.25, 16.88, 25.31, 30, 30]
    assert next_poll_interval(30, fresh=True, any_ready=True, minimum=1, documented=5, cap=30) == 1
