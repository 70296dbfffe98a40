"""Every endpoint of the client against a running emulator (no mocks)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from conftest_anchor import FAST, wait_until

from anchorframe.backends._chromium import live_chromium_pids
from anchorframe.client import AnchorClient, AsyncAnchorClient, Batch
from anchorframe.errors import AnchorAPIError, NotFoundError, WaitTimeoutError


def test_create_wait_get_batch(client, emulator):
    """A batch is created, polled to completion with progress, and its sessions are live."""
    seen: list[Batch] = []
    created = client.create_batch(2, metadata={"run": "r-endpoints"})
    assert created.status == "pending" and created.total_requests == 2
    assert created.created_at is not None and created.created_at.tzinfo is not None
    batch = client.wait_batch(
        created.batch_id, initial_interval=0.05, factor=1.5, max_interval=0.2, on_progress=seen.append
    )
    assert batch.status == "completed" and batch.completed_requests == 2
    assert batch.progress is not None and batch.progress.percentage == 100
    assert [s.item_index for s in batch.ready_sessions] == [0, 1]
    assert all(s.cdp_url and s.cdp_url.startswith("ws://127.0.0.1:") for s in batch.sessions)
    assert all(s.metadata["run"] == "r-endpoints" for s in batch.sessions)
    assert batch.metadata == {}  # no answer of the published API carries a batch's metadata
    assert seen[-1] is batch and len(seen) >= 2
    assert emulator.live_sessions == 2
    again = client.get_batch(created.batch_id)
    assert again.batch_id == created.batch_id and len(again.sessions) == 2
    with pytest.raises(AnchorAPIError, match="409"):
        client.cancel_batch(created.batch_id)  # completed: the API refuses the transition
    ended = client.delete_batch(created.batch_id)
    assert ended.deleted_sessions == 2
    assert emulator.live_sessions == 0


def test_list_filters_and_pages(client):
    """Listing filters by status and time, pages with limit, and iterates over all pages."""
    ids = []
    for _ in range(5):
        created = client.create_batch(1, metadata={"run": "r-list"})
        client.cancel_batch(created.batch_id)
        ids.append(created.batch_id)
        if len(ids) == 1:
            start = created.created_at - timedelta(milliseconds=1)
    page = client.list_batches(created_after=start, limit=2)
    assert len(page.batches) == 2 and page.has_next
    assert page.pagination is not None and page.pagination.total_records == 5
    assert page.batches[0].batch_id == ids[-1]  # newest first
    third = client.list_batches(created_after=start, limit=2, page=3)
    assert len(third.batches) == 1 and not third.has_next
    everything = list(client.iter_batches(created_after=start, limit=2))
    assert sorted(b.batch_id for b in everything) == sorted(ids)
    cancelled = client.list_batches(status="cancelled", created_after=start, limit=100)
    assert {b.batch_id for b in cancelled.batches} == set(ids)
    assert client.list_batches(status="completed", created_after=start).batches == []
    before = client.list_batches(created_before=start, limit=100)
    assert not {b.batch_id for b in before.batches} & set(ids)  # none of these is older than itself
    # Everything created before this test (fewer than 100 batches), and the count agrees.
    assert before.pagination.total_records == len(before.batches) and not before.has_next


def test_delete_batch_ends_sessions(client, emulator):
    """Deleting a batch ends every Chromium of it."""
    created = client.create_batch(1)
    client.wait_batch(created.batch_id, initial_interval=0.05, max_interval=0.2)
    assert emulator.live_sessions == 1
    deleted = client.delete_batch(created.batch_id)
    assert deleted.deleted_sessions == 1 and deleted.failed_deletions == 0
    assert emulator.live_sessions == 0


def test_retry_batch_reprovisions_failed(make_emulator, make_client):
    """Failed sessions are provisioned again by retry_batch and the batch completes."""
    emu = make_emulator(fail_provision=1.0)
    client = make_client(emu)
    created = client.create_batch(1)
    failed = client.wait_batch(created.batch_id, initial_interval=0.05, max_interval=0.2)
    assert failed.status == "failed" and failed.failed_requests == 1
    assert failed.sessions[0].error and failed.sessions[0].cdp_url is None
    emu.set_faults(fail_provision=0.0)
    retried = client.retry_batch(created.batch_id, max_retries=2)
    assert retried.retried_sessions == 1 and retried.status == "processing"
    batch = client.wait_batch(created.batch_id, initial_interval=0.05, max_interval=0.2)
    assert batch.status == "completed" and batch.sessions[0].retry_count == 1
    client.delete_batch(created.batch_id)
    assert emu.live_sessions == 0


def test_async_session_create_wait_end(client, emulator):
    """An async session becomes ready with a CDP URL; ending it stops its Chromium."""
    phases: list[str | None] = []
    created = client.create_async_session(browser={"headless": {"active": True}})
    assert created.status == "pending" and created.session_id is None
    status = client.wait_async_session(
        created.request_id, initial_interval=0.05, on_progress=lambda s: phases.append(s.current_phase)
    )
    assert status.is_ready and status.session is not None and status.session.status == "completed"
    assert phases[-1] == "ready"
    assert emulator.live_sessions == 1
    client.end_session(status.session.session_id)
    assert emulator.live_sessions == 0
    assert client.get_async_session(created.request_id).status == "completed"


def test_async_client_drives_the_same_flows(emulator):
    """AsyncAnchorClient creates, waits (async callback), lists, iterates and cancels."""

    async def main() -> None:
        seen: list[str | None] = []

        async def progress(batch: Batch) -> None:
            seen.append(batch.status)

        async with AsyncAnchorClient(emulator.api_key, base_url=emulator.base_url, **FAST) as client:
            created = await client.create_batch(1, metadata={"run": "r-async"})
            batch = await client.wait_batch(
                created.batch_id, initial_interval=0.05, max_interval=0.2, on_progress=progress
            )
            assert batch.status == "completed" and seen[-1] == "completed"
            listed = [b.batch_id async for b in client.iter_batches(limit=1)]
            assert created.batch_id in listed
            assert (await client.list_batches(limit=1)).batches[0].batch_id == created.batch_id
            with pytest.raises(AnchorAPIError, match="No failed sessions"):
                await client.retry_batch(created.batch_id)
            assert (await client.delete_batch(created.batch_id)).deleted_sessions == 1
            request = await client.create_async_session()
            status = await client.wait_async_session(request.request_id, initial_interval=0.05)
            assert status.session is not None
            await client.end_session(status.session.session_id)
            assert (await client.get_async_session(request.request_id)).status == "completed"

    asyncio.run(main())
    assert emulator.live_sessions == 0


def test_wait_batch_gives_up_saying_how_far_it_got(make_emulator, make_client):
    """Past its deadline wait_batch raises WaitTimeoutError with the ready count."""
    emu = make_emulator(provision_delay=5.0)
    client = make_client(emu)
    created = client.create_batch(2)
    with pytest.raises(WaitTimeoutError, match=r"0 of 2 sessions ready") as info:
        client.wait_batch(created.batch_id, initial_interval=0.05, timeout=0.3)
    assert info.value.ready_sessions == 0 and info.value.total_sessions == 2
    client.cancel_batch(created.batch_id)


def test_unknown_batch_is_not_found(client):
    """A batch id the server does not know raises NotFoundError (no retries)."""
    with pytest.raises(NotFoundError, match="404"):
        client.get_batch("00000000-0000-4000-8000-000000000000")


def test_closed_client_refuses_to_send(emulator):
    """A closed client says so instead of failing obscurely."""
    client = AnchorClient(emulator.api_key, base_url=emulator.base_url)
    client.close()
    with pytest.raises(RuntimeError, match="client has been closed"):
        client.list_batches()


def test_nothing_left_running(emulator):
    """After the tests above the emulator holds no live Chromium."""
    wait_until(lambda: emulator.live_sessions == 0)
    assert not set(emulator.chromium_pids) & set(live_chromium_pids())
