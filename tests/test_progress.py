"""Progress displays: which one is picked, the panel's throttling, final state and fallbacks."""

from __future__ import annotations

import io
import logging
import sys
import time

import pytest

from anchorframe._core import events as ev
from anchorframe._core.events import Event, RunState, SessionState
from anchorframe._display import panel as _panel
from anchorframe._display import progress as _progress

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class _Handle:
    def __init__(self, log: list) -> None:
        self.log = log

    def update(self, bundle, raw=False):
        self.log.append(("update", bundle))


@pytest.fixture
def shown(monkeypatch):
    """Replaces IPython's display: records what the panel shows and updates."""
    log: list = []

    def display(bundle, raw=False, display_id=None):
        assert raw and display_id is True
        log.append(("display", bundle))
        return _Handle(log)

    monkeypatch.setattr("IPython.display.display", display)
    return log


def _state(**counts) -> RunState:
    state = RunState(
        backend="local Chromium",
        rows_total=12,
        urls_total=11,
        sessions_planned=2,
        tabs=4,
        est_seconds=75,
        est_session_minutes=2.5,
    )
    for name, value in counts.items():
        setattr(state, name, value)
    return state


def _finished_run() -> RunState:
    """A run with known failures: 8 ok, 2 failed, 2 invalid; one session lost, one replaced."""
    state = _state(rows_ok=8, rows_failed=2, rows_invalid=2, sessions_requested=3, phase="done")
    state.sessions_ready, state.sessions_failed = 2, 1
    state.sessions = {
        "s-<b>one</b>": SessionState("s-<b>one</b>", state="ended", pages_ok=5, pages_failed=1, errors=3),
        "s-two": SessionState("s-two", state="lost", pages_ok=3, pages_failed=1, errors=1, ready_s=0.4),
        "failed-3": SessionState("failed-3", state="failed"),
    }
    state.finished = state.started + 4.0
    return state


def _pretend_notebook(monkeypatch):
    import IPython

    shell = type("ZMQInteractiveShell", (), {})
    colab_like = type("Shell", (shell,), {"kernel": object()})
    monkeypatch.setattr(IPython, "get_ipython", lambda: colab_like())


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_when_nobody_watches(monkeypatch):
    """progress=None gives no display when stderr is not a terminal (a pipeline, a redirected stream)."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert _progress.choose_display(None) is None
    assert _progress.choose_display(False) is None


def test_a_terminal_gets_text_bars(monkeypatch):
    """progress=None on a terminal (and not in CI) picks tqdm bars; False still turns them off."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert isinstance(_progress.choose_display(None), _progress.TqdmDisplay)
    assert _progress.choose_display(False) is None


def test_true_forces_text_bars_outside_a_notebook():
    """progress=True in a script whose output is redirected still gives tqdm bars."""
    assert isinstance(_progress.choose_display(True), _progress.TqdmDisplay)


def test_ci_turns_progress_off_even_on_a_terminal(monkeypatch):
    """CI=true means nobody watches, whatever stderr is."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("ANCHORFRAME_PROGRESS", "")
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert _progress.choose_display(None) is None


def test_notebook_gets_the_panel(monkeypatch):
    """In a kernel (also a subclass of ZMQInteractiveShell, as Colab's) None and True pick the panel."""
    _pretend_notebook(monkeypatch)
    assert _progress.in_notebook()
    assert isinstance(_progress.choose_display(None), _panel.Panel)
    assert isinstance(_progress.choose_display(True), _panel.Panel)
    assert _progress.choose_display(False) is None


def test_missing_ipywidgets_falls_back_with_one_line_hint(monkeypatch, caplog):
    """Without ipywidgets the notebook gets text bars and a one-line hint that names the fix."""
    _pretend_notebook(monkeypatch)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with caplog.at_level(logging.WARNING, logger="anchorframe"):
        display = _progress.choose_display(None)
    assert isinstance(display, _progress.TqdmDisplay)
    (record,) = caplog.records
    assert "\n" not in record.getMessage() and "pip install 'ipywidgets>=8'" in record.getMessage()


def test_panel_throttles_a_flood_of_rows(shown):
    """100,000 row events within a second reach the frontend a handful of times, then once at the end."""
    panel = _panel.Panel()
    state = _state(rows_total=100_000, urls_total=100_000)
    panel(Event(ev.RUN_STARTED), state)
    started, cpu = time.perf_counter(), time.thread_time()
    for _ in range(100_000):
        state.rows_ok += 1
        panel(Event(ev.ROW_DONE, "s1"), state)
    spent, cpu = time.perf_counter() - started, time.thread_time() - cpu
    state.finished = time.monotonic()
    panel.close(state)
    assert panel.refreshes <= 3 + 5 * (spent + 1), panel.refreshes  # throttled by the clock
    assert cpu < 2.0, f"the panel took {cpu:.2f} s of CPU for 100,000 events"  # whatever else runs
    assert panel._rows_bar.value == 100_000 and panel._rows_bar.bar_style == "success"


def test_panel_final_state_in_widgets_and_fallbacks(shown):
    """At the end the widgets and the saved text/html fallbacks show the final counts."""
    panel = _panel.Panel()
    state = _state()
    panel(Event(ev.RUN_STARTED), state)
    final = _finished_run()
    panel.close(final)
    kinds = [kind for kind, _ in shown]
    assert kinds == ["display", "update"]
    bundle = shown[-1][1]
    assert bundle[WIDGET_VIEW]["model_id"] == panel._root.model_id
    text = bundle["text/plain"]
    assert "2 ready · 1 failed / 3" in text
    assert "8 ok · 2 failed · 2 invalid / 12" in text and "done" in text
    assert "s-<b>one</b>" in text and "lost" in text
    page = bundle["text/html"]
    assert "8 ok · 2 failed · 2 invalid / 12" in page and "s-&lt;b&gt;one&lt;/b&gt;" in page
    assert (panel._rows_bar.value, panel._rows_bar.max) == (12, 12)
    assert (panel._prov_bar.value, panel._prov_bar.max) == (3, 3)
    assert panel._rows_bar.bar_style == "warning" and panel._prov_bar.bar_style == "warning"


def test_panel_header_shows_the_plan(shown):
    """The header names the backend, sessions x tabs, batches, estimated time and session-minutes."""
    text = _panel.panel_text(_state())
    assert text.splitlines()[0] == (
        "anchorframe · local Chromium · 2 sessions x 4 tabs · 1 batch · 11 URLs for 12 rows · "
        "est. 1:15, 2.5 session-min"
    )


def test_interrupted_run_says_what_was_left(shown):
    """A run stopped early shows its skipped rows, not an ETA."""
    state = _state(rows_ok=3, rows_skipped=9, phase="done")
    state.finished = state.started + 1
    assert "3 ok · 0 failed · 9 skipped / 12" in _panel.rows_text(state)
    assert "stopped early" in _panel.rows_text(state)
    assert _panel.bar_style(state, sessions=False) == "danger"


def test_session_table_stays_compact():
    """Past eight sessions the table sums up the rest in one line."""
    state = _state(sessions_planned=30)
    for n in range(30):
        state.sessions[f"s{n}"] = SessionState(f"s{n}", state="ready" if n < 20 else "failed")
    text = _panel.sessions_text(state)
    assert len(text.splitlines()) == 1 + 8 + 1
    assert text.splitlines()[-1] == "… and 22 more: 12 ready, 10 failed"


def test_broken_frontend_falls_back_to_text_and_never_raises(monkeypatch, caplog):
    """A display that fails turns into text bars with a one-line warning; the run goes on."""

    def broken(*args, **kwargs):
        raise RuntimeError("no comm manager\nsecond line")

    monkeypatch.setattr("IPython.display.display", broken)
    panel = _panel.Panel()
    state = _state()
    with caplog.at_level(logging.WARNING, logger="anchorframe"):
        panel(Event(ev.RUN_STARTED), state)
        state.rows_ok = 5
        panel(Event(ev.ROW_DONE), state)
        panel.close(_finished_run())
    assert isinstance(panel._fallback, _progress.TqdmDisplay)
    (record,) = caplog.records
    assert "showing text progress instead" in record.getMessage() and "\n" not in record.getMessage()


def test_the_rows_line_shows_paused_sites_and_robots_txt_skips():
    """While a site waits out a 429 the rows line names it with the seconds left; rows robots.txt
    disallowed are counted apart from rows a stopped run left undone."""
    from anchorframe._core.events import RunState
    from anchorframe._display.panel import paused_text, rows_text

    state = RunState(backend="local", rows_total=10, urls_total=10, sessions_planned=1, tabs=1)
    now = time.monotonic()
    state.paused_sites = {"shop.com": now + 11.5, "old.org": now - 1.0}
    state.rows_disallowed = 2
    assert paused_text(state, now=now) == " · paused: shop.com 12 s"
    line = rows_text(state)
    assert "paused: shop.com" in line and "2 robots.txt" in line and "old.org" not in line
    state.finished = now
    assert "paused" not in rows_text(state) and "stopped early" not in rows_text(state)
