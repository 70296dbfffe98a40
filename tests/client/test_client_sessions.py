"""Session listings and lost-create reconciliation through session tags, on the strict emulator."""

from __future__ import annotations

import pytest

from anchorframe.client import REQUEST_TAG_PREFIX, _creates
from anchorframe.errors import ServerError


def _posts(emu, path):
    return [r.status for r in emu.requests if r.method == "POST" and r.path == path]


def test_list_iterate_status_and_get_sessions(make_emulator, make_client):
    """Sessions are listed by tag and batch, paged, iterated, and read one by one."""
    emu = make_emulator()
    client = make_client(emu)
    mine = client.create_batch(2, configuration={"session": {"tags": ["t-list", "mine"]}})
    client.create_batch(1, configuration={"session": {"tags": ["t-list"]}})
    client.wait_batch(mine.batch_id, initial_interval=0.05, max_interval=0.2)
    page = client.list_sessions(tags=["t-list", "mine"], limit=10)
    assert page.total == 2 and not page.has_next and all(s.is_live for s in page.sessions)
    assert all({"t-list", "mine"} <= set(s.tags) for s in page.sessions)
    by_batch = client.list_sessions(batch_id=mine.batch_id, limit=10)
    assert {s.session_id for s in by_batch.sessions} == {s.session_id for s in page.sessions}
    assert client.list_sessions(tags="mine,nobody").total == 0
    everything = list(client.iter_sessions(tags="t-list"))
    assert len(everything) >= 2  # the third may still be provisioning
    status = client.all_sessions_status(tags=["mine"])
    assert status.count == 2 and {i.session_id for i in status.items} == {s.session_id for s in page.sessions}
    one = client.get_session(str(page.sessions[0].session_id))
    assert one.session_id == page.sessions[0].session_id and one.status == "running"
    with pytest.raises(ValueError, match="10, 20 or 50"):
        client.list_sessions(limit=30)
    for batch in client.list_batches().batches:
        client.delete_batch(batch.batch_id)
    after = client.all_sessions_status(tags=["mine"])
    assert [i.is_live for i in after.items] == [False, False]


def test_lost_create_answer_ends_with_exactly_one_batch(make_emulator, make_client):
    """The create's answer is lost (500 after the batch was made): found by its tag, not re-sent."""
    emu = make_emulator(lose_create_answers=1)
    client = make_client(emu)
    created = client.create_batch(1, metadata={"run": "r-lost"})
    assert created.extra.get("reconciled") is True
    assert _posts(emu, "/v1/batch-sessions") == [500] and emu.state()["batches"] == 1
    tagged = client.list_sessions(batch_id=created.batch_id, tags=[f"{REQUEST_TAG_PREFIX}"[:-1]])
    assert tagged.total == 0  # tags match whole, never by prefix
    client.delete_batch(created.batch_id)


def test_undecidable_lost_create_is_not_sent_again_and_names_the_tag(make_emulator, make_client, monkeypatch):
    """No session appears to tell the batch by: no re-send, and the error names the tag to reap."""
    monkeypatch.setattr(_creates, "RECONCILE_SECONDS", 0.5)
    emu = make_emulator(lose_create_answers=1, provision_delay=3600)
    client = make_client(emu)
    with pytest.raises(ServerError, match=r"anchorframe reap --tag anchorframe-request:") as info:
        client.create_batch(1)
    assert info.value.reap_tag.startswith(REQUEST_TAG_PREFIX) and info.value.request_token
    assert _posts(emu, "/v1/batch-sessions") == [500] and emu.state()["batches"] == 1
    for batch in client.list_batches().batches:
        client.cancel_batch(batch.batch_id)
