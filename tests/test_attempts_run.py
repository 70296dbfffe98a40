"""result.attempts against a real run: local Chromium, pages served on loopback.

The engine hands ScrapeResult one record per attempt; these tests check that the records
tell the truth about the run they came from.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

import anchorframe as af

from .pages import TestSite

pytestmark = pytest.mark.usefixtures("no_chromium_left")

PNG = b"\x89PNG\r\n\x1a\n"


async def heading(page, row):
    response = await page.goto(row.url)
    if response is not None and response.status >= 500:
        raise RuntimeError(f"HTTP {response.status}")
    return {"heading": await page.inner_text("h1")}


@pytest.fixture(scope="module")
def run():
    """One run of 14 URLs on 2 sessions x 2 tabs: slow pages, and flaky ones that need a retry."""
    with TestSite() as site:  # its own site: the flaky pages' hit counts start at zero
        return _scrape(site)


def _scrape(site: TestSite):
    urls = [*site.pages(8), *(site.url(f"/slow/{n}?s=0.4") for n in range(3))]
    urls += [site.url(f"/flaky/{n}?fail=1") for n in range(3)]
    frame = pd.DataFrame({"url": urls}, index=pd.Index([f"k{n}" for n in range(len(urls))], name="key"))
    before = datetime.now(timezone.utc)
    result = af.scrape(frame, heading, sessions=2, tabs=2, retries=2, backoff=0.01, progress=False)
    after = datetime.now(timezone.utc)
    return frame, result, before, after


def _recorded(result: af.ScrapeResult) -> pd.DataFrame:
    attempts = result.attempts
    assert len(attempts) >= len(result.results), "the engine recorded fewer attempts than there are rows"
    return attempts


def test_every_attempt_is_recorded_once(run):
    """As many attempts as af_attempts counts, no duplicates, numbered 1..n per URL, one ok per ok row."""
    frame, result, _, _ = run
    attempts = _recorded(result)
    assert len(attempts) == int(result.results["af_attempts"].sum()) > len(frame)
    assert not attempts.duplicated(["url", "attempt"]).any()
    for url, own in attempts.groupby("url"):
        assert sorted(own["attempt"]) == list(range(1, len(own) + 1)), url
    ok = attempts[attempts["outcome"] == "ok"]
    assert sorted(ok["url"]) == sorted(result.results.loc[result.results["af_status"] == "ok", "url"])
    assert set(attempts.loc[attempts["url"].str.contains("/flaky/"), "outcome"].astype(str)) > {"ok"}


def test_attempts_name_their_row_session_and_tab(run):
    """Each attempt names the input row of its URL, a session of .sessions and a tab it had."""
    frame, result, _, _ = run
    attempts = _recorded(result)
    label_of = dict(zip(frame["url"], frame.index, strict=True))
    assert list(attempts["row"]) == [label_of[url] for url in attempts["url"]]
    tabs = dict(zip(result.sessions["session"], result.sessions["tabs"], strict=True))
    assert set(attempts["session"]) <= set(tabs)
    assert all(
        0 <= tab < tabs[session] for session, tab in zip(attempts["session"], attempts["tab"], strict=True)
    )
    assert set(attempts["render"].dropna().astype(str)) <= {"browser", "http"}


def test_attempt_times_lie_inside_the_run_and_their_session(run):
    """Attempts start after their session was ready, end before it ended, and a tab does one at a time."""
    _, result, before, after = run
    attempts = _recorded(result)
    assert (attempts["start"] >= pd.Timestamp(before)).all() and (
        attempts["end"] <= pd.Timestamp(after)
    ).all()
    assert (attempts["end"] >= attempts["start"]).all()
    sessions = result.sessions.set_index("session")
    ready = sessions["started"] + pd.to_timedelta(sessions["ready_s"], unit="s")
    slack = pd.Timedelta(milliseconds=50)  # started/ready come from two clocks read a moment apart
    assert (attempts["start"] >= attempts["session"].map(ready) - slack).all()
    assert (attempts["end"] <= attempts["session"].map(sessions["ended"]) + slack).all()
    for _, lane in attempts.groupby(["session", "tab"]):
        lane = lane.sort_values("start")
        assert (lane["start"].to_numpy()[1:] >= lane["end"].to_numpy()[:-1]).all()


def test_busy_and_idle_add_up_to_each_sessions_life(run):
    """busy_s + idle_s is the session's life after ready; busy is at most its attempts' total time."""
    _, result, _, _ = run
    _recorded(result)
    sessions = result.sessions
    life = (sessions["ended"] - sessions["started"]).dt.total_seconds() - sessions["ready_s"]
    assert np.allclose(sessions["busy_s"] + sessions["idle_s"], life)
    spent = result.attempts.groupby("session")["duration_s"].sum()
    assert (sessions["busy_s"] <= sessions["session"].map(spent) + 1e-6).all()
    assert (sessions["busy_s"] > 0).all() and result.idle_share is not None
    assert f"{result.idle_share:.0%} idle" in result.summary()


def test_the_run_draws(run, tmp_path):
    """plot() of a real run gives a lane per session and tab and saves a PNG."""
    _, result, _, _ = run
    _recorded(result)
    picture = result.plot()
    assert len(picture.layout.lanes) == 4 and len(picture.layout.bars) == len(result.attempts)
    assert picture.save(tmp_path / "run.png").read_bytes().startswith(PNG)
