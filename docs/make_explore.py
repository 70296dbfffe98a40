"""Make docs/explore.png: ``result.explore()`` in a real JupyterLab with a live kernel, driven by Chromium.

    pip install jupyterlab                                            # not a dependency of anchorframe
    flock /tmp/af-browser.lock .venv/bin/python docs/make_explore.py

It writes a small notebook to a temporary folder (the first scraper of
``notebooks/debugging.ipynb`` on the sample shop: two rows fail), starts JupyterLab on
``127.0.0.1`` at a free port (no token, that folder as its root), opens the notebook in
Chromium through Playwright, runs every cell, steps the explorer to its next row, saves the
notebook and takes the picture. It then checks what a saved notebook keeps: the explorer's
output carries the row's view as HTML (its screenshot inline) beside the widget. JupyterLab
and its kernel are stopped at the end, whatever happened.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import psutil
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

CELLS = [
    "import anchorframe as af\n"
    "from anchorframe.demo import DemoSite\n\n"
    "site = DemoSite(products=8, rendered=2, missing=0, render_delay_ms=1500, slow_seconds=0.2).start()\n\n\n"
    "async def product(page, row):\n"
    "    await page.goto(row.url)\n"
    '    name = await page.query_selector("h1")\n'
    '    price = await page.query_selector(".price")\n'
    '    return {"name": await name.inner_text(), "price": await price.inner_text()}\n\n\n'
    'result = af.scrape(site.frame(extras=False), product, backend="local", retries=0, progress=False)\n'
    "result",
    "result.explore()",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "api/status", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer at {url} within {seconds:.0f} s.")


def drive(url: str, folder: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url + "lab/tree/explore.ipynb", wait_until="domcontentloaded")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            # The kernel connected and idle (cells run before that are dropped, not queued).
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            print("running the notebook's cells", flush=True)
            try:
                page.wait_for_selector(".anchorframe-explorer", timeout=150_000)
            except Exception:
                page.screenshot(path=str(folder / "failed.png"))
                raise
            explorer = page.locator(".anchorframe-explorer")
            explorer.get_by_role("button", name="next ▶").click()
            page.wait_for_function(
                "() => document.querySelector('.anchorframe-explorer').textContent.includes('2 of 2')",
                timeout=30_000,
            )
            page.wait_for_timeout(800)  # the screenshot's image decodes
            for answer in page.get_by_role("button", name="No", exact=True).all():  # "get Jupyter news?"
                answer.click()
            explorer.scroll_into_view_if_needed()
            page.keyboard.press("Control+s")
            page.wait_for_timeout(1500)
            explorer.screenshot(path=str(DOCS / "explore.png"))
        finally:
            browser.close()


def chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(candidate):
            return candidate
    return None  # Playwright's own


def check_saved(notebook: Path) -> None:
    """The saved explorer output keeps the row's view as HTML beside the widget."""
    saved = json.loads(notebook.read_text())
    outputs = [o for c in saved["cells"] if "result.explore()" in "".join(c["source"]) for o in c["outputs"]]
    bundle = next(
        o["data"] for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    )
    view = "".join(bundle["text/html"])  # nbformat keeps text as a list of lines
    assert 'src="data:image/jpeg;base64,' in view, "the saved view has no screenshot"
    assert "Row item-0009" in view, "the saved view is not the last one shown"
    print("saved notebook: the explorer's output keeps the last row's view,", len(view) // 1000, "kB of HTML")


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="af-explore-"))
    notebook = folder / "explore.ipynb"
    nbformat.write(
        new_notebook(
            cells=[new_code_cell(source) for source in CELLS],
            metadata={"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        ),
        notebook,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the kernel imports this checkout
    lab = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",  # a container runs as root; the server binds to loopback only
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={folder}",
            "--LabApp.news_url=",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "lab.log").open("wb"),
        start_new_session=True,
    )
    try:
        wait_until_up(url)
        print("JupyterLab is up at", url, flush=True)
        drive(url, folder)
    finally:
        stop(lab)
    check_saved(notebook)
    print("wrote", DOCS / "explore.png")


def stop(lab: subprocess.Popen[bytes]) -> None:
    """Stop JupyterLab and its kernels (they are its children), by their process ids."""
    try:
        children = psutil.Process(lab.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    lab.send_signal(signal.SIGINT)
    lab.send_signal(signal.SIGINT)  # the second one skips the "Shutdown? (y/n)" question
    try:
        lab.wait(20)
    except subprocess.TimeoutExpired:
        lab.kill()
        lab.wait(5)
    _, alive = psutil.wait_procs(children, timeout=10)
    for process in alive:
        process.kill()


if __name__ == "__main__":
    main()
