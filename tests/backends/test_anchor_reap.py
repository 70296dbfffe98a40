"""reap() finds a crashed run's cloud sessions by their tags, on the strict emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from anchorframe import reap
from anchorframe.backends.anchor import run_tags
from anchorframe.client import AnchorClient
from anchorframe.emulator import Emulator

pytestmark = pytest.mark.usefixtures("no_chromium_left")

HOLDER = textwrap.dedent("""
    import asyncio, sys
    from anchorframe.backends.anchor import AnchorBackend

    async def main(run_id, replacements):
        backend = AnchorBackend(poll_interval=0.2, min_poll_interval=0.1, max_poll_interval=0.5)
        pool = backend.open_pool(run_id)
        held = []
        async for item in pool.provision(1):
            held.append(item)
        for _ in range(replacements):  # the session "was lost": async sessions replace it
            async for item in pool.replace(held[0]):
                held.append(item)
        print("HOLDING", len(held), flush=True)
        await asyncio.sleep(600)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
""")


def _live(client: AnchorClient, run_id: str) -> list[str]:
    items = client.all_sessions_status(tags=run_tags(run_id)).items
    return [str(item.session_id) for item in items if item.is_live]


def _hold(env: dict[str, str], script: str, run_id: str, replacements: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, script, run_id, str(replacements)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_holding(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the script holds its sessions (or dies)
    assert line.startswith("HOLDING"), (line, process.stderr.read() if process.stderr else "")
    return line


def test_reap_after_sigkill_ends_the_runs_batch_and_async_sessions(tmp_path):
    """SIGKILL mid-run (a batch session + 2 async replacements held); `anchorframe reap --run`
    from a fresh process ends all three; a concurrent run's session is untouched."""
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    with Emulator(seed=8) as emu:
        env = {**os.environ, "ANCHOR_API_KEY": emu.api_key, "ANCHOR_BASE_URL": emu.base_url}
        victim = _hold(env, str(script), "victim", 2)
        bystander = _hold(env, str(script), "bystander", 0)
        try:
            assert _wait_holding(victim).split()[1] == "3"
            _wait_holding(bystander)
            with AnchorClient(emu.api_key, base_url=emu.base_url) as client:
                assert len(_live(client, "victim")) == 3 and len(_live(client, "bystander")) == 1
            victim.send_signal(signal.SIGKILL)  # no atexit, no finally: nothing is released
            victim.wait(10)
            assert emu.live_sessions == 4
            started = time.monotonic()
            reaped = subprocess.run(
                [sys.executable, "-m", "anchorframe", "reap", "--run", "victim"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert reaped.returncode == 0, reaped.stderr
            assert reaped.stdout.count("ended") == 3 and emu.api_key not in reaped.stdout + reaped.stderr
            with AnchorClient(emu.api_key, base_url=emu.base_url) as client:
                assert _live(client, "victim") == []
                assert len(_live(client, "bystander")) == 1  # the other run goes on
            assert emu.live_sessions == 1 and time.monotonic() - started < 30
        finally:
            for process in (victim, bystander):
                if process.poll() is None:
                    process.kill()
                process.wait(10)
                for stream in (process.stdout, process.stderr):
                    if stream is not None:
                        stream.close()
        done = reap(run_id="bystander", api_key=emu.api_key, base_url=emu.base_url)
        assert list(done["action"]) == ["ended"] and emu.live_sessions == 0


def test_reap_cancels_a_runs_batch_still_provisioning():
    """A batch of the run still provisioning (one session up, one coming) is cancelled, then emptied."""
    with (
        Emulator(seed=9, launch_concurrency=1) as emu,
        AnchorClient(emu.api_key, base_url=emu.base_url) as client,
    ):
        tags = {"session": {"tags": run_tags("slow-run")}}
        created = client.create_batch(2, configuration=tags)
        deadline = time.monotonic() + 30
        while not _live(client, "slow-run") and time.monotonic() < deadline:
            time.sleep(0.1)
        emu.set_faults(provision_delay=3600)  # the second session would come much later
        preview = reap(run_id="slow-run", api_key=emu.api_key, base_url=emu.base_url, dry_run=True)
        assert set(preview["action"]) <= {"would cancel", "would end"} and emu.live_sessions >= 1
        done = reap(run_id="slow-run", api_key=emu.api_key, base_url=emu.base_url)
        if _live(client, "slow-run"):
            # The second session was already launching when the delay was set: it came up after
            # the listing. A second reap (as after any crash) ends it.
            reap(run_id="slow-run", api_key=emu.api_key, base_url=emu.base_url)
        assert client.get_batch(created.batch_id).status in ("cancelled", "completed")
        assert "ended" in set(done["action"]) or "cancelled" in set(done["action"])
        assert _live(client, "slow-run") == [] and emu.live_sessions == 0
