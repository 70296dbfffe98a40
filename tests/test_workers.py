"""workers=N: several driver processes, one result, every row exactly once.

Most tests run the shards on the in-memory FakeBackend (real child processes, no
browser): each page load appends "pid url" to a file, so the test sees which
process fetched what. The last test runs real Chromium under the browser lock.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

import anchorframe as af
from anchorframe._core.options import EngineOptions
from anchorframe._core.plan import plan_sessions
from anchorframe._core.table import Work, prepare_input
from anchorframe._engine.engine import Engine
from anchorframe.backends._chromium import live_chromium_pids
from anchorframe.backends.fake import FakeBackend, FakeDocument, FakeError
from anchorframe.errors import InputError

from .killing import scrape_and_kill

URLS = [f"https://shop.test/item/{n}" for n in range(120)]
QUIET = {"progress": False, "backoff": 0.01}


class Recorder:
    """FakeBackend documents that log "pid url" per load (picklable: it travels to the shards)."""

    def __init__(self, path: Path, delay: float = 0.01, missing: frozenset[str] = frozenset()) -> None:
        self.path = str(path)
        self.delay = delay
        self.missing = missing

    def __call__(self, url: str) -> FakeDocument:
        with open(self.path, "a") as log:
            log.write(f"{os.getpid()} {url}\n")
        if url in self.missing:
            return FakeDocument(error=FakeError("net::ERR_NAME_NOT_RESOLVED"))
        return FakeDocument(texts={"h1": url}, delay=self.delay)

    def loads(self) -> list[tuple[int, str]]:
        if not os.path.exists(self.path):
            return []
        with open(self.path) as log:
            return [(int(pid), url) for pid, url in (line.split() for line in log if line.strip())]


async def heading(page, row):
    await page.goto(row.url)
    return {"h1": await page.inner_text("h1")}


def shard_pids() -> list[int]:
    """Live shard processes started by this test process."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "anchorframe._scale.shard" in " ".join(child.cmdline() or []):
                found.append(child.pid)
        except psutil.Error:  # ended (or a zombie) meanwhile
            continue
    return found


def test_two_workers_return_one_result_with_every_row_once(tmp_path):
    recorder = Recorder(tmp_path / "loads.txt")
    frame = pd.DataFrame({"url": URLS, "n": range(len(URLS))}, index=[f"r{n}" for n in range(len(URLS))])
    result = af.scrape(
        frame.iloc[::-1], heading, backend=FakeBackend(recorder), workers=2, sessions=2, tabs=2, **QUIET
    )
    assert result.results.index.tolist() == frame.index[::-1].tolist()
    assert (result.results["h1"] == result.results["url"]).all()
    assert (result.results["af_status"] == "ok").all()
    loads = recorder.loads()
    assert sorted(url for _, url in loads) == sorted(URLS)  # every URL fetched exactly once
    assert len({pid for pid, _ in loads}) == 2 and os.getpid() not in {pid for pid, _ in loads}
    sessions = result.sessions
    assert sorted(sessions["worker"]) == ["0", "1"] and sessions["session"].is_unique
    assert set(result.results["af_session"]) <= set(sessions["session"])
    assert (sessions["worker_cpu_ms_per_row"] > 0).all()  # measured in each shard during the run
    assert shard_pids() == []


def test_a_killed_shard_has_its_rows_finished_by_the_other_without_refetching_ok_rows(tmp_path):
    recorder = Recorder(tmp_path / "loads.txt", delay=0.05)
    outcome: dict[str, af.ScrapeResult] = {}
    run = threading.Thread(
        target=lambda: outcome.update(
            result=af.scrape(
                URLS, heading, backend=FakeBackend(recorder), workers=2, sessions=2, tabs=2, **QUIET
            )
        )
    )
    run.start()
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        by_pid = collections.Counter(pid for pid, _ in recorder.loads())
        ready = [pid for pid, count in by_pid.items() if count >= 15]
        if ready and sum(by_pid.values()) < len(URLS) - 30:
            victim = ready[0]
            os.kill(victim, signal.SIGKILL)
        time.sleep(0.01)
    run.join(60)
    assert victim is not None and "result" in outcome
    result = outcome["result"]
    assert (result.results["af_status"] == "ok").all()
    loads = recorder.loads()
    first = {}
    for pid, url in loads:
        first.setdefault(url, pid)
    twice = [url for url, count in collections.Counter(url for _, url in loads).items() if count > 1]
    # Only rows in flight on the killed shard (its 1 session x 2 tabs) can be fetched again.
    assert len(twice) <= 2 and all(first[url] == victim for url in twice)
    assert "worker_lost" in result.errors["reason"].tolist()
    assert "lost" in result.sessions["state"].tolist()
    assert shard_pids() == []


def test_a_cancelled_run_stops_every_shard_and_keeps_the_rows_done(tmp_path):
    recorder = Recorder(tmp_path / "loads.txt", delay=0.05)

    async def main():
        task = asyncio.ensure_future(
            af.ascrape(URLS, heading, backend=FakeBackend(recorder), workers=2, sessions=2, tabs=2, **QUIET)
        )
        while len(recorder.loads()) < 20:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    partial = af.last_result()
    assert partial is not None and partial.interrupted
    counts = partial.results["af_status"].value_counts()
    assert counts.get("ok", 0) >= 10 and counts.get("skipped", 0) > 0
    assert counts.sum() == len(URLS)
    assert shard_pids() == []


def test_a_checkpoint_written_by_two_workers_is_resumed_by_three(tmp_path):
    missing = frozenset(URLS[:5])
    recorder = Recorder(tmp_path / "loads.txt", missing=missing)
    path = tmp_path / "run.parquet"
    first = af.scrape(
        URLS, heading, backend=FakeBackend(recorder), workers=2, checkpoint=path, retries=0, **QUIET
    )
    assert (first.results["af_status"] == "failed").sum() == 5
    Path(recorder.path).unlink()
    fixed = Recorder(tmp_path / "loads.txt")
    again = af.scrape(URLS, heading, backend=FakeBackend(fixed), workers=3, checkpoint=path, **QUIET)
    assert (again.results["af_status"] == "ok").all()
    assert sorted(url for _, url in fixed.loads()) == sorted(missing)  # only the rows not ok before
    assert (af.load_checkpoint(path).results["af_status"] == "ok").all()


def test_a_backend_that_cannot_start_raises_its_error_in_the_caller(tmp_path):
    from anchorframe.errors import BrowserNotFoundError

    backend = af.LocalBackend(executable_path=str(tmp_path / "no-chromium"))
    with pytest.raises(BrowserNotFoundError):
        af.scrape(URLS[:4], heading, backend=backend, workers=2, **QUIET)
    assert shard_pids() == []


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"workers": 0}, "workers must be a whole number >= 1"),
        ({"workers": 1.5}, "workers must be a whole number"),
        ({"cluster": 3}, "cluster must be a dask.distributed.Client"),
        ({"out": 3}, "out must be a directory path"),
    ],
)
def test_scale_out_options_are_checked_before_anything_starts(options, words):
    with pytest.raises(InputError, match=words):
        af.scrape(URLS, heading, backend=FakeBackend(), **options)


def test_a_scraper_that_cannot_travel_to_a_shard_is_refused_with_the_fix():
    class Holder:
        def __init__(self):
            self.lock = threading.Lock()

        async def __call__(self, page, row):
            return None

    with pytest.raises(InputError, match="top level of a module"):
        af.scrape(URLS[:4], Holder(), backend=FakeBackend(), workers=2, **QUIET)
    assert shard_pids() == []


# ----------------------------------------------------------------- feed mode
def test_feed_mode_runs_rows_as_they_come_and_ends_when_closed_and_drained():
    backend = FakeBackend(lambda url: FakeDocument(texts={"h1": url}, delay=0.005))
    table = prepare_input(URLS, None)
    all_work, table.work = table.work, []
    done: list[str] = []

    def observe(event, state):
        if event.name == "row_done":
            done.append(event.detail.url)

    async def main():
        engine = Engine(
            table, heading, backend, plan_sessions(40, sessions=2, tabs=2), EngineOptions(),
            run_id="feed", observer=observe, feed=True,
        )  # fmt: skip
        run = asyncio.ensure_future(engine.run())
        for start in range(0, len(all_work), 30):
            engine.feed([Work(w.key, w.url, w.positions) for w in all_work[start : start + 30]])
            await asyncio.sleep(0.05)
            assert not run.done()  # drained but not closed: the sessions wait for more
        engine.close_feed()
        await asyncio.wait_for(run, 10)
        return engine

    engine = asyncio.run(main())
    assert sorted(done) == sorted(URLS) and sum(backend.hits.values()) == len(URLS)
    assert engine.outstanding == 0 and backend.live == 0


def test_rows_fed_to_a_stopped_run_stay_unresolved_not_failed():
    """A shard stopped mid-run may still be fed (its next partition was being read): those rows were
    never tried, so they come back 'skipped' for a resume, not failed for want of sessions."""
    backend = FakeBackend(lambda url: FakeDocument(texts={"h1": url}, delay=0.005))
    table = prepare_input(URLS, None)
    all_work, table.work = table.work, []
    done: list[Work] = []

    def observe(event, state):
        if event.name == "row_done":
            done.append(event.detail)

    async def main():
        engine = Engine(
            table, heading, backend, plan_sessions(40, sessions=2, tabs=2), EngineOptions(),
            run_id="feed", observer=observe, feed=True,
        )  # fmt: skip
        run = asyncio.ensure_future(engine.run())
        engine.feed([Work(w.key, w.url, w.positions) for w in all_work[:10]])
        while len(done) < 10:
            await asyncio.sleep(0.01)
        run.cancel()  # the caller's stop
        with contextlib.suppress(asyncio.CancelledError):
            await run
        late = [Work(w.key, w.url, w.positions) for w in all_work[10:20]]
        engine.feed(late)  # arrives while (after) the sessions are let go
        return late

    late = asyncio.run(main())
    assert len(done) == 10 and {w.status for w in done} == {"ok"}
    assert {w.status for w in late} == {None}  # not 'failed' with reason no_sessions


@pytest.mark.slow
def test_two_workers_on_local_chromium_and_a_killed_shard(site, no_chromium_left):
    """Real Chromium per shard; one shard SIGKILLed: every row ok, no ok row fetched twice, nothing left."""
    urls = [site.url(f"/slow?s=0.05&n={n}") for n in range(80)]
    seen_chromium: set[int] = set()

    def choose() -> int | None:
        pids = shard_pids()
        return pids[0] if site.hits["/slow"] >= 20 and len(pids) == 2 else None

    result, _ = scrape_and_kill(
        lambda: af.scrape(
            urls, extract={"h1": "h1"}, render="browser", backend="local", workers=2, tabs=2, **QUIET
        ),
        choose,
        watch=lambda: seen_chromium.update(live_chromium_pids()),
    )
    assert (result.results["af_status"] == "ok").all()
    assert site.hits["/slow"] <= len(urls) + 2  # at most the killed shard's 2 rows in flight, again
    assert not [
        pid for pid in seen_chromium if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ]
    assert shard_pids() == []


def test_api_keys_travel_in_the_environment_never_in_the_spec(monkeypatch):
    """The spec a shard receives has no key; the child's environment (or a Dask worker's) has it."""
    import pickle

    from anchorframe._core.options import OPTIONS
    from anchorframe._run.options import check_options
    from anchorframe._scale.shards import shard_spec
    from anchorframe.backends._base import FromEnv

    key = "sk-test-never-in-a-message-123"
    defaults = {option.name: option.default for option in OPTIONS}
    arguments = {**defaults, "data": URLS, "fn": None, "backend": af.AnchorBackend(api_key=key), "workers": 2}
    options = check_options(arguments)
    table = prepare_input(URLS, None)
    spec, env = shard_spec(table, options, for_cluster=False)
    assert key.encode() not in spec and list(env.values()) == [key]
    backend = pickle.loads(pickle.loads(spec).payload)["backend"]
    assert isinstance(backend._api_key, FromEnv) and key not in repr(vars(backend))
    monkeypatch.setenv(next(iter(env)), key)
    assert backend.arrived().secrets() == (key,)
    cluster_spec, _ = shard_spec(table, options, for_cluster=True)
    on_worker = pickle.loads(pickle.loads(cluster_spec).payload)["backend"]
    assert on_worker._api_key.names == ("ANCHOR_API_KEY", "ANCHORBROWSER_API_KEY")
    assert options.backend.secrets() == (key,)  # the caller's backend keeps its key


def test_ctrl_c_in_a_terminal_stops_every_shard_and_reports_the_partial_result(tmp_path):
    """SIGINT reaches the caller only (shards have their own session); it stops them in order."""
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(
        "import sys\n"
        "import anchorframe as af\n"
        "from anchorframe.backends.fake import FakeBackend\n"
        "from tests.test_workers import URLS, Recorder, heading\n"
        f"recorder = Recorder({str(tmp_path / 'loads.txt')!r}, delay=0.2)\n"
        "try:\n"
        "    af.scrape(URLS, heading, backend=FakeBackend(recorder), workers=2, progress=False)\n"
        "except af.RunInterrupted as exc:\n"
        "    counts = exc.partial.counts\n"
        "    print('interrupted', counts['ok'], counts['skipped'], flush=True)\n"
    )
    root = Path(__file__).resolve().parent.parent
    child = subprocess.Popen(
        [sys.executable, str(script)], cwd=root, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    recorder = Recorder(tmp_path / "loads.txt")
    deadline = time.monotonic() + 60
    while len(recorder.loads()) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    shards = [
        p.pid
        for p in psutil.Process(child.pid).children()
        if "anchorframe._scale.shard" in " ".join(p.cmdline())
    ]
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=60)
    words = out.split()
    assert words[0] == "interrupted" and int(words[1]) >= 1 and int(words[2]) > 0
    assert len(shards) == 2 and not [pid for pid in shards if psutil.pid_exists(pid)]


@pytest.mark.slow
def test_two_workers_on_the_emulator_with_a_killed_shard_leave_no_live_session(site):
    """Anchor (the project's emulator): the key reaches the shards through their environment; the
    killed shard's session is ended by the caller; every row ok, none fetched twice when ok."""
    from anchorframe.emulator import Emulator

    urls = [site.url(f"/slow?s=0.05&n={n}") for n in range(60)]
    with Emulator(seed=13) as emu:
        backend = af.AnchorBackend(emu.api_key, base_url=emu.base_url)

        def choose() -> int | None:
            pids = shard_pids()
            return pids[0] if site.hits["/slow"] >= 15 and len(pids) == 2 else None

        result, _ = scrape_and_kill(
            lambda: af.scrape(
                urls,
                extract={"h1": "h1"},
                render="browser",
                backend=backend,
                workers=2,
                sessions=2,
                tabs=2,
                **QUIET,
            ),
            choose,
        )
        assert (result.results["af_status"] == "ok").all()
        assert site.hits["/slow"] <= len(urls) + 2
        assert "worker_lost" in result.errors["reason"].tolist()
        deadline = time.monotonic() + 20
        while emu.live_sessions and time.monotonic() < deadline:
            time.sleep(0.1)
        assert emu.live_sessions == 0
    assert shard_pids() == []


async def exit_at_once(page, row):
    os._exit(3)  # the shard process dies hard, as a crash would


def test_when_every_shard_dies_the_rows_come_back_failed_instead_of_hanging():
    result = af.scrape(URLS[:10], exit_at_once, backend=FakeBackend(), workers=2, **QUIET)
    assert result.results["af_reason"].tolist() == ["no_sessions"] * 10
    assert "exit codes [3, 3]" in result.results["af_error"].iloc[0]
    assert (result.errors["reason"] == "worker_lost").sum() == 2
    assert shard_pids() == []


def test_shards_use_the_anchor_key_from_their_environment_and_report_a_fatal_error():
    """An Anchor backend whose API cannot be reached: each shard restores the key and fails the
    way a single process does; the caller raises that error (no browser is started)."""
    from anchorframe.errors import APIConnectionError

    backend = af.AnchorBackend("sk-test-key", base_url="http://127.0.0.1:9")
    with pytest.raises(APIConnectionError, match="Could not reach the Anchor API"):
        af.scrape(URLS[:6], heading, backend=backend, workers=2, sessions=2, connect_timeout=5, **QUIET)
    assert shard_pids() == []


class FailingFirstShard(FakeBackend):
    """Every session of shard 0 fails to provision; shard 1's work."""

    def open_pool(self, run_id, plan=None):
        if os.environ.get("ANCHORFRAME_SHARD_INDEX") == "0":
            self.fail_provision = frozenset(range(1, 100))
        return super().open_pool(run_id, plan)


def test_a_shard_without_sessions_stops_taking_rows_and_the_other_finishes_them(tmp_path):
    recorder = Recorder(tmp_path / "loads.txt")
    backend = FailingFirstShard(recorder)
    result = af.scrape(URLS, heading, backend=backend, workers=2, sessions=2, max_replacements=1, **QUIET)
    counts = result.results["af_status"].value_counts()
    # Shard 0 held its first rows when its sessions ran out (they fail no_sessions, as in one
    # process); every other row was done by shard 1.
    assert counts["ok"] >= len(URLS) - 8 and 1 <= counts.get("failed", 0) <= 8
    assert len(recorder.loads()) == counts["ok"]


class Intervals:
    """FakeBackend documents that log when each load starts (each takes ``delay`` s)."""

    def __init__(self, path: Path, delay: float) -> None:
        self.path = str(path)
        self.delay = delay

    def __call__(self, url: str) -> FakeDocument:
        with open(self.path, "a") as log:
            log.write(f"{time.time()}\n")
        return FakeDocument(texts={"h1": url}, delay=self.delay)

    def starts(self) -> list[float]:
        with open(self.path) as log:
            return sorted(float(line) for line in log if line.strip())

    def most_at_once(self) -> int:
        with open(self.path) as log:
            starts = sorted(float(line) for line in log if line.strip())
        events = sorted([(t, 1) for t in starts] + [(t + self.delay * 0.95, -1) for t in starts])
        most = now = 0
        for _, step in events:
            now += step
            most = max(most, now)
        return most


def test_per_site_holds_for_the_whole_run_across_shards(tmp_path):
    """per_site=2 with 2 shards of 1 session x 2 tabs: each shard keeps to 1, so the site never has
    more than 2 rows in flight (4 tabs could take 4)."""
    documents = Intervals(tmp_path / "starts.log", delay=0.05)
    urls = [f"https://one-site.test/item/{n}" for n in range(40)]
    result = af.scrape(
        urls, heading, backend=FakeBackend(documents), workers=2, sessions=2, tabs=2, per_site=2, **QUIET
    )
    assert set(result.results["af_status"]) == {"ok"}
    assert documents.most_at_once() <= 2


def test_per_site_below_the_workers_starts_no_more_shards_than_it_allows(tmp_path):
    """per_site=1 with workers=3: one row at a time at the site, whatever the shards."""
    documents = Intervals(tmp_path / "starts.log", delay=0.05)
    urls = [f"https://one-site.test/item/{n}" for n in range(12)]
    result = af.scrape(urls, heading, backend=FakeBackend(documents), workers=3, tabs=2, per_site=1, **QUIET)
    assert set(result.results["af_status"]) == {"ok"}
    assert documents.most_at_once() == 1
    assert result.sessions["worker"].nunique() == 1  # the per_site share of one shard


def test_min_delay_holds_for_all_shards_together(tmp_path):
    """min_delay=0.1 with 2 shards: the site's starts come no faster than one every 0.1 s overall."""
    documents = Intervals(tmp_path / "starts.log", delay=0.01)
    urls = [f"https://one-site.test/item/{n}" for n in range(16)]
    result = af.scrape(urls, heading, backend=FakeBackend(documents), workers=2, min_delay=0.1, **QUIET)
    assert set(result.results["af_status"]) == {"ok"}
    assert result.sessions["worker"].nunique() == 2
    starts = documents.starts()
    # Each shard spaces its own starts 2 x 0.1 s apart: 16 starts take at least 7 x 0.2 s.
    assert starts[-1] - starts[0] >= 0.2 * 7 * 0.95


def test_one_process_and_two_workers_give_frames_of_the_same_shape(site, no_chromium_left):
    """One process and workers=2: same frames and columns, attempts and busy/idle seconds included."""
    urls = [site.url(f"/slow?s=0.02&n={n}") for n in range(16)] + ["ftp://nope.test/x"]
    frame = pd.DataFrame({"url": urls}, index=[f"r{n}" for n in range(len(urls))])
    options = {"extract": {"h1": "h1"}, "render": "browser", "backend": "local", "tabs": 2, **QUIET}
    one = af.scrape(frame, **options)
    two = af.scrape(frame, workers=2, **options)
    for kept in (one, two):
        assert kept.results["af_status"].tolist() == ["ok"] * 16 + ["invalid"]
        assert len(kept.attempts) == 16  # one attempt row per attempt
        assert set(kept.attempts["session"]) <= set(kept.sessions["session"])
        assert kept.attempts["row"].tolist() != [] and set(kept.attempts["row"]) == set(frame.index[:16])
        assert kept.sessions["busy_s"].notna().all() and (kept.sessions["busy_s"] > 0).all()
        assert kept.sessions["idle_s"].notna().all()
    assert one.results.columns.tolist() == two.results.columns.tolist()
    assert two.results["af_http_status"].tolist() == one.results["af_http_status"].tolist()  # 200s, <NA>
    assert one.results.index.tolist() == two.results.index.tolist()
    assert one.errors.columns.tolist() == two.errors.columns.tolist()
    assert one.attempts.columns.tolist() == two.attempts.columns.tolist()
    assert one.attempts.dtypes.tolist() == two.attempts.dtypes.tolist()
    # workers= adds which worker held each session and what a row cost it; the rest is the same
    assert [c for c in two.sessions.columns if c not in ("worker", "worker_cpu_ms_per_row")] == list(
        one.sessions.columns
    )
    assert two.sessions["worker"].notna().all()
    assert shard_pids() == []


def test_a_backend_with_a_secret_it_cannot_leave_out_is_refused_for_workers():
    """A Backend keeping a secret without saying how it travels is refused before anything starts."""

    class KeyedFake(FakeBackend):
        def secrets(self) -> tuple[str, ...]:
            return ("sk-cannot-travel",)

    with pytest.raises(InputError, match="cannot leave it out of the messages") as caught:
        af.scrape(URLS, heading, backend=KeyedFake(Recorder(Path(os.devnull))), workers=2, **QUIET)
    assert "sk-cannot-travel" not in str(caught.value)
    plain = FakeBackend(Recorder(Path(os.devnull)))
    assert plain.for_another_process(for_cluster=False) == (plain, {})
