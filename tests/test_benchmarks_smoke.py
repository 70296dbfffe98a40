"""The benchmark command (``python -m benchmarks``) still runs end to end, at its smallest scale."""

from __future__ import annotations

import json

import pytest

from benchmarks.run import main

pytestmark = pytest.mark.usefixtures("no_chromium_left")


def test_every_benchmark_section_runs_and_scrapes_correctly(tmp_path, capsys):
    """Each section produces its figures and every contender reads every page right (no timing checks)."""
    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    for config in data["throughput"]["configs"].values():
        for contender in ("anchorframe", "plain script", "tuned script"):
            summary = config["summary"][contender]
            assert summary["correct"] == summary["pages"] > 0, contender
    for name, summary in data["options"]["summary"].items():
        assert summary["correct"] == summary["pages"], name
    assert data["overhead"]["rows"] == 200 and data["overhead"]["seconds"] > 0
    assert data["memory"]["200"]["peak_mb"] > 0
    assert data["provisioning"]["local"]["last_s"] > 0
    for kind, corpus in data["render"]["corpora"].items():
        for mode, summary in corpus["modes"].items():
            assert summary["correct"] == summary["pages"] > 0, (kind, mode)
        assert (
            corpus["modes"]["auto"]["http_rows"] + corpus["modes"]["auto"]["browser_rows"] == corpus["pages"]
        )
    static = data["render"]["corpora"]["static"]["modes"]
    assert static["auto"]["sessions"] == static["http"]["sessions"] == 0 < static["browser"]["sessions"]
    assert data["render"]["corpora"]["js"]["modes"]["auto"]["browser_rows"] == 3
    # The real-sized corpus (CPython's docs, installed by .ci/setup): auto and http give the
    # browser's values on every row (missing = missing; the note JavaScript writes is found).
    for kind, corpus in data["render"]["docs"]["corpora"].items():
        for mode in ("auto", "http"):
            if mode in corpus["modes"]:
                assert corpus["modes"][mode]["right"] == corpus["pages"], (kind, mode)
    orchestrator = data["orchestrator"]
    if "skipped" not in orchestrator:  # CI installs the documentation corpus (.ci/setup)
        for kind, by_name in orchestrator["runs"].items():
            for name, runs in by_name.items():
                assert all(r["correct"] == r["pages"] > 0 for r in runs), (kind, name, runs)
                assert all(r["python_ms"] > 0 and r["driver_ms"] > 0 for r in runs), (kind, name)
        assert orchestrator["runs"]["static"]["anchorframe"][0]["own_ms"] is not None
    markdown = (tmp_path / "results.md").read_text()
    assert "## 1-2. Throughput" in markdown and "## 3. Engine overhead" in markdown
    assert '## 7. render="browser"' in markdown and "## 8. Orchestrator CPU" in markdown
    assert markdown in capsys.readouterr().out


def test_the_orchestrator_report_says_whether_rounds_tell_a_ratio_from_parity():
    """Per-round ratios get a 95 % interval of their median: a steady gap is told apart, noise is not."""
    from benchmarks.orchestrator import _summarise, orchestrator_report

    def run(python: float, pages_per_s: float) -> dict[str, float]:
        return {
            "python_ms": python,
            "driver_ms": 20.0,
            "orchestrator_ms": python + 20.0,
            "chromium_ms": 160.0,
            "pages_per_s": pages_per_s,
            "own_ms": None,
            "correct": 200,
            "pages": 200,
        }

    noise = [0.94, 1.05, 0.98, 1.03, 0.97, 1.06, 1.01]  # pages/s, anchorframe over tuned, round by round
    rows = {
        kind: {
            "anchorframe": [run(5.0 + i / 100, 10.0 * n) for i, n in enumerate(noise)],
            "tuned script": [run(4.0, 10.0) for _ in noise],
        }
        for kind in ("static", "js")
    }
    summary = _summarise(rows)
    low, high = summary["static"]["interval"]["python_ms"]
    assert 1.25 <= low <= high <= 1.27  # 5.00-5.06 over 4.0 in every round
    low, high = summary["static"]["interval"]["pages_per_s"]
    assert low < 1.0 < high
    lines = "\n".join(
        orchestrator_report({"tabs": 4, "rounds": len(noise), "runs": rows, "summary": summary})
    )
    assert "Python x1.26 (rounds 1.25-1.26; 95 % interval 1.25-1.26, above 1) (goal: <= 1.3)" in lines
    assert "pages/s x1.01 (rounds 0.94-1.06; 95 % interval 0.97-1.05, not told apart from 1)" in lines
