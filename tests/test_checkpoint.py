"""Checkpoints: rows written as they finish, a killed run resumed, a changed input refused."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

import anchorframe as af
from anchorframe._core.events import ROW_DONE, Event, RunState
from anchorframe._core.table import prepare_input
from anchorframe._store import checkpoint as _checkpoint
from anchorframe.errors import InputError
from anchorframe.extract import check_response

pytestmark = pytest.mark.usefixtures("no_chromium_left")

FAST = {"progress": False, "backoff": 0.01, "retries": 0}


async def page_with_extras(page, row):
    response = await page.goto(row.url)
    check_response(response, row.url)
    return {
        "heading": await page.inner_text("h1"),
        "meta": {"n": row.n, "tags": ["a", "b"]},
        "shot": await page.screenshot(type="png", clip={"x": 0, "y": 0, "width": 8, "height": 8}),
    }


def _wait_gone(processes: list[psutil.Process], timeout: float = 15) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:  # we started them (through the killed run): do not leave them behind
        try:
            process.kill()
        except psutil.Error:
            pass
    return alive


def test_killed_run_resumes_without_scraping_ok_rows_twice(tmp_path, site):
    """SIGKILL mid-run leaves a readable checkpoint; the resume scrapes only what was not ok, once."""
    source = tmp_path / "urls.csv"
    urls = [site.url(f"/js/{n}?delay=250") for n in range(40)]
    pd.DataFrame({"url": urls, "n": range(40)}).to_csv(source, index=False)
    checkpoint = tmp_path / "run.parquet"
    # render browser: a page loads once per attempt, which the hit counts below check.
    command = [
        sys.executable, "-m", "anchorframe", "scrape", str(source), "--extract", "name=h1",
        "--out", str(tmp_path / "never.parquet"), "--checkpoint", str(checkpoint),
        "--sessions", "1", "--tabs", "2", "--retries", "0", "--no-progress", "--render", "browser",
    ]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    descendants: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        done_at_kill = 0
        while time.monotonic() < deadline and child.poll() is None:
            descendants = [*{p.pid: p for p in [*descendants, *_children(child.pid)]}.values()]
            try:
                done_at_kill = af.load_checkpoint(checkpoint).counts["ok"]
            except InputError:
                pass  # not created yet
            if done_at_kill >= 6:
                break
            time.sleep(0.1)
        descendants = [*{p.pid: p for p in [*descendants, *_children(child.pid)]}.values()]
        assert child.poll() is None, f"the run ended before it could be killed: {child.stderr.read()}"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        child.stderr.close()
        left = _wait_gone(descendants)
    assert left == [], f"Chromium outlived the killed run: {left}"

    killed = af.load_checkpoint(checkpoint)  # readable after SIGKILL, with no run ended
    ok_before = set(killed.results.loc[killed.results["af_status"] == "ok", "url"])
    assert 6 <= len(ok_before) < 40 and killed.interrupted
    assert set(killed.results["af_status"]) <= {"ok", "skipped"}
    hits_before = dict(site.hits)

    frame = pd.read_csv(source)
    result = af.scrape(frame, extract={"name": "h1"}, checkpoint=checkpoint, sessions=1, tabs=2,
                       render="browser", **FAST)  # fmt: skip
    out = result.results
    assert list(out.index) == list(frame.index) and list(out["n"]) == list(range(40))
    assert set(out["af_status"]) == {"ok"} and list(out["name"]) == [f"Page {n}" for n in range(40)]
    for n, url in enumerate(urls):
        path = f"/js/{n}"
        if url in ok_before:
            assert site.hits[path] == 1, f"{path} was ok in the checkpoint but scraped again"
        else:
            assert site.hits[path] - hits_before.get(path, 0) == 1
    reloaded = af.load_checkpoint(checkpoint).results
    assert reloaded["af_status"].tolist() == ["ok"] * 40 and reloaded["name"].tolist() == out["name"].tolist()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def test_rerun_keeps_ok_rows_redoes_failed_ones_and_loads_back(tmp_path, site):
    """A second run scrapes only the failed row (attempts add up); load_checkpoint gives the same rows."""
    frame = pd.DataFrame(
        {"url": [*site.pages(3), site.url("/status/404"), None], "n": range(5)},
        index=pd.Index(list("abcde"), name="key"),
    )
    checkpoint = tmp_path / "ck.parquet"
    first = af.scrape(frame, page_with_extras, checkpoint=checkpoint, **FAST)
    assert first.counts == {"ok": 3, "failed": 1, "invalid": 1, "skipped": 0}
    second = af.scrape(frame, page_with_extras, checkpoint=checkpoint, **FAST)
    assert site.hits["/page/0"] == 1 and site.hits["/status/404"] == 2
    out = second.results
    assert out.loc["d", "af_attempts"] == 2 and out.loc["d", "af_status"] == "failed"
    assert out.loc["a", "meta"] == {"n": 0, "tags": ["a", "b"]}
    assert out.loc["a", "shot"][:8] == b"\x89PNG\r\n\x1a\n"
    loaded = af.load_checkpoint(checkpoint)
    pd.testing.assert_frame_equal(loaded.results, out)
    assert set(loaded.errors["stage"].astype(str)) == {"validate", "scrape"}
    assert len(loaded.errors[loaded.errors["stage"] == "validate"]) == 1
    assert len(loaded.sessions) == 2


def test_a_finished_checkpoint_starts_no_browser(tmp_path, site):
    """When every row is already ok in the checkpoint, a rerun answers from it alone."""
    urls = site.pages(3)
    checkpoint = tmp_path / "ck.parquet"
    af.scrape(urls, extract={"h": "h1"}, checkpoint=checkpoint, **FAST)
    again = af.scrape(urls, extract={"h": "h1"}, checkpoint=checkpoint, **FAST)
    assert len(again.sessions) == 0 and again.results["h"].tolist() == ["Page 0", "Page 1", "Page 2"]
    assert all(site.hits[f"/page/{n}"] == 1 for n in range(3))


def test_changed_input_is_refused_and_overwrite_starts_afresh(tmp_path, site):
    """Another input with the same checkpoint raises InputError naming the fix; overwrite redoes all."""
    checkpoint = tmp_path / "ck.parquet"
    frame = pd.DataFrame({"url": site.pages(2), "n": [1, 2]})
    af.scrape(frame, extract={"h": "h1"}, checkpoint=checkpoint, **FAST)
    changed = frame.assign(n=[1, 3])
    with pytest.raises(InputError, match=r"different input.*checkpoint_overwrite=True"):
        af.scrape(changed, extract={"h": "h1"}, checkpoint=checkpoint, **FAST)
    with pytest.raises(InputError, match=r"different input \(2 rows"):
        af.scrape(frame.head(1), extract={"h": "h1"}, checkpoint=checkpoint, **FAST)
    redone = af.scrape(changed, extract={"h": "h1"}, checkpoint=checkpoint, checkpoint_overwrite=True, **FAST)
    assert redone.counts["ok"] == 2 and site.hits["/page/0"] == 2
    assert af.load_checkpoint(checkpoint).results["n"].tolist() == [1, 3]


def test_a_file_in_the_way_is_refused(tmp_path):
    """A checkpoint path that is an ordinary file is an InputError, and the file is left alone."""
    path = tmp_path / "results.parquet"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="is a file"):
        af.scrape(["https://a.test/1"], extract={"h": "h1"}, checkpoint=path, **FAST)
    assert path.read_bytes() == b"not a checkpoint"
    with pytest.raises(InputError, match="no such directory"):
        af.load_checkpoint(tmp_path / "missing")


def test_writer_keeps_up_with_100k_rows_off_the_event_loop(tmp_path):
    """Recording 100,000 finished rows costs the event loop well under a second; all reach disk."""
    table = prepare_input([f"https://shop.test/p/{n}" for n in range(100_000)])
    writer, resume = _checkpoint.open_checkpoint(tmp_path / "ck", table, page_with_extras)
    assert len(resume.remaining) == 100_000
    state = RunState(backend="local", rows_total=100_000, urls_total=100_000, sessions_planned=1, tabs=1)

    async def feed() -> float:
        # The loop thread's own CPU time: what the observer costs it, whatever else the machine runs.
        started = time.thread_time()
        for item in table.work:
            item.status, item.value, item.attempts = "ok", {"price": item.key}, 1
            writer(Event(ROW_DONE, "s1", item), state)
        return time.thread_time() - started

    on_loop = asyncio.run(feed())
    writer.close()
    assert on_loop < 1.0, f"the observer took {on_loop:.2f} s of CPU on the event loop's thread"
    records = _checkpoint.read_records(tmp_path / "ck")
    assert len(records) == 100_000 and records[99_999]["value"] == {"price": 99_999}
