"""AnchorBackend: Anchor Browser cloud sessions from the batch-sessions API.

This module owns the backend a user holds: its configuration (key, base URL, the
sessions' configuration, polling and provisioning limits) and the configuration each
batch is sent with. Everything live belongs to the pool it opens for each run.

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

Where each part lives:

- :mod:`._anchor_config`: the run's tags and the check of a configuration (no I/O);
- :mod:`._anchor_polling`: how often a batch is polled (no I/O);
- :mod:`._anchor_pool`: the pool, its batches and the loop that polls them;
- :mod:`._anchor_replace`: replacing failed and lost sessions, and account limits;
- :mod:`._anchor_pool_state`: what the pool holds, and its release;
- :mod:`._anchor_reap`: ``reap()``, ending what crashed runs left behind.
"""

from __future__ import annotations

import asyncio
import copy
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..client import AnchorClient, AsyncAnchorClient
from ..client._core import KEY_ENV_VARS, resolve_api_key, resolve_base_url, safe_url
from ._anchor_config import APP_TAG as APP_TAG
from ._anchor_config import DEFAULT_IDLE_TIMEOUT, check_configuration, run_tags
from ._anchor_config import RUN_TAG_PREFIX as RUN_TAG_PREFIX
from ._anchor_pool import AnchorPool
from ._base import Backend, FromEnv, SessionPool

if TYPE_CHECKING:
    from .._core.options import RenderMode
    from .._core.plan import Plan

__all__ = ["AnchorBackend", "run_tags"]


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

    # ------------------------------------------------------ in other processes
    def for_another_process(self, *, for_cluster: bool) -> tuple[Backend, dict[str, str]]:
        """A copy whose key is a :class:`FromEnv` marker: a shard here reads it from the variable
        in the environment returned; one on a Dask worker, from that worker's ANCHOR_API_KEY."""
        variable = "ANCHORFRAME_SHARD_SECRET_0"
        clone = copy.copy(self)
        clone.configuration = copy.deepcopy(self.configuration)  # a shard tags its own copy
        clone._api_key = FromEnv(KEY_ENV_VARS if for_cluster else (variable,))  # type: ignore[assignment]
        return clone, {variable: self._api_key}

    def arrived(self) -> Backend:
        key: Any = self._api_key
        if isinstance(key, FromEnv):
            self._api_key = key.resolve()
        return self

    def tag_sessions(self, tag: str) -> None:
        session = self.configuration.setdefault("session", {})
        session["tags"] = [*(session.get("tags") or []), tag]

    async def end_tagged(self, tag: str) -> int:
        """End a lost shard's sessions by its tag, and cancel its batches still provisioning
        (they would bring sessions nobody uses): :func:`~anchorframe.reap` with ``tag``."""
        from ._anchor_reap import reap

        done = await asyncio.to_thread(reap, tag=tag, api_key=self._api_key, base_url=self.base_url)
        return int((done["action"] == "ended").sum()) if len(done) else 0

    def client(self) -> AsyncAnchorClient:
        """A new async client with this backend's key and base URL."""
        return AsyncAnchorClient(self._api_key, base_url=self.base_url, **self.client_options)

    def sync_client(self) -> AnchorClient:
        return AnchorClient(self._api_key, base_url=self.base_url, **self.client_options)

    @property
    def render_default(self) -> RenderMode:
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
        return AnchorPool(self, run_id, plan)
