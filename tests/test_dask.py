"""cluster=: shards as tasks on a real Dask cluster (a scheduler and two workers, separate processes).

The scheduler and workers are started with the ``dask`` command line on 127.0.0.1;
one worker is SIGKILLed mid-run: every row comes back once, no row reported ok is
fetched again, and nothing the run started is left.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

import anchorframe as af
from anchorframe.backends.fake import FakeBackend

from .killing import fetched_twice, loaded_enough, scrape_and_kill
from .test_workers import QUIET, URLS, Recorder, heading

pytest.importorskip("distributed")

DASK = str(Path(sys.executable).with_name("dask"))


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([DASK, *args], stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two workers (no nanny: a killed worker stays dead), ended after the test."""
    scheduler_file = tmp_path / "scheduler.json"
    log = tmp_path / "dask.log"
    processes = [
        _start(
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file)],
            log,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            processes.append(
                _start(
                    ["worker", address, "--host", "127.0.0.1", "--nthreads", "2", "--no-nanny",
                     "--no-dashboard", "--death-timeout", "30"],
                    log,
                )
            )  # fmt: skip
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            yield {"address": address, "workers": processes[1:], "log": log}
    finally:
        # The workers first, while their scheduler still answers (a worker whose scheduler is
        # gone waits for it before it exits: 20 s of teardown, sometimes), then the scheduler.
        for group in (processes[1:], processes[:1]):
            for process in group:
                if process.poll() is None:
                    process.terminate()
            for process in group:
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def shards_by_worker(cluster: dict[str, Any]) -> dict[subprocess.Popen[bytes], list[int]]:
    """Each Dask worker of the ``cluster`` fixture and its shard processes (the PIDs that load pages)."""
    return {worker: _shards_of(worker) for worker in cluster["workers"]}


def _shards_of(worker: subprocess.Popen[bytes]) -> list[int]:
    try:
        children = psutil.Process(worker.pid).children(recursive=True)
    except psutil.Error:
        return []
    return [p.pid for p in children if "anchorframe._scale.shard" in " ".join(p.cmdline() or [])]


@pytest.mark.slow
def test_a_cluster_run_returns_every_row_once_and_survives_a_killed_worker(cluster, tmp_path):
    recorder = Recorder(tmp_path / "loads.txt", delay=0.05)
    choose = loaded_enough(recorder, total=len(URLS), groups=lambda: shards_by_worker(cluster))
    result, _ = scrape_and_kill(
        lambda: af.scrape(
            URLS,
            heading,
            backend=FakeBackend(recorder),
            cluster=cluster["address"],
            sessions=2,
            tabs=2,
            **QUIET,
        ),
        choose,
    )
    victim_shards = choose.pids
    assert (result.results["af_status"] == "ok").all()
    twice = fetched_twice(recorder)
    # Only the killed shard's rows in flight (1 session x 2 tabs) may have been fetched before.
    assert len(twice) <= 2 and all(pid in victim_shards for pid in twice.values())
    assert sorted(set(url for _, url in recorder.loads())) == sorted(URLS)
    assert "worker_lost" in result.errors["reason"].tolist()
    workers = set(result.sessions["worker"])
    assert len(workers) >= 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    assert "lost" in result.sessions["state"].tolist()  # the killed worker's session
    time.sleep(1)
    assert not [p for w in cluster["workers"] for p in _shards_of(w)], "a shard process outlived the run"


def test_cluster_needs_a_client_or_an_address():
    with pytest.raises(af.InputError, match=r"cluster must be a dask\.distributed\.Client"):
        af.scrape(URLS[:2], heading, backend=FakeBackend(), cluster=object(), **QUIET)


def test_import_anchorframe_does_not_import_dask():
    code = "import sys, anchorframe; print('distributed' in sys.modules or 'dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
