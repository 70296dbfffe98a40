"""``reap()`` and ``anchorframe reap``: end the cloud sessions crashed anchorframe runs left.

Run identity lives in session tags (``anchorframe``, ``anchorframe-run-<id>``), which the
published API filters on; nothing here reads a batch's metadata, which no answer carries.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from ..client import AnchorClient
from ..client._core import resolve_api_key, resolve_base_url
from ..errors import AnchorAPIError
from ._anchor_config import APP_TAG, RUN_TAG_PREFIX

__all__ = ["add_reap_parser", "reap"]


def reap(
    *,
    run_id: str | None = None,
    tag: str | None = None,
    older_than: float | timedelta | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    dry_run: bool = False,
) -> Any:
    """End the cloud sessions that anchorframe runs left behind (e.g. after a crash).

    Every session a run creates, in a batch or alone, carries the tags ``anchorframe``
    and ``anchorframe-run-<id>``. reap() lists the live sessions with the tag of one run
    (``run_id``), or with ``tag``, or of every anchorframe run, through the API's session
    listing, and ends them; batches of those runs still provisioning (pending or
    processing batches whose sessions carry the tag) are cancelled first so that no
    session appears after. ``older_than`` (seconds or a timedelta) leaves younger
    sessions alone. Sessions without the tag, such as another run's when ``run_id`` is
    given, are never touched. Returns a DataFrame of what it found and did.

    Example:
        >>> import anchorframe as af
        >>> af.reap(run_id="3f2a9c1b7d4e")  # doctest: +SKIP
    """
    import pandas as pd

    if isinstance(older_than, timedelta):
        older_than = older_than.total_seconds()
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than) if older_than else None
    wanted = [RUN_TAG_PREFIX + run_id] if run_id else [tag] if tag else [APP_TAG]
    rows: list[dict[str, Any]] = []

    def run_of(tags: list[str]) -> str | None:
        return next((t[len(RUN_TAG_PREFIX) :] for t in tags if t.startswith(RUN_TAG_PREFIX)), None)

    with AnchorClient(resolve_api_key(api_key), base_url=resolve_base_url(base_url)) as client:
        found = [
            item
            for item in client.all_sessions_status(tags=wanted, created_to=cutoff).items
            if item.session_id and (cutoff is None or item.created_at is None or item.created_at <= cutoff)
        ]
        # Batches still provisioning: only those created around the sessions found (when a run is
        # named), and only if one of their sessions carries the tag.
        starts = [item.created_at for item in found if item.created_at is not None]
        since = min(starts) - timedelta(minutes=30) if run_id and starts else None
        for status in ("pending", "processing"):
            for summary in client.iter_batches(status=status, created_after=since, created_before=cutoff):
                tagged = client.list_sessions(batch_id=summary.batch_id, tags=wanted, limit=10).sessions
                if not tagged:
                    continue
                action = "would cancel" if dry_run else "cancelled"
                if not dry_run:
                    try:
                        client.cancel_batch(summary.batch_id)
                    except AnchorAPIError as exc:
                        action = "already ended" if exc.status_code == 409 else f"failed: {exc}"
                row = {"run": run_of(tagged[0].tags), "batch": summary.batch_id, "batch_status": status}
                rows.append({**row, "session": None, "action": action})
        for item in found:
            if not item.is_live:
                continue
            action = "would end" if dry_run else "ended"
            if not dry_run:
                try:
                    client.end_session(str(item.session_id))
                except AnchorAPIError as exc:
                    action = "already gone" if exc.status_code in (401, 404) else f"failed: {exc}"
            row = {"run": run_of(item.tags), "batch": None, "batch_status": None}
            rows.append({**row, "session": item.session_id, "action": action})
    return pd.DataFrame(rows, columns=["run", "batch", "batch_status", "session", "action"])


def add_reap_parser(commands: Any) -> None:
    """Add ``anchorframe reap`` to the command line."""
    parser = commands.add_parser(
        "reap",
        help="end cloud sessions that crashed anchorframe runs left behind",
        description="Find live Anchor sessions tagged by anchorframe runs (all, one run, or one tag), "
        "end them, and cancel those runs' batches still provisioning.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--run", default=None, help="only this run id (tag anchorframe-run-<id>)")
    which.add_argument(
        "--tag", default=None, help="only sessions with this tag (e.g. anchorframe-request:...)"
    )
    parser.add_argument(
        "--older-than",
        type=float,
        default=None,
        metavar="SECONDS",
        help="only sessions created more than SECONDS ago",
    )
    parser.add_argument("--dry-run", action="store_true", help="list, end nothing")
    parser.add_argument("--base-url", default=None, help="the API (default: ANCHOR_BASE_URL or the vendor's)")
    parser.set_defaults(handler=_reap_command)


def _reap_command(args: Any) -> int:
    frame = reap(
        run_id=args.run,
        tag=args.tag,
        older_than=args.older_than,
        base_url=args.base_url,
        dry_run=args.dry_run,
    )
    if frame.empty:
        print("Nothing to reap.")
    else:
        print(frame.to_string(index=False))
    return 0
