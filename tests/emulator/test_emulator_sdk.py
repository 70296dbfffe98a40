"""The vendor's own SDK (``anchorbrowser``) works against the emulator."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

import anchorbrowser
import pydantic
import pytest
from anchorbrowser.types import models
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
    cancelled = client.batch_sessions.update_batch_session(str(created.data.batch_id), status="cancelled")
    assert cancelled.data.status == "cancelled" and cancelled.data.cancelled_sessions == 2
    deleted = client.batch_sessions.delete_batch_session(str(created.data.batch_id))
    assert deleted.data.deleted_sessions == 0
    assert emu.live_sessions == 0


def test_sdk_async_sessions_create_and_poll(sdk):
    """Create and poll an async session; strict until ready, as published after."""
    emu, client = sdk
    created = client.sessions.create_session_async(
        session={"timeout": {"max_duration": 5}}, browser={"headless": {"active": True}}
    )
    assert isinstance(created.data.request_id, uuid.UUID) and created.data.session_id is None
    request_id = str(created.data.request_id)
    first = client.sessions.get_async_session_status(request_id)
    assert first.data.status in ("pending", "processing", "ready")
    # The published page shows the ready session's status as "running", which the SDK's
    # item model does not list: strict validation flags that one field and nothing else.
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline
        try:
            status = client.sessions.get_async_session_status(request_id)
        except anchorbrowser.APIResponseValidationError as exc:
            body = exc.body
            break
        assert status.data.status in ("pending", "processing")
        time.sleep(0.05)
    assert body["data"]["status"] == "ready" and body["data"]["session"]["status"] == "running"
    with pytest.raises(pydantic.ValidationError) as info:
        models.AsyncSessionStatusResponseSchema.model_validate(body)
    assert [e["loc"] for e in info.value.errors()] == [("data", "session", "status")]
    body["data"]["session"]["status"] = "completed"
    strict = models.AsyncSessionStatusResponseSchema.model_validate(body)
    assert strict.data.session.cdp_url and strict.data.progress.current_phase == "ready"
    assert strict.data.created_at.tzinfo is not None
    # The SDK as shipped (non-strict) reads the published answer without an error.
    loose = anchorbrowser.Anchorbrowser(api_key=emu.api_key, base_url=emu.base_url)
    status = loose.sessions.get_async_session_status(request_id)
    assert status.data.status == "ready" and status.data.session.cdp_url
    ended = loose.sessions.delete_session(str(status.data.session.session_id))
    assert ended.data.status == "success"
    assert emu.live_sessions == 0
    loose.close()


def test_sdk_sees_api_errors(sdk):
    """The emulator's error answers map to the SDK's own exception classes."""
    emu, client = sdk
    with pytest.raises(anchorbrowser.BadRequestError):
        client.batch_sessions.create_batch_session(count=0)
    with pytest.raises(anchorbrowser.NotFoundError):
        client.batch_sessions.get_batch_session(str(uuid.uuid4()))
    bad = anchorbrowser.Anchorbrowser(api_key="wrong", base_url=emu.base_url)
    with pytest.raises(anchorbrowser.AuthenticationError):
        bad.batch_sessions.list_batch_sessions()
    bad.close()
