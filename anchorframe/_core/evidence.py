"""What the browser saw when a row failed: the records, their bounds and their frame. No I/O.

When an attempt fails in a browser (the callable raised, a selector timed out, a block
page, an error page), the tab keeps a small viewport screenshot (JPEG) and the page's
HTML with the URL it ended on (``anchorframe._render.evidence`` takes them). This module
says how much a run keeps (:class:`EvidenceBudget`: the first ``evidence=`` failures,
:data:`RUN_BYTES` at most) and how it is held: ``result.evidence``, one row per kept
attempt, with the columns of :data:`EVIDENCE_COLUMNS`.

Example:
    >>> budget = EvidenceBudget(2)
    >>> budget.take({"url": "https://a.test/", "html": "<p>x</p>", "screenshot": b"..."})
    True
    >>> budget.take({"url": "https://b.test/", "html": "<p>y</p>", "screenshot": None})
    True
    >>> budget.room(), budget.take({"url": "https://c.test/", "html": "", "screenshot": None})
    (False, False)
    >>> list(evidence_frame(budget.records)["url"])
    ['https://a.test/', 'https://b.test/']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from .shaped import Shaped

__all__ = [
    "DEFAULT_EVIDENCE",
    "EVIDENCE_COLUMNS",
    "HTML_CHARS",
    "RUN_BYTES",
    "SHOT_BYTES",
    "EvidenceBudget",
    "evidence_frame",
    "record_size",
]

#: Failed attempts a run keeps evidence of unless told otherwise (``evidence=``; 0: none).
DEFAULT_EVIDENCE = 50
#: A page's HTML is cut after this many characters (a long page's head says what it was).
HTML_CHARS = 300_000
#: A screenshot larger than this is not kept (a viewport JPEG at quality 50 is ~20-150 kB).
SHOT_BYTES = 400_000
#: At most this many bytes of evidence per run, whatever ``evidence=`` says: a run where every
#: row fails keeps a bounded, small result (and checkpoint).
RUN_BYTES = 20_000_000
#: ``result.evidence``: the input URL and the attempt (as in ``result.attempts``), the session,
#: when, why (the reason and message of ``result.errors``), the URL the page ended on, its HTML
#: (masked like every text a run shows) and its screenshot (JPEG bytes, or None).
EVIDENCE_COLUMNS = (
    "url",
    "attempt",
    "session",
    "time",
    "reason",
    "message",
    "page_url",
    "html",
    "screenshot",
)
_SHAPED = Shaped(EVIDENCE_COLUMNS)


def record_size(record: Mapping[str, Any]) -> int:
    """The bytes a record holds (its HTML as UTF-8 and its screenshot).

    Example:
        >>> record_size({"html": "héllo", "screenshot": b"1234"})
        10
    """
    html = record.get("html") or ""
    shot = record.get("screenshot") or b""
    return len(html.encode("utf-8", "replace")) + len(shot)


class EvidenceBudget:
    """The evidence a run keeps: the first ``count`` failed attempts, and at most ``max_bytes``.

    A record that does not fit (the count reached, or its bytes past ``max_bytes``) is dropped;
    :attr:`dropped` counts them, so that a view can say evidence was left out.
    """

    def __init__(self, count: int = DEFAULT_EVIDENCE, *, max_bytes: int = RUN_BYTES) -> None:
        self.count = count
        self.max_bytes = max_bytes
        self.records: list[dict[str, Any]] = []
        self.bytes = 0
        self.dropped = 0

    def room(self) -> bool:
        """Whether another record may still be kept (checked before taking one costs anything)."""
        return len(self.records) < self.count and self.bytes < self.max_bytes

    def take(self, record: dict[str, Any]) -> bool:
        """Keep ``record`` if it fits; whether it was kept."""
        size = record_size(record)
        if not self.room() or self.bytes + size > self.max_bytes:
            self.dropped += 1
            return False
        self.records.append(record)
        self.bytes += size
        return True


def evidence_frame(records: Iterable[Mapping[str, Any]] | pd.DataFrame | None = None) -> pd.DataFrame:
    """``result.evidence`` from records (or a frame read back), with every column of EVIDENCE_COLUMNS.

    Example:
        >>> list(evidence_frame().columns) == list(EVIDENCE_COLUMNS)
        True
    """
    return _SHAPED.build(records, _raw, _shape)


def _raw(records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    return records.copy() if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))


def _shape(frame: pd.DataFrame) -> pd.DataFrame:
    for column in EVIDENCE_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series([None] * len(frame), dtype="object")
    frame = frame[list(EVIDENCE_COLUMNS)].reset_index(drop=True)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame
