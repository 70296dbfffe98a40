"""Strict by default; ``lenient=True`` keeps the old extras (no browser starts here)."""

from __future__ import annotations

import httpx
import pytest

from anchorframe.emulator import Emulator


@pytest.mark.parametrize("lenient", [False, True])
def test_batch_metadata_and_unknown_session_follow_the_mode(lenient):
    """Batch metadata in answers and 404 for an unknown session only when lenient."""
    with (
        Emulator(seed=2, provision_delay=3600, lenient=lenient) as emu,  # sessions never start
        httpx.Client(base_url=emu.base_url, headers={"anchor-api-key": emu.api_key}) as http,
    ):
        body = {"count": 1, "metadata": {"run": "m"}}
        batch_id = http.post("/v1/batch-sessions", json=body).json()["data"]["batch_id"]
        status = http.get(f"/v1/batch-sessions/{batch_id}").json()["data"]
        listed = http.get("/v1/batch-sessions").json()["data"]["batches"][0]
        unknown = http.delete("/v1/sessions/nobody").status_code
        http.patch(f"/v1/batch-sessions/{batch_id}", json={"status": "cancelled"})
        again = http.patch(f"/v1/batch-sessions/{batch_id}", json={"status": "cancelled"}).status_code
    if lenient:
        assert status["metadata"] == {"run": "m"} and listed["metadata"] == {"run": "m"}
        assert unknown == 404 and again == 200
    else:
        assert "metadata" not in status and "metadata" not in listed
        assert unknown == 401 and again == 409
