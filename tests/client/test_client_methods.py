"""Both clients are made from one description of the endpoints: same methods, same signatures."""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from anchorframe.client import AnchorClient, AsyncAnchorClient
from anchorframe.client._client import _Endpoints

ENDPOINTS = sorted(name for name in vars(_Endpoints) if not name.startswith("_"))
TYPED_CALLS = Path(__file__).with_name("typing_clients.py")
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_both_clients_have_every_endpoint():
    """The two clients have the same public methods, but for close() and aclose()."""
    assert len(ENDPOINTS) == 16
    assert _public(AnchorClient) == {*ENDPOINTS, "base_url", "close"}
    assert _public(AsyncAnchorClient) == {*ENDPOINTS, "base_url", "aclose"}


@pytest.mark.parametrize("name", ENDPOINTS)
def test_same_signature_on_both_clients(name):
    """Parameters, defaults and annotations match; the async call is a coroutine function."""
    sync, asynchronous = getattr(AnchorClient, name), getattr(AsyncAnchorClient, name)
    assert inspect.signature(sync).parameters == inspect.signature(asynchronous).parameters
    returns = typing.get_type_hints(sync)["return"]
    async_returns = typing.get_type_hints(asynchronous)["return"]
    assert not inspect.iscoroutinefunction(sync)
    if name.startswith("iter_"):
        assert typing.get_origin(returns) is Iterator
        assert async_returns == AsyncIterator[typing.get_args(returns)]
        assert not inspect.iscoroutinefunction(asynchronous)
    else:
        assert inspect.isclass(returns) and async_returns is returns
        assert inspect.iscoroutinefunction(asynchronous)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_methods_are_named_and_documented(name):
    """Each client's method has its own name; the sync one is documented, the async one points to it."""
    client = AnchorClient("k", base_url="http://127.0.0.1:9")
    bound = getattr(client, name)
    assert bound.__self__ is client and bound.__func__ is getattr(AnchorClient, name)
    assert getattr(AnchorClient, name).__qualname__ == f"AnchorClient.{name}"
    assert getattr(AsyncAnchorClient, name).__qualname__ == f"AsyncAnchorClient.{name}"
    assert (getattr(AnchorClient, name).__doc__ or "").strip()
    assert getattr(AsyncAnchorClient, name).__doc__.startswith(f"See :meth:`AnchorClient.{name}`")
    client.close()


def test_typed_calls_type_check():
    """mypy sees each endpoint's signature and result on both clients (typing_clients.py)."""
    mypy = pytest.importorskip("mypy.api")
    options = ["--follow-imports=silent", "--warn-unused-ignores", f"--cache-dir={os.devnull}"]
    if PYPROJECT.exists():
        options.append(f"--config-file={PYPROJECT}")
    stdout, stderr, status = mypy.run([*options, str(TYPED_CALLS)])
    assert status == 0, stdout + stderr
