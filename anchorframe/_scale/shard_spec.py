"""What every shard of a sharded run receives: its plan, the scraper, the backend without secrets.

Split from ``shards.py`` (the coordinator). The spec is pickled once per run; the
backend travels as its ``for_another_process()`` makes it, each secret replaced by a
:class:`~anchorframe.backends._base.FromEnv` marker, so that an API key is never part of a
message or a Dask task.
"""

from __future__ import annotations

import dataclasses
import pickle
import sys
from typing import Any

from .._core.options import ScrapeOptions
from .._core.plan import MAX_BATCH, Plan
from .._core.table import InputTable
from ..backends._base import Backend
from ..errors import InputError
from .messages import PartitionInput, ShardSpec

__all__ = ["check_travels", "shard_plans", "shard_spec", "shard_tag", "site_share"]


# ------------------------------------------------------------------- the spec
def shard_plans(plan: Plan, shards: int) -> list[Plan]:
    """The plan of each shard: the sessions shared out (each at least one), the same tabs.

    Example:
        >>> from anchorframe._core.plan import plan_sessions
        >>> [p.sessions for p in shard_plans(plan_sessions(1000, kind="cloud", sessions=5), 2)]
        [3, 2]
    """
    plans = []
    for index in range(shards):
        count = max(1, plan.sessions // shards + (1 if index < plan.sessions % shards else 0))
        batches = tuple(min(MAX_BATCH, count - at) for at in range(0, count, MAX_BATCH))
        plans.append(dataclasses.replace(plan, sessions=count, batches=batches))
    return plans


def site_share(per_site: int, shards: int, index: int) -> int:
    """Shard ``index``'s share of ``per_site`` (rows in flight at one site): the shares add up to it.

    A run never has more shards than ``per_site`` (``anchorframe._run.sharded``), so each share is
    at least 1; a rescheduled shard keeps its index, hence its share.

    Example:
        >>> [site_share(8, 3, i) for i in range(3)], [site_share(2, 2, i) for i in range(2)]
        ([3, 3, 2], [1, 1])
    """
    return per_site // shards + (1 if index % shards < per_site % shards else 0)


def shard_tag(run_id: str, serial: int) -> str:
    """The tag on every cloud session of one shard (besides the run's tags).

    Example:
        >>> shard_tag("3f2a9c1b7d4e", 1)
        'anchorframe-shard-3f2a9c1b7d4e-1'
    """
    return f"anchorframe-shard-{run_id}-{serial}"


def _pickler() -> Any:
    try:
        import cloudpickle  # a scraper defined in a notebook or a script travels by value

        return cloudpickle
    except ImportError:
        return pickle


def check_travels(options: Any) -> None:
    """Raise InputError now (before anything starts) if the scraper or backend cannot reach a shard."""
    backend, _ = options.backend.for_another_process(for_cluster=False)
    _payload(options.scraper, options.engine, backend)


def _payload(scraper: Any, engine: Any, backend: Backend) -> bytes:
    try:
        return bytes(_pickler().dumps({"fn": scraper, "options": engine, "backend": backend}))
    except Exception as exc:
        name = getattr(scraper, "__name__", "the scraper")
        raise InputError(
            f"workers= and cluster= run {name} in other processes, which could not receive it "
            f"({type(exc).__name__}: {exc}). Define it at the top level of a module (a .py file), "
            "or pip install cloudpickle to send functions defined in a notebook."
        ) from None


def shard_spec(
    table: InputTable, options: ScrapeOptions, *, for_cluster: bool, partitions: PartitionInput | None = None
) -> tuple[bytes, dict[str, str]]:
    """What every shard receives (pickled) and the environment that carries the backend's secrets.

    The backend travels with each secret replaced by a ``FromEnv`` marker: the
    key is in the child's environment (``workers=``) or the Dask worker's own
    ``ANCHOR_API_KEY`` (``cluster=``), never in a message.
    """
    backend, env = options.backend.for_another_process(for_cluster=for_cluster)
    # A shard reads the pandas rows; the user's polars/pyarrow frame stays here to build the result.
    shard_table = dataclasses.replace(table, work=[], _columns={}, native=None)
    payload = _payload(options.scraper, options.engine, backend)
    spec = ShardSpec(shard_table, payload, list(sys.path), options.out, partitions)
    return pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL), env
