"""One shard of a run over several processes: ``python -m anchorframe._scale.shard``.

The process that called ``scrape(..., workers=N)`` (or ``cluster=``) starts this
program N times. Each shard connects back to it (an authenticated
``multiprocessing.connection`` on the address in ``ANCHORFRAME_SHARD``), receives
the run's spec, and runs one :class:`~anchorframe._engine.engine.Engine` in feed mode with
its own event loop, Playwright driver and sessions. It asks for rows when its queue
runs low, sends every resolved row back at once, and a snapshot of its sessions and
errors a few times a second. ``close`` ends it once its rows are done; ``stop``
(Ctrl-C in the caller) or a lost connection cancels it: its sessions are released
either way. See ``shards.py`` for the caller's side.

API keys never travel in a message: the spec carries the backend as its
``for_another_process()`` made it, each secret replaced by the name of an environment
variable, which the caller sets for the child (or, on a Dask worker, the worker's own
``ANCHOR_API_KEY``); ``arrived()`` reads them back here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import pickle
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any

from .messages import (
    CallerMessage,
    Close,
    Done,
    Final,
    Hello,
    Outcome,
    Rows,
    ShardOrders,
    ShardSpec,
    Snapshot,
    Spec,
    State,
    Stop,
    Want,
)

__all__ = ["main"]

log = logging.getLogger("anchorframe")

#: How often a shard sends its sessions and new errors to the caller (seconds).
SNAPSHOT_SECONDS = 0.25


def main() -> None:
    from multiprocessing.connection import Client

    # Ctrl-C belongs to the caller, which stops every shard in order (``stop``).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    host, port = os.environ["ANCHORFRAME_SHARD"].rsplit(":", 1)
    key = bytes.fromhex(os.environ.pop("ANCHORFRAME_SHARD_KEY"))
    index = int(os.environ.get("ANCHORFRAME_SHARD_INDEX", "0"))
    worker = os.environ.get("ANCHORFRAME_SHARD_WORKER", str(index))
    conn = Client((host, int(port)), authkey=key)
    conn.send(Hello(index, worker, os.getpid()))
    answer = conn.recv()
    if not isinstance(answer, Spec):
        return
    asyncio.run(_Shard(conn, ShardRun.load(answer)).serve())


@dataclass
class ShardRun:
    """What this shard runs, unpacked from the caller's :class:`~.messages.Spec`."""

    spec: ShardSpec
    orders: ShardOrders
    fn: Any
    #: The engine's options, with this shard's share of per_site.
    options: Any
    backend: Any

    @classmethod
    def load(cls, message: Spec) -> ShardRun:
        spec: ShardSpec = pickle.loads(message.run)
        for path in spec.sys_path:
            if path not in sys.path and (not path or os.path.isdir(path)):
                sys.path.append(path)
        try:
            import cloudpickle  # noqa: F401 - registers what cloudpickle pickled by value
        except ImportError:
            pass
        payload = pickle.loads(spec.payload)
        orders = message.orders
        options = payload["options"]
        options = dataclasses.replace(
            options, sites=dataclasses.replace(options.sites, per_site=orders.per_site)
        )
        backend = payload["backend"].arrived()  # its secrets, from this process's environment
        return cls(spec, orders, payload["fn"], options, backend)


class _Shard:
    def __init__(self, conn: Any, run: ShardRun) -> None:
        self.conn = conn
        self.run = run
        self.asked = 0
        self.outbox: list[Outcome] = []
        self.errors_sent = 0
        self.attempts_sent = 0
        self.evidence_sent = 0
        self.engine: Any = None
        self.run_task: asyncio.Future[None] | None = None
        self.lost = False
        self.closed = False
        #: out=: resolved rows wait here for their Parquet part (sent with it, see ``_out.py``).
        self.out: str | None = run.spec.out
        self.pending: list[Any] = []
        self.part_timer: asyncio.TimerHandle | None = None
        self.writing: set[asyncio.Future[None]] = set()
        self.parts = 0
        self.out_error: BaseException | None = None
        #: A dask input: the rows handed out are partitions (``_dask_input.py``).
        self.partitions: Any = None
        if run.spec.partitions is not None:
            from .dask_input import PartitionRunner

            self.partitions = PartitionRunner(self, run.spec.partitions)
        self.token = f"{run.orders.run_id}-{os.getpid()}-{os.urandom(3).hex()}"

    async def serve(self) -> None:
        from .._core import events as ev
        from .._engine.engine import Engine

        run = self.run
        self.loop = asyncio.get_running_loop()
        backend = run.backend
        plan = run.orders.plan
        if run.orders.shard_tag:
            backend.tag_sessions(run.orders.shard_tag)
        #: Rows kept in hand: twice what the sessions work on at once, so no tab waits for the caller.
        self.target = max(4, plan.sessions * plan.tabs * 2)

        def observe(event: Any, state: Any) -> None:
            if event.name == ev.ROW_DONE and self.partitions is not None:
                self.partitions.resolved(event.detail)
            elif event.name == ev.ROW_DONE and self.out is not None:
                self._hold(event.detail)
            elif event.name == ev.ROW_DONE:
                item = event.detail
                # Sent at once, not batched per tick: a row reported is never fetched again, so
                # the fewer rows finished and unreported when a shard dies, the fewer fetched twice.
                self.outbox.append(Outcome.of(item))
                self._flush()
            if event.name == ev.ROW_DONE:
                item = event.detail
                if item.reason == "no_sessions" and not self.closed:
                    # Every session of this shard failed and none is coming: it takes no more
                    # rows (the other shards do) and ends once the rows it holds are resolved.
                    self.closed = True
                    self.engine.close_feed()
                self._ask()

        self.engine = engine = Engine(
            run.spec.table,
            run.fn,
            backend,
            plan,
            run.options,
            run_id=run.orders.run_id,
            observer=observe,
            secrets=backend.secrets(),
            feed=True,
        )
        reader = threading.Thread(target=self._read, name="anchorframe-shard-reader", daemon=True)
        reader.start()
        self._ask()
        self.run_task = asyncio.ensure_future(engine.run())
        ticker = asyncio.ensure_future(self._tick())
        fatal: BaseException | None = None
        try:
            await self.run_task
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # a fatal error of the run (no browser, no key...): the caller raises it
            fatal = exc
        finally:
            ticker.cancel()
        await self._write_parts()
        fatal = fatal or self.out_error
        self._flush()
        try:
            self.conn.send(Final(self._snapshot(), _portable(fatal, backend.secrets())))
        except Exception as exc:  # something in the snapshot would not pickle: still say how it ended
            text = f"The shard could not report its end ({type(exc).__name__}: {exc})."
            with contextlib.suppress(Exception):
                self.conn.send(Final(None, fatal and RuntimeError(f"{type(fatal).__name__}: {text}")))
        with contextlib.suppress(Exception):
            self.conn.close()

    # ------------------------------------------------------------ the caller
    def _read(self) -> None:
        """A thread: every message from the caller goes to the event loop; a lost caller stops the shard."""
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                message = Stop()
                self.lost = True
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self.loop.call_soon_threadsafe(self._handle, message)
            if isinstance(message, (Stop, Close)):
                return

    def _handle(self, message: CallerMessage) -> None:
        from .._core.table import Work

        match message:
            case Rows(given):
                items = [Work(key=key, url=url, positions=positions) for key, url, positions in given]
                self.asked -= len(items)
                if items and self.partitions is not None:
                    self.partitions.receive(items)
                elif items:
                    self.engine.feed(items)
                self._ask()
            case Close():
                self.closed = True
                self.engine.close_feed()
            case Stop() if self.run_task is not None:
                self.run_task.cancel()

    def _ask(self) -> None:
        engine = self.engine
        if engine is None or self.closed:
            return
        if self.partitions is not None:  # one partition worked on, the next one at hand
            have = self.partitions.holding() + self.asked
            if have < 2:
                self.asked += 2 - have
                self._send(Want(2 - have))
            return
        have = engine.outstanding + self.asked
        if have <= self.target // 2:
            want = self.target - have
            self.asked += want
            self._send(Want(want))

    # ------------------------------------------------------------- messages
    def _send(self, message: Want | Done | State) -> None:
        if self.lost:
            return
        try:
            self.conn.send(message)
        except (OSError, ValueError):
            self.lost = True
            if self.run_task is not None:
                self.run_task.cancel()

    # ------------------------------------------------------------------ out=
    def _hold(self, item: Any) -> None:
        from .._store.out import PART_ROWS, PART_SECONDS

        self.pending.append(item)
        if len(self.pending) >= PART_ROWS:
            self._part()
        elif self.part_timer is None:
            self.part_timer = self.loop.call_later(PART_SECONDS, self._part)

    def _part(self) -> None:
        """Write the rows held as one part (in a thread), then report them with it."""
        if self.part_timer is not None:
            self.part_timer.cancel()
            self.part_timer = None
        if not self.pending:
            return
        items, self.pending = self.pending, []
        self.parts += 1
        name = f"{self.token}-{self.parts:06d}.parquet"
        task = asyncio.ensure_future(self._write_part(items, name))
        self.writing.add(task)
        task.add_done_callback(self.writing.discard)

    async def _write_part(self, items: list[Any], name: str) -> None:
        from .._store.out import part_table, stage

        assert self.out is not None
        positions = [p for item in items for p in item.positions]
        outcomes = [item for item in items for _ in item.positions]
        try:
            arrow = part_table(self.run.spec.table, positions, outcomes)
            await asyncio.to_thread(stage, self.out, arrow, name)
        except Exception as exc:
            self.fail_out(len(positions), exc)
            return
        rows = [Outcome.of(item, keep_value=False) for item in items]
        for item in items:
            item.value = None  # written: this shard keeps none of the results
        self._send(Done(rows, name))

    def fail_out(self, rows: int, exc: BaseException) -> None:
        """The run cannot keep its promise (every row in out=): it stops, and the caller raises this."""
        self.out_error = RuntimeError(
            f"A shard could not read or write {rows} rows of out={self.out!r} "
            f"({type(exc).__name__}: {exc}). The rows not written are 'skipped'; fix the "
            "storage (or the input) and run again."
        )
        if self.run_task is not None:
            self.run_task.cancel()

    async def _write_parts(self) -> None:
        """The rows held and the parts being written, all reported (the end of the shard)."""
        if self.partitions is not None:
            await self.partitions.drain()
        self._part()
        while self.writing:
            await asyncio.gather(*self.writing, return_exceptions=True)

    def _flush(self) -> None:
        if self.outbox:
            rows, self.outbox = self.outbox, []
            self._send(Done(rows))

    def _snapshot(self) -> Snapshot:
        engine = self.engine
        state = engine.state
        errors = engine.error_records[self.errors_sent :]
        self.errors_sent += len(errors)
        attempts = engine.ledger.attempt_records[self.attempts_sent :]
        self.attempts_sent += len(attempts)
        evidence = engine.witness.records[self.evidence_sent :] if engine.witness is not None else []
        self.evidence_sent += len(evidence)
        self.rows_done = state.rows_ok + state.rows_failed
        return Snapshot(
            cpu_s=self._cpu(),
            rows=self.rows_done,
            phase=state.phase,
            sessions=dict(state.sessions),
            sessions_requested=state.sessions_requested,
            sessions_ready=state.sessions_ready,
            sessions_failed=state.sessions_failed,
            retrying=state.retrying,
            saturation=getattr(state, "saturation", None),
            errors=errors,
            attempts=attempts,
            evidence=evidence,
        )

    def _cpu(self) -> float | None:
        """CPU seconds of this shard's orchestrator: this process and its Playwright driver.

        A local Chromium is a child too; it is left out (its cost is the browser's, not the
        orchestrator's). The driver is the one child that is not a browser.
        """
        try:
            import psutil

            me = psutil.Process()
            total = sum(me.cpu_times()[:2])
            for child in me.children():
                name = (child.name() or "").lower()
                if "chrom" not in name and "headless" not in name:
                    total += sum(child.cpu_times()[:2])
            return float(total)
        except Exception:
            return None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_SECONDS)
            self._send(State(self._snapshot()))


def _portable(exc: BaseException | None, secrets: tuple[str, ...]) -> Any:
    """``exc`` as it can travel to the caller: itself when it pickles, else a RuntimeError with its words."""
    if exc is None:
        return None
    from .._core.secrets import redact

    try:
        pickle.loads(pickle.dumps(exc))
        text = str(exc)
        if not any(s and s in text for s in secrets):
            return exc
    except Exception:
        pass
    return RuntimeError(f"{type(exc).__name__}: {redact(str(exc), *secrets)}")


if __name__ == "__main__":
    # Run the module's own copy (anchorframe._scale.shard), not this __main__ one: one set of the
    # message classes (anchorframe._scale.messages), whoever imports them.
    from anchorframe._scale.shard import main as shard_main

    shard_main()
