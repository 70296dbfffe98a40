from __future__ import annotations

import os
import time

import pytest

from anchorframe.backends._chromium import live_chromium_pids

from .pages import TestSite

os.environ.setdefault("ANCHORFRAME_PROGRESS", "")
for variable in ("ANCHOR_API_KEY", "ANCHORBROWSER_API_KEY"):
    os.environ.pop(variable, None)  # tests choose their backend; a developer's key must not leak in


def wait_no_chromium(timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = live_chromium_pids()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.fixture
def site():
    with TestSite() as running:
        yield running


@pytest.fixture(scope="session")
def shared_site():
    with TestSite() as running:
        yield running


@pytest.fixture
def no_chromium_left():
    """Fails the test if any Chromium started by this process outlives it."""
    assert wait_no_chromium(5) == [], "Chromium processes were alive before the test"
    yield
    assert wait_no_chromium(10) == [], "the test left Chromium processes behind"
