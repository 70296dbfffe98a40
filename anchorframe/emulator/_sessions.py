"""The session routes: ``GET /v1/sessions`` (history page), ``GET /v1/sessions/all/status``
and ``GET /v1/sessions/{session_id}``, with the filters the published document lists.

A session exists here once its browser is up (the vendor inserts the session row when
the pod registers); requests still provisioning have no session yet.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._provision import Problem
from ._state import Slot, session_detail_json, session_history_json, session_status_json

if TYPE_CHECKING:
    from ._app import EmulatorCore

__all__ = ["get_session", "list_sessions", "sessions_status"]

PAGE_SIZES = (10, 20, 50)
SORT_FIELDS = {
    "created_at": lambda slot: slot.completed_at or datetime.min.replace(tzinfo=timezone.utc),
    "session_id": lambda slot: slot.session_id or "",
    "used_credits": lambda slot: 0 if slot.ended_at is None else 1,
    "api_key_name": lambda slot: "emulator",
}


def _time(value: str | None) -> datetime | None:
    """An ISO 8601 filter value; unparseable ones match nothing rather than fail (no 400 documented)."""
    if not value:
        return None
    text = value.strip().replace(" ", "+")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return datetime.max.replace(tzinfo=timezone.utc)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("true", "1")


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _matching(core: EmulatorCore, request: Request) -> list[Slot]:
    """The sessions that every given filter accepts (filters the emulator has no data for: false)."""
    query = request.query_params
    tags = _csv(query.get("tags"))
    search = [term.lower() for term in _csv(query.get("search"))]
    domains = _csv(query.get("domains"))
    start, end = _time(query.get("created_from")), _time(query.get("created_to"))
    status, batch_id = query.get("status"), query.get("batch_id")
    profile = query.get("profile_name")
    # The emulator runs no tasks, no playground, no proxy and no extra stealth: a filter asking
    # for any of them matches nothing.
    wants_feature = any(
        _flag(query.get(name)) for name in ("task_initiated", "playground", "proxy", "extra_stealth")
    )
    out = []
    for slot in core.provisioner.sessions.values():
        created = slot.completed_at
        if (
            wants_feature
            or domains
            or profile
            or (tags and not set(tags) <= set(slot.tags))
            or (search and not all(any(term in tag.lower() for tag in slot.tags) for term in search))
            or (status is not None and session_status_json(slot)["status"] != status)
            or (batch_id is not None and slot.batch_id != batch_id)
            or (start is not None and (created is None or created < start))
            or (end is not None and (created is None or created > end))
        ):
            continue
        out.append(slot)
    return out


def _int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise Problem(400, f"{name} must be an integer") from None


async def list_sessions(request: Request, core: EmulatorCore) -> Response:
    """``GET /v1/sessions``: one page of the session history, sorted and filtered."""
    query = request.query_params
    page = _int(query.get("page"), "page", 1)
    limit = _int(query.get("limit"), "limit", 10)
    if page < 1:
        raise Problem(400, "page must be 1 or more")
    if limit not in PAGE_SIZES:
        raise Problem(400, "limit must be one of 10, 20 or 50")
    order = query.get("sort_order", "asc")
    if order not in ("asc", "desc"):
        raise Problem(400, "sort_order must be asc or desc")
    key = SORT_FIELDS.get(query.get("sort_by", "created_at") or "created_at", SORT_FIELDS["created_at"])
    chosen = sorted(_matching(core, request), key=key, reverse=order == "desc")  # type: ignore[arg-type]
    pages = -(-len(chosen) // limit)
    window = chosen[(page - 1) * limit : page * limit]
    data: dict[str, Any] = {
        "sessions": [session_history_json(slot) for slot in window],
        "total": len(chosen),
        "page": page,
        "total_pages": pages,
    }
    return JSONResponse({"data": data})


async def sessions_status(request: Request, core: EmulatorCore) -> Response:
    """``GET /v1/sessions/all/status``: every matching session (no pagination), newest first."""
    chosen = sorted(_matching(core, request), key=SORT_FIELDS["created_at"], reverse=True)
    items = [session_status_json(slot) for slot in chosen]
    return JSONResponse({"data": {"count": len(items), "items": items}})


async def get_session(request: Request, core: EmulatorCore) -> Response:
    """``GET /v1/sessions/{session_id}``."""
    slot = core.provisioner.sessions.get(request.path_params["session_id"])
    if slot is None:
        raise Problem(404, "Session not found")
    return JSONResponse({"data": session_detail_json(slot)})
