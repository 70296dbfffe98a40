"""Fewer tabs when free memory runs low, more when it comes back; the context renewal default. No browser."""

from __future__ import annotations

import doctest
from types import SimpleNamespace

import psutil
import pytest

import anchorframe._engine.memory
from anchorframe._engine.memory import (
    CONTEXT_RENEW_ROWS,
    MIN_RESERVE_BYTES,
    TAB_BYTES,
    MemoryWatch,
    reserve_bytes,
    tabs_for_memory,
)

MiB, GiB = 2**20, 2**30


def test_the_reserve_is_a_tenth_of_ram_but_never_below_512_mib():
    assert reserve_bytes(64 * GiB) == int(6.4 * GiB)
    assert reserve_bytes(1 * GiB) == MIN_RESERVE_BYTES == 512 * MiB


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        (8 * GiB, 8),  # plenty
        (0, 8),  # exactly the reserve of 16 GiB (offset 0): keep all
        (-TAB_BYTES, 7),  # one tab's worth short
        (-TAB_BYTES - 1, 6),  # a little more than one: two tabs go
        (-1500 * MiB, 1),  # nearly out: one tab stays
    ],
)
def test_tabs_are_shed_one_per_tab_worth_of_memory_missing(available, expected):
    total = 16 * GiB
    at = available if available > GiB else reserve_bytes(total) + available
    assert tabs_for_memory(running=8, wanted=8, available=at, total=total) == expected
    assert tabs_for_memory(running=8, wanted=8, available=0, total=total) == 1


def test_tabs_come_back_one_at_a_time_and_only_with_headroom():
    total = 16 * GiB
    reserve = reserve_bytes(total)
    assert tabs_for_memory(running=3, wanted=8, available=reserve + TAB_BYTES, total=total) == 4
    # Between the reserve and the reserve plus one tab: hold steady, so the count does not flap.
    assert tabs_for_memory(running=3, wanted=8, available=reserve + TAB_BYTES - 1, total=total) == 3
    assert tabs_for_memory(running=8, wanted=8, available=10 * GiB, total=total) == 8


def test_the_watch_reads_memory_at_most_once_per_interval():
    readings = iter([100 * MiB, 100 * MiB, 10 * GiB, 10 * GiB, 10 * GiB])
    calls = []

    def sample():
        calls.append(1)
        return SimpleNamespace(available=next(readings), total=16 * GiB)

    watch = MemoryWatch(wanted=4, interval=2.0, sample=sample)
    assert watch.tabs(now=0.0) == 1 and watch.low
    assert watch.tabs(now=1.0) == 1 and len(calls) == 1  # not re-read within the interval
    assert watch.tabs(now=2.0) == 1  # still low
    assert [watch.tabs(now=t) for t in (4.0, 6.0, 8.0)] == [2, 3, 4]
    assert not watch.low and watch.available == 10 * GiB


def test_the_watch_reads_the_real_machine_by_default():
    watch = MemoryWatch(wanted=2)
    tabs = watch.tabs(now=0.0)
    assert 1 <= tabs <= 2 and watch.available is not None
    assert watch.available <= psutil.virtual_memory().total


def test_contexts_are_renewed_after_a_documented_number_of_rows():
    assert CONTEXT_RENEW_ROWS == 500 and "(500)" in (anchorframe._engine.memory.__doc__ or "")


def test_docstring_examples():
    outcome = doctest.testmod(anchorframe._engine.memory, optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0 and outcome.failed == 0
