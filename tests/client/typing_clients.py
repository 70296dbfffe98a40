"""Typed calls on both clients: type-checked by test_client_methods.py, never run.

A wrong argument is marked ``# type: ignore[...]``: with ``--warn-unused-ignores`` the
check fails if a signature stops being seen (a method typed ``Any`` accepts anything).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

from typing_extensions import assert_type

from anchorframe.client import (
    AnchorClient,
    AsyncAnchorClient,
    AsyncSessionStatus,
    Batch,
    BatchCreated,
    BatchSummary,
    SessionPage,
    SessionSummary,
)


def sync_calls() -> None:
    with AnchorClient("key") as client:
        assert_type(client, AnchorClient)
        assert_type(client.create_batch(2, metadata={"run": "r1"}), BatchCreated)
        assert_type(client.wait_batch("b", timeout=timedelta(minutes=5), on_progress=print), Batch)
        assert_type(client.iter_batches(status="completed"), Iterator[BatchSummary])
        assert_type(client.list_sessions(tags=["t"], limit=10), SessionPage)
        assert_type(client.iter_sessions(tags="t"), Iterator[SessionSummary])
        client.get_batch(3)  # type: ignore[arg-type]
        client.wait_batch("b", interval=1)  # type: ignore[call-arg]
        client.create_batch(count=1, configuration=[])  # type: ignore[arg-type]


async def async_calls() -> None:
    async with AsyncAnchorClient("key") as client:
        assert_type(client, AsyncAnchorClient)
        assert_type(await client.create_batch(2, metadata={"run": "r1"}), BatchCreated)
        assert_type(await client.wait_async_session("r", initial_interval=0.1), AsyncSessionStatus)
        assert_type(client.iter_batches(status="completed"), AsyncIterator[BatchSummary])
        assert_type(await client.list_sessions(tags=["t"], limit=10), SessionPage)
        assert_type([s async for s in client.iter_sessions(tags="t")], list[SessionSummary])
        await client.get_batch(3)  # type: ignore[arg-type]
        await client.wait_batch("b", interval=1)  # type: ignore[call-arg]
        batch: Batch = client.get_batch("b")  # type: ignore[assignment]  # not awaited
        del batch
