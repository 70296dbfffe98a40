"""The command line, run as a subprocess like a user or a pipeline would."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

pytestmark = pytest.mark.usefixtures("no_chromium_left")


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anchorframe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_scrapes_the_sample_site_and_saves_parquet(tmp_path):
    """`anchorframe demo` prints the summary and writes results that pandas reads back."""
    out = tmp_path / "demo.parquet"
    done = run_cli("demo", "--rows", "24", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "rows: 24 ok" in done.stdout or "24 rows" in done.stdout
    frame = pd.read_parquet(out)
    assert len(frame) == 24 and set(frame["af_status"]) == {"ok"}
    assert frame["name"].notna().all()


def test_scrape_command_with_extract_and_failure_threshold(tmp_path, site):
    """`anchorframe scrape` reads CSV, extracts selectors, and exits 1 above --max-failed."""
    source = tmp_path / "urls.csv"
    pd.DataFrame({"url": [site.url("/page/1"), site.url("/status/404")]}).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    done = run_cli(
        "scrape",
        str(source),
        "--extract",
        "name=h1",
        "--out",
        str(out),
        "--retries",
        "0",
        "--max-failed",
        "0.1",
    )
    assert done.returncode == 1, done.stderr
    assert "above --max-failed" in done.stderr
    frame = pd.read_csv(out)
    assert frame["name"].iloc[0] == "Page 1" and frame["af_status"].tolist() == ["ok", "failed"]


def test_plan_command_and_clear_input_errors(tmp_path):
    """`anchorframe plan` explains the sizing; a bad column is a one-line error, exit 2."""
    source = tmp_path / "urls.csv"
    pd.DataFrame({"link": ["https://a.test/1", "https://a.test/2"]}).to_csv(source, index=False)
    done = run_cli("plan", str(source), "--url", "link", "--backend", "local")
    assert done.returncode == 0 and "2 URLs to scrape" in done.stdout
    bad = run_cli("plan", str(source), "--backend", "local")
    assert bad.returncode == 2 and "Pass url='link'" in bad.stderr and "Traceback" not in bad.stderr
