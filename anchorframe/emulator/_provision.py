"""The emulator's provisioner: real Chromium sessions behind the REST records.

Every requested session is a task on the server's event loop that moves its slot
through queued -> provisioning -> configuring -> ready, launching Chromium with the
launcher the local backend uses. At most ``launch_concurrency`` browsers start at
once (Chromium start-up is CPU bound and the machines this runs on are small). A
watcher per ready session ends it at ``max_duration`` or when a crash fault is
due, and notices a browser that died on its own.

Everything here runs on one event loop; the Emulator reaches it from other threads
only through ``run_coroutine_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from ..backends._chromium import launch_chromium
from ..errors import AnchorframeError
from ._faults import FaultDice, Faults
from ._state import TERMINAL, AsyncRecord, BatchRecord, Slot, utcnow

__all__ = ["Problem", "Provisioner"]

logger = logging.getLogger("anchorframe.emulator")

#: The vendor's default for configuration.session.timeout.max_duration, in minutes.
DEFAULT_MAX_DURATION_MINUTES = 20


class Problem(Exception):
    """An error answer: HTTP status and the message of the ErrorResponse."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _get(mapping: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _tags(configuration: Any) -> list[str]:
    tags = _get(configuration, "session", "tags")
    return [str(tag) for tag in tags] if isinstance(tags, list) else []


class Provisioner:
    """Owns every batch, async request and session of one emulator."""

    def __init__(
        self,
        *,
        faults: Faults,
        seed: int | str | None,
        launch_concurrency: int = 2,
        seconds_per_minute: float = 60.0,
        chromium: str | None = None,
        launch_timeout: float = 30.0,
        lenient: bool = False,
    ) -> None:
        self.faults = faults
        self.lenient = lenient
        self.dice = FaultDice(seed)
        self.seeded = seed is not None
        self.launch_concurrency = max(1, launch_concurrency)
        self.seconds_per_minute = seconds_per_minute
        self.chromium = chromium
        self.launch_timeout = launch_timeout
        self.batches: dict[str, BatchRecord] = {}
        self.asyncs: dict[str, AsyncRecord] = {}
        self.sessions: dict[str, Slot] = {}
        self.credits_used = 0
        self.launch_seconds: list[float] = []
        self._numbers = {"batch": 0, "async": 0}
        self._gate: asyncio.Semaphore | None = None
        self._launching = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.closing = False

    # --- ids and counts ----------------------------------------------------------------

    def new_id(self, kind: str, *key: object) -> str:
        if not self.seeded:
            return str(uuid.uuid4())
        digest = hashlib.blake2b(repr((self.dice.seed, kind, *key)).encode(), digest_size=16)
        return str(uuid.UUID(bytes=digest.digest(), version=4))

    def _next(self, kind: str) -> int:
        self._numbers[kind] += 1
        return self._numbers[kind]

    def live_slots(self) -> list[Slot]:
        return [slot for slot in self.sessions.values() if slot.live]

    def chromium_pids(self) -> list[int]:
        return [slot.chromium.pid for slot in self.live_slots() if slot.chromium is not None]

    def _spend(self, count: int, *, cost_status: int = 402) -> None:
        cost = self.faults.cost_limit
        if cost is not None and self.credits_used + count > cost:
            raise Problem(cost_status, "Project cost limit reached.")
        limit = self.faults.credit_limit
        if limit is not None and self.credits_used + count > limit:
            left = max(0, limit - self.credits_used)
            raise Problem(
                402,
                f"Insufficient credits: {count} session(s) requested, {left} left on this plan",
            )
        self.credits_used += count

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- batches ---------------------------------------------------------------------------

    def create_batch(
        self, count: int, configuration: dict[str, Any], metadata: dict[str, Any]
    ) -> BatchRecord:
        self._spend(count)
        number = self._next("batch")
        batch = BatchRecord(
            batch_id=self.new_id("batch", number),
            number=number,
            configuration=configuration,
            metadata=metadata,
            created_at=utcnow(),
            slots=[
                Slot(index=i, metadata=dict(metadata), tags=_tags(configuration), configuration=configuration)
                for i in range(count)
            ],
        )
        for slot in batch.slots:
            slot.batch_id = batch.batch_id
        self.batches[batch.batch_id] = batch
        for slot in batch.slots:
            slot.task = self._spawn(self._provision(batch, slot, configuration, attempts=1))
        return batch

    def cancel_batch(self, batch: BatchRecord) -> tuple[int, list[asyncio.Task[None]]]:
        """Mark the batch cancelled; returns how many sessions stop and what to await."""
        if batch.status in ("cancelled", "completed") and not self.lenient:
            raise Problem(409, "Invalid state transition (batch already cancelled or completed)")
        if batch.cancelled:
            return 0, []
        batch.cancelled = True
        stopped = 0
        waits: list[asyncio.Task[None]] = []
        for slot in batch.slots:
            if slot.status in ("pending", "processing"):
                if slot.task is not None:
                    slot.task.cancel()
                    waits.append(slot.task)
                slot.status = "cancelled"
                stopped += 1
            elif slot.live:
                waits.append(self._spawn(self.end_slot(slot, "cancelled")))
                slot.status = "cancelled"
                stopped += 1
        batch.note_progress()
        return stopped, waits

    async def delete_batch(self, batch: BatchRecord) -> int:
        ended, waits = self.cancel_batch(batch) if batch.status not in TERMINAL else (0, [])
        for slot in batch.slots:
            if slot.live:
                waits.append(self._spawn(self.end_slot(slot, "deleted")))
                slot.status = "cancelled"
                ended += 1
        batch.deleted = True
        await asyncio.gather(*waits, return_exceptions=True)
        return ended

    def retry_batch(self, batch: BatchRecord, *, failed_only: bool, max_retries: int) -> int:
        if batch.cancelled:
            raise Problem(400, "A cancelled batch cannot be retried")
        wanted = {"failed"} if failed_only else {"failed", "cancelled"}
        targets = [slot for slot in batch.slots if slot.status in wanted]
        if not targets and not self.lenient:
            raise Problem(400, "No failed sessions to retry")
        for slot in targets:
            slot.retry_count += 1
            slot.status, slot.phase, slot.error = "pending", "queued", None
            slot.task = self._spawn(
                self._provision(batch, slot, batch.configuration, attempts=max_retries, retry=True)
            )
        batch.note_progress()
        return len(targets)

    # --- async sessions ----------------------------------------------------------------------

    def create_async(self, body: dict[str, Any]) -> AsyncRecord:
        cap = self.faults.max_concurrent_sessions
        if cap is not None and self._in_use() >= cap:
            # A concurrency cap of the account, not a rate limit: no Retry-After, waiting briefly won't help.
            raise Problem(429, "API key would exceed batch browser limit")
        self._spend(1, cost_status=403)
        number = self._next("async")
        tags = _tags(body)
        record = AsyncRecord(
            request_id=self.new_id("async", number),
            number=number,
            body=body,
            created_at=utcnow(),
            slot=Slot(
                index=0, metadata={"tags": tags} if self.lenient else {}, tags=tags, configuration=body
            ),
        )
        self.asyncs[record.request_id] = record
        record.slot.task = self._spawn(self._provision(record, record.slot, body, attempts=1))
        return record

    # --- provisioning ---------------------------------------------------------------------------

    async def _provision(
        self,
        owner: BatchRecord | AsyncRecord,
        slot: Slot,
        configuration: Mapping[str, Any],
        *,
        attempts: int,
        retry: bool = False,
    ) -> None:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.launch_concurrency)
        kind = "batch" if isinstance(owner, BatchRecord) else "async"
        for attempt in range(attempts):
            if attempt:
                slot.retry_count += 1
            slot.status, slot.phase, slot.error = "pending", "queued", None
            async with self._gate:
                if isinstance(owner, BatchRecord):
                    owner.started = True
                slot.status, slot.phase, slot.started_at = "processing", "provisioning", utcnow()
                failure = await self._launch_into(slot, configuration, (kind, owner.number))
            if failure is None:
                break
            slot.status, slot.phase, slot.error = "failed", "ready", failure
            slot.completed_at = utcnow()
        if isinstance(owner, BatchRecord):
            owner.note_progress()

    async def _launch_into(
        self, slot: Slot, configuration: Mapping[str, Any], owner_key: tuple[str, int]
    ) -> str | None:
        """Start the slot's Chromium; the error message, or None once it is ready."""
        faults = self.faults
        if faults.provision_delay:
            await asyncio.sleep(faults.provision_delay)
        if self.dice.hit(faults.fail_provision, "fail", *owner_key, slot.index, slot.retry_count):
            return "Failed to provision browser session: the browser pod did not start (emulated)"
        cap = faults.max_concurrent_sessions
        if cap is not None and len(self.live_slots()) + self._launching >= cap:
            return f"API key would exceed batch browser limit ({cap} concurrent sessions)"
        self._launching += 1
        try:
            width = _get(configuration, "browser", "viewport", "width") or 1440
            height = _get(configuration, "browser", "viewport", "height") or 900
            extra = (f"--window-size={int(width)},{int(height)}",)
            proc = await launch_chromium(self.chromium, extra_args=extra, timeout=self.launch_timeout)
        except AnchorframeError as exc:
            return f"Failed to provision browser session: {exc}"[:300]
        finally:
            self._launching -= 1
        self.launch_seconds.append(proc.ready_s)
        slot.phase = "configuring"
        await asyncio.sleep(0)
        slot.chromium = proc
        slot.cdp_url = proc.cdp_url
        slot.session_id = self.new_id("session", *owner_key, slot.index, slot.retry_count)
        slot.status, slot.phase, slot.completed_at = "completed", "ready", utcnow()
        slot.ended_at = None
        self.sessions[slot.session_id] = slot
        minutes = _get(configuration, "session", "timeout", "max_duration")
        if not isinstance(minutes, (int, float)) or isinstance(minutes, bool):
            minutes = DEFAULT_MAX_DURATION_MINUTES
        crash = self.dice.hit(faults.crash, "crash", *owner_key, slot.index, slot.retry_count)
        slot.watcher = self._spawn(self._watch(slot, float(minutes), faults.crash_after if crash else None))
        return None

    async def _watch(self, slot: Slot, max_minutes: float, crash_after: float | None) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + max_minutes * self.seconds_per_minute if max_minutes > 0 else None
        crash_at = start + crash_after if crash_after is not None else None
        while slot.ended_at is None:
            now = loop.time()
            if slot.chromium is not None and not slot.chromium.alive:
                await self.end_slot(slot, "exited")
                return
            if crash_at is not None and now >= crash_at:
                logger.info("Crashing session %s (fault injection).", slot.session_id)
                await self.end_slot(slot, "crashed")
                return
            if deadline is not None and now >= deadline:
                logger.info("Session %s reached its max_duration.", slot.session_id)
                await self.end_slot(slot, "max_duration")
                return
            nexts = [t for t in (deadline, crash_at) if t is not None]
            await asyncio.sleep(max(0.01, min([now + 0.25, *nexts]) - now))

    async def end_slot(self, slot: Slot, reason: str) -> bool:
        """End the slot's browser; False if it had already ended."""
        if slot.ended_at is not None or slot.chromium is None:
            return False
        slot.ended_at = utcnow()
        slot.end_reason = reason
        watcher = slot.watcher
        if watcher is not None and watcher is not asyncio.current_task():
            watcher.cancel()
        slot.ending = True
        try:
            await slot.chromium.end()
        finally:
            slot.ending = False
        return True

    async def end_session(self, session_id: str) -> None:
        slot = self.sessions.get(session_id)
        if slot is None:
            if self.lenient:
                raise Problem(404, "Session not found")
            raise Problem(401, "Invalid API Key or browser session ID")
        await self.end_slot(slot, "deleted")

    def _in_use(self) -> int:
        """Sessions live or on their way (a pending async request will hold one)."""
        coming = sum(
            1
            for record in self.asyncs.values()
            if record.slot.status in ("pending", "processing") and record.slot.session_id is None
        )
        return len(self.live_slots()) + coming

    async def shutdown(self) -> None:
        """Stop provisioning and end every browser. Idempotent."""
        self.closing = True
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        await asyncio.gather(
            *(self.end_slot(slot, "shutdown") for slot in list(self.sessions.values())),
            return_exceptions=True,
        )
