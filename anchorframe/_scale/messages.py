"""What the coordinator and its shards say to each other: one dataclass per message.

A shard connects and says :class:`Hello`; the caller answers with its :class:`Spec`.
Then the shard asks for rows (:class:`Want`), gets them (:class:`Rows`), reports each
resolved row (:class:`Done`, with the Parquet part that holds them under ``out=``) and,
a few times a second, its sessions, errors and attempts (:class:`State`). The caller
ends the feed (:class:`Close`: finish what you hold) or the run (:class:`Stop`: release
your sessions now); the shard's last word is :class:`Final`. :class:`Lost` is no message
a shard sends: the caller's reader makes it when the connection drops.

Messages are pickled over an authenticated ``multiprocessing`` connection; none carries a
secret (the backend's travel in the environment, see ``Backend.for_another_process``).

Example:
    >>> import pickle
    >>> pickle.loads(pickle.dumps(Want(8)))
    Want(rows=8)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .._core.options import Route

__all__ = [
    "Close",
    "Done",
    "Final",
    "Hello",
    "Lost",
    "Outcome",
    "PartitionInput",
    "Rows",
    "ShardOrders",
    "ShardSpec",
    "Snapshot",
    "Spec",
    "State",
    "Stop",
    "Want",
]


# -------------------------------------------------------------- shard -> caller
@dataclass(frozen=True)
class Hello:
    """A shard's first words: which one it is (``index``), on which worker, its process."""

    index: int
    worker: str
    pid: int


@dataclass(frozen=True)
class Want:
    """A shard asks for this many more rows."""

    rows: int


class Outcome(NamedTuple):
    """One resolved row (a :class:`~anchorframe._core.table.Work`'s outcome), as a shard reports it."""

    key: int
    status: str | None
    value: Any
    reason: str | None
    message: str | None
    attempts: int
    elapsed: float | None
    session: str | None
    render: Route | None
    #: The main document's HTTP status in the row's last attempt (``af_http_status``).
    http_status: int | None = None

    @classmethod
    def of(cls, item: Any, *, value: Any = None, keep_value: bool = True) -> Outcome:
        """The outcome of a resolved Work (``keep_value=False``: its value is in ``out=``)."""
        return cls(
            item.key,
            item.status,
            item.value if keep_value else value,
            item.reason,
            item.message,
            item.attempts,
            item.elapsed,
            item.session,
            item.render,
            item.http_status,
        )


@dataclass(frozen=True)
class Done:
    """Rows resolved; under ``out=``, ``part`` names the staged Parquet part that holds them."""

    rows: list[Outcome]
    part: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """A shard's sessions and what changed since its last snapshot (errors, attempts)."""

    cpu_s: float | None = None
    rows: int = 0
    phase: str = "provisioning"
    sessions: dict[str, Any] = field(default_factory=dict)
    sessions_requested: int = 0
    sessions_ready: int = 0
    sessions_failed: int = 0
    retrying: int = 0
    saturation: Any = None
    #: ``result.errors`` records made since the last snapshot.
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: The ledger's attempt tuples made since the last snapshot (``result.attempts``).
    attempts: list[tuple[Any, ...]] = field(default_factory=list)
    #: What failed rows' pages showed, kept since the last snapshot (``result.evidence``).
    evidence: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class State:
    """A shard's periodic snapshot."""

    snapshot: Snapshot


@dataclass(frozen=True)
class Final:
    """A shard's last word: its final snapshot (None if it would not pickle), and the error that
    ended its run, if any."""

    snapshot: Snapshot | None
    fatal: BaseException | None = None


@dataclass(frozen=True)
class Lost:
    """Not sent: the caller's reader makes it when a shard's connection drops."""


# -------------------------------------------------------------- caller -> shard
@dataclass(frozen=True)
class PartitionInput:
    """A dask input: its partitions' tasks, how to check their rows, and the input's token."""

    tasks: list[bytes]
    #: ``prepare_input``'s url, schemes and dedupe.
    check: dict[str, Any]
    token: str


@dataclass(frozen=True)
class ShardSpec:
    """What every shard of a run runs (``shard_spec``, pickled once per run); it holds no secret."""

    #: The input's frame and columns, without its rows' work (rows come as :class:`Rows`).
    table: Any
    #: The scraper, the engine's options and the backend, pickled by value where cloudpickle can.
    payload: bytes
    #: The caller's import path, so that the scraper's module is found.
    sys_path: list[str]
    #: ``out=``: the Parquet dataset the shard writes its rows to.
    out: str | None = None
    partitions: PartitionInput | None = None


@dataclass(frozen=True)
class ShardOrders:
    """What one shard is told beside the run's spec."""

    plan: Any
    run_id: str
    #: The tag of its cloud sessions (a lost shard's are ended by it).
    shard_tag: str
    #: Its share of the run's ``per_site`` (the shares add up to it).
    per_site: int


@dataclass(frozen=True)
class Spec:
    """What a shard runs: the run's pickled :class:`ShardSpec`, and its own orders."""

    run: bytes
    orders: ShardOrders


@dataclass(frozen=True)
class Rows:
    """Rows handed to a shard: (key, url, input positions) each."""

    items: list[tuple[int, str, list[int]]]


@dataclass(frozen=True)
class Close:
    """No more rows: finish those you hold, then end."""


@dataclass(frozen=True)
class Stop:
    """End now (Ctrl-C, a fatal error): release your sessions and report."""


#: What a shard may send, and what the caller may send.
ShardMessage = Hello | Want | Done | State | Final | Lost
CallerMessage = Spec | Rows | Close | Stop
