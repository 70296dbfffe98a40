"""The replacement of Anchor sessions that failed or were lost, and what an account limit becomes.

A session that failed to provision is replaced by ``POST /v1/batch-sessions/{id}/retry``
(one call for all of a batch's failed sessions, made by the batch's poller); a session lost
mid-run, or one of a batch out of retries, by an async session (``POST
/v1/sessions/async``), waited for with the client's own wait flow. An account limit (429
"would exceed batch browser limit", a session failing on the concurrency cap, 402/403 cost
limits) becomes a ProvisionFailure the engine must not replace, carrying the capacity
learned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from ..client._core import is_capacity_limit, is_cost_limit
from ..errors import AnchorAPIError, WaitTimeoutError
from ._anchor_pool_state import AnchorPoolState
from ._base import Provisioned, ProvisionFailure, SessionHandle

__all__ = ["ReplacingPool", "looks_like_session_limit"]

log = logging.getLogger("anchorframe")


def looks_like_session_limit(message: str) -> bool:
    """A session failed on the account's concurrency cap (not a broken pod): retrying now won't help."""
    text = message.lower()
    return "browser limit" in text or "concurren" in text


class ReplacingPool(AnchorPoolState):
    """A pool that replaces lost sessions and turns account limits into failures (no batches yet)."""

    def _limit_failure(
        self, exc: AnchorAPIError, *, sessions: int = 1, batch_id: str | None = None
    ) -> ProvisionFailure:
        """What a refusal of the account's limits becomes: a failure the engine must not replace."""
        if is_cost_limit(exc):
            self._cost_stopped = True
            return ProvisionFailure(
                message=f"{exc} ({sessions} session(s) not provisioned; the rows go on with the sessions "
                "already running.)",
                batch_id=batch_id,
                error_type=type(exc).__name__,
                reason="cost_limit",
                replaceable=False,
            )
        return self._session_limit(str(exc), batch_id=batch_id, error_type=type(exc).__name__)

    def _session_limit(
        self,
        message: str,
        *,
        batch_id: str | None,
        session_id: str | None = None,
        retry_count: int = 0,
        error_type: str = "SessionLimit",
        coming: int = 0,
    ) -> ProvisionFailure:
        # What the account holds: this run's live sessions plus those a batch is starting now
        # (they got past the cap before this one was refused).
        live = len(self._live) + coming
        return ProvisionFailure(
            message=f"{message} (this run holds {live} session(s); it goes on with them)",
            session_id=session_id,
            batch_id=batch_id,
            retry_count=retry_count,
            error_type=error_type,
            reason="session_limit",
            replaceable=False,
            capacity=live or None,
        )

    async def _retry(self, batch_id: str) -> bool:
        self._retry_wanted[batch_id] = 0
        done = self._retries_done.get(batch_id, 0)
        if done >= self._backend.batch_retries or self._closed:
            return False
        self._retries_done[batch_id] = done + 1
        try:
            answer = await self.client.retry_batch(batch_id, retry_failed_only=True, max_retries=1)
        except AnchorAPIError as exc:
            log.info("Retrying the failed sessions of batch %s was refused: %s", batch_id, exc)
            return False
        return bool(answer.retried_sessions)

    def replace(self, lost: SessionHandle | ProvisionFailure) -> AsyncIterator[Provisioned]:
        if self._cost_stopped or (isinstance(lost, ProvisionFailure) and not lost.replaceable):
            # An account limit: asking again cannot help (the engine should not ask at all).
            return _nothing()
        batch_id = lost.batch_id if isinstance(lost, ProvisionFailure) else None
        if batch_id in self._batches and self._retries_done.get(batch_id, 0) < self._backend.batch_retries:
            # Registered now, before the batch's poller looks again: it re-provisions the
            # batch's failed sessions (one call for all of them) and hands them out.
            assert batch_id is not None
            self._retry_wanted[batch_id] = self._retry_wanted.get(batch_id, 0) + 1
            return _nothing()
        # A session lost mid-run (or a batch out of retries): one async session instead.
        return self._async_session()

    async def _async_session(self) -> AsyncIterator[Provisioned]:
        configuration = self._configuration
        backend = self._backend
        requested = time.monotonic()
        try:
            created = await self.client.create_async_session(
                session=configuration.get("session"),
                browser=configuration.get("browser"),
                integrations=configuration.get("integrations"),
            )
        except AnchorAPIError as exc:
            if is_cost_limit(exc) or is_capacity_limit(exc):
                yield self._limit_failure(exc)
            else:
                yield ProvisionFailure(message=str(exc), error_type=type(exc).__name__)
            return
        self._async_requests.add(created.request_id)
        try:
            # The client's own wait flow: the documented ramp (x1.5 up to the cap) to a deadline.
            status = await self.client.wait_async_session(
                created.request_id,
                initial_interval=backend.min_poll_interval,
                factor=1.5,
                max_interval=backend.max_poll_interval,
                timeout=backend.provision_timeout,
            )
        except WaitTimeoutError:
            yield ProvisionFailure(
                message=f"The async session was not ready within {backend.provision_timeout:g} s.",
                error_type="ProvisionTimeout",
            )
            return
        except AnchorAPIError as exc:
            yield ProvisionFailure(message=str(exc), error_type=type(exc).__name__)
            return
        session = status.session
        if status.is_ready and session is not None and session.session_id and session.cdp_url:
            self._async_requests.discard(created.request_id)
            if self._closed:
                await self._end(session.session_id)
                return
            self._live[session.session_id] = time.monotonic()
            yield SessionHandle(
                session_id=session.session_id,
                cdp_url=session.cdp_url,
                ready_s=time.monotonic() - requested,
                info={"async_request": created.request_id},
            )
            return
        self._async_requests.discard(created.request_id)
        error = (session.error if session is not None else None) or (status.extra or {}).get("error")
        message = str(error or f"The async session request ended as {status.status}.")
        if looks_like_session_limit(message):
            yield self._session_limit(message, batch_id=None)
            return
        yield ProvisionFailure(message=message, error_type="ProvisionFailed")


async def _nothing() -> AsyncIterator[Provisioned]:
    return
    yield  # an async generator that yields nothing
