"""Find, launch and end local Chromium processes reached over CDP.

Shared by :class:`~anchorframe.backends.local.LocalBackend` and the emulator.
Each browser is its own process group with a fresh profile directory; ending it
kills the whole tree and removes the profile. A process-wide registry ends any
browser still alive at interpreter exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BrowserNotFoundError, SessionLaunchError
from ._release import REGISTRY

__all__ = [
    "CHROMIUM_FLAGS",
    "ChromiumProcess",
    "find_chromium",
    "launch_chromium",
    "live_chromium_pids",
]

PROFILE_PREFIX = "anchorframe-chromium-"

# Without the networking flags Chromium stalls on a closed network (it keeps
# trying to reach update, sync and field-trial servers); see DEVELOPERS.md.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-breakpad",
    "--disable-crash-reporter",
    # Back-forward cache off, as Playwright's own launcher has it: with it on, page.go_back()
    # in a user's callable waited until its timeout for a load event that a page restored from
    # the cache never fires, and a tab going from row to row kept freezing and evicting the
    # pages it left (python -m benchmarks.bfcache: ~8 % less CPU per row without it).
    "--disable-features=Translate,MediaRouter,OptimizationHints,BackForwardCache",
    "--disable-back-forward-cache",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--password-store=basic",
    "--use-mock-keychain",
    "--mute-audio",
    "--remote-allow-origins=*",
)

_PATH_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

INSTALL_HINT = (
    "Install one (Debian/Ubuntu: `sudo apt-get install chromium`; elsewhere "
    "`playwright install chromium`), or point anchorframe at it with "
    "LocalBackend(executable_path=...) or the ANCHORFRAME_CHROMIUM environment variable."
)


def _playwright_browsers() -> list[str]:
    """Chromium builds downloaded by `playwright install`, newest first."""
    roots = [os.environ.get("PLAYWRIGHT_BROWSERS_PATH", "")]
    home = Path.home()
    roots += [str(home / ".cache" / "ms-playwright"), str(home / "Library" / "Caches" / "ms-playwright")]
    found: list[str] = []
    for root in roots:
        if not root or root == "0" or not os.path.isdir(root):
            continue
        patterns = [
            "chromium-*/chrome-linux*/chrome",
            "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
            "chromium-*/chrome-win*/chrome.exe",
        ]
        for pattern in patterns:
            found += sorted(glob.glob(os.path.join(root, pattern)), reverse=True)
    return found


def find_chromium(executable_path: str | os.PathLike[str] | None = None) -> str:
    """Return the path of a Chromium to launch.

    Looks, in order, at ``executable_path``, the ``ANCHORFRAME_CHROMIUM``
    environment variable, Playwright's downloaded browsers, then ``chromium``,
    ``chromium-browser`` and ``google-chrome`` on PATH.

    Example:
        >>> find_chromium()  # doctest: +SKIP
        '/usr/bin/chromium'
    """
    for source, candidate in (
        ("executable_path", executable_path),
        ("ANCHORFRAME_CHROMIUM", os.environ.get("ANCHORFRAME_CHROMIUM") or None),
    ):
        if candidate is None:
            continue
        path = shutil.which(str(candidate)) or str(candidate)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise BrowserNotFoundError(
            f"The Chromium given by {source} ({candidate!s}) does not exist or is not executable. "
            + INSTALL_HINT
        )
    for path in _playwright_browsers():
        if os.access(path, os.X_OK):
            return path
    for name in _PATH_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFoundError("No Chromium was found. " + INSTALL_HINT)


def chromium_args(executable: str, profile_dir: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The command line of a session's Chromium: our flags, then ``extra`` (a user's ``args=``).

    Chromium reads only the last ``--disable-features=`` (and ``--enable-features=``): a user's
    list is merged into ours rather than replacing it.

    Example:
        >>> args = chromium_args("chromium", "/tmp/p", ("--disable-features=Foo",))
        >>> [a for a in args if a.startswith("--disable-features=")]
        ['--disable-features=Translate,MediaRouter,OptimizationHints,BackForwardCache,Foo']
    """
    flags = list(CHROMIUM_FLAGS)
    rest: list[str] = []
    for arg in extra:
        name, sep, value = arg.partition("=")
        merged = False
        if sep and name in ("--disable-features", "--enable-features"):
            for i, flag in enumerate(flags):
                if flag.startswith(name + "="):
                    flags[i] = flag + "," + value
                    merged = True
        if not merged:
            rest.append(arg)
    args = [executable, *flags, "--remote-debugging-port=0", f"--user-data-dir={profile_dir}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox.
    # The first window's tab stays open: were a session's last page closed (a setup page),
    # Chromium would end the default context's browsing session and drop its session cookies.
    return [*args, *rest, "about:blank"]


@dataclass(eq=False)
class ChromiumProcess:
    """One running Chromium: its process, profile and CDP websocket URL.

    The ``cdp_url`` is treated as a secret elsewhere; it is left out of the repr.
    """

    pid: int
    profile_dir: str
    cdp_url: str = field(repr=False)
    started_at: float
    ready_s: float
    _proc: asyncio.subprocess.Process | None = field(default=None, repr=False)
    _ended: bool = field(default=False, repr=False)

    @property
    def alive(self) -> bool:
        if self._ended:
            return False
        if self._proc is not None:
            return self._proc.returncode is None
        return _pid_alive(self.pid)

    async def end(self, grace: float = 0.0) -> None:
        """Kill the whole process tree and remove the profile directory. Idempotent."""
        if self._ended:
            return
        self._ended = True
        # Shielded, and awaited to the end even when the caller is cancelled (a run that
        # ends while a lost session is being closed): cancelling the executor's future
        # before a thread picked it up would drop the kill, and this browser would outlive
        # the run with nothing left that knows about it.
        ending = asyncio.ensure_future(
            asyncio.get_running_loop().run_in_executor(None, _end_tree, self.pid, self.profile_dir, grace)
        )
        cancelled = False
        while not ending.done():
            try:
                await asyncio.shield(ending)
            except asyncio.CancelledError:
                cancelled = True
        _REGISTRY.discard(self)
        if self._proc is not None and not cancelled:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._proc.wait(), 2.0)
        if cancelled:
            raise asyncio.CancelledError

    def end_sync(self, grace: float = 0.0) -> None:
        """Blocking variant of :meth:`end` for atexit and signal handlers."""
        if self._ended:
            return
        self._ended = True
        _end_tree(self.pid, self.profile_dir, grace)
        _REGISTRY.discard(self)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tree_pids(pid: int) -> list[int]:
    try:
        import psutil

        root = psutil.Process(pid)
        return [pid] + [child.pid for child in root.children(recursive=True)]
    except Exception:
        return [pid]


def _end_tree(pid: int, profile_dir: str, grace: float) -> None:
    pids = _tree_pids(pid)
    # The browser is its own process group leader (start_new_session), and its
    # zygote/renderers stay in that group: one killpg reaches all of them.
    # The profile is thrown away, so there is nothing to flush: a grace period
    # of 0 goes straight to SIGKILL.
    for sig in ((signal.SIGTERM,) if grace > 0 else ()) + (signal.SIGKILL,):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        for other in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(other, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 3.0)
        while time.monotonic() < deadline:
            if not any(_is_running(p) for p in pids):
                break
            time.sleep(0.02)
        else:
            continue
        break
    # Reap a direct child that asyncio is not watching (sync callers).
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    shutil.rmtree(profile_dir, ignore_errors=True)


def _is_running(pid: int) -> bool:
    try:
        import psutil

        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except Exception:
        return False


def _set_parent_death_signal() -> None:
    # Linux: if the Python process dies hard (SIGKILL), the kernel kills the
    # browser too, so a crashed run does not leave Chromium behind.
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:
            pass


async def launch_chromium(
    executable: str | None = None,
    *,
    extra_args: tuple[str, ...] = (),
    timeout: float = 30.0,
) -> ChromiumProcess:
    """Start a headless Chromium and wait until its CDP endpoint answers.

    Example:
        >>> proc = await launch_chromium()  # doctest: +SKIP
        >>> await proc.end()  # doctest: +SKIP
    """
    executable = executable or find_chromium()
    profile_dir = tempfile.mkdtemp(prefix=PROFILE_PREFIX)
    log_path = os.path.join(profile_dir, "chromium.log")
    started = time.monotonic()
    with open(log_path, "wb") as log:
        # Parent-death signal applies to the thread that forks: the portal's
        # loop thread lives as long as the process, so that is the right owner.
        proc = await asyncio.create_subprocess_exec(
            *chromium_args(executable, profile_dir, extra_args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=_set_parent_death_signal,
        )
    chromium = ChromiumProcess(
        pid=proc.pid, profile_dir=profile_dir, cdp_url="", started_at=time.time(), ready_s=0.0, _proc=proc
    )
    _REGISTRY.add(chromium)
    try:
        chromium.cdp_url = await _wait_for_devtools(proc, profile_dir, log_path, timeout)
    except BaseException:
        await asyncio.shield(chromium.end())
        raise
    chromium.ready_s = time.monotonic() - started
    return chromium


async def _wait_for_devtools(
    proc: asyncio.subprocess.Process, profile_dir: str, log_path: str, timeout: float
) -> str:
    # Chromium writes "<port>\n<browser path>" to DevToolsActivePort once it listens;
    # reading that file avoids draining a stderr pipe for the browser's whole life.
    port_file = os.path.join(profile_dir, "DevToolsActivePort")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise SessionLaunchError(
                f"Chromium exited with code {proc.returncode} before it was ready. "
                f"Its last output: {_tail(log_path)!r}"
            )
        try:
            with open(port_file) as fh:
                lines = fh.read().split()
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{int(lines[0])}{lines[1]}"
        except (FileNotFoundError, ValueError):
            pass
        await asyncio.sleep(0.02)
    raise SessionLaunchError(
        f"Chromium did not open its debugging port within {timeout:g} s. Its last output: {_tail(log_path)!r}"
    )


def _tail(path: str, limit: int = 400) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace").strip()


class _Registry:
    """The Chromium processes this process started and has not ended yet, in the package's exit registry."""

    def add(self, item: ChromiumProcess) -> None:
        REGISTRY.add(item, item.end_sync)

    def discard(self, item: ChromiumProcess) -> None:
        REGISTRY.discard(item)

    def snapshot(self) -> list[ChromiumProcess]:
        return REGISTRY.snapshot(ChromiumProcess)


_REGISTRY = _Registry()


def live_chromium_pids() -> list[int]:
    """PIDs of Chromium processes descended from this Python process (for tests and reports)."""
    try:
        import psutil

        me = psutil.Process()
        found = []
        for child in me.children(recursive=True):
            try:
                name = (child.name() or "").lower()
                if ("chrom" in name or "headless_shell" in name) and child.status() != psutil.STATUS_ZOMBIE:
                    found.append(child.pid)
            except psutil.Error:
                continue
        return found
    except Exception:
        return []
