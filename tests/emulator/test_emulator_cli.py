"""``python -m anchorframe.emulator`` prints how to use it and ends every session on Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading

import httpx
import psutil
from conftest_anchor import wait_until

from anchorframe.emulator import add_emulator_parser, run_emulator_command


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_cli_runs_until_ctrl_c_and_ends_sessions():
    """The command prints base URL and key, serves, and on SIGINT kills its Chromium."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "anchorframe.emulator", "--seed", "3", "--provision-delay", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("Anchor emulator listening on http://127.0.0.1:")
        base_url = lines[1].split("=", 1)[1].strip()
        api_key = lines[2].split("=", 1)[1].strip()
        with httpx.Client(base_url=base_url, headers={"anchor-api-key": api_key}) as http:
            request_id = http.post("/v1/sessions/async", json={}).json()["data"]["request_id"]
            url = f"/v1/sessions/async/{request_id}/status"
            wait_until(lambda: http.get(url).json()["data"]["status"] == "ready", timeout=30)
            pids = http.get("/_emulator/state").json()["chromium_pids"]
        assert len(pids) == 1 and psutil.pid_exists(pids[0])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        wait_until(lambda: _gone(pids[0]), timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_subcommand_wiring_parses_fault_flags():
    """add_emulator_parser adds `emulator` with fault flags and run_emulator_command as its handler."""
    parser = argparse.ArgumentParser(prog="anchorframe")
    add_emulator_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "emulator",
            "--port",
            "0",
            "--fail-provision",
            "0.2",
            "--rate-limit",
            "0.1",
            "--credit-limit",
            "10",
            "--no-auth",
        ]
    )
    assert args.handler is run_emulator_command
    assert (args.fail_provision, args.rate_limit, args.credit_limit) == (0.2, 0.1, 10)
    stop = threading.Event()
    stop.set()
    assert run_emulator_command(args, stop=stop) == 0
