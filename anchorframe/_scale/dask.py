"""Shards on a Dask cluster (``cluster=``): one task per Dask worker runs one shard.

Each task starts ``python -m anchorframe._scale.shard`` on its worker (its own event loop,
Playwright driver and sessions), which connects back to the caller's coordinator
(``_shards.py``) like a local shard: rows are handed out on demand, results stream
back, and a worker lost mid-run (its shard's connection drops) has its unreported
rows finished by the others, exactly once. The shard process dies with its worker
(PR_SET_PDEATHSIG on Linux), and its Chromium with it.

API keys are never part of a task: a shard on a Dask worker reads
``ANCHOR_API_KEY`` from that worker's environment. Dask is imported only here, only
when ``cluster=`` is used (``pip install anchorframe[dask]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from ..errors import InputError

__all__ = ["DaskShards", "dask_shards", "run_shard_task"]

log = logging.getLogger("anchorframe")


def dask_shards(options: Any) -> DaskShards:
    """The shards of a ``cluster=`` run (connects to the cluster later, off the event loop)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise InputError(
            "cluster= needs Dask's distributed scheduler, which is not installed. "
            "Fix: pip install 'anchorframe[dask]'."
        ) from None
    return DaskShards(options.cluster, options.workers, most=options.engine.sites.per_site)


class DaskShards:
    """``cluster=``: the caller's side of shards that run as tasks on Dask workers."""

    def __init__(self, cluster: Any, workers: int, *, most: int | None = None) -> None:
        self.cluster = cluster
        self.requested = workers
        #: At most this many shards (per_site: each takes a share of every site's rows in flight).
        self.most = most
        self.client: Any = None
        self.own_client = False
        self.count = 0
        self.host = "127.0.0.1"
        self.addresses: list[str] = []
        self.futures: list[Any] = []

    async def prepare(self) -> None:
        await asyncio.to_thread(self._connect)

    def _connect(self) -> None:
        from distributed import Client

        if isinstance(self.cluster, str):
            self.client = Client(self.cluster, set_as_default=False)
            self.own_client = True
        else:
            self.client = self.cluster
        self.addresses = sorted(self.client.scheduler_info()["workers"])
        if not self.addresses:
            raise InputError("The Dask cluster has no worker yet: start some, then run again.")
        # One shard per worker, unless workers= asks for more (several per worker).
        self.count = max(self.requested, len(self.addresses)) if self.requested > 1 else len(self.addresses)
        if self.most is not None:
            self.count = max(1, min(self.count, self.most))
        self.host = os.environ.get("ANCHORFRAME_CALLBACK_HOST") or _reachable_host(
            self.client.scheduler.address
        )

    def start(self, coordinator: Any, env: dict[str, str]) -> None:
        # ``env`` holds the backend's secrets for local shards; tasks never carry it.
        host, port = coordinator.address
        for index in range(self.count):
            worker = self.addresses[index % len(self.addresses)]
            self.futures.append(
                self.client.submit(
                    run_shard_task,
                    f"{host}:{port}",
                    coordinator.key.hex(),
                    index,
                    key=f"anchorframe-shard-{coordinator.run_id}-{index}",
                    pure=False,
                    workers=[worker],
                    allow_other_workers=True,
                )
            )

    async def watch(self, coordinator: Any) -> None:
        """When every task has ended (done, failed or lost for good) and rows are left, fail them."""
        while not all(future.done() for future in self.futures):
            await asyncio.sleep(0.5)
        await asyncio.sleep(0.5)
        coordinator.no_shard_left("every Dask task of the run ended.")

    async def end(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        while not all(f.done() for f in self.futures) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        if self.client is None:
            return
        with contextlib.suppress(Exception):
            self.client.cancel([f for f in self.futures if not f.done()], force=True)
        if self.own_client:
            with contextlib.suppress(Exception):
                self.client.close()


def run_shard_task(address: str, key_hex: str, index: int) -> int:
    """A Dask task: run one shard process on this worker until the run closes it; its exit code."""
    worker = str(index)
    with contextlib.suppress(Exception):
        from distributed import get_worker

        worker = get_worker().address
    env = {
        **os.environ,
        "ANCHORFRAME_SHARD": address,
        "ANCHORFRAME_SHARD_KEY": key_hex,
        "ANCHORFRAME_SHARD_INDEX": str(index),
        "ANCHORFRAME_SHARD_WORKER": worker,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "anchorframe._scale.shard"], env=env, preexec_fn=_die_with_parent
    )
    return process.wait()


def _die_with_parent() -> None:
    # Linux: when the Dask worker is killed, its shard (and the shard's Chromium) die too.
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes
            import signal

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def _reachable_host(scheduler: str) -> str:
    """This machine's address on the route to the scheduler (the workers are on that network)."""
    host = urlsplit(scheduler).hostname or "127.0.0.1"
    if host in ("127.0.0.1", "localhost", "::1"):
        return "127.0.0.1"
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((host, 9))
        return str(probe.getsockname()[0])
    return socket.gethostbyname(socket.gethostname())
