"""The executor of a sharded run: start the shards, wait, wind down, settle ``out=``.

:class:`Sharded` is how :func:`anchorframe._run.lifecycle.run` executes
``scrape(..., workers=N)``, ``cluster=`` and ``out=`` (see ``anchorframe._scale.shards``
for the coordinator, ``_scale.shard`` for a shard, ``_scale.dask`` for shards on a Dask
cluster). :class:`LocalShards` starts the shard processes on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import subprocess
import sys
import time
import uuid
from typing import Any

from .._core import events as ev
from .._core.events import Broadcast, Event, RunState
from .._core.evidence import evidence_frame
from .._core.options import ScrapeOptions
from .._core.plan import Plan, plan_sessions
from .._core.secrets import mask_password
from .._core.table import InputTable
from .._scale.dask_input import ROWS, counts_of, input_token, partition_tasks
from .._scale.messages import PartitionInput
from .._scale.shards import Coordinator, shard_plans, shard_spec
from .._store.checkpoint_partitions import PartitionCheckpoint, open_partition_checkpoint
from .._store.out import (
    check_out,
    commit,
    finish,
    part_table,
    partitions_in,
    rows_in,
    stage,
    write_evidence,
)
from ..backends._base import Backend
from .result import measured_orchestrator_ms

__all__ = ["LocalShards", "Sharded"]

log = logging.getLogger("anchorframe")

#: Seconds a shard gets to release its sessions after ``close``/``stop`` before it is killed.
STOP_GRACE = 30.0


class LocalShards:
    """``workers=N`` on this machine: N child processes (``python -m anchorframe._scale.shard``)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.processes: list[subprocess.Popen[bytes]] = []

    async def prepare(self) -> None:
        pass

    def start(self, coordinator: Coordinator, env: dict[str, str]) -> None:
        host, port = coordinator.address
        for index in range(self.count):
            child_env = {
                **os.environ,
                **env,
                "ANCHORFRAME_SHARD": f"{host}:{port}",
                "ANCHORFRAME_SHARD_KEY": coordinator.key.hex(),
                "ANCHORFRAME_SHARD_INDEX": str(index),
                "ANCHORFRAME_SHARD_WORKER": str(index),
            }
            # Its own session: a terminal's Ctrl-C reaches this process only, which stops each shard
            # in order (their sessions are released) instead of all of them dying at once.
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "anchorframe._scale.shard"], env=child_env, start_new_session=True
                )
            )

    async def watch(self, coordinator: Coordinator) -> None:
        """Wait for every process; when all have ended and rows are left, fail those rows."""
        codes = await asyncio.gather(*(asyncio.to_thread(p.wait) for p in self.processes))
        await asyncio.sleep(0.2)  # the last messages of the links
        coordinator.no_shard_left(f"every shard process ended (exit codes {codes}).")

    async def end(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        for process in self.processes:
            left = max(0.1, deadline - time.monotonic())
            try:
                await asyncio.to_thread(process.wait, left)
            except subprocess.TimeoutExpired:
                log.warning("A shard process (pid %d) did not end in time; killing it.", process.pid)
                process.kill()
                await asyncio.to_thread(process.wait)


# ----------------------------------------------------------------- the run
class Sharded:
    """The rows over shards: processes here (``workers=N``) or Dask tasks (``cluster=``).

    The executor of :func:`anchorframe._run.lifecycle.run` for a sharded run: it opens
    ``out=`` and a dask input's checkpoint, hands the rows to the shards through a
    :class:`~anchorframe._scale.shards.Coordinator`, and ends lost shards' sessions.
    """

    def __init__(self, options: ScrapeOptions) -> None:
        self.options = options
        self.out: str | None = options.out
        self.fatal: BaseException | None = None
        self.shards: Any = None
        self.partitions: PartitionCheckpoint | None = None  # a dask input's checkpoint: no rows, a lock
        self.coordinator: Coordinator | None = None
        self.lengths: list[int] = []  # a dask input's rows per partition
        self._state: RunState | None = None
        self.ending: list[asyncio.Future[None]] = []  # ending the sessions of lost shards
        self.closed = False

    async def open(self, table: InputTable) -> InputTable:
        options = self.options
        if self.out is not None:  # before anything opens: a bad out= fails with nothing to undo
            self.out = await asyncio.to_thread(check_out, self.out, resuming=_resuming(options))
        if options.cluster is not None:
            from .._scale.dask import dask_shards

            self.shards = dask_shards(options)
        if options.checkpoint is not None and options.dask_input is not None:
            assert self.out is not None
            self.partitions, table = await asyncio.to_thread(
                _open_partition_checkpoint, options, self.out, table
            )
        return table

    async def resume(self, todo: InputTable, checkpointed: bool) -> InputTable:
        if self.out is not None and checkpointed:
            return await _skip_written(todo, self.out)
        return todo

    async def prepare(self, todo: InputTable, run_id: str, observer: Broadcast) -> tuple[Plan, RunState]:
        options, backend = self.options, self.options.backend
        if self.shards is None:
            # Never more shards than per_site: each takes a share of every site's rows in flight.
            count = max(1, min(options.workers, len(todo.work), options.engine.sites.per_site))
            if count < options.workers and count == options.engine.sites.per_site:
                log.info("Starting %d shard(s), not %d: per_site=%d is shared out among them.",
                         count, options.workers, options.engine.sites.per_site)  # fmt: skip
            self.shards = LocalShards(count)
        shards = self.shards
        await shards.prepare()
        sizing = {**options.sizing.given(), "workers": shards.count}
        rows_total = sum(len(w.positions) for w in todo.work) + len(todo.invalid)
        partitions: PartitionInput | None = None
        if options.dask_input is not None:  # partitions, counted on the cluster (``_dask_input.py``)
            self.lengths, partitions = await asyncio.to_thread(_partitions, options, shards)
            rows_total = sum(self.lengths[item.key] for item in todo.work)
            run_plan = plan_sessions(
                rows_total,
                kind=backend.kind,
                rows=rows_total,
                orchestrator_ms=measured_orchestrator_ms(),
                **sizing,
            )
        else:
            # The plan sizes the sessions for the shards there are (a Dask cluster has its own count).
            run_plan = plan_sessions(
                len(todo.work),
                kind=backend.kind,
                rows=todo.rows,
                invalid=len(todo.invalid),
                orchestrator_ms=measured_orchestrator_ms(),
                **sizing,
            )
        plans = shard_plans(run_plan, shards.count)
        # The run's site limits hold for all shards together: the coordinator gives each its share
        # of per_site (they add up to it), and each keeps its delays shards.count times longer.
        engine = options.engine
        sites = dataclasses.replace(engine.sites, sites_shared_by=shards.count)
        shared = dataclasses.replace(engine, sites=sites)
        spec, self.env = shard_spec(
            todo,
            dataclasses.replace(options, engine=shared),
            for_cluster=not isinstance(shards, LocalShards),
            partitions=partitions,
        )
        self._state = state = RunState(
            backend=backend.describe(),
            rows_total=rows_total,
            urls_total=len(todo.work),
            sessions_planned=sum(p.sessions for p in plans),
            tabs=run_plan.tabs,
            batches=sum(max(1, len(p.batches)) for p in plans),
            est_seconds=run_plan.est_seconds,
            est_session_minutes=run_plan.est_session_minutes,
            rows_invalid=len(todo.invalid),
        )
        if self.partitions is not None:
            assert self.out is not None
            self.partitions.describe_run(
                run_id=run_id, backend=backend.describe(), out=self.out, plan=run_plan, lengths=self.lengths
            )
        self.coordinator = Coordinator(
            todo,
            state,
            observer,
            spec=spec,
            plans=plans,
            run_id=run_id,
            host=getattr(shards, "host", "127.0.0.1"),
            out=self.out,
            attempts=options.dask_input is None,  # a partition's rows are not the caller's rows
            per_site=options.engine.sites.per_site,
            evidence=options.engine.evidence,
        )
        self.coordinator.on_lost = lambda tag: self.ending.append(
            asyncio.ensure_future(_end_tagged(backend, tag))
        )
        return run_plan, state

    @property
    def state(self) -> RunState:
        assert self._state is not None
        return self._state

    async def execute(self) -> None:
        coordinator, state = self.coordinator, self.state
        assert coordinator is not None and state is not None
        coordinator.observer(Event(ev.RUN_STARTED), state)
        if coordinator.unresolved:
            await asyncio.to_thread(self.shards.start, coordinator, self.env)
            watcher = asyncio.ensure_future(self.shards.watch(coordinator))
            try:
                await coordinator.done.wait()
            finally:
                watcher.cancel()

    async def wind_down(self, todo: InputTable) -> None:
        coordinator, state = self.coordinator, self.state
        assert coordinator is not None and state is not None
        try:
            await _wind_down(coordinator, self.shards)
            await asyncio.gather(*self.ending, return_exceptions=True)
            await _end_orphans(self.options.backend, coordinator.run_id, coordinator.orphans)
        finally:
            state.finished = time.monotonic()
            state.rows_skipped = sum(len(w.positions) for w in todo.work if w.status is None)
            state.phase = "done"
            coordinator.observer(Event(ev.RUN_FINISHED), state)
            for item in todo.work:  # a partition no shard wrote: its rows are not in out=, 'skipped'
                if self.lengths and counts_of(item.value) is None:
                    item.value = {ROWS: {"skipped": self.lengths[item.key]}}
            if coordinator.fatal is not None:
                self.fatal = coordinator.fatal

    async def settle(self, todo: InputTable) -> None:
        coordinator = self.coordinator
        if self.out is not None and coordinator is not None:
            await asyncio.to_thread(_finish_out, self.out, todo, coordinator.written, bool(self.lengths))
            if coordinator.evidence.records:
                frame = evidence_frame(coordinator.evidence.records)
                await asyncio.to_thread(write_evidence, self.out, frame, coordinator.run_id)

    @property
    def error_records(self) -> list[dict[str, Any]]:
        return self.coordinator.error_records if self.coordinator else []

    @property
    def attempt_records(self) -> list[tuple[Any, ...]]:
        return self.coordinator.attempt_records if self.coordinator else []

    @property
    def evidence_records(self) -> list[dict[str, Any]]:
        return self.coordinator.evidence.records if self.coordinator else []

    def annotate(self, result: Any) -> None:
        coordinator = self.coordinator
        workers = coordinator.session_workers if coordinator else {}
        result.sessions["worker"] = result.sessions["session"].map(workers).astype(object)
        # What a row cost each shard's orchestrator, measured during the run (see _plan.py).
        cpu = coordinator.cpu_per_row() if coordinator else {}
        result.sessions["worker_cpu_ms_per_row"] = result.sessions["worker"].map(cpu).astype("float64")
        if cpu:
            result.orchestrator_ms_per_page = sum(cpu.values()) / len(cpu)
        if cpu:
            log.info(
                "Orchestrator CPU per row (Python + Playwright driver): %s.",
                ", ".join(f"worker {w}: {ms:.1f} ms" for w, ms in sorted(cpu.items())),
            )

    def close(self, result: Any, *, interrupted: bool) -> None:
        if result is None and self.coordinator is not None:
            self.coordinator.close()  # a run that failed before its shards: the listener goes too
        if self.partitions is not None and not self.closed:
            self.closed = True
            try:
                if result is None:
                    self.partitions.close(interrupted=True, counts={})
                else:
                    self.partitions.close(
                        interrupted=interrupted,
                        counts=result.counts,
                        errors=result.errors,
                        sessions=result.sessions,
                        elapsed=result.elapsed,
                    )
            finally:
                self.partitions.release()  # whatever failed on the way out (idempotent)


async def _wind_down(coordinator: Coordinator, shards: Any) -> None:
    """Stop what still runs (a cancelled or failed run), wait for the shards' reports, end the processes."""
    if not coordinator.done.is_set():
        coordinator.stop()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(coordinator.done.wait()), STOP_GRACE)
    await shards.end(STOP_GRACE)
    coordinator.close()


async def _end_tagged(backend: Backend, tag: str) -> None:
    """End a lost shard's sessions by its tag, at once (``Backend.end_tagged``)."""
    try:
        ended = await backend.end_tagged(tag)
        if ended:
            log.info("Ended %d cloud session(s) of a lost shard by its tag %s.", ended, tag)
    except Exception as exc:
        log.warning("Could not end the sessions of a lost shard by its tag %s: %s", tag, exc)


async def _end_orphans(backend: Backend, run_id: str, names: list[str]) -> None:
    """End the sessions a dead shard could not (a cloud session would bill until its idle timeout)."""
    if not names:
        return
    from ..backends._base import SessionHandle

    try:
        async with backend.open_pool(run_id, None) as pool:
            for name in names:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pool.end_session(SessionHandle(session_id=name, cdp_url="")), 15)
    except Exception as exc:
        log.warning("Could not end the %d session(s) of a lost shard: %s", len(names), exc)


# -------------------------------------------------------------------- out=
def _resuming(options: ScrapeOptions) -> bool:
    """A run that resumes a checkpoint may find its out= dataset already holding rows."""
    from .._store.checkpoint_files import MANIFEST

    if options.checkpoint is None or options.checkpoint_overwrite:
        return False
    return os.path.exists(os.path.join(os.fspath(options.checkpoint), MANIFEST))


async def _skip_written(todo: InputTable, out: str) -> InputTable:
    """Leave out the rows the dataset already holds (also those its checkpoint missed): never twice."""
    import dataclasses

    held = await asyncio.to_thread(rows_in, out)
    if not held:
        return todo
    left = []
    for item in todo.work:
        status = held.get(item.positions[0])
        if status is None:
            left.append(item)
        else:
            item.status, item.message = status, f"written to {out} by an earlier run"
    return dataclasses.replace(todo, work=left)


def _open_partition_checkpoint(
    options: ScrapeOptions, out: str, todo: InputTable
) -> tuple[PartitionCheckpoint, InputTable]:
    """A dask input's checkpoint, and the partitions left: those ``out=`` does not hold yet."""
    data = options.dask_input
    token = input_token(data)
    assert options.checkpoint is not None
    checkpoint, resuming = open_partition_checkpoint(
        options.checkpoint,
        token=token,
        partitions=int(data.npartitions),
        columns=[str(c) for c in data.columns],
        url_column=str(todo.url_column),
        settings={"url": options.url, "schemes": sorted(options.schemes), "dedupe": options.dedupe},
        scraper=options.scraper,
        overwrite=options.checkpoint_overwrite,
    )
    try:
        held = partitions_in(out, token) if resuming else {}
    except BaseException:
        checkpoint.close(interrupted=True, counts={})
        raise
    if held:
        log.info("Resuming from the checkpoint %s: %d partition(s) already in out= are kept.",
                 options.checkpoint, len(held))  # fmt: skip
    left = []
    for item in todo.work:
        counts = held.get(item.key)
        if counts is None:
            left.append(item)
        else:
            item.value = {ROWS: counts}
            item.status = "failed" if counts.get("failed") else "ok"
            item.message = f"written to {mask_password(out)} by an earlier run"
    return checkpoint, dataclasses.replace(todo, work=left)


def _finish_out(out: str, todo: InputTable, written: set[int], partitioned: bool) -> None:
    """Write the rows resolved here (invalid URLs, rows no shard was left for), then one schema."""
    positions: list[int] = []
    outcomes: list[Any] = []
    if partitioned:  # a dask input's rows never pass through here
        finish(out)
        return
    held = set(rows_in(out))
    for position in todo.invalid:
        if position not in held:
            positions.append(position)
            outcomes.append(None)
    for item in todo.work:
        if item.status is not None and item.key not in written:
            positions.extend(item.positions)
            outcomes.extend([item] * len(item.positions))
    if positions:
        name = f"caller-{uuid.uuid4().hex[:12]}.parquet"
        stage(out, part_table(todo, positions, outcomes), name)
        commit(out, name)
    finish(out)


def _partitions(options: ScrapeOptions, shards: Any) -> tuple[list[int], PartitionInput]:
    """A dask input's rows per partition (computed by the workers) and what each shard needs to read them."""
    data = options.dask_input
    lengths = [int(n) for n in shards.client.compute(data.map_partitions(len)).result()]
    check = {"url": options.url, "schemes": options.schemes, "dedupe": options.dedupe}
    return lengths, PartitionInput(partition_tasks(data), check, input_token(data))
