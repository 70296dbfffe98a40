"""The Jupyter progress panel: engine events -> ipywidgets, with a plain fallback.

One output holds the panel::

    anchorframe · local Chromium · 1 session x 4 tabs · 1 batch · est. 0:55, 1.0 session-min
    sessions  [=========           ]  1 ready · 0 failed / 1 · phase ready
    rows      [=======             ]  104 ok · 2 failed · 1 retrying / 309 · 5.3 rows/s · 0:20 · ETA 0:38
    session    state   pages  failed  errors  ready in
    3f2a9c     ready     104       2       5     0.6 s

The output's mimebundle carries the widget view *and* ``text/html`` and
``text/plain`` renderings of the same panel; at the end of the run the output
is updated once more, so the fallbacks show the final state. A frontend with
the widget manager (JupyterLab, Notebook, VS Code) shows the live widget, left
in its final state; one without it (an exported or rendered notebook, GitHub,
a terminal client) shows the final HTML or text. Nothing is lost either way.

Events arrive on anchorframe's portal thread. Widget state is sent from there
(ipykernel's iopub socket is thread-safe), and at most every
``REFRESH_SECONDS`` plus a trailing refresh and a final one, so a run of
100,000 fast rows sends a few hundred small messages, not 100,000.
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
import time
from typing import Any

from .._core import events as ev
from .._core.events import Event, RunState, SessionState
from .bars import REFRESH_SECONDS, TqdmDisplay

__all__ = ["Panel", "panel_html", "panel_text"]

log = logging.getLogger("anchorframe")

#: Seconds between refreshes while nothing happens (elapsed time and ETA move on).
TICK_SECONDS = 1.0
#: Sessions listed in the table; the rest are summed up in one line.
TABLE_ROWS = 8

_STATE_ORDER = {"ready": 0, "starting": 1, "lost": 2, "failed": 3, "ended": 4}
_STATE_COLOURS = {
    "ready": "#2e7d32",
    "starting": "#1565c0",
    "lost": "#c62828",
    "failed": "#c62828",
    "ended": "#616161",
}


# ----------------------------------------------------------------- renderings (no I/O)
def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def header_text(state: RunState) -> str:
    """Backend and plan: sessions x tabs, batches, estimated time and session-minutes."""
    return (
        f"anchorframe · {state.backend} · {_plural(state.sessions_planned, 'session')} x "
        f"{_plural(state.tabs, 'tab')} · {state.batches} {'batch' if state.batches == 1 else 'batches'} · "
        f"{state.urls_total} URLs for {_plural(state.rows_total, 'row')} · "
        f"est. {_clock(state.est_seconds)}, {state.est_session_minutes:.1f} session-min"
    )


def sessions_total(state: RunState) -> int:
    return max(state.sessions_requested, state.sessions_planned, 1)


def provisioning_text(state: RunState) -> str:
    """Ready / failed / total sessions and the current phase."""
    return (
        f"{state.sessions_ready} ready · {state.sessions_failed} failed / {sessions_total(state)}"
        f" · phase {state.phase}" + (f" · {state.saturation}" if state.saturation else "")
    )


def rows_text(state: RunState) -> str:
    """Ok / failed / retrying / total rows, rate, elapsed and ETA (or what was left undone)."""
    parts = [f"{state.rows_ok} ok", f"{state.rows_failed} failed"]
    if state.finished is None:
        parts.append(f"{state.retrying} retrying")
    if state.rows_invalid:
        parts.append(f"{state.rows_invalid} invalid")
    if state.rows_skipped:
        parts.append(f"{state.rows_skipped} skipped")
    if state.rows_disallowed:
        parts.append(f"{state.rows_disallowed} robots.txt")
    text = " · ".join(parts) + f" / {state.rows_total}"
    text += f" · {state.rate:.1f} rows/s · {_clock(state.elapsed)} elapsed"
    if state.finished is None:
        text += f" · ETA {_clock(state.eta)}"
        text += paused_text(state)
    elif state.rows_skipped:
        text += " · stopped early"
    else:
        text += " · done"
    return text


def bar_style(state: RunState, *, sessions: bool) -> str:
    """An ipywidgets bar_style: info while running, then success / warning / danger."""
    if sessions:
        if state.sessions_failed and not state.sessions_ready:
            return "danger"
        if state.sessions_failed:
            return "warning"
        return "success" if state.sessions_ready >= state.sessions_planned else "info"
    if state.finished is None:
        return "warning" if state.rows_failed else "info"
    if state.rows_skipped or (state.rows_failed and not state.rows_ok):
        return "danger"
    return "warning" if state.rows_failed else "success"


def _ordered_sessions(state: RunState) -> list[SessionState]:
    return sorted(state.sessions.values(), key=lambda s: (_STATE_ORDER.get(s.state, 9), s.started))


def _short(session: str) -> str:
    return session if len(session) <= 14 else session[:6] + "…" + session[-6:]


def _session_cells(session: SessionState) -> tuple[str, str, str, str, str, str]:
    ready = f"{session.ready_s:.1f} s" if session.ready_s is not None else "–"
    return (
        _short(session.session),
        session.state,
        str(session.pages_ok),
        str(session.pages_failed),
        str(session.errors),
        ready,
    )


_COLUMNS = ("session", "state", "pages", "failed", "errors", "ready in")


def _table_rest(state: RunState, shown: int) -> str:
    rest = _ordered_sessions(state)[shown:]
    if not rest:
        return ""
    counts: dict[str, int] = {}
    for session in rest:
        counts[session.state] = counts.get(session.state, 0) + 1
    return f"… and {len(rest)} more: " + ", ".join(f"{n} {s}" for s, n in counts.items())


def paused_text(state: RunState, now: float | None = None, limit: int = 3) -> str:
    """The sites waiting out a 429/503 now, as `` · paused: shop.com 12 s`` ("" if none)."""
    now = time.monotonic() if now is None else now
    waiting = sorted((until - now, site) for site, until in state.paused_sites.items() if until > now)
    if not waiting:
        return ""
    shown = ", ".join(f"{site} {math.ceil(left)} s" for left, site in waiting[:limit])
    more = f" (+{len(waiting) - limit})" if len(waiting) > limit else ""
    return f" · paused: {shown}{more}"


def sessions_text(state: RunState, limit: int = TABLE_ROWS) -> str:
    rows = [_COLUMNS] + [_session_cells(s) for s in _ordered_sessions(state)[:limit]]
    if len(rows) == 1:
        return "no session yet"
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    rest = _table_rest(state, limit)
    return "\n".join(lines + ([rest] if rest else []))


def panel_text(state: RunState) -> str:
    """The whole panel as plain text (the ``text/plain`` fallback)."""

    def bar(done: int, total: int, width: int = 20) -> str:
        filled = round(width * done / total) if total else width
        return "[" + "#" * filled + "-" * (width - filled) + "]"

    sessions_done = state.sessions_ready + state.sessions_failed
    return "\n".join(
        [
            header_text(state),
            f"sessions {bar(sessions_done, sessions_total(state))} {provisioning_text(state)}",
            f"rows     {bar(state.rows_done, state.rows_total)} {rows_text(state)}",
            sessions_text(state),
        ]
    )


_BAR_COLOURS = {
    "success": "#4caf50",
    "info": "#2196f3",
    "warning": "#ff9800",
    "danger": "#f44336",
    "": "#2196f3",
}
_FONT = "font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:13px"


def _bar_html(label: str, done: int, total: int, style: str, text: str) -> str:
    percent = 100.0 * done / total if total else 100.0
    return (
        '<div style="display:flex;align-items:center;gap:8px;margin:3px 0">'
        f'<span style="width:64px;color:#555">{label}</span>'
        '<span style="flex:0 0 38%;height:14px;background:#e0e0e0;border-radius:3px;overflow:hidden">'
        f'<span style="display:block;height:100%;width:{percent:.1f}%;background:{_BAR_COLOURS[style]}">'
        "</span></span>"
        f"<span>{html.escape(text)}</span></div>"
    )


def header_html(state: RunState) -> str:
    return f'<div style="{_FONT};font-weight:600;margin-bottom:2px">{html.escape(header_text(state))}</div>'


def bars_html(state: RunState) -> str:
    return _bar_html(
        "sessions",
        state.sessions_ready + state.sessions_failed,
        sessions_total(state),
        bar_style(state, sessions=True),
        provisioning_text(state),
    ) + _bar_html(
        "rows", state.rows_done, state.rows_total, bar_style(state, sessions=False), rows_text(state)
    )


def sessions_html(state: RunState, limit: int = TABLE_ROWS) -> str:
    """A compact table of sessions: the busiest kinds first, the rest summed up."""
    sessions = _ordered_sessions(state)[:limit]
    if not sessions:
        return f'<div style="{_FONT};color:#757575">no session yet</div>'
    cell = "padding:1px 10px 1px 0;text-align:{}"
    head = "".join(
        f'<th style="{cell.format("left" if i < 2 else "right")};color:#555;font-weight:600">{name}</th>'
        for i, name in enumerate(_COLUMNS)
    )
    body = []
    for session in sessions:
        cells = _session_cells(session)
        colour = _STATE_COLOURS.get(session.state, "#000")
        tds = [
            f'<td style="{cell.format("left")};font-family:monospace" title="{html.escape(session.session)}">'
            f"{html.escape(cells[0])}</td>",
            f'<td style="{cell.format("left")};color:{colour}">{html.escape(cells[1])}</td>',
            *(f'<td style="{cell.format("right")}">{html.escape(value)}</td>' for value in cells[2:]),
        ]
        body.append("<tr>" + "".join(tds) + "</tr>")
    rest = _table_rest(state, limit)
    more = f'<div style="color:#757575">{html.escape(rest)}</div>' if rest else ""
    return (
        f'<div style="{_FONT};margin-top:4px"><table style="border-collapse:collapse;font-size:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}</div>"
    )


def panel_html(state: RunState) -> str:
    """The whole panel as static HTML (the ``text/html`` fallback); it looks like the widget."""
    return (
        f'<div class="anchorframe-progress" style="{_FONT};padding:4px 0">'
        + header_html(state)
        + f'<div style="{_FONT}">{bars_html(state)}</div>'
        + sessions_html(state)
        + "</div>"
    )


# ------------------------------------------------------------------------- the widget
class Panel:
    """The ipywidgets panel; call it with engine events, then ``close(state)``.

    Creating it fails (ImportError) when ipywidgets is missing; ``choose_display``
    then falls back to text. A failure while showing or updating it replaces the
    panel by tqdm bars with a one-line hint; it never reaches the run.
    """

    def __init__(self) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        self._display = display
        self._widgets = widgets
        self._root: Any = None
        self._handle: Any = None
        self._fallback: Any = None  # a text display after the widgets failed
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._state: RunState | None = None
        self._closed = False
        #: Refreshes sent to the frontend (tests pin the throttling with it).
        self.refreshes = 0

    # ------------------------------------------------------------------ events
    def __call__(self, event: Event, state: RunState) -> None:
        if self._closed:
            return
        if self._fallback is not None:
            self._fallback(event, state)
            return
        self._state = state
        if self._root is None:
            self._guard(self._show, state)
            return
        now = time.monotonic()
        if now - self._last >= REFRESH_SECONDS:
            self._guard(self._refresh, state)
        else:
            self._schedule(REFRESH_SECONDS - (now - self._last))

    def close(self, state: RunState) -> None:
        """Show the final state in the widgets and in the fallbacks (the saved notebook)."""
        if self._closed:
            return
        self._closed = True
        self._cancel_timer()
        if self._fallback is not None:
            self._fallback.close(state)
            return
        if self._root is None:
            self._guard(self._show, state)
        if self._fallback is None and self._root is not None:
            self._guard(self._finish, state)

    # -------------------------------------------------------------- internals
    def _guard(self, step: Any, state: RunState) -> None:
        try:
            step(state)
        except Exception as exc:
            log.warning(
                "The progress panel failed (%s: %s); showing text progress instead.",
                type(exc).__name__,
                str(exc).strip().splitlines()[0] if str(exc).strip() else "",
            )
            self._cancel_timer()
            self._fallback = TqdmDisplay(plain=True)
            if self._closed:
                self._fallback(Event(ev.RUN_FINISHED), state)
                self._fallback.close(state)

    def _build(self) -> None:
        w = self._widgets

        def bar_row(label: str) -> tuple[Any, Any, Any]:
            bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="38%"))
            text = w.HTML()
            row = w.HBox(
                [
                    w.HTML(f'<span style="{_FONT};color:#555">{label}</span>', layout=w.Layout(width="64px")),
                    bar,
                    text,
                ],
                layout=w.Layout(align_items="center"),
            )
            return row, bar, text

        self._header = w.HTML()
        prov_row, self._prov_bar, self._prov_text = bar_row("sessions")
        rows_row, self._rows_bar, self._rows_text = bar_row("rows")
        self._table = w.HTML()
        self._root = w.VBox([self._header, prov_row, rows_row, self._table], layout=w.Layout(padding="2px 0"))
        self._root.add_class("anchorframe-progress")

    def _bundle(self, state: RunState) -> dict[str, Any]:
        bundle: dict[str, Any] = dict(self._root._repr_mimebundle_())
        bundle["text/plain"] = panel_text(state)
        bundle["text/html"] = panel_html(state)
        return bundle

    def _show(self, state: RunState) -> None:
        self._build()
        self._refresh(state)
        self._handle = self._display(self._bundle(state), raw=True, display_id=True)

    def _refresh(self, state: RunState) -> None:
        self._last = time.monotonic()
        self.refreshes += 1
        self._header.value = header_html(state)
        sessions_done = state.sessions_ready + state.sessions_failed
        self._prov_bar.max = sessions_total(state)
        self._prov_bar.value = min(sessions_done, self._prov_bar.max)
        self._prov_bar.bar_style = bar_style(state, sessions=True)
        self._prov_text.value = f'<span style="{_FONT}">{html.escape(provisioning_text(state))}</span>'
        self._rows_bar.max = max(state.rows_total, 1)
        self._rows_bar.value = min(state.rows_done, self._rows_bar.max)
        self._rows_bar.bar_style = bar_style(state, sessions=False)
        self._rows_text.value = f'<span style="{_FONT}">{html.escape(rows_text(state))}</span>'
        self._table.value = sessions_html(state)
        if state.finished is None and not self._closed:
            self._schedule(TICK_SECONDS)

    def _finish(self, state: RunState) -> None:
        self._refresh(state)
        if self._handle is not None:
            self._handle.update(self._bundle(state), raw=True)

    def _schedule(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # called outside a loop: the next event or close() refreshes
        if self._timer is not None:
            if self._timer.when() <= loop.time() + delay:
                return  # a refresh is due sooner already
            self._timer.cancel()
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self._closed and self._fallback is None and self._state is not None:
            self._guard(self._refresh, self._state)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
