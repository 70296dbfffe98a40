"""A run over several driver processes (``workers=N``), or Dask workers (``cluster=``).

One Python process with one Playwright driver keeps only so many sessions busy
(see ``_plan.py``), so a big run is split into *shards*: processes that each run
the engine (in feed mode) with their own event loop, driver and sessions. This
module is the caller's side (the coordinator; ``_shard_spec.py`` makes what each shard
receives, ``_shards_run.py`` runs it); ``_shard.py`` is the shard's.

Exactly once, by construction: the caller holds the queue of rows and hands them
out on demand in small batches (twice what a shard works on at once). A row
belongs to the shard it was handed to until that shard reports it resolved; a
shard that dies (its connection drops) gives its unreported rows back to the
queue, and another shard finishes them. A row reported ``ok`` is never handed out
again. Only a row in flight on the dead shard, fetched but not yet reported, can
be fetched a second time. With ``out=`` a shard reports its rows with the Parquet
part that holds them, which the caller accepts only while every row is still that
shard's (``_out.py``); with a dask input, the rows handed out are partitions
(``_dask_input.py``).

The caller also writes the checkpoint (one directory, whatever ``workers`` is)
and feeds the one progress display: each resolved row is an event here, and each
shard sends a snapshot of its sessions and errors a few times a second.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import secrets as _random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from .._core import events as ev
from .._core.events import Event, RunState
from .._core.evidence import DEFAULT_EVIDENCE, EvidenceBudget
from .._core.plan import Plan
from .._core.table import InputTable, Work
from .._engine.ledger import error_record
from .dask_input import counts_of
from .messages import (
    Close,
    Done,
    Final,
    Hello,
    Lost,
    Outcome,
    Rows,
    ShardMessage,
    ShardOrders,
    Snapshot,
    Spec,
    State,
    Stop,
    Want,
)
from .shard_spec import check_travels, shard_plans, shard_spec, shard_tag, site_share

__all__ = ["Coordinator", "ShardLink", "check_travels", "shard_plans", "shard_spec", "shard_tag"]

log = logging.getLogger("anchorframe")


# ------------------------------------------------------------------ the links
class ShardLink:
    """The caller's view of one connected shard."""

    def __init__(self, index: int, worker: str, conn: Any, pid: int) -> None:
        self.index = index
        self.worker = worker
        self.conn = conn
        self.pid = pid
        self.serial = 0  # set by the coordinator: unique in the run (a rescheduled shard has its index)
        self.assigned: dict[int, Work] = {}
        self.demand = 0
        self.snapshot = Snapshot()
        self.reported = False  # a snapshot came (the default one counts for nothing)
        self.ended = False  # sent its final message, or its connection dropped
        self.tag = ""  # the tag of its cloud sessions (``shard_tag``)

    def send(self, message: Rows | Close | Stop) -> bool:
        try:
            self.conn.send(message)
            return True
        except (OSError, ValueError):
            return False


class Coordinator:
    """Hands out rows on demand, takes results back, keeps the run's state (see the module docstring)."""

    def __init__(
        self,
        table: InputTable,
        state: RunState,
        observer: Callable[[Event, RunState], None],
        *,
        spec: bytes,
        plans: list[Plan],
        run_id: str,
        host: str = "127.0.0.1",
        out: str | None = None,
        attempts: bool = True,
        per_site: int = 8,
        evidence: int = DEFAULT_EVIDENCE,
    ) -> None:
        from multiprocessing.connection import Listener

        self.table = table
        self.state = state
        self.observer = observer
        self.spec = spec
        self.plans = plans
        self.run_id = run_id
        self.out = out
        self.per_site = per_site
        #: out=: keys of the rows in parts the caller accepted (the others it writes itself at the end).
        self.written: set[int] = set()
        self.by_key = {item.key: item for item in table.work}
        self.queue: collections.deque[Work] = collections.deque(w for w in table.work if w.status is None)
        self.unresolved = len(self.queue)
        self.links: list[ShardLink] = []
        self.error_records: list[dict[str, Any]] = []
        #: One tuple per attempt of every shard, as the engine's ledger records them (``result.attempts``);
        #: kept only when the rows handed out are the caller's rows (not a dask input's partitions).
        self.attempt_records: list[tuple[Any, ...]] = []
        self.keep_attempts = attempts
        #: What failed rows' pages showed, as shards report it: the run's bound holds across shards.
        self.evidence = EvidenceBudget(evidence)
        #: Sessions of shards that died (their ids in the backend): the caller ends them.
        self.orphans: list[str] = []
        #: Called with the session tag of each shard that died (``_shards_run`` ends its sessions).
        self.on_lost: Callable[[str], None] | None = None
        self.fatal: BaseException | None = None
        self.done = asyncio.Event()
        self.closing = False
        self.key = _random.token_bytes(32)
        self.listener = Listener((host, 0), authkey=self.key)
        self.address: tuple[str, int] = self.listener.address
        #: (link serial, session name in its shard) -> the name in the result (unique in the run).
        self._aliases: dict[tuple[int, str], str] = {}
        self._serials = itertools.count()
        self._session_owner: dict[str, str] = {}
        self._loop = asyncio.get_running_loop()
        self._accepting = threading.Thread(target=self._accept, name="anchorframe-shards", daemon=True)
        self._accepting.start()
        if not self.unresolved:
            self._close_all()

    def cpu_per_row(self) -> dict[str, float]:
        """Worker -> ms of orchestrator CPU (its Python process + Playwright driver) per row it resolved."""
        out: dict[str, float] = {}
        for link in self.links:
            cpu, rows = link.snapshot.cpu_s, link.snapshot.rows
            if cpu is not None and rows:
                out[link.worker] = cpu * 1000.0 / rows
        return out

    @property
    def session_workers(self) -> dict[str, str]:
        """Session name (as in ``result.sessions``) -> the worker that held it."""
        return dict(self._session_owner)

    # ------------------------------------------------------------ connecting
    def _accept(self) -> None:
        while not self.closing:
            try:
                conn = self.listener.accept()
                # A shard that dies between connecting and saying hello must not block the others.
                hello = conn.recv() if conn.poll(30) else None
            except Exception:
                continue  # a failed handshake, or the wake-up connection of close()
            if self.closing or not isinstance(hello, Hello):
                with contextlib.suppress(Exception):
                    conn.close()
                continue
            link = ShardLink(int(hello.index), str(hello.worker), conn, int(hello.pid))
            link.serial = next(self._serials)
            plan = self.plans[link.index % len(self.plans)]
            # Its sessions carry this tag too: a shard lost with its worker has them ended by it.
            link.tag = shard_tag(self.run_id, link.serial)
            share = site_share(self.per_site, len(self.plans), link.index)  # the run's per_site, shared out
            orders = ShardOrders(plan, self.run_id, link.tag, share)
            try:
                conn.send(Spec(self.spec, orders))
            except Exception:
                continue
            self._loop.call_soon_threadsafe(self._connected, link)
            threading.Thread(
                target=self._read, args=(link,), name="anchorframe-shard-link", daemon=True
            ).start()

    def _read(self, link: ShardLink) -> None:
        while True:
            try:
                message = link.conn.recv()
            except Exception:
                message = Lost()
            try:
                self._loop.call_soon_threadsafe(self._handle, link, message)
            except RuntimeError:
                return
            if isinstance(message, (Final, Lost)):
                return

    def _connected(self, link: ShardLink) -> None:
        self.links.append(link)
        if self.closing or not self.unresolved:
            link.send(Close())

    # -------------------------------------------------------------- messages
    def _handle(self, link: ShardLink, message: ShardMessage) -> None:
        match message:
            case Want(rows):
                link.demand += int(rows)
                self._serve(link)
            case Done(rows, part) if part is not None:
                self._accept_part(link, rows, part)
            case Done(rows):
                self._resolved(link, rows)
            case State(snapshot):
                self._merge(link, snapshot)
            case Final(snapshot, fatal):
                if snapshot is not None:  # None: the shard could not report its end
                    self._merge(link, snapshot)
                if fatal is not None and self.fatal is None:
                    self.fatal = fatal
                    self.stop()
                self._ended(link, lost=False)
            case Lost():
                self._ended(link, lost=True)
            case _:
                log.warning("A shard sent a message this coordinator does not know: %r", type(message))

    def _serve(self, link: ShardLink) -> None:
        batch: list[Work] = []
        while link.demand > len(batch) and self.queue:
            item = self.queue.popleft()
            if item.status is None:
                batch.append(item)
        if not batch:
            return
        link.demand -= len(batch)
        for item in batch:
            link.assigned[item.key] = item
        if not link.send(Rows([(item.key, item.url, item.positions) for item in batch])):
            self.queue.extendleft(reversed(batch))  # its reader thread reports the loss
            for item in batch:
                link.assigned.pop(item.key, None)

    def _resolved(self, link: ShardLink, rows: list[Outcome]) -> None:
        state = self.state
        for key, status, value, reason, message, attempts, elapsed, session, render, http_status in rows:
            link.assigned.pop(key, None)
            item = self.by_key.get(key)
            if item is None or item.status is not None:
                continue  # never twice
            item.status, item.value, item.reason, item.message = status, value, reason, message
            item.attempts, item.elapsed = attempts, elapsed
            if render is not None:
                item.render = render  # which path fetched it (af_render), when the engine says
            item.http_status = http_status
            item.session = self._alias(link, session) if session is not None else None
            partition = counts_of(value)  # a partition of a dask input: its rows by status
            if partition is not None:
                state.rows_ok += partition.get("ok", 0)
                state.rows_failed += partition.get("failed", 0)
                state.rows_invalid += partition.get("invalid", 0)
            elif status == "ok":
                state.rows_ok += len(item.positions)
            else:
                state.rows_failed += len(item.positions)
            if state.first_result_s is None:
                state.first_result_s = time.monotonic() - state.started
            self.unresolved -= 1
            self.observer(Event(ev.ROW_DONE, item.session, item), state)
        if self.unresolved <= 0:
            self._close_all()

    def _accept_part(self, link: ShardLink, rows: list[Outcome], part: str) -> None:
        """out=: move a shard's part into the dataset if all its rows are still its own, then count them."""
        from .._store.out import commit, discard

        assert self.out is not None
        keys = [row.key for row in rows]
        mine = all(key in link.assigned and self.by_key[key].status is None for key in keys)
        try:
            if not mine:  # cannot happen while rows are handed to one live shard at a time; still safe
                raise RuntimeError("some of its rows were resolved elsewhere")
            commit(self.out, part)  # a rename on a local disk: brief, on the event loop on purpose
        except Exception as exc:
            log.warning(
                "A part of worker %s was not accepted (%s); its rows are scraped again.", link.worker, exc
            )
            discard(self.out, part)
            back = [link.assigned.pop(key) for key in keys if key in link.assigned]
            self.queue.extendleft(reversed([item for item in back if item.status is None]))
            for other in self.links:
                if not other.ended:
                    self._serve(other)
            return
        self.written.update(keys)
        self._resolved(link, rows)

    def _merge(self, link: ShardLink, snapshot: Snapshot) -> None:
        for name, session in snapshot.sessions.items():
            alias = self._alias(link, name)
            session.session = alias
            self.state.sessions[alias] = session
        for record in snapshot.errors:
            if record.get("session") is not None:
                record["session"] = self._alias(link, record["session"])
            self.error_records.append(record)
        if self.keep_attempts:
            for attempt in snapshot.attempts:
                self.attempt_records.append((self._alias(link, attempt[0]), *attempt[1:]))
        for record in snapshot.evidence:
            record["session"] = self._alias(link, record["session"])
            self.evidence.take(record)
        link.snapshot, link.reported = snapshot, True
        self._sum_up()

    def _sum_up(self) -> None:
        state = self.state
        snaps = [link.snapshot for link in self.links if link.reported]
        state.sessions_requested = sum(s.sessions_requested for s in snaps)
        state.sessions_ready = sum(s.sessions_ready for s in snaps)
        state.sessions_failed = sum(s.sessions_failed for s in snaps)
        state.retrying = sum(s.retrying for s in snaps)
        state.saturation = next((s.saturation for s in snaps if s.saturation), None)
        phases = [s.phase for s in snaps]
        if state.phase != "done" and phases:
            state.phase = "ready" if "ready" in phases else phases[0]
        self.observer(Event(ev.PHASE, None, state.phase), state)

    def _alias(self, link: ShardLink, name: str) -> str:
        alias = self._aliases.get((link.serial, name))
        if alias is None:
            alias = name
            if alias in self._session_owner:  # two shards named a session alike (fake-1, local-<pid>)
                alias = f"{name}@{link.worker}"
                number = 1
                while alias in self._session_owner:
                    number += 1
                    alias = f"{name}@{link.worker}#{number}"
            self._aliases[(link.serial, name)] = alias
            self._session_owner[alias] = link.worker
        return alias

    def _ended(self, link: ShardLink, *, lost: bool) -> None:
        if link.ended:
            return
        link.ended = True
        with contextlib.suppress(Exception):
            link.conn.close()
        back = [item for item in link.assigned.values() if item.status is None]
        link.assigned.clear()
        if lost:
            self._lost(link, len(back))
        if back:
            self.queue.extendleft(reversed(back))
            for other in self.links:
                if not other.ended:
                    self._serve(other)
        self._check_done()

    def _lost(self, link: ShardLink, rows: int) -> None:
        now = time.time()
        message = (
            f"The shard process of worker {link.worker} (pid {link.pid}) ended unexpectedly; "
            f"its {rows} unfinished row(s) went to the other shards."
        )
        mine = {alias: name for (serial, name), alias in self._aliases.items() if serial == link.serial}
        for session in self.state.sessions.values():
            if session.session in mine and session.state in ("ready", "starting"):
                self.orphans.append(mine[session.session])  # ended by the caller after the run
                session.state, session.ended, session.error = "lost", now, message
        self.error_records.append(
            error_record(
                scope="session", session=None, stage="scrape", reason="worker_lost",
                error_type="WorkerLost", message=message,
            )
        )  # fmt: skip
        log.warning("%s", message)
        if self.on_lost is not None and link.tag:
            self.on_lost(link.tag)
        self.observer(Event(ev.SESSION_FAILED, None, "worker_lost"), self.state)

    # --------------------------------------------------------------- the end
    def _close_all(self) -> None:
        for link in self.links:
            if not link.ended:
                link.send(Close())
        self._check_done()

    def stop(self) -> None:
        """Stop every shard now (Ctrl-C, a fatal error): each releases its sessions and reports."""
        self.closing = True
        for link in self.links:
            if not link.ended:
                link.send(Stop())
        self._check_done()

    def _check_done(self) -> None:
        if (self.unresolved <= 0 or self.closing) and all(link.ended for link in self.links):
            self.done.set()

    def no_shard_left(self, reason: str) -> None:
        """Every shard is gone and none is coming: fail the rows left (every row must come back)."""
        if any(not link.ended for link in self.links):
            return
        message = f"No shard was left to scrape this row: {reason}"
        for item in [*self.queue, *self.by_key.values()]:
            if item.status is None:
                item.status, item.reason, item.message = "failed", "no_sessions", message
                self.state.rows_failed += len(item.positions)
                self.unresolved -= 1
                self.observer(Event(ev.ROW_DONE, None, item), self.state)
        self.queue.clear()
        self.done.set()

    def close(self) -> None:
        """Stop accepting shards (wakes the accepting thread) and close the links."""
        self.closing = True
        # A bare connection, no handshake: if the accepting thread already ended, nobody would
        # answer one (multiprocessing's Client would wait for the challenge forever).
        with contextlib.suppress(OSError), socket.create_connection(self.address, timeout=5):
            pass
        with contextlib.suppress(Exception):
            self.listener.close()
        for link in self.links:
            with contextlib.suppress(Exception):
                link.conn.close()
