"""The call flows, driven by hand: no network, no event loop, no sleeping."""

from __future__ import annotations

import random

from anchorframe.client import REQUEST_TAG_PREFIX
from anchorframe.client import _creates as creates
from anchorframe.client import _flows as flows
from anchorframe.client._core import ApiResponse, ClientConfig


def _config(**options):
    return ClientConfig(api_key="k", rng=random.Random(1), **options)


def _answer(status, data=None, headers=None):
    return ApiResponse(status, headers or {}, {"data": data} if data is not None else None)


def _batch(status):
    return {"batch_id": "b1", "status": status, "total_requests": 2, "sessions": []}


def test_wait_batch_backs_off_as_documented():
    """Polls sleep 5 s, x1.5 each time, capped at 30 s."""
    flow = flows.wait_batch(_config(), "b1", initial_interval=5, factor=1.5, max_interval=30, timeout=10_000)
    op = next(flow)
    sleeps = []
    for _ in range(7):
        assert isinstance(op, flows.Send)
        op = flow.send(_answer(200, _batch("processing")))
        assert isinstance(op, flows.Sleep)
        sleeps.append(op.seconds)
        op = flow.send(None)
    assert sleeps == [5, 7.5, 11.25, 16.875, 25.3125, 30, 30]


def test_backoff_honours_retry_after_and_is_capped():
    """Retry-After wins (up to max_retry_after); otherwise jittered and capped."""
    config = _config(retry_initial_delay=0.5, retry_max_delay=8.0, max_retry_after=60)
    assert config.backoff(0, retry_after=3) == 3
    assert config.backoff(0, retry_after=600) == 60
    delays = [config.backoff(attempt) for attempt in range(10)]
    assert all(0 < d <= 8.0 for d in delays)
    assert 0.25 <= delays[0] <= 0.5 and delays[-1] >= 4.0


def test_safe_call_retries_after_429_with_retry_after():
    """A GET answered 429 sleeps for Retry-After and is sent again."""
    flow = flows.get_batch(_config(), "b1")
    assert isinstance(next(flow), flows.Send)
    op = flow.send(_answer(429, headers={"retry-after": "2"}))
    assert op == flows.Sleep(2.0)
    assert isinstance(flow.send(None), flows.Send)
    try:
        flow.send(_answer(200, _batch("completed")))
    except StopIteration as stop:
        assert stop.value.status == "completed"


def test_create_with_unknown_outcome_looks_before_sending_again():
    """After a 500 the create lists batches and returns the one whose sessions carry its tag."""
    flow = creates.create_batch(_config(), 2, request_token="tok")
    post = next(flow)
    assert post.request.method == "POST" and not post.request.safe
    assert post.request.json["configuration"]["session"]["tags"] == [f"{REQUEST_TAG_PREFIX}tok"]
    op = flow.send(_answer(500))
    assert isinstance(op, flows.Sleep)
    listing = flow.send(None)
    assert listing.request.method == "GET" and listing.request.path == "/v1/batch-sessions"
    found = {"batch_id": "b9", "status": "pending", "total_requests": 2}
    page = {"batches": [found], "pagination": {"has_next": False}}
    sessions = flow.send(_answer(200, page))
    assert sessions.request.path == "/v1/sessions"
    assert sessions.request.query() == {
        "tags": f"{REQUEST_TAG_PREFIX}tok",
        "batch_id": "b9",
        "page": "1",
        "limit": "10",
    }
    tagged = {"sessions": [{"id": "s1", "status": "running"}], "total": 1, "page": 1, "total_pages": 1}
    try:
        flow.send(_answer(200, tagged))
    except StopIteration as stop:
        assert stop.value.batch_id == "b9" and stop.value.extra["reconciled"]
    else:
        raise AssertionError("the flow should have returned the found batch")


def test_a_session_listed_between_the_two_queries_is_recognised_by_its_tag():
    """Reconciliation asks for the batch's sessions with the tag, then without: a session that
    appeared in between (provisioning finished) carries the tag and decides; it is not a decoy."""
    token = "t0"
    tag = f"{REQUEST_TAG_PREFIX}{token}"
    flow = creates.find_batch_by_token(_config(), token, count=1, wait=0)
    op = next(flow)
    assert isinstance(op, flows.Send) and op.request.path == "/v1/batch-sessions"
    listing = {"batches": [{"batch_id": "b2", "status": "processing", "total_requests": 1}]}
    op = flow.send(_answer(200, listing))
    assert isinstance(op, flows.Send) and op.request.params["tags"] == tag
    op = flow.send(_answer(200, {"sessions": [], "page": 1, "total_pages": 1}))  # not listed yet
    assert isinstance(op, flows.Send) and "tags" not in {k for k, v in op.request.params.items() if v}
    appeared = {"sessions": [{"id": "s1", "status": "running", "tags": [tag]}], "page": 1, "total_pages": 1}
    try:
        flow.send(_answer(200, appeared))
    except StopIteration as stop:
        assert stop.value is not None and stop.value.batch_id == "b2"
    else:
        raise AssertionError("the flow went on instead of returning the batch")
