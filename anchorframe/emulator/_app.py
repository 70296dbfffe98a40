"""The Anchor-compatible REST routes, as a Starlette application.

Why Starlette on uvicorn: a small, maintained ASGI stack that runs in a thread with
its own event loop, so provisioning tasks, Chromium subprocesses and the HTTP
server share one loop and no framework magic sits between a route and the
published JSON shapes.

Every API route goes through :func:`_api`, which checks ``anchor-api-key``, draws
the request-level faults (429 with Retry-After, 500), maps :class:`Problem` to an
ErrorResponse (``{"error": {"code", "message"}}``), drops the answer of a create
when asked to, delays answers when asked to, and records the request (never the
key). ``/_emulator/...`` routes are the emulator's own and see no faults. Without
injected faults every answer is one ``openapi.yaml`` documents for its operation; the
injected 429/500 model a gateway and may answer where the document lists neither.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ._provision import Problem, Provisioner
from ._sessions import get_session, list_sessions, sessions_status
from ._state import (
    async_created_json,
    async_status_json,
    batch_created_json,
    batch_status_json,
    batch_summary_json,
    pagination_json,
)

__all__ = ["EmulatorCore", "RequestRecord", "create_app"]

BATCH_STATUSES = ("pending", "processing", "completed", "failed", "cancelled")


@dataclass(frozen=True)
class RequestRecord:
    """One API request the emulator answered (the key is never recorded)."""

    method: str
    path: str
    query: str
    status: int
    time: float


class EmulatorCore:
    """What the routes share: the provisioner, the key, the request log."""

    def __init__(self, provisioner: Provisioner, api_key: str | None) -> None:
        self.provisioner = provisioner
        self._api_key = api_key
        self.requests: list[RequestRecord] = []
        self.base_url = ""
        self._request_number = 0

    def __repr__(self) -> str:
        return f"EmulatorCore(base_url={self.base_url!r})"

    def authorized(self, request: Request) -> bool:
        if self._api_key is None:
            return True
        given = request.headers.get("anchor-api-key", "")
        return hmac.compare_digest(given.encode(), self._api_key.encode())

    def next_request_number(self) -> int:
        self._request_number += 1
        return self._request_number

    def take_lost_answer(self) -> bool:
        faults = self.provisioner.faults
        if faults.lose_create_answers > 0:
            self.provisioner.faults = faults.replace(lose_create_answers=faults.lose_create_answers - 1)
            return True
        return False

    def state(self) -> dict[str, Any]:
        prov = self.provisioner
        live = prov.live_slots()
        return {
            "live_sessions": len(live),
            "chromium_pids": prov.chromium_pids(),
            "sessions_created": len(prov.sessions),
            "credits_used": prov.credits_used,
            "batches": len(prov.batches),
            "async_requests": len(prov.asyncs),
            "faults": prov.faults.as_dict(),
            "requests": [asdict(record) for record in self.requests],
        }

    @property
    def lenient(self) -> bool:
        return self.provisioner.lenient

    @property
    def live_view_base(self) -> str:
        return f"{self.base_url}/_emulator/live"


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"code": status, "message": message}}, status_code=status, headers=headers)


def data_response(data: Any, status: int = 200) -> Response:
    return JSONResponse({"data": data}, status_code=status)


Handler = Callable[[Request, EmulatorCore], Awaitable[Response]]


def _api(handler: Handler, *, create: bool = False) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request) -> Response:
        core: EmulatorCore = request.app.state.core
        prov = core.provisioner
        number = core.next_request_number()
        faults = prov.faults
        response: Response
        try:
            if not core.authorized(request):
                response = error_response(401, "Invalid API Key")
            elif prov.dice.hit(faults.rate_limit, "rate_limit", number):
                response = error_response(
                    429,
                    "Too many requests - rate limit exceeded",
                    # The spec's Retry-After is an integer number of seconds.
                    headers={"Retry-After": str(math.ceil(faults.retry_after))},
                )
            elif prov.dice.hit(faults.server_error, "server_error", number):
                response = error_response(500, "Internal server error")
            else:
                try:
                    response = await handler(request, core)
                except Problem as problem:
                    response = error_response(problem.status, problem.message)
                else:
                    if create and response.status_code < 300 and core.take_lost_answer():
                        response = error_response(500, "Internal server error")
            if faults.answer_delay:
                await asyncio.sleep(faults.answer_delay)
        except Exception:
            response = error_response(500, "Internal server error")
        core.requests.append(
            RequestRecord(
                request.method, request.url.path, request.url.query, response.status_code, time.time()
            )
        )
        return response

    return route


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Problem(400, "Request body must be valid JSON") from None
    if not isinstance(body, dict):
        raise Problem(400, "Request body must be a JSON object")
    return body


def _check_session_config(config: Any, where: str) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise Problem(400, f"{where} must be an object")
    browser, session = config.get("browser") or {}, config.get("session") or {}
    if not isinstance(browser, dict) or not isinstance(session, dict):
        raise Problem(400, f"{where}.browser and {where}.session must be objects")
    captcha = browser.get("captcha_solver") or {}
    proxy = session.get("proxy") or {}
    wants_captcha = isinstance(captcha, dict) and captcha.get("active") is True
    if wants_captcha and not (isinstance(proxy, dict) and proxy.get("active") is True):
        raise Problem(400, "CAPTCHA solver requires proxy to be active")
    timeout = session.get("timeout") or {}
    if not isinstance(timeout, dict):
        raise Problem(400, "session.timeout must be an object")
    for name in ("max_duration", "idle_timeout"):
        value = timeout.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise Problem(400, f"session.timeout.{name} must be an integer (minutes)")
    return config


def _batch(core: EmulatorCore, request: Request) -> Any:
    batch = core.provisioner.batches.get(request.path_params["batch_id"])
    if batch is None:
        raise Problem(404, "Batch not found")
    return batch


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    text = value.strip().replace(" ", "+")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Problem(400, f"{name} must be an ISO 8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _int_param(value: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise Problem(400, f"{name} must be an integer") from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise Problem(400, f"{name} must be {bound}")
    return number


# --- routes ----------------------------------------------------------------------------------


async def create_batch(request: Request, core: EmulatorCore) -> Response:
    body = await _json_body(request)
    count = body.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise Problem(400, "Session count must be between 1 and 1000")
    configuration = _check_session_config(body.get("configuration"), "configuration")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise Problem(400, "metadata must be an object")
    batch = core.provisioner.create_batch(count, configuration, metadata)
    return data_response(batch_created_json(batch))


async def list_batches(request: Request, core: EmulatorCore) -> Response:
    query = request.query_params
    status = query.get("status")
    if status is not None and status not in BATCH_STATUSES:
        raise Problem(400, f"status must be one of {', '.join(BATCH_STATUSES)}")
    page = _int_param(query.get("page"), "page", 1, 1, None)
    limit = _int_param(query.get("limit"), "limit", 20, 1, 100)
    after = _parse_time(query.get("created_after"), "created_after")
    before = _parse_time(query.get("created_before"), "created_before")
    batches = sorted(core.provisioner.batches.values(), key=lambda b: (b.created_at, b.number), reverse=True)
    chosen = [
        b
        for b in batches
        if (status is None or b.status == status)
        and (after is None or b.created_at > after)
        and (before is None or b.created_at < before)
    ]
    window = chosen[(page - 1) * limit : page * limit]
    return data_response(
        {
            "batches": [batch_summary_json(b, lenient=core.lenient) for b in window],
            "pagination": pagination_json(page, limit, len(chosen)),
        }
    )


async def get_batch(request: Request, core: EmulatorCore) -> Response:
    return data_response(batch_status_json(_batch(core, request), core.live_view_base, lenient=core.lenient))


async def update_batch(request: Request, core: EmulatorCore) -> Response:
    batch = _batch(core, request)
    body = await _json_body(request)
    if body.get("status") != "cancelled":
        raise Problem(400, "status must be 'cancelled'")
    stopped, waits = core.provisioner.cancel_batch(batch)
    await asyncio.gather(*waits, return_exceptions=True)
    return data_response(
        {
            "batch_id": batch.batch_id,
            "status": "cancelled",
            "cancelled_sessions": stopped,
            "message": f"Batch cancelled; {stopped} session(s) stopped",
        }
    )


async def delete_batch(request: Request, core: EmulatorCore) -> Response:
    batch = _batch(core, request)
    deleted = await core.provisioner.delete_batch(batch)
    return data_response(
        {
            "batch_id": batch.batch_id,
            "deleted_sessions": deleted,
            "failed_deletions": 0,
            "message": f"Deleted {deleted} session(s)",
        }
    )


async def retry_batch(request: Request, core: EmulatorCore) -> Response:
    batch = _batch(core, request)
    body = await _json_body(request)
    failed_only = body.get("retry_failed_only", True)
    max_retries = body.get("max_retries", 1)
    if not isinstance(failed_only, bool):
        raise Problem(400, "retry_failed_only must be a boolean")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or not 1 <= max_retries <= 3:
        raise Problem(400, "max_retries must be between 1 and 3")
    retried = core.provisioner.retry_batch(batch, failed_only=failed_only, max_retries=max_retries)
    return data_response(
        {
            "batch_id": batch.batch_id,
            "status": batch.status,
            "retried_sessions": retried,
            "message": f"Retrying {retried} session(s)",
        }
    )


async def create_async_session(request: Request, core: EmulatorCore) -> Response:
    body = _check_session_config(await _json_body(request), "body")
    record = core.provisioner.create_async(body)
    return data_response(async_created_json(record))


async def async_session_status(request: Request, core: EmulatorCore) -> Response:
    record = core.provisioner.asyncs.get(request.path_params["request_id"])
    if record is None:
        raise Problem(404, "Async session request not found")
    return data_response(async_status_json(record, core.live_view_base, lenient=core.lenient))


async def end_session(request: Request, core: EmulatorCore) -> Response:
    await core.provisioner.end_session(request.path_params["session_id"])
    return data_response({"status": "success"})


# --- the emulator's own routes ------------------------------------------------------------


async def emulator_state(request: Request) -> Response:
    core: EmulatorCore = request.app.state.core
    if not core.authorized(request):
        return error_response(401, "Invalid API Key")
    return JSONResponse(core.state())


async def live_view(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    return HTMLResponse(
        f"<!doctype html><title>anchorframe emulator</title>"
        f"<p>Session {session_id}: the emulator has no live view; connect over CDP.</p>"
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: "Not found", 405: "Method not allowed"}.get(status, "Error")
    return error_response(status, message)


def create_app(core: EmulatorCore) -> Starlette:
    """The emulator's ASGI application."""
    routes = [
        Route("/v1/batch-sessions", _api(create_batch, create=True), methods=["POST"]),
        Route("/v1/batch-sessions", _api(list_batches), methods=["GET"]),
        Route("/v1/batch-sessions/{batch_id}", _api(get_batch), methods=["GET"]),
        Route("/v1/batch-sessions/{batch_id}", _api(update_batch), methods=["PATCH"]),
        Route("/v1/batch-sessions/{batch_id}", _api(delete_batch), methods=["DELETE"]),
        Route("/v1/batch-sessions/{batch_id}/retry", _api(retry_batch), methods=["POST"]),
        Route("/v1/sessions/async", _api(create_async_session, create=True), methods=["POST"]),
        Route("/v1/sessions/async/{request_id}/status", _api(async_session_status), methods=["GET"]),
        Route("/v1/sessions", _api(list_sessions), methods=["GET"]),
        Route("/v1/sessions/all/status", _api(sessions_status), methods=["GET"]),
        Route("/v1/sessions/{session_id}", _api(get_session), methods=["GET"]),
        Route("/v1/sessions/{session_id}", _api(end_session), methods=["DELETE"]),
        Route("/_emulator/state", emulator_state, methods=["GET"]),
        Route("/_emulator/live/{session_id}", live_view, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.core = core
    return app
