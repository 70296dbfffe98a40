"""The vendor's own SDK (``anchorbrowser``) works against the emulator."""

from __future__ import annotations

import uuid
from datetime import datetime

import anchorbrowser
import pytest
from conftest_anchor import wait_until


def _wait_batch(sdk, batch_id, statuses=("completed", "failed", "cancelled")):
    return wait_until(
        lambda: (r := sdk.batch_sessions.get_batch_session(batch_id)).data.status in statuses and r,
        timeout=30,
    )


@pytest.fixture
def sdk(make_emulator):
    emu = make_emulator(fail_provision=0.0)
    # Strict validation: every answer must parse into the SDK's pydantic models.
    client = anchorbrowser.Anchorbrowser(
        api_key=emu.api_key, base_url=emu.base_url, _strict_response_validation=True
    )
    yield emu, client
    client.close()


def test_sdk_batches_create_poll_list_cancel_retry(sdk):
    """Create, poll, list, retry, cancel and delete batches with strict SDK validation."""
    emu, client = sdk
    emu.set_faults(fail_provision=1.0)
    created = client.batch_sessions.create_batch_session(
        count=2,
        configuration={"browser": {"viewport": {"width": 800, "height": 600}}},
        metadata={"project": "sdk-test"},
    )
    assert isinstance(created.data.batch_id, uuid.UUID)
    assert isinstance(created.data.created_at, datetime) and created.data.created_at.tzinfo
    failed = _wait_batch(client, str(created.data.batch_id))
    assert failed.data.status == "failed" and failed.data.failed_requests == 2
    emu.set_faults(fail_provision=0.0)
    retried = client.batch_sessions.retry_batch_session(
        str(created.data.batch_id), retry_failed_only=True, max_retries=1
    )
    assert retried.data.retried_sessions == 2
    done = _wait_batch(client, str(created.data.batch_id))
    assert done.data.status == "completed" and done.data.progress.percentage == 100
    items = done.data.sessions
    assert all(isinstance(s.session_id, uuid.UUID) and s.cdp_url for s in items)
    assert items[0].metadata["project"] == "sdk-test"
    listed = client.batch_sessions.list_batch_sessions(status="completed", page=1, limit=10)
    assert listed.data.pagination.total_records == 1
    assert listed.data.batches[0].batch_id == created.data.batch_id
    with pytest.raises(anchorbrowser.ConflictError):  # a completed batch cannot be cancelled
        client.batch_sessions.update_batch_session(str(created.data.batch_id), status="cancelled")
    with pytest.raises(anchorbrowser.BadRequestError):  # nothing failed, nothing to retry
        client.batch_sessions.retry_batch_session(str(created.data.batch_id), retry_failed_only=True)
    deleted = client.batch_sessions.delete_batch_session(str(created.data.batch_id))
    assert deleted.data.deleted_sessions == 2
    assert emu.live_sessions == 0


def test_sdk_async_sessions_create_and_poll(sdk):
    """Create and poll an async session until ready, every answer strict."""
    emu, client = sdk
    created = client.sessions.create_session_async(
        session={"timeout": {"max_duration": 5}, "tags": ["sdk"]}, browser={"headless": {"active": True}}
    )
    assert isinstance(created.data.request_id, uuid.UUID) and created.data.session_id is None
    request_id = str(created.data.request_id)
    status = wait_until(
        lambda: (r := client.sessions.get_async_session_status(request_id)).data.status == "ready" and r,
        timeout=30,
    )
    assert status.data.session.cdp_url and status.data.session.status == "completed"
    assert status.data.progress.current_phase == "ready" and status.data.created_at.tzinfo is not None
    ended = client.sessions.delete_session(str(status.data.session.session_id))
    assert ended.data.status == "success"
    assert emu.live_sessions == 0


def test_sdk_session_listings_parse_strictly(sdk):
    """The session listing endpoints (history page, all status, one session) parse strictly."""
    emu, client = sdk
    created = client.batch_sessions.create_batch_session(
        count=2, configuration={"session": {"tags": ["sdk-list", "run-1"]}}
    )
    _wait_batch(client, str(created.data.batch_id))
    page = client.sessions.list_sessions(tags="sdk-list,run-1", limit=10, sort_order="desc")
    assert page.data.total == 2 and len(page.data.sessions) == 2 and page.data.total_pages == 1
    first = page.data.sessions[0]
    assert set(first.tags) == {"sdk-list", "run-1"} and first.created_at.tzinfo is not None
    assert first.status == "running" and first.used_credits == "N/A"
    by_batch = client.sessions.list_sessions(batch_id=str(created.data.batch_id), status="running")
    assert {s.id for s in by_batch.data.sessions} == {s.id for s in page.data.sessions}
    assert client.sessions.list_sessions(tags="sdk-list,someone-else").data.total == 0
    statuses = client.sessions.get_all_sessions_status(tags="sdk-list")
    assert statuses.data.count == 2 and all(item.status == "running" for item in statuses.data.items)
    one = client.sessions.get_session(first.id)
    assert one.data.session_id == first.id and one.data.status == "running"
    for item in statuses.data.items:
        client.sessions.delete_session(item.session_id)
    after = client.sessions.get_all_sessions_status(tags="sdk-list")
    assert {item.status for item in after.data.items} == {"completed"}
    assert emu.live_sessions == 0


def test_sdk_sees_api_errors(sdk):
    """The emulator's error answers map to the SDK's own exception classes."""
    emu, client = sdk
    with pytest.raises(anchorbrowser.BadRequestError):
        client.batch_sessions.create_batch_session(count=0)
    with pytest.raises(anchorbrowser.NotFoundError):
        client.batch_sessions.get_batch_session(str(uuid.uuid4()))
    with pytest.raises(anchorbrowser.AuthenticationError):  # 401: "Invalid API Key or browser session ID"
        client.sessions.delete_session("no-such-session")
    bad = anchorbrowser.Anchorbrowser(api_key="wrong", base_url=emu.base_url)
    with pytest.raises(anchorbrowser.AuthenticationError):
        bad.batch_sessions.list_batch_sessions()
    bad.close()
