"""Every error class, retries with Retry-After, and creates whose outcome is unknown."""

from __future__ import annotations

import itertools
import time

import pytest

from anchorframe.client import AnchorClient
from anchorframe.emulator._faults import FaultDice
from anchorframe.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
)


def _api_requests(emu, method=None, path=None):
    return [
        r for r in emu.requests if (method is None or r.method == method) and (path is None or r.path == path)
    ]


@pytest.mark.parametrize("count", [0, 1001])
def test_bad_count_is_400_with_server_message(client, count):
    """A count outside 1..1000 raises BadRequestError carrying the server's message."""
    with pytest.raises(BadRequestError) as info:
        client.create_batch(count)
    assert info.value.status_code == 400
    assert info.value.server_message == "Session count must be between 1 and 1000"
    assert "Session count must be between 1 and 1000" in str(info.value)


def test_captcha_without_proxy_is_400(client):
    """The captcha solver without a proxy is refused with the documented message."""
    config = {"browser": {"captcha_solver": {"active": True}}}
    with pytest.raises(BadRequestError, match="CAPTCHA solver requires proxy to be active"):
        client.create_batch(1, configuration=config)
    with pytest.raises(BadRequestError, match="CAPTCHA solver requires proxy"):
        client.create_async_session(browser={"captcha_solver": {"active": True}})


def test_wrong_key_is_authentication_error(emulator, make_client):
    """A wrong key raises AuthenticationError, not retried."""
    client = make_client(emulator, api_key="not-the-key")
    before = len(emulator.requests)
    with pytest.raises(AuthenticationError, match="401"):
        client.get_batch("00000000-0000-4000-8000-000000000000")
    assert len(emulator.requests) == before + 1


def test_missing_key_says_how_to_set_one(monkeypatch):
    """Without a key anywhere the client refuses to start and names the variables."""
    monkeypatch.delenv("ANCHOR_API_KEY", raising=False)
    monkeypatch.delenv("ANCHORBROWSER_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="ANCHOR_API_KEY"):
        AnchorClient()


def test_key_and_base_url_from_environment(monkeypatch, emulator):
    """ANCHORBROWSER_API_KEY and ANCHOR_BASE_URL are read when no argument is given."""
    monkeypatch.delenv("ANCHOR_API_KEY", raising=False)
    monkeypatch.setenv("ANCHORBROWSER_API_KEY", emulator.api_key)
    monkeypatch.setenv("ANCHOR_BASE_URL", emulator.base_url)
    with AnchorClient() as client:
        assert client.base_url == emulator.base_url
        assert client.list_batches(limit=1).pagination is not None


def test_credit_limit_is_payment_required(make_emulator, make_client):
    """Creating beyond the credit limit raises PaymentRequiredError (402)."""
    emu = make_emulator(credit_limit=1)
    client = make_client(emu)
    with pytest.raises(PaymentRequiredError, match="insufficient credits"):
        client.create_batch(2)
    assert emu.credits_used == 0


def test_unknown_batch_cancel_and_delete_are_not_found(client):
    """Cancel, delete and retry of an unknown batch raise NotFoundError."""
    unknown = "00000000-0000-4000-8000-000000000001"
    for call in (client.cancel_batch, client.delete_batch, client.retry_batch):
        with pytest.raises(NotFoundError):
            call(unknown)
    with pytest.raises(AuthenticationError, match="Invalid API Key or browser session ID"):
        client.end_session(unknown)  # the published answer for an unknown session: 401
    with pytest.raises(NotFoundError):
        client.get_async_session(unknown)


def test_rate_limit_carries_retry_after(make_emulator, make_client):
    """Without retries a 429 raises RateLimitError with the server's Retry-After."""
    emu = make_emulator(rate_limit=1.0, retry_after=0.2)
    client = make_client(emu, max_retries=0)
    with pytest.raises(RateLimitError) as info:
        client.list_batches()
    assert info.value.retry_after == 1.0  # the spec's Retry-After is whole seconds: 0.2 rounds up
    assert info.value.status_code == 429


def test_safe_calls_retry_honouring_retry_after(make_emulator, make_client):
    """A GET rate-limited twice is retried after at least Retry-After each time."""
    emu = make_emulator(rate_limit=1.0, retry_after=0.15)
    client = make_client(emu, max_retries=3)
    with pytest.raises(RateLimitError):
        client.list_batches()
    calls = _api_requests(emu, "GET", "/v1/batch-sessions")
    assert [c.status for c in calls] == [429] * 4
    gaps = [b.time - a.time for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 0.14
    emu.set_faults(rate_limit=0.0)
    assert client.list_batches().pagination is not None


def test_server_errors_are_retried_then_raised(make_emulator, make_client):
    """A GET answered 500 is retried max_retries times, then ServerError is raised."""
    emu = make_emulator(server_error=1.0)
    client = make_client(emu, max_retries=2)
    with pytest.raises(ServerError, match="500"):
        client.get_batch("00000000-0000-4000-8000-000000000000")
    assert len(_api_requests(emu, "GET")) == 3


def test_retries_recover_from_a_burst(make_emulator, make_client):
    """Under a 50% burst of 429 and 500 the safe calls still succeed with retries."""
    emu = make_emulator(rate_limit=0.3, server_error=0.3, retry_after=0.01)
    client = make_client(emu, max_retries=8)
    for _ in range(5):
        assert client.list_batches().pagination is not None
    assert {r.status for r in emu.requests} >= {200}


def test_timeout_is_api_timeout_error(make_emulator, make_client):
    """An answer slower than the client's timeout raises APITimeoutError."""
    emu = make_emulator(answer_delay=1.0)
    client = make_client(emu, timeout=0.2, max_retries=0)
    with pytest.raises(APITimeoutError, match=r"within 0\.2 s"):
        client.list_batches()


def test_closed_port_is_connection_error(closed_port):
    """Nothing listening raises APIConnectionError after the retries."""
    with AnchorClient(
        "k", base_url=f"http://127.0.0.1:{closed_port}", max_retries=2, retry_initial_delay=0.01
    ) as client:
        with pytest.raises(APIConnectionError, match="Could not reach"):
            client.list_batches()
        with pytest.raises(APIConnectionError):
            client.create_batch(1)


def test_lost_create_answer_finds_the_batch_by_token(make_emulator, make_client):
    """A create answered 500 after the batch was made is found by its token, not re-made."""
    emu = make_emulator(lose_create_answers=1)
    client = make_client(emu)
    created = client.create_batch(1, metadata={"run": "r-lost"})
    assert created.extra.get("reconciled") is True
    assert len(_api_requests(emu, "POST", "/v1/batch-sessions")) == 1
    assert emu.state()["batches"] == 1 and emu.credits_used == 1
    client.delete_batch(created.batch_id)


def test_lost_create_answer_is_told_from_a_decoy_by_session_tags(make_emulator, make_client):
    """A same-sized batch of someone else is ruled out by its sessions' tags."""
    emu = make_emulator(lose_create_answers=0)
    client = make_client(emu)
    other = client.create_batch(1)  # a same-sized decoy created first
    emu.set_faults(lose_create_answers=1)
    created = client.create_batch(1)
    assert created.batch_id != other.batch_id
    assert emu.state()["batches"] == 2
    for batch_id in (other.batch_id, created.batch_id):
        client.delete_batch(batch_id)


def test_timed_out_create_is_never_sent_twice(make_emulator, make_client):
    """A create that timed out, with the lookup failing too, raises and creates nothing more."""
    emu = make_emulator(answer_delay=0.6)
    client = make_client(emu, timeout=0.2, max_retries=2)
    with pytest.raises(APITimeoutError, match="not created again") as info:
        client.create_batch(1)
    assert info.value.request_token
    assert len(_api_requests(emu, "POST", "/v1/batch-sessions")) == 1
    emu.set_faults(answer_delay=0.0)
    time.sleep(0.5)
    batches = client.list_batches().batches
    assert len(batches) == 1
    client.delete_batch(batches[0].batch_id)


def test_rate_limited_create_is_sent_again(make_emulator, make_client):
    """A 429 proves the create was not processed, so it is re-sent after Retry-After."""
    seed = next(
        s
        for s in range(200)
        if FaultDice(s).hit(0.5, "rate_limit", 1) and not FaultDice(s).hit(0.5, "rate_limit", 2)
    )
    emu = make_emulator(seed=seed, rate_limit=0.5, retry_after=0.05)
    client = make_client(emu)
    created = client.create_batch(1)
    posts = _api_requests(emu, "POST", "/v1/batch-sessions")
    assert [p.status for p in posts] == [429, 200]
    emu.set_faults(rate_limit=0.0)
    client.delete_batch(created.batch_id)


def test_lost_async_create_is_not_sent_again(make_emulator, make_client):
    """An async create with an unknown outcome raises with its token and is not re-sent."""
    emu = make_emulator(lose_create_answers=1)
    client = make_client(emu)
    with pytest.raises(ServerError, match="not asked for again") as info:
        client.create_async_session()
    assert info.value.request_token
    assert emu.state()["async_requests"] == 1
    assert len(_api_requests(emu, "POST", "/v1/sessions/async")) == 1
