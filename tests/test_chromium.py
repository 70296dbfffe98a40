"""Finding, launching and ending local Chromium."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

from anchorframe.backends._chromium import chromium_args, find_chromium, launch_chromium, live_chromium_pids
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


def test_an_end_cancelled_before_it_ran_still_ends_the_browser():
    """A run ending while a lost session is being closed cancels that close: the browser still dies.

    The kill runs in the loop's executor; here its only thread is busy, so the kill is still
    queued when the caller is cancelled (cancelling that queued work used to drop it).
    """
    import concurrent.futures
    import threading

    async def main():
        process = await launch_chromium()
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=1))
        busy = threading.Event()
        blocker = loop.run_in_executor(None, busy.wait, 10)
        ending = asyncio.ensure_future(process.end())
        await asyncio.sleep(0.1)
        ending.cancel()
        await asyncio.sleep(0.1)
        busy.set()
        await blocker
        with pytest.raises(asyncio.CancelledError):
            await ending
        assert not process.alive and process.pid not in live_chromium_pids()
        assert not os.path.exists(process.profile_dir)

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


def test_going_back_loads_the_page_again_instead_of_hanging_on_the_back_forward_cache():
    """A callable that goes back (to a list page, say) works: with Chromium's back-forward cache on,
    the page came back from the cache without a load event and page.go_back() waited for one until
    its timeout. The cache is off, as under Playwright's own launcher (and each left page is gone)."""
    from playwright.async_api import async_playwright

    from benchmarks.render_corpus import Page, PageServer

    html = "<script>addEventListener('pageshow', e => { window.restored = e.persisted })</script><h1>{}</h1>"
    pages = {f"/{n}": Page(html.replace("{}", str(n))) for n in (1, 2)}

    async def main(server):
        process = await launch_chromium()
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.connect_over_cdp(process.cdp_url)
                page = await browser.contexts[0].new_page()
                await page.goto(server.url("/1"))
                await page.goto(server.url("/2"))
                await page.go_back(timeout=5000)
                return await page.text_content("h1"), await page.evaluate("window.restored")
        finally:
            await process.end()

    with PageServer(pages) as server:
        assert asyncio.run(main(server)) == ("1", False)


def test_a_users_feature_lists_are_merged_into_ours():
    """Chromium reads only the last --disable-features=: a user's list joins ours instead of replacing it."""
    args = chromium_args("chromium", "/tmp/p", ("--disable-features=Foo", "--enable-features=Bar", "--x"))
    disabled = [a for a in args if a.startswith("--disable-features=")]
    assert len(disabled) == 1 and disabled[0].endswith(",BackForwardCache,Foo"), disabled
    assert "--enable-features=Bar" in args and args.index("--x") > args.index("--user-data-dir=/tmp/p")
    assert args[-1] == "about:blank"
