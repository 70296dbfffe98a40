"""The emulator at the vendor's word: requests generated from ``openapi.yaml`` (schemathesis),
every answer checked against the document made strict (no field it lacks, no status it
does not list for the operation, no server error).

The document is the package's copy (``anchorframe/emulator/openapi.yaml``), so this runs
from a clean clone. How many requests each operation got is printed at the end.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from conftest_anchor import wait_until
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import anchorframe.emulator
from anchorframe.client import AnchorClient
from anchorframe.emulator import Emulator

SPEC = Path(anchorframe.emulator.__file__).with_name("openapi.yaml")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 30
COUNTS: collections.Counter[str] = collections.Counter()


def strict(node: Any) -> Any:
    """The document with ``additionalProperties: false`` wherever an object lists its properties.

    The published schemas leave extra fields open; the emulator must not send any, so the
    contract closes them (an object that says ``additionalProperties`` keeps its word).
    """
    if isinstance(node, dict):
        out = {key: strict(value) for key, value in node.items()}
        if isinstance(out.get("properties"), dict) and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [strict(item) for item in node]
    return node


RAW = strict(yaml.safe_load(SPEC.read_text()))
# POST /v1/sessions (a blocking create) is the one operation of the document the emulator leaves out.
schema = schemathesis.openapi.from_dict(RAW).exclude(path="/v1/sessions", method="POST")
# Valid requests only: for invalid ones most operations document no answer at all (no 400).
schema.config.generation.update(modes=[GenerationMode.POSITIVE], with_security_parameters=False)


@pytest.fixture(scope="module")
def emu():
    """A strict emulator holding two real sessions; sessions asked for later stay provisioning."""
    with Emulator(seed=21) as running:
        with AnchorClient(running.api_key, base_url=running.base_url) as client:
            created = client.create_batch(2, configuration={"session": {"tags": ["contract", "a"]}})
            client.wait_batch(created.batch_id, initial_interval=0.1, max_interval=0.3, timeout=60)
        # Generated creates would otherwise start hundreds of browsers: they wait here instead.
        running.set_faults(provision_delay=3600)
        yield running


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_generated_request_gets_a_documented_answer(case, emu):
    """Generated requests to every implemented operation: documented status, conforming body."""
    COUNTS[f"{case.method} {case.path}"] += 1
    # The document's security scheme makes schemathesis generate a key: the real one replaces it.
    case.headers = {**(case.headers or {}), "anchor-api-key": emu.api_key}
    case.call_and_validate(base_url=emu.base_url, checks=CHECKS)


def _validate(method: str, path: str, response: httpx.Response) -> httpx.Response:
    """Check one answer against the strict document (status listed, body and headers conforming)."""
    COUNTS[f"{method} {path}"] += 1
    operation = schema[path][method]
    documented = operation.definition.raw["responses"]
    assert str(response.status_code) in documented, f"{method} {path} answered {response.status_code}"
    operation.validate_response(response)
    return response


def test_documented_errors_and_real_ids_conform(emu):
    """Answers about real ids, and the documented errors (409, 400, 401, 404), conform too."""
    headers = {"anchor-api-key": emu.api_key}
    with httpx.Client(base_url=emu.base_url, headers=headers, timeout=30) as http:
        sessions = _validate("GET", "/v1/sessions", http.get("/v1/sessions", params={"tags": "contract"}))
        found = sessions.json()["data"]["sessions"]
        assert len(found) == 2 and all({"contract", "a"} <= set(s["tags"]) for s in found)
        listed = _validate("GET", "/v1/sessions/all/status", http.get("/v1/sessions/all/status"))
        assert listed.json()["data"]["count"] >= 2
        session_id = found[0]["id"]
        _validate("GET", "/v1/sessions/{session_id}", http.get(f"/v1/sessions/{session_id}"))
        done = http.get("/v1/batch-sessions", params={"status": "completed"})
        batch_id = _validate("GET", "/v1/batch-sessions", done).json()["data"]["batches"][0]["batch_id"]
        status = _validate("GET", "/v1/batch-sessions/{batch_id}", http.get(f"/v1/batch-sessions/{batch_id}"))
        assert "metadata" not in status.json()["data"] and status.json()["data"]["completed_requests"] == 2
        retry = http.post(f"/v1/batch-sessions/{batch_id}/retry", json={"retry_failed_only": True})
        assert _validate("POST", "/v1/batch-sessions/{batch_id}/retry", retry).status_code == 400
        cancel = http.patch(f"/v1/batch-sessions/{batch_id}", json={"status": "cancelled"})
        assert _validate("PATCH", "/v1/batch-sessions/{batch_id}", cancel).status_code == 409
        waiting = http.post("/v1/batch-sessions", json={"count": 1})  # stays provisioning here
        other = _validate("POST", "/v1/batch-sessions", waiting).json()["data"]["batch_id"]
        for expected in (200, 409):  # provisioning -> cancelled, then already cancelled
            cancel = http.patch(f"/v1/batch-sessions/{other}", json={"status": "cancelled"})
            assert _validate("PATCH", "/v1/batch-sessions/{batch_id}", cancel).status_code == expected
        for session in found:
            gone = http.delete(f"/v1/sessions/{session['id']}")
            assert _validate("DELETE", "/v1/sessions/{session_id}", gone).status_code == 200
        unknown = http.delete("/v1/sessions/no-such-session")
        assert _validate("DELETE", "/v1/sessions/{session_id}", unknown).status_code == 401
        created = http.post("/v1/sessions/async", json={"session": {"tags": ["contract"]}})
        request_id = _validate("POST", "/v1/sessions/async", created).json()["data"]["request_id"]
        path = "/v1/sessions/async/{request_id}/status"
        _validate("GET", path, http.get(f"/v1/sessions/async/{request_id}/status"))
        deleted = http.delete(f"/v1/batch-sessions/{batch_id}")
        _validate("DELETE", "/v1/batch-sessions/{batch_id}", deleted)
    wait_until(lambda: emu.live_sessions == 0, timeout=10)


def test_zz_report_requests_per_operation(emu, capsys):
    """Every implemented operation was exercised; the counts are printed for the record."""
    operations = {f"{op.ok().method.upper()} {op.ok().path}" for op in schema.get_all_operations()}
    lines = [f"{COUNTS[name]:5d}  {name}" for name in sorted(operations)]
    with capsys.disabled():
        print("\ncontract requests per operation:\n" + "\n".join(lines))
    assert all(COUNTS[name] >= 5 for name in operations), lines
