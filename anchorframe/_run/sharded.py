"""The run of a sharded scrape: start the shards, wait, wind down, assemble one result.

``run_sharded`` is what ``scrape(..., workers=N)`` and ``cluster=`` run (see
``_shards.py`` for the spec and the coordinator, ``_shard.py`` for a shard,
``_dask.py`` for shards on a Dask cluster). :class:`LocalShards` starts the shard
processes on this machine.
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
from .._core.frames import InputTable
from .._core.plan import plan_sessions
from .._core.secrets import mask_password
from .._scale.dask_input import ROWS, counts_of, input_token, partition_tasks
from .._scale.shards import Coordinator, shard_plans, shard_spec
from .._store.checkpoint_partitions import PartitionCheckpoint, open_partition_checkpoint
from .._store.out import check_out, commit, finish, part_table, partitions_in, rows_in, stage
from ..backends._base import Backend
from .options import ScrapeOptions

__all__ = ["LocalShards", "run_sharded"]

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
async def run_sharded(table: InputTable, options: ScrapeOptions, shards: Any = None) -> Any:
    """Run ``table`` over ``options.workers`` shard processes (or the Dask shards given); see the module."""
    held: list[PartitionCheckpoint] = []
    try:
        return await _run_sharded(table, options, shards, held)
    finally:
        for checkpoint in held:  # released whatever failed on the way out (idempotent)
            checkpoint.release()


async def _run_sharded(
    table: InputTable, options: ScrapeOptions, shards: Any, held: list[PartitionCheckpoint]
) -> Any:
    from .._display.progress import choose_display
    from .assemble import build_result, rerun_for, session_records
    from .scrape import _LAST, _open_checkpoint, _plan_for, scrape

    backend = options.backend
    writer = None
    todo = table
    out = options.out
    if out is not None:  # before anything opens: a bad out= fails with nothing to undo
        out = await asyncio.to_thread(check_out, out, resuming=_resuming(options))
    partitions: PartitionCheckpoint | None = None  # a dask input's checkpoint: no rows, a lock
    if options.checkpoint is not None and options.dask_input is not None:
        assert out is not None
        opened, todo = await asyncio.to_thread(_open_partition_checkpoint, options, out, table)
        held.append(opened)
        partitions = opened
    elif options.checkpoint is not None:
        writer, todo = await _open_checkpoint(table, options)
    if out is not None and writer is not None:
        todo = await _skip_written(todo, out)
    run_id = uuid.uuid4().hex[:12]
    display = None
    coordinator: Coordinator | None = None
    try:
        if shards is None:
            shards = LocalShards(max(1, min(options.workers, len(todo.work))))
        await shards.prepare()
        sizing = {**options.sizing, "workers": shards.count}
        rows_total = sum(len(w.positions) for w in todo.work) + len(todo.invalid)
        extra: dict[str, Any] = {}
        lengths: list[int] = []
        if options.dask_input is not None:  # partitions, counted on the cluster (``_dask_input.py``)
            lengths, extra = await asyncio.to_thread(_partitions, options, shards)
            rows_total = sum(lengths[item.key] for item in todo.work)
            run_plan = plan_sessions(rows_total, kind=backend.kind, rows=rows_total, **sizing)
        else:
            # The plan sizes the sessions for the shards there are (a Dask cluster has its own count).
            run_plan = _plan_for(todo, backend, **sizing)
        plans = shard_plans(run_plan, shards.count)
        # per_site holds for the whole run: each shard keeps to its share of it (at least 1).
        engine = options.engine
        shared = dataclasses.replace(engine, per_site=max(1, engine.per_site // shards.count))
        spec, env = shard_spec(
            todo,
            dataclasses.replace(options, engine=shared),
            for_cluster=not isinstance(shards, LocalShards),
            extra=extra,
        )
        display = choose_display(options.progress) if rows_total and todo.work else None
        state = RunState(
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
        observer = Broadcast(essential=[writer] if writer else [], displays=[display] if display else [])
        if writer is not None:
            writer.describe_run(run_id=run_id, backend=backend.describe(), plan=run_plan, out=out)
        if partitions is not None:
            assert out is not None
            partitions.describe_run(
                run_id=run_id, backend=backend.describe(), out=out, plan=run_plan, lengths=lengths
            )
    except BaseException:
        if writer is not None:
            writer.close()
        if partitions is not None:
            partitions.close(interrupted=True, counts={})
        raise
    interrupted = False
    ending: list[asyncio.Future[None]] = []  # ending the sessions of lost shards
    try:
        coordinator = Coordinator(
            todo,
            state,
            observer,
            spec=spec,
            plans=plans,
            run_id=run_id,
            host=getattr(shards, "host", "127.0.0.1"),
            out=out,
        )
        coordinator.on_lost = lambda tag: ending.append(asyncio.ensure_future(_end_tagged(backend, tag)))
        observer(Event(ev.RUN_STARTED), state)
        if coordinator.unresolved:
            await asyncio.to_thread(shards.start, coordinator, env)
            watcher = asyncio.ensure_future(shards.watch(coordinator))
            try:
                await coordinator.done.wait()
            finally:
                watcher.cancel()
    except asyncio.CancelledError:
        interrupted = True
        raise
    finally:
        if coordinator is not None:
            await _wind_down(coordinator, shards)
            await asyncio.gather(*ending, return_exceptions=True)
            await _end_orphans(backend, run_id, coordinator.orphans)
        state.finished = time.monotonic()
        state.rows_skipped = sum(len(w.positions) for w in todo.work if w.status is None)
        state.phase = "done"
        observer(Event(ev.RUN_FINISHED), state)
        if display is not None:
            try:
                display.close(state)
            except Exception:
                log.warning("The progress display failed to show the final state.", exc_info=True)
        if writer is not None:
            writer.drain()
            writer.add_previous_attempts(todo.work)
        for item in todo.work:  # a partition no shard wrote: its rows are not in out=, 'skipped'
            if lengths and counts_of(item.value) is None:
                item.value = {ROWS: {"skipped": lengths[item.key]}}
        if out is not None:
            written = coordinator.written if coordinator else set()
            await asyncio.to_thread(_finish_out, out, todo, written, bool(lengths))
        result = build_result(
            table,
            error_records=coordinator.error_records if coordinator else [],
            session_rows=session_records(state),
            plan=run_plan,
            backend=backend.describe(),
            run_id=run_id,
            elapsed=state.elapsed,
            first_result_s=state.first_result_s,
            interrupted=interrupted,
            skipped_reason="the run was interrupted before this row finished" if interrupted else "not run",
            rerun=None if out is not None else rerun_for(table, options.call, scrape),
            out=out,
        )
        workers = coordinator.session_workers if coordinator else {}
        result.sessions["worker"] = result.sessions["session"].map(workers).astype(object)
        # What a row cost each shard's orchestrator, measured during the run (see _plan.py).
        cpu = coordinator.cpu_per_row() if coordinator else {}
        result.sessions["worker_cpu_ms_per_row"] = result.sessions["worker"].map(cpu).astype("float64")
        if cpu:
            log.info(
                "Orchestrator CPU per row (Python + Playwright driver): %s.",
                ", ".join(f"worker {w}: {ms:.1f} ms" for w, ms in sorted(cpu.items())),
            )
        if writer is not None:
            writer.close(
                errors=result.errors,
                sessions=result.sessions,
                elapsed=result.elapsed,
                interrupted=interrupted,
            )
        if partitions is not None:
            partitions.close(
                interrupted=interrupted,
                counts=result.counts,
                errors=result.errors,
                sessions=result.sessions,
                elapsed=result.elapsed,
            )
        _LAST[:] = [result]
    if coordinator.fatal is not None:
        raise coordinator.fatal
    return result


async def _wind_down(coordinator: Coordinator, shards: Any) -> None:
    """Stop what still runs (a cancelled or failed run), wait for the shards' reports, end the processes."""
    if not coordinator.done.is_set():
        coordinator.stop()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(coordinator.done.wait()), STOP_GRACE)
    await shards.end(STOP_GRACE)
    coordinator.close()


async def _end_tagged(backend: Backend, tag: str) -> None:
    """End a lost shard's cloud sessions by its tag, at once: also those it had not reported yet,
    and its batches still provisioning (they would bring sessions nobody uses)."""
    from ..backends.anchor import AnchorBackend

    if not isinstance(backend, AnchorBackend):
        return  # local browsers die with their shard
    from ..backends._anchor_reap import reap

    try:
        done = await asyncio.to_thread(reap, tag=tag, api_key=backend.secrets()[0], base_url=backend.base_url)
        ended = int((done["action"] == "ended").sum()) if len(done) else 0
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


def _partitions(options: ScrapeOptions, shards: Any) -> tuple[list[int], dict[str, Any]]:
    """A dask input's rows per partition (computed by the workers) and what each shard needs to read them."""
    data = options.dask_input
    lengths = [int(n) for n in shards.client.compute(data.map_partitions(len)).result()]
    check = {"url": options.url, "schemes": options.schemes, "dedupe": options.dedupe}
    extra = {"partitions": partition_tasks(data), "input_check": check, "input_token": input_token(data)}
    return lengths, extra
