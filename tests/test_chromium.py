"""Finding, launching and ending local Chromium."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

from anchorframe.backends._chromium import find_chromium, launch_chromium, live_chromium_pids
from anchorframe.errors import BrowserNotFoundError, SessionLaunchError

pytestmark = pytest.mark.usefixtures("no_chromium_left")


def _fake_executable(tmp_path, name):
    path = tmp_path / name
    path.write_text("#!/bin/sh\nexit 3\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_explicit_path_wins_over_the_environment(tmp_path, monkeypatch):
    """executable_path beats ANCHORFRAME_CHROMIUM, which beats PATH."""
    explicit = _fake_executable(tmp_path, "explicit")
    from_env = _fake_executable(tmp_path, "from-env")
    monkeypatch.setenv("ANCHORFRAME_CHROMIUM", from_env)
    assert find_chromium(explicit) == explicit
    assert find_chromium() == from_env


def test_path_lookup_and_the_error_that_says_how_to_install(tmp_path, monkeypatch):
    """chromium on PATH is found; with none anywhere the error says how to install one."""
    monkeypatch.delenv("ANCHORFRAME_CHROMIUM", raising=False)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(BrowserNotFoundError, match="apt-get install chromium"):
        find_chromium()
    fake = _fake_executable(bin_dir, "chromium-browser")
    assert find_chromium() == fake


def test_a_wrong_explicit_path_is_an_error(tmp_path):
    """A path that does not exist is refused with the fix."""
    with pytest.raises(BrowserNotFoundError, match="ANCHORFRAME_CHROMIUM"):
        find_chromium(tmp_path / "nope")


def test_launch_gives_a_cdp_url_and_end_removes_everything():
    """A launched Chromium answers on CDP; ending it kills the tree and removes its profile."""

    async def main():
        process = await launch_chromium()
        assert process.cdp_url.startswith("ws://127.0.0.1:") and "/devtools/browser/" in process.cdp_url
        assert process.pid in live_chromium_pids()
        assert "cdp_url" not in repr(process) and os.path.isdir(process.profile_dir)
        await process.end()
        assert not os.path.exists(process.profile_dir) and not process.alive

    asyncio.run(main())


def test_a_browser_that_dies_at_start_is_a_launch_error(tmp_path):
    """A Chromium that exits before opening its port gives its exit code and output."""
    fake = _fake_executable(tmp_path, "broken")
    with pytest.raises(SessionLaunchError, match="exited with code 3"):
        asyncio.run(launch_chromium(fake, timeout=5))


def test_missing_browser_is_raised_before_any_row(monkeypatch, tmp_path):
    """scrape() with no Chromium raises BrowserNotFoundError instead of failing every row."""
    import anchorframe as af

    with pytest.raises(BrowserNotFoundError):
        af.scrape(
            ["https://a.test"], backend=af.LocalBackend(executable_path=tmp_path / "missing"), progress=False
        )
