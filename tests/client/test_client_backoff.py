"""The package's one backoff and one exit registry (no I/O, no browser)."""

from __future__ import annotations

import doctest
import random

import pytest

from anchorframe._core import backoff as _backoff
from anchorframe._core import retry as _retry
from anchorframe._core.backoff import backoff_delay, grow_interval
from anchorframe.backends import _release
from anchorframe.client._core import ClientConfig


@pytest.mark.parametrize("module", [_backoff, _release])
def test_docstring_examples(module):
    outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0 and outcome.failed == 0


def test_one_formula_for_engine_and_client():
    """The engine's backoff_delay is this one; the client's attempt 0 waits like the engine's attempt 1."""
    assert _retry.backoff_delay is backoff_delay
    config = ClientConfig(api_key="k", retry_initial_delay=1.0, retry_max_delay=8.0, rng=random.Random(3))
    engine = [backoff_delay(n + 1, 1.0, 8.0, random.Random(3)) for n in range(1)]
    assert [config.backoff(0)] == engine


def test_backoff_grows_caps_and_jitters():
    rng = random.Random(1)
    delays = [backoff_delay(n, 0.5, 4.0, rng) for n in range(1, 9)]
    assert all(0.25 <= d <= 4.0 for d in delays) and max(delays[4:]) > 2.0
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered, not a fixed ladder
    assert backoff_delay(5, 1.0, retry_after=3) == 3
    assert backoff_delay(5, 1.0, retry_after=90, max_retry_after=60) == 60


def test_polling_interval_ramp():
    steps = [1.0]
    for _ in range(8):
        steps.append(grow_interval(steps[-1], cap=5.0))
    assert steps[:4] == [1.0, 1.5, 2.25, 3.375] and steps[-1] == 5.0


def test_exit_registry_releases_newest_first_and_survives_failures():
    registry = _release.ExitRegistry()
    order: list[str] = []

    def boom() -> None:
        order.append("boom")
        raise RuntimeError("cannot")

    first, second, third = object(), object(), object()
    registry.add(first, lambda: order.append("first"))
    registry.add(second, boom)
    registry.add(third, lambda: order.append("third"))
    registry.discard(third)
    registry.release_all()
    assert order == ["boom", "first"] and registry.snapshot() == []


def test_pools_and_browsers_share_the_registry():
    from anchorframe.backends import _chromium
    from anchorframe.backends.anchor import AnchorBackend

    pool = AnchorBackend("k", base_url="http://127.0.0.1:9").open_pool("registry-run")
    assert pool in _release.REGISTRY.snapshot()
    _release.REGISTRY.discard(pool)
    assert _chromium._REGISTRY.snapshot() == [] or all(
        isinstance(p, _chromium.ChromiumProcess) for p in _chromium._REGISTRY.snapshot()
    )
