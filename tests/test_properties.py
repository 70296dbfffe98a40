"""Property tests (hypothesis) for the parts that decide: sizing and frame assembly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorframe._core.frames import results_frame
from anchorframe._core.plan import MAX_BATCH, plan_sessions
from anchorframe._core.table import STATUS_COLUMNS, prepare_input


@given(
    urls=st.integers(min_value=0, max_value=2_000_000),
    kind=st.sampled_from(["local", "cloud"]),
    cores=st.integers(min_value=1, max_value=64),
    tabs=st.one_of(st.none(), st.integers(min_value=1, max_value=32)),
    max_sessions=st.one_of(st.none(), st.integers(min_value=1, max_value=5000)),
    seconds_per_url=st.floats(min_value=0.05, max_value=60),
    target=st.floats(min_value=10, max_value=86_400),
)
@settings(max_examples=300, deadline=None)
def test_sizing_respects_caps_batches_and_covers_every_row(
    urls, kind, cores, tabs, max_sessions, seconds_per_url, target
):
    """Never above max_sessions, batches of at most 1000 summing to the sessions, room for every URL."""
    plan = plan_sessions(
        urls,
        kind=kind,
        cores=cores,
        tabs=tabs,
        max_sessions=max_sessions,
        seconds_per_url=seconds_per_url,
        target_seconds=target,
    )
    if urls == 0:
        assert plan.sessions == 0 and plan.batches == ()
        return
    assert plan.sessions >= 1 and plan.tabs >= 1
    if max_sessions is not None:
        assert plan.sessions <= max_sessions
    assert all(0 < size <= MAX_BATCH for size in plan.batches) and sum(plan.batches) == plan.sessions
    assert plan.sessions <= math.ceil(urls / plan.tabs)  # no idle session
    assert plan.tabs <= (tabs or 4)
    assert plan.est_seconds > 0 and plan.est_session_minutes > 0


cells = st.one_of(
    st.none(),
    st.just(np.nan),
    st.sampled_from(["https://a.test/1", "https://a.test/2", "http://b.test/x", "file:///x", "", "rel/a"]),
    st.integers(),
)
index_values = st.one_of(st.integers(), st.text(max_size=3), st.floats(allow_nan=False))


@given(
    urls=st.lists(cells, max_size=30),
    labels=st.lists(index_values, max_size=30),
    extra=st.lists(st.integers(min_value=-5, max_value=5), max_size=30),
    dedupe=st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_frame_assembly_keeps_index_order_and_dtypes(urls, labels, extra, dedupe):
    """For any input, results have the same index, order, input columns and dtypes, one row per row."""
    n = len(urls)
    labels = (labels + list(range(n)))[:n]
    extra = (extra + [0] * n)[:n]
    frame = pd.DataFrame(
        {"url": np.array([*urls, None], dtype=object)[:n], "n": np.array(extra, dtype="int64")},
        index=pd.Index(labels, dtype=object),
    )
    table = prepare_input(frame, dedupe=dedupe)
    outcomes = [None] * n
    for item in table.work:
        item.status, item.value, item.attempts = "ok", {"len": len(item.url)}, 1
        for position in item.positions:
            outcomes[position] = item
    out = results_frame(table, outcomes)
    assert len(out) == n and list(out.index) == list(frame.index)
    assert out["n"].dtype == frame["n"].dtype and list(out["n"]) == list(frame["n"])
    assert set(STATUS_COLUMNS) <= set(out.columns)
    statuses = out["af_status"].astype(str).tolist()
    assert statuses.count("ok") + statuses.count("invalid") == n
    assert sum(len(w.positions) for w in table.work) == statuses.count("ok")
