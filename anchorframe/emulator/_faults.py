"""Fault-injection knobs of the emulator and the dice that apply them.

Decisions are drawn from a hash of (seed, kind, key), not from a shared random
stream, so that they do not depend on the order in which concurrent provisioning
tasks happen to run: with the same seed, the same request number or the same
(batch number, item, attempt) always gets the same outcome.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["FaultDice", "Faults"]


@dataclass(frozen=True)
class Faults:
    """What goes wrong, and how often.

    Attributes:
        fail_provision: share of session provisioning attempts that fail with an ``error``.
        provision_delay: extra seconds each session spends provisioning.
        crash: share of ready sessions whose Chromium is killed ``crash_after`` s later.
        crash_after: seconds between a session being ready and its crash.
        rate_limit: share of API requests answered 429 with ``Retry-After: retry_after``.
        retry_after: the ``Retry-After`` of those answers, in seconds.
        server_error: share of API requests answered 500.
        credit_limit: total sessions that may be created; beyond it creating answers 402.
        cost_limit: total sessions the project may spend; beyond it an async create answers
            403 "Project cost limit reached." and a batch create 402 (its only cost error).
        max_concurrent_sessions: live sessions allowed at once; a batch session provisioned
            beyond it fails with an ``error`` (the batch still completes), and an async create
            answers 429 "API key would exceed batch browser limit".
        lose_create_answers: the next N creates (batch or async) are carried out and then
            answered 500, as when an answer is lost: the outcome is unknown to the client.
        answer_delay: seconds every API answer is held back (to provoke client timeouts).
    """

    fail_provision: float = 0.0
    provision_delay: float = 0.0
    crash: float = 0.0
    crash_after: float = 5.0
    rate_limit: float = 0.0
    retry_after: float = 1.0
    server_error: float = 0.0
    credit_limit: int | None = None
    cost_limit: int | None = None
    max_concurrent_sessions: int | None = None
    lose_create_answers: int = 0
    answer_delay: float = 0.0

    def __post_init__(self) -> None:
        for name in ("fail_provision", "crash", "rate_limit", "server_error"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a share between 0 and 1, got {value!r}.")
        for name in ("provision_delay", "crash_after", "retry_after", "answer_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)!r}.")
        for name in ("credit_limit", "cost_limit", "max_concurrent_sessions", "lose_create_answers"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value!r}.")

    def replace(self, **changes: Any) -> Faults:
        known = {spec.name for spec in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"Unknown fault knob(s) {unknown}; known: {sorted(known)}.")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class FaultDice:
    """Deterministic draws in [0, 1) keyed by what they decide."""

    def __init__(self, seed: int | str | None) -> None:
        self.seed = seed if seed is not None else os.urandom(8).hex()

    def draw(self, kind: str, *key: object) -> float:
        digest = hashlib.blake2b(repr((self.seed, kind, *key)).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def hit(self, share: float, kind: str, *key: object) -> bool:
        return share > 0 and self.draw(kind, *key) < share
