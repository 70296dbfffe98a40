"""The attempts of a run as a frame, and how busy each session was. No I/O.

``attempts_frame`` turns the engine's attempt records (one dict per attempt) into a
frame with fixed columns and dtypes; ``session_usage`` adds to the sessions frame how
long each session worked and idled after it was ready; ``run_usage`` sums that up for
the summary. The timeline picture is drawn from these frames (``_timeline_layout``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Final

import numpy as np
import pandas as pd

from .._core.shaped import Shaped

__all__ = [
    "ATTEMPT_COLUMNS",
    "UNFINISHED_OUTCOMES",
    "USAGE_COLUMNS",
    "attempts_frame",
    "run_usage",
    "session_usage",
]

ATTEMPT_COLUMNS: tuple[str, ...] = (
    "session",
    "tab",
    "row",
    "url",
    "attempt",
    "start",
    "end",
    "duration_s",
    "outcome",
    "render",
)
USAGE_COLUMNS: tuple[str, ...] = ("busy_s", "idle_s", "idle_share", "tabs_busy_share")
#: Outcomes after which the row was not finished by this attempt: it went back to the queue
#: (``moved``: its session was lost) or the run stopped (``cancelled``).
UNFINISHED_OUTCOMES = frozenset({"moved", "cancelled"})
_UTC: Final = "datetime64[ns, UTC]"
_SHAPED = Shaped(ATTEMPT_COLUMNS)


def attempts_frame(records: Iterable[Mapping[str, Any]] | pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per attempt of a URL, ordered by start, with the columns of ``ATTEMPT_COLUMNS``.

    Columns: ``session`` (str), ``tab`` (Int64, 0-based within its session), ``row`` (the
    index label of the first input row with this URL), ``url``, ``attempt`` (Int64,
    1-based), ``start`` and ``end`` (UTC), ``duration_s`` (float), ``outcome`` (category:
    ``ok``, a failure reason such as ``timeout``, ``moved`` when the session was lost and
    the row went back to the queue without spending a retry, or ``cancelled``) and
    ``render`` (category: ``browser``, or missing). No records give an empty frame with
    the same columns and dtypes. A frame (e.g. two concatenated ones) is normalised too.

    Example:
        >>> from datetime import datetime, timezone
        >>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> frame = attempts_frame([{"session": "s1", "tab": 0, "row": 0, "url": "https://a.test/",
        ...     "attempt": 1, "start": t, "end": t, "outcome": "ok", "render": "browser"}])
        >>> frame[["session", "attempt", "outcome", "duration_s"]].to_dict("records")
        [{'session': 's1', 'attempt': 1, 'outcome': 'ok', 'duration_s': 0.0}]
    """
    return _SHAPED.build(records, _raw, _shape)


def _raw(records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(records, pd.DataFrame):
        return records.reindex(columns=list(ATTEMPT_COLUMNS)).reset_index(drop=True)
    return pd.DataFrame(list(records), columns=list(ATTEMPT_COLUMNS))


def _shape(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("session", "row", "url"):
        frame[column] = frame[column].astype(object)
    for column in ("tab", "attempt"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    for column in ("start", "end"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype(_UTC)
    frame["duration_s"] = ((frame["end"] - frame["start"]).dt.total_seconds()).astype("float64")
    for column in ("outcome", "render"):
        values = frame[column].astype(object).where(frame[column].notna(), None)
        frame[column] = pd.Categorical(values, categories=sorted({v for v in values if v is not None}))
    frame = frame.sort_values(["start", "end"], kind="stable", na_position="last")
    return frame.reset_index(drop=True)


def session_usage(
    sessions: pd.DataFrame, attempts: pd.DataFrame, run_end: datetime | pd.Timestamp | None = None
) -> pd.DataFrame:
    """``sessions`` with ``busy_s``, ``idle_s``, ``idle_share`` and ``tabs_busy_share`` added.

    A session's life after ready runs from ``started + ready_s`` to ``ended`` (``run_end``
    when it has no end yet; ``run_end`` defaults to now). Within it:

    * ``busy_s``: the seconds at least one of its tabs was working on an attempt, i.e. the
      length of the union of its attempts' intervals (clipped to its life). The union and
      not the sum of tab-seconds, because a session is paid by the minute whatever its
      tabs do: ``idle_s`` then counts only seconds when the whole session did nothing
      (money spent on nothing), and ``busy_s + idle_s`` is its life after ready exactly.
    * ``idle_s``: life after ready minus ``busy_s``.
    * ``idle_share``: ``idle_s`` over the session's paid seconds (``session_minutes * 60``,
      provisioning included), so idle, busy and provisioning shares add up to 1.
    * ``tabs_busy_share``: the tab-seconds spent on attempts over ``tabs`` x life after
      ready: 1 when every tab worked all the time; low values with a low ``idle_s`` mean
      the session worked but with fewer tabs busy than it had (a queue running dry).

    A session that never became ready has zero life, busy and idle. A session that
    finished pages but has no attempt in ``attempts`` (a result loaded from a checkpoint)
    keeps the values ``sessions`` already had, or gets missing values: unknown, not idle.

    Example:
        >>> usage = session_usage(result.sessions, result.attempts)  # doctest: +SKIP
        >>> usage[["session", "busy_s", "idle_s", "idle_share"]]  # doctest: +SKIP
    """
    given = sessions[list(USAGE_COLUMNS)] if set(USAGE_COLUMNS) <= set(sessions.columns) else None
    out = sessions.drop(columns=[c for c in USAGE_COLUMNS if c in sessions.columns])
    if not {"session", "started", "ended", "ready_s", "tabs", "session_minutes"} <= set(out.columns):
        # Not a sessions frame of this version (a hand-made one): usage unknown, nothing to derive.
        return out.assign(**{column: float("nan") for column in USAGE_COLUMNS})
    end_default = pd.Timestamp(run_end if run_end is not None else datetime.now(timezone.utc))
    if end_default.tzinfo is None:
        end_default = end_default.tz_localize("UTC")
    started = _epoch(out["started"]) if len(out) else np.array([])
    ended = _epoch(out["ended"]) if len(out) else np.array([])
    ended = np.where(np.isnan(ended), end_default.timestamp(), ended)
    ready_s = pd.to_numeric(out["ready_s"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    ready = started + ready_s
    tabs = pd.to_numeric(out["tabs"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    minutes = pd.to_numeric(out["session_minutes"], errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    paid = np.where(np.isnan(minutes), ended - started, minutes * 60.0)
    pages = (
        pd.to_numeric(out.get("pages_ok", 0), errors="coerce").fillna(0).to_numpy()
        + pd.to_numeric(out.get("pages_failed", 0), errors="coerce").fillna(0).to_numpy()
    )

    starts = _epoch(attempts["start"]) if len(attempts) else np.array([])
    ends = _epoch(attempts["end"]) if len(attempts) else np.array([])
    by_session = attempts.groupby("session", sort=False).indices if len(attempts) else {}
    values = np.full((len(out), len(USAGE_COLUMNS)), np.nan)
    for i, name in enumerate(out["session"]):
        rows = by_session.get(name)
        if rows is None and pages[i] > 0:
            if given is not None:
                values[i] = given.iloc[i].to_numpy(dtype="float64", na_value=np.nan)
            continue  # it worked, but its attempts are not recorded: unknown, not idle
        life_start, life_end = ready[i], ended[i]
        if np.isnan(life_start) or life_end <= life_start:
            busy = tab_seconds = life = 0.0
        else:
            life = life_end - life_start
            chosen = rows if rows is not None else np.array([], dtype=int)
            lo = np.clip(starts[chosen], life_start, life_end)
            hi = np.clip(ends[chosen], life_start, life_end)
            busy = _union_length(lo, hi)
            tab_seconds = float(np.nansum(hi - lo))
        idle = max(0.0, life - busy)
        idle_share = idle / paid[i] if paid[i] > 0 else np.nan
        capacity = tabs[i] * life
        tabs_share = tab_seconds / capacity if capacity > 0 else np.nan
        values[i] = (busy, idle, idle_share, tabs_share)
    for j, column in enumerate(USAGE_COLUMNS):
        out[column] = pd.Series(values[:, j], index=out.index, dtype="float64")
    return out


def run_usage(sessions: pd.DataFrame) -> dict[str, float] | None:
    """The run's paid, busy, idle and provisioning seconds and shares, from ``session_usage``'s frame.

    Sessions whose usage is unknown are left out; None when no session's usage is known.

    Example:
        >>> run_usage(result.sessions)["idle_share"]  # doctest: +SKIP
        0.12
    """
    if not len(sessions) or "busy_s" not in sessions.columns:
        return None
    known = sessions[sessions["busy_s"].notna()]
    if not len(known):
        return None
    paid = float(known["session_minutes"].fillna(0).sum()) * 60.0
    busy = float(known["busy_s"].sum())
    idle = float(known["idle_s"].sum())
    share = lambda seconds: seconds / paid if paid > 0 else 0.0  # noqa: E731
    return {
        "paid_s": paid,
        "busy_s": busy,
        "idle_s": idle,
        "starting_s": max(0.0, paid - busy - idle),
        "busy_share": share(busy),
        "idle_share": share(idle),
        "starting_share": share(max(0.0, paid - busy - idle)),
    }


def _epoch(column: pd.Series) -> np.ndarray:
    """UTC datetimes as float seconds since the epoch (NaN for missing)."""
    times = pd.to_datetime(column, utc=True)
    seconds = (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return seconds.to_numpy(dtype="float64", na_value=np.nan)


def _union_length(lo: np.ndarray, hi: np.ndarray) -> float:
    """Total length covered by the intervals ``[lo[i], hi[i]]``, overlaps counted once."""
    keep = ~(np.isnan(lo) | np.isnan(hi)) & (hi > lo)
    lo, hi = lo[keep], hi[keep]
    if not len(lo):
        return 0.0
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    reach = np.maximum.accumulate(hi)
    # A new block starts where an interval begins after everything before it has ended.
    first = np.concatenate(([True], lo[1:] > reach[:-1]))
    last = np.concatenate((first[1:], [True]))
    return float((reach[last] - lo[first]).sum())
