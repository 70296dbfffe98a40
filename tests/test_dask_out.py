"""cluster= with out=: a pandas input, and a dask DataFrame whose partitions only the workers read.

The cluster (a scheduler and two workers, separate processes on 127.0.0.1) is the
fixture of tests/test_dask.py. One worker is SIGKILLed mid-run: its partition goes
whole to the other, and the dataset still holds every row once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pandas as pd
import pytest

import anchorframe as af
from anchorframe.backends.fake import FakeBackend
from anchorframe.errors import ResultsOnDiskError

from .killing import loaded_enough, scrape_and_kill
from .test_dask import _shards_of, cluster, shards_by_worker  # noqa: F401 - the fixture
from .test_workers import QUIET, URLS, Recorder, heading

dd = pytest.importorskip("dask.dataframe")


def _frame() -> pd.DataFrame:
    urls = [*URLS, "not a url"]
    return pd.DataFrame({"url": urls, "n": range(len(urls))}, index=[f"r{n}" for n in range(len(urls))])


@pytest.mark.slow
def test_a_dask_input_is_read_by_the_workers_and_survives_a_killed_worker(cluster, tmp_path):  # noqa: F811
    recorder = Recorder(tmp_path / "loads.txt", delay=0.05)
    frame = _frame()
    data = dd.from_pandas(frame, npartitions=12)
    out = tmp_path / "out"
    result, _ = scrape_and_kill(
        lambda: af.scrape(
            data,
            heading,
            backend=FakeBackend(recorder),
            cluster=cluster["address"],
            out=out,
            sessions=2,
            tabs=2,
            **QUIET,
        ),
        loaded_enough(recorder, total=len(URLS), groups=lambda: shards_by_worker(cluster)),
    )
    assert isinstance(result, af.ScrapeResult)
    assert result.counts == {"ok": len(URLS), "failed": 0, "invalid": 1, "skipped": 0}
    written = pd.read_parquet(out)
    assert sorted(written.index) == sorted(frame.index)  # every row once, with its label
    written = written.loc[frame.index]
    assert (written["n"] == frame["n"]).all()
    assert (written["h1"].iloc[:-1] == written["url"].iloc[:-1]).all()
    assert written["af_status"].iloc[-1] == "invalid"
    assert len(dd.read_parquet(out)) == len(frame)  # Dask reads it too (one schema in every part)
    assert "worker_lost" in result.errors["reason"].tolist()
    time.sleep(1)
    assert not [p for w in cluster["workers"] for p in _shards_of(w)], "a shard process outlived the run"


@pytest.mark.slow
def test_a_pandas_input_with_out_on_a_cluster(cluster, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    result = af.scrape(
        URLS[:30], heading, backend=FakeBackend(), cluster=cluster["address"], out=out, sessions=2, **QUIET
    )
    assert result.counts["ok"] == 30
    assert sorted(pd.read_parquet(out)["h1"]) == sorted(URLS[:30])


@pytest.mark.slow
def test_a_dask_input_run_that_stopped_goes_on_from_its_checkpoint(cluster, tmp_path):  # noqa: F811
    """Stopped with some partitions written: the rerun scrapes only the others, and out= holds
    every row once. load_checkpoint() gives the counts; another input on it is a clear error."""
    recorder = Recorder(tmp_path / "loads.txt", delay=0.05)
    frame = _frame()
    data = dd.from_pandas(frame, npartitions=12)
    out, checkpoint = tmp_path / "out", tmp_path / "run.ckpt"
    options = {"backend": FakeBackend(recorder), "cluster": cluster["address"], "out": out,
               "checkpoint": checkpoint, "sessions": 2, "tabs": 2, **QUIET}  # fmt: skip

    async def stopped_midway():
        run = asyncio.ensure_future(af.ascrape(data, heading, **options))
        while len(list(out.glob("part-*"))) < 3 and not run.done():
            await asyncio.sleep(0.02)
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run

    asyncio.run(stopped_midway())
    first = sorted(out.glob("part-*"))
    assert 3 <= len(first) < 12, first
    kept_rows = pd.concat(pd.read_parquet(p) for p in first)
    kept = set(kept_rows["url"])
    loads_before = len(recorder.loads())
    partial = af.load_checkpoint(checkpoint)  # what the stopped run left, read from out='s parts
    # Only whole partitions are written, and none failed for the stop (its rows are 'skipped').
    assert set(kept_rows["af_status"]) <= {"ok", "invalid"}, kept_rows["af_reason"].value_counts()
    assert partial.counts["ok"] + partial.counts["invalid"] == len(kept_rows), partial.counts
    assert partial.counts["skipped"] == len(frame) - len(kept_rows) and partial.interrupted

    result = af.scrape(data, heading, **options)
    assert result.counts == {"ok": len(URLS), "failed": 0, "invalid": 1, "skipped": 0}
    written = pd.read_parquet(out)
    assert sorted(written.index) == sorted(frame.index)  # every row once
    assert set(first) <= set(out.glob("part-*"))  # the parts of the first run, kept as they were
    again = {url for _, url in recorder.loads()[loads_before:]}
    assert again and not again & kept  # no row of a written partition was scraped again
    assert len(dd.read_parquet(out)) == len(frame)

    other = dd.from_pandas(frame.iloc[:40], npartitions=4)
    with pytest.raises(af.InputError, match="another input"):
        af.scrape(other, heading, **options)
    with pytest.raises(af.InputError, match="read two ways"):
        af.scrape(data, heading, dedupe=False, **options)
    runs = json.loads((checkpoint / "_manifest.json").read_text())["runs"]
    assert [r.get("counts", {}).get("ok") for r in runs][-1] == len(URLS) and runs[0]["interrupted"]
    loaded = af.load_checkpoint(checkpoint)
    assert loaded.counts == result.counts and not loaded.interrupted and loaded.out == str(out)
    assert len(loaded.sessions) == len(partial.sessions) + len(result.sessions)  # both runs
    with pytest.raises(ResultsOnDiskError, match="read_parquet"):
        _ = loaded.results
    time.sleep(1)
    assert not [p for w in cluster["workers"] for p in _shards_of(w)], "a shard process outlived its run"


def test_a_dask_input_needs_cluster_and_out(tmp_path):
    data = dd.from_pandas(_frame(), npartitions=2)
    with pytest.raises(af.InputError, match="pass cluster= and out="):
        af.scrape(data, heading, backend=FakeBackend(), **QUIET)
    with pytest.raises(af.InputError, match="pass out="):
        af.scrape(data, heading, backend=FakeBackend(), cluster="tcp://127.0.0.1:1", **QUIET)
    with pytest.raises(af.InputError, match="no column"):
        af.scrape(data, heading, url="link", backend=FakeBackend(), cluster="tcp://127.0.0.1:1", out=tmp_path)
