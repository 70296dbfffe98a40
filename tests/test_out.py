"""out=: the shards write the rows as a Parquet dataset; the caller keeps counts, errors, sessions.

Shards run on the in-memory FakeBackend (real child processes, no browser); the
Recorder (tests/test_workers.py) logs which process fetched what.
"""

from __future__ import annotations

import pandas as pd
import pytest

import anchorframe as af
from anchorframe.backends.fake import FakeBackend
from anchorframe.errors import InputError, ResultsOnDiskError

from .killing import fetched_twice, loaded_enough, scrape_and_kill
from .test_workers import QUIET, URLS, Recorder, heading, shard_pids


def _frame() -> pd.DataFrame:
    urls = [*URLS, URLS[3], "not a url"]  # a duplicate URL (scraped once, two rows) and an invalid row
    return pd.DataFrame({"url": urls, "n": range(len(urls))}, index=[f"r{n}" for n in range(len(urls))])


def test_two_workers_write_every_row_once_with_its_index_label(tmp_path):
    recorder = Recorder(tmp_path / "loads.txt", missing=frozenset(URLS[:2]))
    frame = _frame()
    out = tmp_path / "out"
    result = af.scrape(
        frame,
        heading,
        backend=FakeBackend(recorder),
        workers=2,
        sessions=2,
        tabs=2,
        out=out,
        retries=0,
        **QUIET,
    )
    assert result.out == str(out)
    assert result.counts == {"ok": len(URLS) - 1, "failed": 2, "invalid": 1, "skipped": 0}
    with pytest.raises(ResultsOnDiskError, match=r"pd\.read_parquet\(result\.out\)"):
        result.results  # noqa: B018
    assert "rows" in repr(result) and str(out) in result._repr_html_()
    with pytest.raises(ResultsOnDiskError, match="another out= directory"):
        result.retry_failed()
    data = pd.read_parquet(out)
    assert sorted(data.index) == sorted(frame.index)  # every input row once, with its label
    data = data.loc[frame.index]
    assert (data["n"] == frame["n"]).all()
    ok = data["af_status"] == "ok"
    assert (data.loc[ok, "h1"] == data.loc[ok, "url"]).all()
    assert data.loc["r0", "af_status"] == "failed" and data.loc[frame.index[-1], "af_status"] == "invalid"
    assert data.loc[frame.index[-2], "h1"] == URLS[3]  # the duplicate row has its answer too
    assert sorted(url for _, url in recorder.loads()) == sorted(URLS)
    assert not (out / "_staging").exists() and (out / "_common_metadata").exists()
    assert shard_pids() == []


def test_a_fsspec_url_and_one_worker(tmp_path):
    pytest.importorskip("fsspec")
    out = f"file://{tmp_path}/out"
    result = af.scrape(
        URLS[:20], heading, backend=FakeBackend(Recorder(tmp_path / "l.txt")), out=out, **QUIET
    )
    assert result.counts["ok"] == 20
    assert sorted(pd.read_parquet(tmp_path / "out")["h1"]) == sorted(URLS[:20])


def test_a_killed_shard_leaves_every_row_once_in_the_dataset(tmp_path):
    recorder = Recorder(tmp_path / "loads.txt", delay=0.05)
    out = tmp_path / "out"
    result, victim = scrape_and_kill(
        lambda: af.scrape(
            URLS, heading, backend=FakeBackend(recorder), workers=2, sessions=2, tabs=2, out=out, **QUIET
        ),
        loaded_enough(recorder, total=len(URLS), groups=lambda: {pid: [pid] for pid in shard_pids()}),
        within=60,
    )
    assert result.counts["ok"] == len(URLS)
    data = pd.read_parquet(out)
    assert sorted(data["url"]) == sorted(URLS) and (data["af_status"] == "ok").all()
    # Rows the victim fetched but had not yet reported with a part are fetched again, by the other.
    assert all(pid == victim for pid in fetched_twice(recorder).values())
    assert "worker_lost" in result.errors["reason"].tolist()
    assert shard_pids() == []


def test_a_resume_writes_only_the_rows_not_in_the_dataset(tmp_path):
    out, checkpoint = tmp_path / "out", tmp_path / "run.parquet"
    half = Recorder(tmp_path / "first.txt", missing=frozenset(URLS[60:]))
    af.scrape(
        URLS,
        heading,
        backend=FakeBackend(half),
        workers=2,
        out=out,
        checkpoint=checkpoint,
        retries=0,
        **QUIET,
    )
    # The dataset holds all 120 rows already (60 failed): a rerun has nothing left to write.
    again = Recorder(tmp_path / "second.txt")
    result = af.scrape(
        URLS, heading, backend=FakeBackend(again), workers=2, out=out, checkpoint=checkpoint, **QUIET
    )
    assert again.loads() == [] and result.counts["ok"] == 60 and result.counts["failed"] == 60
    data = pd.read_parquet(out)
    assert len(data) == len(URLS) and data["url"].is_unique


def test_rows_in_the_dataset_are_not_written_again_when_the_checkpoint_missed_them(tmp_path):
    out, checkpoint = tmp_path / "out", tmp_path / "run.parquet"
    af.scrape(URLS[:40], heading, backend=FakeBackend(), workers=2, out=out, checkpoint=checkpoint, **QUIET)
    for part in checkpoint.glob("part-*.parquet"):  # as if the caller died before its checkpoint flushed
        part.unlink()
    again = Recorder(tmp_path / "again.txt")
    af.scrape(
        URLS[:40], heading, backend=FakeBackend(again), workers=2, out=out, checkpoint=checkpoint, **QUIET
    )
    assert again.loads() == []
    assert sorted(pd.read_parquet(out)["url"]) == sorted(URLS[:40])


@pytest.mark.parametrize(
    ("prepare", "words"),
    [
        (lambda p: (p / "out").mkdir() or (p / "out" / "old.parquet").write_bytes(b"x"), "already holds"),
        (lambda p: (p / "out").write_text("a file"), "is a file"),
        (lambda p: (p / "ro").write_text("no directory can be made in a file"), "cannot be written"),
    ],
)
def test_a_bad_out_is_refused_before_anything_starts(tmp_path, prepare, words):
    prepare(tmp_path)
    target = tmp_path / ("ro/sub" if words == "cannot be written" else "out")
    recorder = Recorder(tmp_path / "loads.txt")
    with pytest.raises(InputError, match=words):
        af.scrape(URLS[:4], heading, backend=FakeBackend(recorder), workers=2, out=target, **QUIET)
    assert recorder.loads() == [] and shard_pids() == []


def test_out_must_be_a_path():
    with pytest.raises(InputError, match="out must be a directory path"):
        af.scrape(URLS[:2], heading, backend=FakeBackend(), out=3, **QUIET)


def test_load_checkpoint_of_an_out_run_gives_what_the_run_gave(tmp_path):
    """Counts, errors and sessions, and .out naming the dataset that holds the rows (not empty values)."""
    out, checkpoint = tmp_path / "out", tmp_path / "run.parquet"
    recorder = Recorder(tmp_path / "loads.txt", missing=frozenset(URLS[:3]))
    ran = af.scrape(
        URLS[:30],
        heading,
        backend=FakeBackend(recorder),
        workers=2,
        out=out,
        checkpoint=checkpoint,
        retries=0,
        **QUIET,
    )
    loaded = af.load_checkpoint(checkpoint)
    assert loaded.out == ran.out == str(out)
    assert loaded.counts == ran.counts == {"ok": 27, "failed": 3, "invalid": 0, "skipped": 0}
    assert len(loaded.errors) == len(ran.errors) == 3
    with pytest.raises(ResultsOnDiskError, match=r"pd\.read_parquet\(result\.out\)"):
        loaded.results  # noqa: B018
    with pytest.raises(ResultsOnDiskError, match="another out= directory"):
        loaded.retry_failed()
    assert str(out) in loaded._repr_html_() and sorted(pd.read_parquet(out)["url"]) == sorted(URLS[:30])
