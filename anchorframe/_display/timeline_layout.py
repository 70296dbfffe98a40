"""What the timeline draws: lanes, bars, provisioning, releases and the rate strip. No I/O.

``layout_timeline`` turns the attempts and sessions frames into small plain frames with
times in seconds since the run began, ready for any plotting library. When there are more
attempts than ``max_bars``, attempts are summed up per lane and time bin; when there are
more tab lanes than ``max_lanes``, a lane is a whole session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .timeline_data import UNFINISHED_OUTCOMES, _epoch

__all__ = ["TimelineLayout", "layout_timeline", "nice_width"]

#: Bin widths (seconds) the picture uses: round numbers a reader can take in at a glance.
_NICE_WIDTHS = (0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


@dataclass(frozen=True)
class TimelineLayout:
    """The frames of a timeline; times are seconds since ``origin``.

    Attributes:
        origin: the run's first moment (the earliest session start or attempt start), UTC.
        lanes: lane labels, top to bottom.
        bars: one row per attempt (``aggregated`` False) or per lane and time bin (True).
        provisioning: one row per lane of a session: ``t0`` (started) to ``t1`` (ready, or
            ended when it never became ready).
        releases: one row per lane of a session at ``t`` (ended).
        rate: pages finished per second, per bin and outcome kind (``ok``/``failed``).
        aggregated: whether ``bars`` sums attempts up per time bin.
        bin_s: the width of an aggregated bar (seconds), else None.
        rate_bin_s: the width of a bin of ``rate`` (seconds).
        attempts: how many attempts the picture stands for.
    """

    origin: pd.Timestamp
    lanes: list[str]
    bars: pd.DataFrame
    provisioning: pd.DataFrame
    releases: pd.DataFrame
    rate: pd.DataFrame
    aggregated: bool
    bin_s: float | None
    rate_bin_s: float
    attempts: int


def nice_width(span: float, bins: int) -> float:
    """The smallest round bin width that cuts ``span`` seconds into at most ``bins`` bins.

    Example:
        >>> nice_width(100.0, 40)
        5
    """
    for width in _NICE_WIDTHS:
        if span / width <= bins:
            return width
    return float(math.ceil(span / bins / 3600) * 3600)


def layout_timeline(
    attempts: pd.DataFrame, sessions: pd.DataFrame, *, max_bars: int = 2000, max_lanes: int = 48
) -> TimelineLayout:
    """Lay out a run's attempts and sessions for drawing (see the module docstring).

    Example:
        >>> layout = layout_timeline(result.attempts, result.sessions)  # doctest: +SKIP
        >>> layout.lanes[:2]  # doctest: +SKIP
        ['local-4242 · tab 0', 'local-4242 · tab 1']
    """
    origin = _origin(attempts, sessions)
    zero = origin.timestamp()
    a_start = _epoch(attempts["start"]) - zero if len(attempts) else np.array([])
    a_end = _epoch(attempts["end"]) - zero if len(attempts) else np.array([])
    s_start = _epoch(sessions["started"]) - zero if len(sessions) else np.array([])
    s_end = _epoch(sessions["ended"]) - zero if len(sessions) else np.array([])
    ready_s = pd.to_numeric(sessions["ready_s"], errors="coerce").to_numpy("float64", na_value=np.nan)

    # Sessions in the order they started, then any session only the attempts name.
    order = list(dict.fromkeys([*sessions.iloc[np.argsort(s_start, kind="stable")]["session"]]))
    order += [s for s in dict.fromkeys(attempts["session"]) if s not in set(order)]
    labels = {name: _short(name) for name in order}
    tabs_of = _tabs_per_session(attempts, sessions)
    by_tab = sum(max(1, tabs_of.get(name, 1)) for name in order) <= max_lanes
    lanes: list[str] = []
    session_lanes: dict[str, list[str]] = {}
    # A session that never became ready opened no tab: one lane shows its failed start.
    never_ready = set(sessions.loc[sessions["ready_s"].isna(), "session"]) - set(attempts["session"])
    for name in order:
        own = (
            [_lane(labels[name], tab) for tab in range(max(1, tabs_of.get(name, 1)))]
            if by_tab and name not in never_ready
            else [labels[name]]
        )
        session_lanes[name] = own
        lanes += own

    if len(attempts):
        tab = attempts["tab"].fillna(0).astype(int).to_numpy()
        lane = [
            _lane(labels[s], t) if by_tab else labels[s]
            for s, t in zip(attempts["session"], tab, strict=True)
        ]
    else:
        lane = []
    aggregated = len(attempts) > max_bars
    bin_s = None
    if aggregated:
        span = float(np.nanmax(a_end) - np.nanmin(a_start)) or 1.0
        bin_s = nice_width(span, max(10, max_bars // max(1, len(lanes))))
        bars = _aggregate(attempts, lane, a_start, a_end, bin_s, session_tabs=None if by_tab else tabs_of)
    else:
        bars = pd.DataFrame(
            {
                "lane": lane,
                "t0": a_start,
                "t1": a_end,
                "duration_s": attempts["duration_s"].to_numpy("float64", na_value=np.nan),
                "outcome": attempts["outcome"].astype(object).fillna("unknown").to_numpy(),
                "url": attempts["url"].astype(str).to_numpy(),
                "row": attempts["row"].astype(str).to_numpy(),
                "attempt": attempts["attempt"].to_numpy("float64", na_value=np.nan),
                "session": attempts["session"].astype(str).to_numpy(),
                "render": attempts["render"].astype(object).fillna("").to_numpy(),
            }
        )

    provisioning, releases = [], []
    for i, name in enumerate(sessions["session"]):
        ready = s_start[i] + ready_s[i] if not np.isnan(ready_s[i]) else s_end[i]
        for lane_name in session_lanes.get(name, []):
            provisioning.append(
                {
                    "lane": lane_name,
                    "t0": s_start[i],
                    "t1": ready,
                    "session": str(name),
                    "state": str(sessions["state"].iloc[i]),
                    "ready_s": ready_s[i],
                }
            )
            releases.append(
                {
                    "lane": lane_name,
                    "t": s_end[i],
                    "session": str(name),
                    "state": str(sessions["state"].iloc[i]),
                }
            )

    rate, rate_bin_s = _rate(attempts, a_end)
    return TimelineLayout(
        origin=origin,
        lanes=lanes,
        bars=bars,
        provisioning=pd.DataFrame(provisioning, columns=["lane", "t0", "t1", "session", "state", "ready_s"]),
        releases=pd.DataFrame(releases, columns=["lane", "t", "session", "state"]),
        rate=rate,
        aggregated=aggregated,
        bin_s=bin_s,
        rate_bin_s=rate_bin_s,
        attempts=len(attempts),
    )


def _origin(attempts: pd.DataFrame, sessions: pd.DataFrame) -> pd.Timestamp:
    times = [
        pd.to_datetime(f[c], utc=True).min()
        for f, c in ((sessions, "started"), (attempts, "start"))
        if len(f)
    ]
    times = [t for t in times if not pd.isna(t)]
    return min(times) if times else pd.Timestamp(0, tz="UTC")


def _short(session: object) -> str:
    """A session id short enough for a lane label (cloud ids are UUIDs)."""
    text = str(session)
    return text if len(text) <= 14 else text[:8] + "…"


def _tabs_per_session(attempts: pd.DataFrame, sessions: pd.DataFrame) -> dict[str, int]:
    tabs = {
        str(name): int(count)
        for name, count in zip(sessions["session"], sessions["tabs"], strict=True)
        if not pd.isna(count)
    }
    if len(attempts):
        highest = attempts.groupby("session", sort=False)["tab"].max()
        for name, top in highest.items():
            if not pd.isna(top):
                tabs[str(name)] = max(tabs.get(str(name), 1), int(top) + 1)
    return tabs


def _aggregate(
    attempts: pd.DataFrame,
    lane: list[str],
    start: np.ndarray,
    end: np.ndarray,
    width: float,
    *,
    session_tabs: dict[str, int] | None,
) -> pd.DataFrame:
    """Attempts summed up per lane and time bin: count, failures, busy share, the most common outcome."""
    first = np.floor(start / width).astype(int)
    last = np.maximum(first, np.ceil(end / width).astype(int) - 1)
    pieces = last - first + 1
    idx = np.repeat(np.arange(len(start)), pieces)
    offset = np.arange(len(idx)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    bin_no = first[idx] + offset
    overlap = np.minimum(end[idx], (bin_no + 1) * width) - np.maximum(start[idx], bin_no * width)
    outcome = attempts["outcome"].astype(object).fillna("unknown").to_numpy()
    ends_here = offset == pieces[idx] - 1  # an attempt is counted in the bin it ends in
    lo = np.maximum(start[idx], bin_no * width)
    piece = pd.DataFrame(
        {
            "lane": np.asarray(lane, dtype=object)[idx],
            "bin": bin_no,
            "lo": lo,
            "hi": lo + np.clip(overlap, 0, None),
            "busy": np.clip(overlap, 0, None),
            "ended": ends_here.astype(int),
            "ok": (ends_here & (outcome[idx] == "ok")).astype(int),
            "unfinished": (ends_here & np.isin(outcome[idx], list(UNFINISHED_OUTCOMES))).astype(int),
            "outcome": outcome[idx],
        }
    )
    grouped = piece.groupby(["lane", "bin"], sort=False)
    bars = grouped.agg(
        lo=("lo", "min"),
        hi=("hi", "max"),
        busy=("busy", "sum"),
        attempts=("ended", "sum"),
        ok=("ok", "sum"),
        unfinished=("unfinished", "sum"),
    )
    # The colour of a bin is what its tabs spent most time on.
    time_by_outcome = piece.groupby(["lane", "bin", "outcome"], sort=False)["busy"].sum()
    bars["outcome"] = time_by_outcome.groupby(level=[0, 1]).idxmax().map(lambda key: key[2])
    bars = bars.reset_index()
    tabs = 1.0
    if session_tabs is not None:
        label_tabs = {_short(s): max(1, t) for s, t in session_tabs.items()}
        tabs = bars["lane"].map(label_tabs).fillna(1).to_numpy("float64")
    bars["busy_share"] = np.clip(bars["busy"] / (width * tabs), 0, 1)
    bars["failed"] = bars["attempts"] - bars["ok"] - bars["unfinished"]
    # A bar spans its bin, but not before the first start or past the last end within it.
    bars["t0"] = bars["lo"]
    bars["t1"] = bars["hi"]
    return bars[["lane", "t0", "t1", "outcome", "attempts", "ok", "failed", "unfinished", "busy_share"]]


def _rate(attempts: pd.DataFrame, end: np.ndarray) -> tuple[pd.DataFrame, float]:
    """Pages finished per second: the attempts that finished their URL, by the bin they ended in."""
    columns = ["t0", "t1", "kind", "pages_per_s", "pages"]
    if not len(attempts):
        return pd.DataFrame(columns=columns), 1.0
    outcome = attempts["outcome"].astype(object).to_numpy()
    finished = ~np.isin(outcome, list(UNFINISHED_OUTCOMES)) & ~np.isnan(end)
    # A URL is finished by its last attempt (earlier ones failed and were retried).
    last = ~attempts.assign(_end=end).sort_values("_end").duplicated("url", keep="last").sort_index()
    chosen = finished & last.to_numpy()
    span = float(np.nanmax(end)) if len(end) else 1.0
    width = float(max(0.5, nice_width(max(span, 1.0), 120)))
    kind = np.where(outcome[chosen] == "ok", "ok", "failed")
    bins = np.floor(end[chosen] / width)
    counts = pd.DataFrame({"bin": bins, "kind": kind}).value_counts().rename("pages").reset_index()
    counts["t0"] = counts["bin"] * width
    counts["t1"] = counts["t0"] + width
    counts["pages_per_s"] = counts["pages"] / width
    return counts[columns].sort_values(["t0", "kind"]).reset_index(drop=True), width


def _lane(session: str, tab: int) -> str:
    """A lane's label: a session's tab, or one of the HTTP fetchers (the attempts of render="http"/"auto")."""
    return f"HTTP · fetcher {tab}" if session == "http" else f"{session} · tab {tab}"
