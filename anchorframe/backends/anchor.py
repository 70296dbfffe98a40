"""AnchorBackend: Anchor Browser cloud sessions from the batch-sessions API.

A run's sessions come from one batch (several above 1000 sessions). The batch is
polled with the documented backoff (x1.5 up to a cap), tightened back to the
minimum whenever new sessions arrive, and each session is handed to the engine
the moment its ``cdp_url`` appears. A session that failed to provision is
replaced by ``POST /v1/batch-sessions/{id}/retry``; a session lost mid-run by an
async session (``POST /v1/sessions/async``), waited for with the client's own wait
flow. Every session, of a batch or alone, carries the tags ``anchorframe`` and
``anchorframe-run-<id>`` (the published API lets us filter sessions on tags, never on a
batch's metadata), so :func:`reap` can find and end what a crashed process left behind.
An account limit (429 "would exceed batch browser limit", a session failing on the
concurrency cap, 402/403 cost limits) becomes a ProvisionFailure the engine must not
replace, carrying the capacity learned.

Release: every session the run saw is ended, batches still provisioning are
cancelled, on success, error, cancellation and at interpreter exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from .._core.backoff import grow_interval
from ..client import AnchorClient, AsyncAnchorClient
from ..client._core import is_capacity_limit, is_cost_limit, resolve_api_key, resolve_base_url, safe_url
from ..errors import AnchorAPIError, InputError, WaitTimeoutError
from ._base import Backend, Provisioned, ProvisionFailure, SessionHandle, SessionPool
from ._release import REGISTRY

if TYPE_CHECKING:
    from .._core.plan import Plan

__all__ = ["AnchorBackend", "run_tags"]

log = logging.getLogger("anchorframe")

RUN_KEY = "anchorframe_run"
RUN_TAG_PREFIX = "anchorframe-run-"
APP_TAG = "anchorframe"
#: Minutes a session waits with no connection before the cloud ends it.
DEFAULT_IDLE_TIMEOUT = 3
_TERMINAL = {"completed", "failed", "cancelled"}
#: The most sessions one batch may ask for (the API refuses more).
MAX_BATCH = 1000


def run_tags(run_id: str) -> list[str]:
    """The tags every session of run ``run_id`` carries: how reap() and reconciliation find it.

    Example:
        >>> run_tags("a1b2")
        ['anchorframe', 'anchorframe-run-a1b2']
    """
    return [APP_TAG, RUN_TAG_PREFIX + run_id]


def looks_like_session_limit(message: str) -> bool:
    """A session failed on the account's concurrency cap (not a broken pod): retrying now won't help."""
    text = message.lower()
    return "browser limit" in text or "concurren" in text


#: The configuration keys of the published session-create schema.
CONFIGURATION_KEYS: dict[str, frozenset[str]] = {
    "session": frozenset({"initial_url", "recording", "proxy", "timeout", "live_view", "tags"}),
    "browser": frozenset(
        {
            "profile",
            "adblock",
            "popup_blocker",
            "captcha_solver",
            "headless",
            "viewport",
            "fullscreen",
            "extensions",
            "disable_web_security",
            "extra_stealth",
        }
    ),
    "integrations": frozenset(),
}


def check_configuration(configuration: Mapping[str, Any]) -> None:
    """Refuse unknown keys in a batch configuration, naming the closest known one.

    Example:
        >>> check_configuration({"browser": {"viewprt": {}}})
        Traceback (most recent call last):
        ...
        anchorframe.errors.InputError: configuration['browser'] has no key 'viewprt' (did you mean ...
    """
    import difflib

    def refuse(where: str, key: Any, known: frozenset[str]) -> None:
        close = difflib.get_close_matches(str(key), sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(
            f"{where} has no key {key!r}{hint}. Known keys: {', '.join(sorted(known))}. To send a setting "
            "newer than this release, pass validate_configuration=False."
        )

    for key, value in configuration.items():
        if key not in CONFIGURATION_KEYS:
            refuse("configuration", key, frozenset(CONFIGURATION_KEYS))
        known = CONFIGURATION_KEYS[key]
        if key == "integrations":
            if not isinstance(value, list):
                raise InputError("configuration['integrations'] must be a list of integrations.")
            continue
        if not isinstance(value, Mapping):
            raise InputError(f"configuration[{key!r}] must be a dict, not {type(value).__name__}.")
        for inner in value:
            if inner not in known:
                refuse(f"configuration[{key!r}]", inner, known)


class AnchorBackend(Backend):
    """Anchor Browser cloud sessions, provisioned in batches.

    Args:
        api_key: the key; else ``ANCHOR_API_KEY`` or ``ANCHORBROWSER_API_KEY``.
        base_url: the API; else ``ANCHOR_BASE_URL``/``ANCHORBROWSER_BASE_URL``, else the vendor's.
        configuration: the batch's session configuration (``session``, ``browser``,
            ``integrations``: proxy, viewport, recording...), passed through as given;
            ``session.timeout.idle_timeout`` and ``max_duration`` are set unless given.
        metadata: extra batch metadata (the run's id is always added).
        poll_interval, max_poll_interval: the documented batch polling backoff (x1.5 between
            them); before the first session it ramps up from ``min_poll_interval``, and
            ``min_poll_interval`` is used again whenever new sessions arrive.
        provision_timeout: seconds to wait for a batch or an async session.
        batch_retries: how many times a batch's failed sessions are re-provisioned.
        validate_configuration: refuse keys the published schema does not know (typos);
            turn off to send settings newer than this release.

    Example:
        >>> import anchorframe as af
        >>> viewport = {"width": 1280, "height": 800}
        >>> backend = af.AnchorBackend(configuration={"browser": {"viewport": viewport}})  # doctest: +SKIP
        >>> result = af.scrape(df, extract={"title": "h1"}, backend=backend)  # doctest: +SKIP
    """

    name = "anchor"
    kind = "cloud"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        configuration: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        poll_interval: float = 5.0,
        min_poll_interval: float = 1.0,
        max_poll_interval: float = 30.0,
        provision_timeout: float = 600.0,
        batch_retries: int = 1,
        client_options: Mapping[str, Any] | None = None,
        validate_configuration: bool = True,
    ) -> None:
        self._api_key = resolve_api_key(api_key)
        self.base_url = resolve_base_url(base_url)
        if configuration is not None and not isinstance(configuration, Mapping):
            raise TypeError("configuration must be a dict like {'browser': {...}, 'session': {...}}.")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise TypeError("metadata must be a dict of key -> value.")
        self.configuration = copy.deepcopy(dict(configuration or {}))
        if validate_configuration:
            check_configuration(self.configuration)
        self.metadata = dict(metadata or {})
        if not 0 < min_poll_interval <= poll_interval <= max_poll_interval:
            raise ValueError(
                "Poll intervals must satisfy 0 < min_poll_interval <= poll_interval <= max_poll_interval."
            )
        self.poll_interval = poll_interval
        self.min_poll_interval = min_poll_interval
        self.max_poll_interval = max_poll_interval
        self.provision_timeout = provision_timeout
        self.batch_retries = batch_retries
        self.client_options = dict(client_options or {})

    def __repr__(self) -> str:
        return f"AnchorBackend(base_url={safe_url(self.base_url)!r})"

    def describe(self) -> str:
        return f"Anchor Browser ({safe_url(self.base_url).split('://', 1)[-1]})"

    def secrets(self) -> tuple[str, ...]:
        return (self._api_key,)

    def client(self) -> AsyncAnchorClient:
        """A new async client with this backend's key and base URL."""
        return AsyncAnchorClient(self._api_key, base_url=self.base_url, **self.client_options)

    def sync_client(self) -> AnchorClient:
        return AnchorClient(self._api_key, base_url=self.base_url, **self.client_options)

    @property
    def render_default(self) -> str:
        """ "browser" when the sessions browse as someone this machine is not: behind a proxy
        (``session.proxy``) or with a saved profile (``browser.profile``, its logins); else "auto".

        Example:
            >>> proxy = {"type": "anchor_proxy", "active": True}
            >>> AnchorBackend("sk-x", configuration={"session": {"proxy": proxy}}).render_default
            'browser'
        """
        session = self.configuration.get("session") or {}
        proxy = session.get("proxy")
        behind_proxy = isinstance(proxy, Mapping) and proxy.get("active", True) is not False
        return "browser" if behind_proxy or self.keeps_first_context else "auto"

    @property
    def keeps_first_context(self) -> bool:
        """True with a saved profile (``browser.profile``): its logins live in the session's own context.

        Example:
            >>> shop = {"browser": {"profile": {"name": "shop"}}}
            >>> AnchorBackend("sk-x", configuration=shop).keeps_first_context
            True
        """
        profile = (self.configuration.get("browser") or {}).get("profile")
        return isinstance(profile, Mapping) and bool(profile.get("name"))

    def batch_configuration(self, run_id: str, plan: Plan | None) -> dict[str, Any]:
        """The configuration sent with each batch: the user's, plus timeouts and the run's tags."""
        configuration = copy.deepcopy(self.configuration)
        session = configuration.setdefault("session", {})
        timeout = session.setdefault("timeout", {})
        timeout.setdefault("idle_timeout", DEFAULT_IDLE_TIMEOUT)
        if "max_duration" not in timeout:
            # Twice the planned time plus a margin, so a forgotten session ends on its own.
            minutes = (plan.est_seconds / 60.0) if plan is not None else 20.0
            timeout["max_duration"] = int(min(1440, max(10, math.ceil(minutes * 2 + 10))))
        tags = list(session.get("tags") or [])
        session["tags"] = [*tags, *(t for t in run_tags(run_id) if t not in tags)]
        return configuration

    def open_pool(self, run_id: str, plan: Plan | None = None) -> SessionPool:
        return _AnchorPool(self, run_id, plan)


class _AnchorPool(SessionPool):
    def __init__(self, backend: AnchorBackend, run_id: str, plan: Plan | None) -> None:
        self._backend = backend
        self._run_id = run_id
        self._plan = plan
        self._configuration = backend.batch_configuration(run_id, plan)
        self._client: AsyncAnchorClient | None = None
        self._batches: dict[str, str] = {}  # batch id -> last known status
        self._live: dict[str, float] = {}  # session id -> ready time
        self._ended: set[str] = set()
        self._async_requests: set[str] = set()
        self._retry_wanted: dict[str, int] = {}
        self._retries_done: dict[str, int] = {}
        self._closed = False
        # Set when the account refused to spend more (402/403): nothing more is asked for.
        self._cost_stopped = False
        REGISTRY.add(self, self.end_all_sync)

    @property
    def client(self) -> AsyncAnchorClient:
        if self._client is None:
            self._client = self._backend.client()
        return self._client

    # ---------------------------------------------------------------- batches
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
                done = (batch.status or "").lower() in _TERMINAL and not any(
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

    # --------------------------------------------------------- async sessions
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

    # ---------------------------------------------------------------- release
    async def _end(self, session_id: str) -> None:
        if session_id in self._ended:
            return
        self._ended.add(session_id)
        self._live.pop(session_id, None)
        try:
            if self._client is None and self._closed:
                # Seen after the pool closed (a late poll): end it with a short-lived client.
                async with self._backend.client() as client:
                    await client.end_session(session_id)
            else:
                await self.client.end_session(session_id)
        except AnchorAPIError as exc:
            if exc.status_code in (401, 404):
                return  # already gone: the API answers 401 "Invalid API Key or browser session ID"
            log.warning("Could not end Anchor session %s: %s", session_id, exc)

    async def end_session(self, handle: SessionHandle) -> None:
        await self._end(handle.session_id)

    async def aclose(self) -> None:
        if self._closed and self._client is None:
            return
        self._closed = True
        try:
            if self._client is not None:
                for batch_id, status in list(self._batches.items()):
                    if status not in _TERMINAL:
                        with contextlib.suppress(AnchorAPIError):
                            await self.client.cancel_batch(batch_id)
                await asyncio.gather(*(self._end(s) for s in list(self._live)), return_exceptions=True)
                await self._settle()
        finally:
            if self._client is not None:
                await self._client.aclose()
                self._client = None
            REGISTRY.discard(self)

    async def _settle(self) -> None:
        """End sessions that became ready after the cancel, and async sessions still coming."""
        for batch_id in list(self._batches):
            with contextlib.suppress(AnchorAPIError):
                batch = await self.client.get_batch(batch_id)
                for item in batch.sessions:
                    if item.session_id and (item.status or "").lower() == "completed":
                        await self._end(item.session_id)
        for request_id in list(self._async_requests):
            with contextlib.suppress(AnchorAPIError):
                status = await self.client.get_async_session(request_id)
                if status.session is not None and status.session.session_id:
                    await self._end(status.session.session_id)

    def end_all_sync(self) -> None:
        """Blocking release for interpreter exit (the event loop may be gone)."""
        if self._closed and not self._live:
            return
        self._closed = True
        with contextlib.suppress(Exception), self._backend.sync_client() as client:
            for batch_id, status in list(self._batches.items()):
                if status not in _TERMINAL:
                    with contextlib.suppress(AnchorAPIError):
                        client.cancel_batch(batch_id)
            for session_id in list(self._live):
                with contextlib.suppress(AnchorAPIError):
                    client.end_session(session_id)


def next_poll_interval(
    interval: float, *, fresh: bool, any_ready: bool, minimum: float, documented: float, cap: float
) -> float:
    """Seconds until the next batch poll.

    New sessions just arrived: poll again soon (``minimum``), more are likely. None ready
    yet: ramp x1.5 from ``minimum`` up to the documented start (5 s), so the first session
    is seen early. After that: the documented backoff, x1.5 up to ``cap`` (30 s).

    Example:
        >>> next_poll_interval(4.0, fresh=False, any_ready=False, minimum=1, documented=5, cap=30)
        5
        >>> next_poll_interval(20.0, fresh=False, any_ready=True, minimum=1, documented=5, cap=30)
        30
    """
    if fresh:
        return minimum
    return grow_interval(interval, cap if any_ready else documented)


async def _nothing() -> AsyncIterator[Provisioned]:
    return
    yield  # an async generator that yields nothing

