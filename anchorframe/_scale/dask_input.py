"""A ``dask.dataframe.DataFrame`` as input (with ``cluster=`` and ``out=``): partitions, not rows.

The caller never computes the frame. It hands out *partitions* instead of rows:
each is sent to a shard as the pickled task graph of that one partition (reading a
Parquet file, say), which the shard computes on its Dask worker, checks like any
input, and scrapes with its sessions. When every row of a partition is resolved,
the shard writes them as one part of the ``out=`` dataset and reports the part with
the partition's counts; the caller moves the part into place and keeps only the
counts. A shard lost mid-partition leaves nothing in the dataset, and the partition
goes whole to another shard: every row once.

A shard works on one partition at a time (and holds the next): its tabs idle for
the last few rows of each partition, which partitions of a few thousand rows make
negligible.

With ``checkpoint=``, a run that stopped (interrupted, its process killed) goes on
where it stopped: each part's footer names its partition and the input's token
(Dask's name for the frame's task graph), and the rerun hands out only the partitions
the dataset does not hold yet. The unit is the partition: the rows of one written
with failures stay as written (as a pandas input's rows already in ``out=`` do).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from typing import Any

import pandas as pd

from .._core.table import ROWS, InputTable, Work, counts_of
from ..errors import InputError
from .messages import Done, Outcome, PartitionInput

__all__ = [
    "ROWS",
    "PartitionRunner",
    "counts_of",
    "input_token",
    "is_dask_frame",
    "partition_table",
    "partition_tasks",
]


def is_dask_frame(data: Any) -> bool:
    """True for a dask DataFrame (told by its type's module: Dask is not imported for this)."""
    return type(data).__module__.startswith("dask") and hasattr(data, "to_delayed")


def partition_table(data: Any, url: Any, *, cluster: Any, out: Any) -> InputTable:
    """The caller's table of a dask input: one Work per partition, no rows (see the module)."""
    from .._core.table import prepare_input

    missing = [name for name, value in (("cluster=", cluster), ("out=", out)) if value is None]
    if missing:
        raise InputError(
            f"A dask DataFrame is scraped by the workers of a Dask cluster, which read its partitions "
            f"and write the results; pass {' and '.join(missing)}: e.g. "
            "af.scrape(ddf, fn, cluster=client, out='s3://bucket/results/')."
        )
    meta = data._meta
    checked = prepare_input(meta, url)  # the URL column is checked now, on the empty frame of its columns
    work = [Work(key=i, url=f"partition {i}", positions=[i]) for i in range(data.npartitions)]
    return InputTable(frame=meta, url_column=checked.url_column, urls=[], invalid={}, work=work)


def input_token(data: Any) -> str:
    """Dask's name for the frame's task graph: the same files and steps give the same name."""
    name = getattr(data, "_name", None)
    if isinstance(name, str) and name:
        return name
    from dask.base import tokenize

    return str(tokenize(data))


def partition_tasks(data: Any) -> list[bytes]:
    """Each partition's task graph, pickled (cloudpickle comes with Dask's distributed)."""
    import cloudpickle

    return [cloudpickle.dumps(part) for part in data.to_delayed()]


def _compute(blob: bytes) -> pd.DataFrame:
    import pickle

    frame = pickle.loads(blob).compute(scheduler="sync")
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    return frame


class PartitionRunner:
    """The shard's side: one partition at a time through the shard's feed-mode engine."""

    def __init__(self, shard: Any, partitions: PartitionInput) -> None:
        self.shard = shard
        self.tasks: list[bytes] = partitions.tasks
        self.check = partitions.check  # prepare_input's url, schemes and dedupe
        self.token: str = partitions.token
        self.queue: collections.deque[Work] = collections.deque()
        self.current: Work | None = None
        self.table: InputTable | None = None
        self.left = 0
        self.done: list[Work] = []
        self.started = 0.0
        self.keys = itertools.count()
        self.busy: set[asyncio.Future[None]] = set()

    def receive(self, partitions: list[Work]) -> None:
        self.queue.extend(partitions)
        self._next()

    def holding(self) -> int:
        return len(self.queue) + (1 if self.current is not None else 0)

    def _next(self) -> None:
        if self.current is not None or not self.queue:
            return
        self.current = self.queue.popleft()
        task = asyncio.ensure_future(self._start(self.current))
        self.busy.add(task)
        task.add_done_callback(self.busy.discard)

    async def _start(self, partition: Work) -> None:
        from .._core.table import prepare_input

        self.started = time.monotonic()
        try:
            frame = await asyncio.to_thread(_compute, self.tasks[partition.key])
            table = prepare_input(frame, **self.check)
        except Exception as exc:  # a partition that cannot be read stops the run (its error is raised)
            self.shard.fail_out(0, exc)
            return
        # The engine's table becomes this partition's (its previous rows are all resolved): rows
        # read their columns and labels from it. Keys stay unique over the whole shard.
        engine = self.shard.engine
        shared = engine.table
        shared.frame, shared.urls, shared.invalid = table.frame, table.urls, table.invalid
        shared._columns.clear()
        shared.work.clear()
        for item in table.work:
            item.key = next(self.keys)
        self.table, self.left, self.done = table, len(table.work), []
        if table.work:
            engine.feed(list(table.work))
        else:
            self._complete()

    def resolved(self, item: Work) -> None:
        self.done.append(item)
        self.left -= 1
        if self.left == 0:
            self._complete()

    def _complete(self) -> None:
        partition, table = self.current, self.table
        assert partition is not None and table is not None
        task = asyncio.ensure_future(self._write(partition, table, self.done))
        self.busy.add(task)
        task.add_done_callback(self.busy.discard)
        self.current = self.table = None
        self._next()
        self.shard._ask()

    async def _write(self, partition: Work, table: InputTable, items: list[Work]) -> None:
        from .._store.out import mark_partition, part_table, stage

        positions: list[int] = list(table.invalid)
        outcomes: list[Work | None] = [None] * len(positions)
        counts = {"ok": 0, "failed": 0, "invalid": len(positions)}
        for item in items:
            positions.extend(item.positions)
            outcomes.extend([item] * len(item.positions))
            counts[item.status or "failed"] = counts.get(item.status or "failed", 0) + len(item.positions)
        name = f"p{partition.key:06d}-{self.shard.token}.parquet"
        try:
            arrow = mark_partition(
                part_table(table, positions, outcomes), key=partition.key, token=self.token, counts=counts
            )
            await asyncio.to_thread(stage, self.shard.out, arrow, name)
        except Exception as exc:
            self.shard.fail_out(len(positions), exc)
            return
        status = "ok" if counts["failed"] == 0 else "failed"
        elapsed = time.monotonic() - self.started
        row = Outcome(partition.key, status, {ROWS: counts}, None, None, 1, elapsed, None, None)
        self.shard._send(Done([row], name))

    async def drain(self) -> None:
        """Wait for the parts being written (a partition cut short by a stop is not reported)."""
        while self.busy:
            await asyncio.gather(*self.busy, return_exceptions=True)
