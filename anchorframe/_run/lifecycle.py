"""One run's lifecycle, whoever executes its rows.

Every run goes through the same steps, written once here: open what stores it (a
checkpoint, ``out=``), plan it, start its display, execute its rows, and in any case
(done, failed, cancelled) close the display, drain the storage, assemble one
:class:`~anchorframe._run.result.ScrapeResult` and close the storage. Two executors
do the rows:

* :class:`InProcess`: the engine (``anchorframe._engine``) on this process's event loop;
* :class:`~anchorframe._run.sharded.Sharded`: a coordinator handing rows to shard
  processes on this machine (``workers=N``) or to tasks on a Dask cluster (``cluster=``),
  each shard running the same engine.

An executor says what its rows cost (``error_records``, ``attempt_records``), so a result
holds the same frames whichever executed it.

Example:
    >>> result = await run(table, options, rerun_with=scrape)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .._core.events import Broadcast, RunState
from .._core.options import ScrapeOptions
from .._core.plan import Plan, plan_sessions
from .._core.table import InputTable
from .._display.progress import choose_display
from ..backends._base import Backend
from .assemble import build_result, rerun_for, session_records
from .result import ScrapeResult, measured_orchestrator_ms, note_measured

if TYPE_CHECKING:
    from .._engine.engine import Engine
    from .._store.checkpoint import CheckpointWriter

__all__ = ["Executor", "InProcess", "last_result", "plan_for", "run", "unrecorded"]

log = logging.getLogger("anchorframe")

_LAST: list[ScrapeResult] = []


@contextlib.contextmanager
def unrecorded() -> Iterator[None]:
    """A run made on the user's behalf (``af.plan``'s probe): ``af.last_result()`` and the measured
    orchestrator figure stay what they were before it (the caller adopts the figure itself)."""
    last, measured = list(_LAST), measured_orchestrator_ms()
    try:
        yield
    finally:
        _LAST[:] = last
        note_measured(measured)


def last_result() -> ScrapeResult | None:
    """The result of the latest run in this process, also when it was interrupted.

    Example:
        >>> af.scrape(df, scraper)  # doctest: +SKIP
        KeyboardInterrupt
        >>> partial = af.last_result()  # every row there, unfinished ones 'skipped'  # doctest: +SKIP
    """
    return _LAST[-1] if _LAST else None


def plan_for(table: InputTable, backend: Backend, **sizing: Any) -> Plan:
    """The plan of ``table``'s rows on ``backend`` (sizing options by name, as ``af.plan`` takes them)."""
    return plan_sessions(
        len(table.work),
        kind=backend.kind,
        rows=table.rows,
        invalid=len(table.invalid),
        orchestrator_ms=measured_orchestrator_ms(),
        **sizing,
    )


class Executor(Protocol):
    """What executes a run's rows; :func:`run` drives it through the lifecycle."""

    #: ``out=`` as the executor opened it (its rows are there, not in the result), or None.
    out: str | None
    #: An error that ends the run after its result was assembled (raised by :func:`run`).
    fatal: BaseException | None

    async def open(self, table: InputTable) -> InputTable:
        """Open the executor's own storage (``out=``, a dask input's checkpoint); the work left."""

    async def resume(self, todo: InputTable, checkpointed: bool) -> InputTable:
        """Leave out the rows the executor's storage already holds (after the checkpoint was read)."""

    async def prepare(self, todo: InputTable, run_id: str, observer: Broadcast) -> tuple[Plan, RunState]:
        """Plan the rows and make everything that runs them; nothing started yet."""

    async def execute(self) -> None:
        """Run the rows until every one is resolved (cancelled: stop promptly)."""

    @property
    def state(self) -> RunState:
        """The run's state (counts, sessions, phase) as the executor keeps it."""

    async def wind_down(self, todo: InputTable) -> None:
        """Stop what still runs: the rows' sessions (and shards) released."""

    async def settle(self, todo: InputTable) -> None:
        """Finish the executor's own storage once the rows are in (``out=``'s last rows and schema)."""

    @property
    def error_records(self) -> list[dict[str, Any]]: ...

    @property
    def attempt_records(self) -> list[tuple[Any, ...]]: ...

    @property
    def evidence_records(self) -> list[dict[str, Any]]:
        """What failed rows' pages showed (``anchorframe._core.evidence``), in the order kept."""

    def annotate(self, result: ScrapeResult) -> None:
        """Add what only this executor knows to the result (e.g. which worker held a session)."""

    def close(self, result: ScrapeResult | None, *, interrupted: bool) -> None:
        """Close the executor's own storage (None: the run failed before it started)."""


class InProcess:
    """The rows on this process's event loop: one :class:`~anchorframe._engine.engine.Engine`."""

    out: str | None = None
    fatal: BaseException | None = None

    def __init__(self, options: ScrapeOptions) -> None:
        self.options = options
        self.engine: Engine | None = None

    async def open(self, table: InputTable) -> InputTable:
        return table

    async def resume(self, todo: InputTable, checkpointed: bool) -> InputTable:
        return todo

    async def prepare(self, todo: InputTable, run_id: str, observer: Broadcast) -> tuple[Plan, RunState]:
        from .._engine.engine import Engine

        options, backend = self.options, self.options.backend
        run_plan = plan_for(todo, backend, **options.sizing.given())
        self.engine = Engine(
            todo,
            options.scraper,
            backend,
            run_plan,
            options.engine,
            run_id=run_id,
            observer=observer,
            secrets=backend.secrets(),
        )
        kept = todo.rows - len(todo.invalid) - sum(len(w.positions) for w in todo.work)
        self.engine.state.rows_total -= kept  # progress counts this run's rows, not the checkpoint's
        return run_plan, self.engine.state

    async def execute(self) -> None:
        assert self.engine is not None
        await self.engine.run()

    @property
    def state(self) -> RunState:
        assert self.engine is not None
        return self.engine.state

    async def wind_down(self, todo: InputTable) -> None:
        pass  # the engine ended its sessions itself

    async def settle(self, todo: InputTable) -> None:
        pass

    @property
    def error_records(self) -> list[dict[str, Any]]:
        return self.engine.error_records if self.engine else []

    @property
    def attempt_records(self) -> list[tuple[Any, ...]]:
        return self.engine.ledger.attempt_records if self.engine else []

    @property
    def evidence_records(self) -> list[dict[str, Any]]:
        witness = self.engine.witness if self.engine else None
        return witness.records if witness is not None else []

    def annotate(self, result: ScrapeResult) -> None:
        if self.engine is not None:
            result.orchestrator_ms_per_page = self.engine.state.orchestrator_ms_per_page

    def close(self, result: ScrapeResult | None, *, interrupted: bool) -> None:
        pass


def executor_for(options: ScrapeOptions) -> Executor:
    """In this process, or sharded: over driver processes (``workers=``) or Dask (``cluster=``)."""
    if options.workers > 1 or options.cluster is not None or options.out is not None:
        from .sharded import Sharded

        return Sharded(options)
    return InProcess(options)


async def run(
    table: InputTable, options: ScrapeOptions, *, rerun_with: Callable[..., ScrapeResult]
) -> ScrapeResult:
    """Run every row of ``table`` that its storage does not hold yet; assemble all of ``table``.

    ``rerun_with`` is the ``scrape`` that ``result.retry_failed()`` calls.
    """
    executor = executor_for(options)
    result: ScrapeResult | None = None
    try:
        result = await _run(table, options, executor, rerun_with)
    finally:
        if result is None:
            executor.close(None, interrupted=True)  # idempotent: released whatever failed on the way
    if executor.fatal is not None:
        raise executor.fatal
    return result


async def _run(
    table: InputTable, options: ScrapeOptions, executor: Executor, rerun_with: Callable[..., ScrapeResult]
) -> ScrapeResult:
    backend = options.backend
    todo = await executor.open(table)
    writer: CheckpointWriter | None = None
    if options.checkpoint is not None and options.dask_input is None:  # a dask input's is the executor's
        writer, todo = await open_checkpoint(table, options)
    run_id = uuid.uuid4().hex[:12]
    display = None
    observer = Broadcast(essential=[writer] if writer else [])
    try:
        todo = await executor.resume(todo, writer is not None)
        run_plan, state = await executor.prepare(todo, run_id, observer)
        display = choose_display(options.progress) if todo.work and state.rows_total else None
        if display is not None:
            observer.displays.append(display)
        if writer is not None:
            writer.describe_run(run_id=run_id, backend=backend.describe(), plan=run_plan, out=executor.out)
    except BaseException:
        if writer is not None:
            writer.close()
        raise
    interrupted = False
    try:
        await executor.execute()
    except asyncio.CancelledError:
        interrupted = True
        raise
    finally:
        try:
            await executor.wind_down(todo)
        finally:  # whatever stopping cost: the display shows the end, the rows finished are written
            state = executor.state
            if display is not None:
                try:
                    display.close(state)
                except Exception:
                    log.warning("The progress display failed to show the final state.", exc_info=True)
            if writer is not None:
                # After the rows, also when the run was cancelled: the rows it finished are written.
                writer.drain()
                writer.add_previous_attempts(todo.work)
        try:
            await executor.settle(todo)  # out=: the rows resolved here, and the dataset's schema
        except BaseException:
            if writer is not None:
                writer.close()  # its rows are written; the run record says it did not end
            raise
        result = build_result(
            table,
            error_records=executor.error_records,
            session_rows=session_records(state),
            plan=run_plan,
            backend=backend.describe(),
            run_id=run_id,
            elapsed=state.elapsed,
            first_result_s=state.first_result_s,
            interrupted=interrupted,
            skipped_reason="the run was interrupted before this row finished" if interrupted else "not run",
            rerun=None if executor.out is not None else rerun_for(table, options.call, rerun_with),
            attempt_records=executor.attempt_records,
            evidence_records=[*previous_evidence(writer, table), *executor.evidence_records],
            out=executor.out,
            resumed_rows=0  # a dask input's rows are partitions, counted in out=
            if options.dask_input is not None
            else table.rows - len(table.invalid) - sum(len(w.positions) for w in todo.work),
        )
        executor.annotate(result)
        if result.orchestrator_ms_per_page is not None:
            note_measured(result.orchestrator_ms_per_page)
        if writer is not None:
            writer.close(
                errors=result.errors,
                sessions=result.sessions,
                evidence=result.evidence,
                elapsed=result.elapsed,
                interrupted=interrupted,
            )
        executor.close(result, interrupted=interrupted)
        _LAST[:] = [result]
    return result


def previous_evidence(writer: CheckpointWriter | None, table: InputTable) -> list[dict[str, Any]]:
    """The evidence earlier runs of a resumed checkpoint kept, of rows that are not ok now."""
    if writer is None:
        return []
    return writer.previous_evidence(table.work)


async def open_checkpoint(table: InputTable, options: ScrapeOptions) -> tuple[CheckpointWriter, InputTable]:
    """Open the checkpoint (reading its parts off the event loop) and list the work left."""
    from .._store.checkpoint import open_checkpoint as open_writer

    assert options.checkpoint is not None
    writer, resume = await asyncio.to_thread(
        open_writer,
        options.checkpoint,
        table,
        options.scraper,
        overwrite=options.checkpoint_overwrite,
        dedupe=options.dedupe,
        schemes=options.schemes,
    )
    if resume.rows_done:
        log.info(
            "Resuming from the checkpoint %s: %d rows already ok are kept, %d URLs left to scrape.",
            options.checkpoint,
            resume.rows_done,
            len(resume.remaining),
        )
    return writer, dataclasses.replace(table, work=resume.remaining)
