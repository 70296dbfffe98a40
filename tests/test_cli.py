"""The command line, run as a subprocess like a user or a pipeline would."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pandas as pd
import pytest

pytestmark = pytest.mark.usefixtures("no_chromium_left")


def run_cli(*args: str, timeout: float = 180, cwd: Any = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anchorframe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def test_demo_scrapes_the_sample_site_and_saves_parquet(tmp_path):
    """`anchorframe demo` prints the summary and writes results that pandas reads back."""
    out = tmp_path / "demo.parquet"
    done = run_cli("demo", "--rows", "24", "--out", str(out))
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(out)
    assert len(frame) == 24 and set(frame["af_status"]) == {"ok"}
    assert frame["name"].notna().all()
    # The summary reports this run: its counts are those of the file it wrote.
    counts = re.search(r"rows: (\d+) ok, (\d+) failed, (\d+) invalid, (\d+) skipped", done.stdout)
    assert counts, done.stdout
    statuses = frame["af_status"].value_counts()
    assert [int(n) for n in counts.groups()] == [
        int(statuses.get(status, 0)) for status in ("ok", "failed", "invalid", "skipped")
    ]
    assert f"Saved {len(frame)} rows to {out}" in done.stdout
    # A short demo still mixes the shop's pages: the static ones over HTTP, the rendered ones
    # (every fifth row) in local Chromium, each row saying how it was fetched.
    assert frame["af_render"].value_counts().to_dict() == {"http": 19, "browser": 5}
    assert (frame.loc[frame["kind"] == "rendered", "af_render"] == "browser").all()
    assert "fetched: 19 over HTTP, 5 in a browser" in done.stdout, done.stdout


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
    assert bad.returncode == 2 and "Pass --url link" in bad.stderr and "Traceback" not in bad.stderr


def test_plan_probe_estimates_the_browser_share_over_http(tmp_path):
    """`anchorframe plan --probe N --extract ...`: N requests over HTTP, no browser, the share said."""
    from anchorframe.demo import DemoSite

    with DemoSite(products=6, rendered=2, missing=0) as site:
        urls = [site.url(f"/products/{n}") for n in range(6)] + [site.url(f"/rendered/{n}") for n in range(2)]
        source = tmp_path / "urls.csv"
        pd.DataFrame({"url": urls}).to_csv(source, index=False)
        done = run_cli("plan", str(source), "--backend", "local", "--extract", "name=h1", "--probe", "8")
    assert done.returncode == 0, done.stderr
    assert "8 URLs tried over HTTP: 6 read without a browser, 2 need one" in done.stdout, done.stdout
    assert "about 25% of rows (2) need a browser" in done.stdout


def test_help_lists_the_commands_with_examples():
    """`--help` names every command and shows copyable examples, including a resumable run."""
    top = run_cli("--help")
    assert top.returncode == 0 and "examples:" in top.stdout
    assert all(name in top.stdout for name in ("demo", "plan", "scrape"))
    scrape = run_cli("scrape", "--help")
    assert (
        "--checkpoint" in scrape.stdout and "--max-failed" in scrape.stdout and "exit status" in scrape.stdout
    )


SCRAPER = """
async def product(page, row):
    await page.goto(row.url)
    return {"name": await page.inner_text("h1"), "meta": {"price": await page.inner_text(".price")}}
"""


def test_scrape_jsonl_with_a_scraper_and_a_checkpoint_resumes(tmp_path, site):
    """--scraper module:function over JSONL input; a rerun resumes; a changed input exits 2 with the fix."""
    (tmp_path / "myscrapers.py").write_text(SCRAPER)
    source = tmp_path / "urls.jsonl"
    pd.DataFrame({"url": site.pages(3), "sku": ["a", "b", "c"]}).to_json(source, orient="records", lines=True)
    out = tmp_path / "out" / "products.parquet"
    args = ["scrape", str(source), "--scraper", "myscrapers:product", "--out", str(out)]
    args += ["--checkpoint", str(tmp_path / "run.ckpt"), "--max-failed", "0"]
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "3 ok" in first.stderr and first.stdout == ""
    frame = pd.read_parquet(out)
    assert frame["meta.price"].tolist() == ["0.00", "1.00", "2.00"] and frame["sku"].tolist() == [
        "a",
        "b",
        "c",
    ]
    again = run_cli("-v", *args, cwd=tmp_path)
    assert again.returncode == 0 and "Resuming from the checkpoint" in again.stderr
    assert site.hits["/page/0"] == 1 and pd.read_parquet(out).equals(frame)
    pd.DataFrame({"url": site.pages(4)}).to_json(source, orient="records", lines=True)
    changed = run_cli(*args, cwd=tmp_path)
    assert changed.returncode == 2 and "different input" in changed.stderr
    assert "--checkpoint-overwrite" in changed.stderr and "Traceback" not in changed.stderr


def test_max_failed_takes_a_number_of_rows(tmp_path, site):
    """--max-failed 1 allows one failed row; nested dicts can be kept as JSON objects."""
    source = tmp_path / "urls.csv"
    pd.DataFrame({"url": [site.url("/page/1"), site.url("/status/404")]}).to_csv(source, index=False)
    out = tmp_path / "out.jsonl"
    done = run_cli(
        "scrape", str(source), "--extract", "name=h1", "--out", str(out), "--retries", "0",
        "--max-failed", "1", "--nested", "struct",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    frame = pd.read_json(out, lines=True)
    assert frame["af_status"].tolist() == ["ok", "failed"] and frame["name"].iloc[0] == "Page 1"


def test_emulator_command_serves_until_interrupted():
    """`anchorframe emulator` prints where it listens, answers, and stops cleanly on Ctrl-C."""
    import os
    import signal
    import time

    import httpx

    process = subprocess.Popen(
        [sys.executable, "-m", "anchorframe", "emulator", "--api-key", "k-test"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base_url = None
        deadline = time.monotonic() + 30
        while base_url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if "ANCHOR_BASE_URL=" in line:
                base_url = line.split("ANCHOR_BASE_URL=", 1)[1].strip().strip("'\"")
        assert base_url and base_url.startswith("http://127.0.0.1:")
        answer = httpx.get(base_url + "/v1/batch-sessions", headers={"anchor-api-key": "k-test"})
        assert answer.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) in (0, 130, -signal.SIGINT)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)


def test_reap_command_with_nothing_to_do(monkeypatch):
    """`anchorframe reap` against an emulator with no anchorframe batches says so."""
    from anchorframe.emulator import Emulator

    with Emulator(api_key="k-reap") as emu:
        env = {**__import__("os").environ, "ANCHOR_API_KEY": "k-reap", "ANCHOR_BASE_URL": emu.base_url}
        done = subprocess.run(
            [sys.executable, "-m", "anchorframe", "reap", "--dry-run"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert "Nothing to reap." in done.stdout
