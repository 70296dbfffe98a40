"""The session pool of one Anchor run: its batches, and the loop that polls them.

A run's sessions come from one batch (several above 1000 sessions). Each batch is polled
(how often: :mod:`._anchor_polling`) and each session is handed to the engine the moment
its ``cdp_url`` appears; a failed session goes to the engine as a ProvisionFailure, and a
replacement it asks for is made by the batch's poller (:mod:`._anchor_replace`). When the
account refuses a batch after others were created, no more are asked for and the run goes
on with the sessions already coming.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from ..client._core import is_capacity_limit, is_cost_limit
from ..errors import AnchorAPIError
from ._anchor_config import RUN_KEY
from ._anchor_polling import next_poll_interval
from ._anchor_pool_state import TERMINAL
from ._anchor_replace import ReplacingPool, looks_like_session_limit
from ._base import Provisioned, ProvisionFailure, SessionHandle

__all__ = ["MAX_BATCH", "AnchorPool"]

#: The most sessions one batch may ask for (the API refuses more).
MAX_BATCH = 1000


class AnchorPool(ReplacingPool):
    """The live sessions of one run, provisioned in batches and replaced when lost."""

    async def provision(self, count: int) -> AsyncIterator[Provisioned]:  # type: ignore[override]
        planned = list(self._plan.batches) if self._plan is not None else []
        sizes = planned if sum(planned) == count else [count]
        # The API takes at most 1000 sessions per batch: larger sizes are split before sending.
        sizes = [min(MAX_BATCH, size - start) for size in sizes for start in range(0, size, MAX_BATCH)]
        metadata = {**self._backend.metadata, RUN_KEY: self._run_id}
        created: list[str] = []
        refused: ProvisionFailure | None = None
        for index, size in enumerate(sizes):
            try:
                batch = await self.client.create_batch(
                    size, configuration=self._configuration, metadata=metadata
                )
            except AnchorAPIError as exc:
                if not created or not (is_cost_limit(exc) or is_capacity_limit(exc)):
                    raise  # nothing asked for yet: a clear error for the caller
                refused = self._limit_failure(exc, sessions=sum(sizes[index:]))
                break
            self._batches[batch.batch_id] = batch.status or "pending"
            created.append(batch.batch_id)
        queue: asyncio.Queue[Provisioned | None] = asyncio.Queue()
        pollers = [asyncio.ensure_future(self._poll_batch(batch_id, queue)) for batch_id in created]
        running = len(pollers)
        try:
            if refused is not None:
                yield refused
            while running:
                item = await queue.get()
                if item is None:
                    queue.task_done()
                    running -= 1
                    continue
                yield item
                # The engine has handled the item (and asked for any replacement) by now.
                queue.task_done()
            for poller in pollers:
                poller.result()  # surface an error a poller raised
        finally:
            for poller in pollers:
                poller.cancel()
            await asyncio.gather(*pollers, return_exceptions=True)

    async def _poll_batch(self, batch_id: str, queue: asyncio.Queue[Provisioned | None]) -> None:
        backend = self._backend
        seen_ready: set[str] = set()
        seen_failed: set[tuple[Any, int]] = set()
        requested = time.monotonic()
        interval = backend.min_poll_interval
        deadline = time.monotonic() + backend.provision_timeout
        try:
            while True:
                batch = await self.client.get_batch(batch_id)
                self._batches[batch_id] = batch.status or "processing"
                fresh = False
                # Ready sessions first, so that a cap learned from this answer counts them.
                ordered = sorted(batch.sessions, key=lambda s: (s.status or "").lower() != "completed")
                for item in ordered:
                    status = (item.status or "").lower()
                    if (
                        status == "completed"
                        and item.cdp_url
                        and item.session_id
                        and item.session_id not in seen_ready
                    ):
                        seen_ready.add(item.session_id)
                        fresh = True
                        if self._closed:
                            await self._end(item.session_id)
                            continue
                        self._live[item.session_id] = time.monotonic()
                        await queue.put(
                            SessionHandle(
                                session_id=item.session_id,
                                cdp_url=item.cdp_url,
                                batch_id=batch_id,
                                ready_s=time.monotonic() - requested,
                                info={"item_index": item.item_index, "retry_count": item.retry_count},
                            )
                        )
                    elif status == "failed":
                        key = (
                            item.item_index if item.item_index is not None else item.session_id,
                            item.retry_count or 0,
                        )
                        if key not in seen_failed:
                            seen_failed.add(key)
                            fresh = True
                            if looks_like_session_limit(item.error or ""):
                                await queue.put(
                                    self._session_limit(
                                        item.error or "",
                                        coming=sum(
                                            (other.status or "").lower() == "processing"
                                            for other in batch.sessions
                                        ),
                                        batch_id=batch_id,
                                        session_id=item.session_id,
                                        retry_count=item.retry_count or 0,
                                    )
                                )
                                continue
                            await queue.put(
                                ProvisionFailure(
                                    message=item.error
                                    or "The session failed to provision (no reason given).",
                                    session_id=item.session_id,
                                    batch_id=batch_id,
                                    retry_count=item.retry_count or 0,
                                    error_type="ProvisionFailed",
                                )
                            )
                # Let the engine see what was just queued, so a replacement it asks for is known here.
                await queue.join()
                done = (batch.status or "").lower() in TERMINAL and not any(
                    (s.status or "").lower() in ("pending", "processing") for s in batch.sessions
                )
                if self._retry_wanted.get(batch_id) and (done or batch.failed_requests):
                    retried = await self._retry(batch_id)
                    if retried:
                        deadline = time.monotonic() + backend.provision_timeout
                        interval = backend.min_poll_interval
                        await asyncio.sleep(interval)
                        continue
                if done or self._closed:
                    return
                if time.monotonic() > deadline:
                    await queue.put(
                        ProvisionFailure(
                            message=(
                                f"The batch did not finish provisioning within "
                                f"{backend.provision_timeout:g} s "
                                f"({batch.completed_requests or 0} of {batch.total_requests or '?'} "
                                "sessions ready)."
                            ),
                            batch_id=batch_id,
                            error_type="ProvisionTimeout",
                        )
                    )
                    return
                # The documented backoff (x1.5 up to the cap), back to the minimum while sessions arrive.
                interval = next_poll_interval(
                    interval,
                    fresh=fresh,
                    any_ready=bool(seen_ready),
                    minimum=backend.min_poll_interval,
                    documented=backend.poll_interval,
                    cap=backend.max_poll_interval,
                )
                await asyncio.sleep(interval)
        finally:
            await queue.put(None)
