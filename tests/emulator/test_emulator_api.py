"""The emulator's REST answers: shapes, validation, phases, faults and clean shutdown."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

import httpx
import pytest
from conftest_anchor import wait_until

from anchorframe.backends._chromium import live_chromium_pids
from anchorframe.emulator import Emulator, Faults


def _http(emu: Emulator, key: str | None = "auto") -> httpx.Client:
    headers = {} if key is None else {"anchor-api-key": emu.api_key if key == "auto" else key}
    return httpx.Client(base_url=emu.base_url, headers=headers, timeout=10)


def _aware(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None
    return parsed


def _wait_batch(http: httpx.Client, batch_id: str, timeout: float = 30) -> dict:
    return wait_until(
        lambda: (
            (d := http.get(f"/v1/batch-sessions/{batch_id}").json()["data"])["status"]
            in ("completed", "failed", "cancelled")
            and d
        ),
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"count": 0}, "Session count must be between 1 and 1000"),
        ({"count": 1001}, "Session count must be between 1 and 1000"),
        ({}, "Session count must be between 1 and 1000"),
        ({"count": "3"}, "Session count must be between 1 and 1000"),
        (
            {"count": 1, "configuration": {"browser": {"captcha_solver": {"active": True}}}},
            "CAPTCHA solver requires proxy to be active",
        ),
    ],
)
def test_create_validation_is_400_error_response(emulator, body, message):
    """Invalid creates answer 400 with an ErrorResponse holding the documented message."""
    with _http(emulator) as http:
        answer = http.post("/v1/batch-sessions", json=body)
    assert answer.status_code == 400
    assert answer.json() == {"error": {"code": 400, "message": message}}


def test_captcha_with_proxy_is_accepted(emulator):
    """The captcha solver with an active proxy passes validation."""
    config = {
        "browser": {"captcha_solver": {"active": True}},
        "session": {"proxy": {"active": True}},
    }
    with _http(emulator) as http:
        answer = http.post("/v1/batch-sessions", json={"count": 1, "configuration": config})
        assert answer.status_code == 200
        http.patch(f"/v1/batch-sessions/{answer.json()['data']['batch_id']}", json={"status": "cancelled"})


@pytest.mark.parametrize("key", [None, "wrong"])
def test_missing_or_wrong_key_is_401(emulator, key):
    """Without the emulator's key every API route answers 401."""
    with _http(emulator, key) as http:
        for method, path in [
            ("GET", "/v1/batch-sessions"),
            ("POST", "/v1/batch-sessions"),
            ("GET", f"/v1/batch-sessions/{uuid.uuid4()}"),
            ("DELETE", f"/v1/sessions/{uuid.uuid4()}"),
            ("GET", "/_emulator/state"),
        ]:
            answer = http.request(method, path, json={"count": 1} if method == "POST" else None)
            assert answer.status_code == 401, (method, path)
            assert answer.json()["error"]["code"] == 401


def test_no_auth_accepts_any_key(make_emulator):
    """check_key=False accepts requests with no key at all."""
    emu = make_emulator(check_key=False)
    with _http(emu, None) as http:
        assert http.get("/v1/batch-sessions").status_code == 200


def test_unknown_things_are_404(emulator):
    """Unknown batches, async requests, sessions and paths answer 404 ErrorResponses."""
    with _http(emulator) as http:
        for method, path in [
            ("GET", f"/v1/batch-sessions/{uuid.uuid4()}"),
            ("PATCH", f"/v1/batch-sessions/{uuid.uuid4()}"),
            ("DELETE", f"/v1/batch-sessions/{uuid.uuid4()}"),
            ("POST", f"/v1/batch-sessions/{uuid.uuid4()}/retry"),
            ("GET", f"/v1/sessions/async/{uuid.uuid4()}/status"),
            ("GET", f"/v1/sessions/{uuid.uuid4()}"),
            ("GET", "/v1/nothing-here"),
        ]:
            answer = http.request(method, path, json={"status": "cancelled"} if method == "PATCH" else None)
            assert answer.status_code == 404, (method, path)
            assert answer.json()["error"]["code"] == 404
        # Ending an unknown session is the one documented otherwise: 401.
        answer = http.delete(f"/v1/sessions/{uuid.uuid4()}")
        assert answer.status_code == 401
        assert answer.json()["error"]["message"] == "Invalid API Key or browser session ID"


def test_list_validates_its_parameters(emulator):
    """limit above 100, page 0, an unknown status or a bad time answer 400."""
    with _http(emulator) as http:
        for params in ({"limit": 101}, {"limit": 0}, {"page": 0}, {"status": "nope"}, {"created_after": "x"}):
            assert http.get("/v1/batch-sessions", params=params).status_code == 400, params


def test_batch_moves_through_phases_with_counts(make_emulator):
    """pending -> processing -> completed, phases queued/provisioning/configuring/ready."""
    emu = make_emulator(provision_delay=0.3, launch_concurrency=1)
    with _http(emu) as http:
        created = http.post("/v1/batch-sessions", json={"count": 3, "metadata": {"run": "p"}}).json()
        behind = http.post("/v1/batch-sessions", json={"count": 1}).json()["data"]["batch_id"]
        waiting = http.get(f"/v1/batch-sessions/{behind}").json()["data"]
        assert waiting["status"] == "pending" and waiting["progress"]["current_phase"] == "queued"
        assert waiting["pending_requests"] == 1 and waiting["progress"]["percentage"] == 0
        data = created["data"]
        assert data["status"] == "pending" and data["total_requests"] == 3
        uuid.UUID(data["batch_id"])
        _aware(data["created_at"])
        seen_status, seen_phase = set(), set()
        while True:
            status = http.get(f"/v1/batch-sessions/{data['batch_id']}").json()["data"]
            seen_status.add(status["status"])
            seen_phase.add(status["progress"]["current_phase"])
            counts = [
                status[k]
                for k in ("completed_requests", "failed_requests", "processing_requests", "pending_requests")
            ]
            assert sum(counts) == 3
            if status["status"] == "completed":
                break
            time.sleep(0.02)
        assert {"processing", "completed"} <= seen_status
        assert {"provisioning", "ready"} <= seen_phase
        assert status["progress"]["percentage"] == 100
        _aware(status["actual_completion_time"])
        for item in status["sessions"]:
            uuid.UUID(item["session_id"])
            assert _aware(item["started_at"]) <= _aware(item["completed_at"])
            assert item["metadata"] == {"run": "p"} and item["retry_count"] == 0
        assert emu.live_sessions >= 3 and len(emu.chromium_pids) >= 3
        state = http.get("/_emulator/state").json()
        assert state["live_sessions"] >= 3 and state["credits_used"] == 4
        assert any(r["path"] == "/v1/batch-sessions" for r in state["requests"])
    emu.close()
    assert not set(emu.chromium_pids) & set(live_chromium_pids())


def test_requests_are_recorded_without_the_key(emulator):
    """emu.requests lists method, path, query and status of every API call."""
    with _http(emulator) as http:
        http.get("/v1/batch-sessions", params={"limit": 5})
    last = emulator.requests[-1]
    assert (last.method, last.path, last.query, last.status) == ("GET", "/v1/batch-sessions", "limit=5", 200)
    assert emulator.api_key not in repr(emulator.requests)


def test_max_duration_is_enforced(make_emulator):
    """A session ends itself after max_duration minutes (scaled by seconds_per_minute)."""
    emu = make_emulator(seconds_per_minute=0.5)
    with _http(emu) as http:
        config = {"session": {"timeout": {"max_duration": 1}}}
        request_id = http.post("/v1/sessions/async", json=config).json()["data"]["request_id"]
        url = f"/v1/sessions/async/{request_id}/status"
        wait_until(lambda: http.get(url).json()["data"]["status"] == "ready", timeout=30)
        wait_until(lambda: http.get(url).json()["data"]["status"] == "completed", timeout=5)
    wait_until(lambda: emu.live_sessions == 0, timeout=5)


def test_crash_fault_kills_chromium_after_delay(make_emulator):
    """With crash=1.0 each ready session's Chromium is killed crash_after seconds later."""
    emu = make_emulator(crash=1.0, crash_after=0.3)
    with _http(emu) as http:
        batch_id = http.post("/v1/batch-sessions", json={"count": 1}).json()["data"]["batch_id"]
        data = _wait_batch(http, batch_id)
        assert data["status"] == "completed"
        pid = emu.state()["chromium_pids"]
        wait_until(lambda: emu.live_sessions == 0, timeout=5)
        assert not set(pid) & set(live_chromium_pids())


def test_crash_session_on_demand(emulator):
    """emu.crash_session kills one session's Chromium; its batch still lists it."""
    with _http(emulator) as http:
        batch_id = http.post("/v1/batch-sessions", json={"count": 1}).json()["data"]["batch_id"]
        data = _wait_batch(http, batch_id)
        session_id = data["sessions"][0]["session_id"]
        assert emulator.crash_session(session_id) is True
        assert emulator.live_sessions == 0
        assert emulator.crash_session(session_id) is False
        assert http.delete(f"/v1/sessions/{session_id}").status_code == 200


def test_fail_provision_is_deterministic_under_seed(make_emulator):
    """The same seed fails the same sessions, with an error message and no Chromium."""
    outcomes = []
    for _ in range(2):
        emu = make_emulator(seed=5, fail_provision=0.5, provision_delay=0.0)
        with _http(emu) as http:
            batch_id = http.post("/v1/batch-sessions", json={"count": 4}).json()["data"]["batch_id"]
            data = _wait_batch(http, batch_id)
            failed = [s["item_index"] for s in data["sessions"] if s["status"] == "failed"]
            assert all(s["error"] for s in data["sessions"] if s["status"] == "failed")
            assert emu.live_sessions == 4 - len(failed)
            outcomes.append((batch_id, failed))
            http.delete(f"/v1/batch-sessions/{batch_id}")
        emu.close()
    assert outcomes[0] == outcomes[1] and 0 < len(outcomes[0][1]) < 4


def test_concurrent_session_cap(make_emulator):
    """Sessions beyond max_concurrent_sessions fail with an error; the batch completes."""
    emu = make_emulator(max_concurrent_sessions=1)
    with _http(emu) as http:
        batch_id = http.post("/v1/batch-sessions", json={"count": 2}).json()["data"]["batch_id"]
        data = _wait_batch(http, batch_id)
        assert data["status"] == "completed"
        assert data["completed_requests"] == 1 and data["failed_requests"] == 1
        assert (
            "would exceed batch browser limit"
            in next(s for s in data["sessions"] if s["status"] == "failed")["error"]
        )
        assert emu.live_sessions == 1
        # An async create over the cap is refused at once, as documented: 429, no Retry-After.
        refused = http.post("/v1/sessions/async", json={})
        assert refused.status_code == 429 and "retry-after" not in refused.headers
        assert refused.json()["error"]["message"] == "API key would exceed batch browser limit"
        http.delete(f"/v1/batch-sessions/{batch_id}")


def test_cost_limit_is_403_for_async_and_402_for_batches(make_emulator):
    """Past the project's cost limit: async creates 403, batch creates 402, nothing started."""
    emu = make_emulator(cost_limit=0)
    with _http(emu) as http:
        answer = http.post("/v1/sessions/async", json={})
        assert (
            answer.status_code == 403 and answer.json()["error"]["message"] == "Project cost limit reached."
        )
        assert http.post("/v1/batch-sessions", json={"count": 1}).status_code == 402
        assert emu.credits_used == 0 and emu.live_sessions == 0


def test_all_failed_batch_is_failed_with_error(make_emulator):
    """A batch whose every session failed is 'failed' with an error message."""
    emu = make_emulator(fail_provision=1.0)
    with _http(emu) as http:
        batch_id = http.post("/v1/batch-sessions", json={"count": 2}).json()["data"]["batch_id"]
        data = _wait_batch(http, batch_id)
    assert data["status"] == "failed" and data["error"] and data["failed_requests"] == 2


def test_rate_limit_and_server_error_faults(make_emulator):
    """rate_limit answers 429 with Retry-After; server_error answers 500."""
    emu = make_emulator(rate_limit=1.0, retry_after=2)
    with _http(emu) as http:
        answer = http.get("/v1/batch-sessions")
        assert answer.status_code == 429 and answer.headers["retry-after"] == "2"
        emu.set_faults(rate_limit=0.0, server_error=1.0)
        answer = http.get("/v1/batch-sessions")
        assert answer.status_code == 500 and answer.json()["error"]["code"] == 500
        assert http.get("/_emulator/state").status_code == 200  # the emulator's own route


def test_faults_are_validated():
    """A share outside 0..1 or an unknown knob is refused."""
    with pytest.raises(ValueError, match="between 0 and 1"):
        Faults(fail_provision=2.0)
    with pytest.raises(TypeError, match="Unknown fault knob"):
        Faults().replace(nonsense=1)


def test_close_ends_every_chromium(make_emulator):
    """Closing the emulator ends live and provisioning sessions and stops the server."""
    emu = make_emulator()
    with _http(emu) as http:
        batch_id = http.post("/v1/batch-sessions", json={"count": 2}).json()["data"]["batch_id"]
        wait_until(
            lambda: http.get(f"/v1/batch-sessions/{batch_id}").json()["data"]["completed_requests"] >= 1
        )
        http.post("/v1/batch-sessions", json={"count": 3})
    pids = emu.chromium_pids
    emu.close()
    assert not set(pids) & set(live_chromium_pids())
    assert emu.live_sessions == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(emu.base_url + "/v1/batch-sessions", timeout=2)
