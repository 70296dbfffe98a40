"""result.plot(): the timeline drawn from made-up runs, in a script, in a kernel and in Chromium.

Only ``test_saved_html_is_interactive_offline_in_chromium`` starts a browser (run this file
under the shared browser lock).
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time

import nbclient
import nbformat
import pytest

from anchorframe._display.timeline import Timeline, write_timeline
from anchorframe._display.timeline_layout import layout_timeline
from anchorframe.demo.timeline import synthetic_run

from .conftest import wait_no_chromium

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small():
    return synthetic_run(60, sessions=3, tabs=2)


def test_import_anchorframe_does_not_import_altair():
    """The plotting library is loaded by plot(), never by `import anchorframe`."""
    code = "import sys, anchorframe; assert not {'altair', 'vl_convert'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_without_a_frontend_saves_png_svg_and_html(small, tmp_path):
    """In a script, plot() gives a Timeline whose files are a real PNG, an SVG and an offline HTML page."""
    picture = small.plot()
    assert isinstance(picture, Timeline)
    assert re.fullmatch(r"<Timeline run demo on .*: 7 lanes, \d+ attempts \(one bar each\)>", repr(picture))
    assert picture.save(tmp_path / "run.png").read_bytes().startswith(PNG)
    assert picture.save(tmp_path / "out" / "run.svg").read_text().lstrip().startswith("<svg")
    page = picture.save(tmp_path / "run.html").read_text()
    assert "vegaEmbed" in page and "https://shop.test/product/" in page
    assert "cdn.jsdelivr" not in page  # the JavaScript is inlined: it opens without a network


def test_write_timeline_is_what_the_cli_calls(small, tmp_path):
    """write_timeline(result, path) writes the file the suffix names."""
    path = write_timeline(small, tmp_path / "cli.html")
    assert path.stat().st_size > 10_000


def test_unknown_suffix_names_the_formats(small, tmp_path):
    """Saving as .gif fails with the formats that work."""
    with pytest.raises(ValueError, match=r"\.png, \.svg, \.html or \.json"):
        small.plot().save(tmp_path / "run.gif")


def test_notebook_bundle_has_the_chart_and_a_png_fallback(small):
    """The HTML output holds the interactive chart and a PNG that shows where scripts do not run."""
    bundle = small.plot()._repr_mimebundle_()
    assert bundle["text/plain"].startswith("<Timeline")
    page = bundle["text/html"]
    png = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert png and base64.b64decode(png.group(1)).startswith(PNG)
    assert "vega-lite" in page and "https://shop.test/product/" in page


def test_plot_in_a_real_kernel_displays_html(small):
    """Executed by a Jupyter kernel, a cell ending in result.plot() outputs the HTML and text."""
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "from anchorframe.demo.timeline import synthetic_run\nsynthetic_run(30).plot()"
            )
        ]
    )
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    (output,) = notebook.cells[0].outputs
    assert output["output_type"] == "execute_result"
    assert "anchorframe-timeline" in output["data"]["text/html"]
    assert output["data"]["text/plain"].startswith("<Timeline")


def test_bars_are_one_per_attempt_with_lanes_per_tab(small):
    """Below max_bars, every attempt is its own bar on its session's tab lane."""
    layout = layout_timeline(small.attempts, small.sessions)
    assert not layout.aggregated
    assert len(layout.bars) == len(small.attempts)
    assert set(layout.bars["lane"]) <= set(layout.lanes)
    assert layout.lanes[0].endswith("· tab 0") and layout.lanes[-1] == "local-9999"  # never ready
    assert len(layout.releases) == len(layout.lanes)
    finished = small.attempts.drop_duplicates("url", keep="last")
    assert layout.rate["pages"].sum() == (~finished["outcome"].isin(["moved", "cancelled"])).sum()


def test_twenty_thousand_attempts_are_summed_up_and_stay_quick(tmp_path):
    """20,000+ attempts: bars summed per lane and bin, every attempt counted once, drawn in seconds."""
    result = synthetic_run(20_000, sessions=25, tabs=4, mean_s=0.5)
    assert len(result.attempts) > 20_000
    started = time.perf_counter()
    picture = result.plot()
    png = picture.save(tmp_path / "big.png")
    seconds = time.perf_counter() - started
    layout = picture.layout
    assert layout.aggregated and layout.bin_s is not None
    assert len(layout.lanes) == 26  # 100 tab lanes are too many: one lane per session
    assert layout.bars["attempts"].sum() == len(result.attempts)
    assert len(layout.bars) <= 2_600
    assert png.read_bytes().startswith(PNG)
    assert seconds < 30, f"plot() and save() took {seconds:.1f} s"  # 2.4 s idle, ~10 s on busy cores


def test_missing_plot_extra_names_the_install(small, monkeypatch):
    """Without Altair, plot() says which package is missing and the pip command that fixes it."""
    monkeypatch.setitem(sys.modules, "altair", None)
    with pytest.raises(
        ImportError, match=r"altair is missing\)\. Install them with: pip install 'anchorframe\[plot\]'"
    ):
        small.plot()


def test_saved_html_is_interactive_offline_in_chromium(small, tmp_path):
    """Saved HTML draws offline and zooms on the wheel; offline notebook output keeps its PNG."""
    from playwright.sync_api import sync_playwright

    path = small.plot().save(tmp_path / "run.html")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.route("http*://**", lambda route: route.abort())  # no network
            page.goto(path.as_uri())
            marks = page.wait_for_selector("svg.marks, canvas", timeout=15_000)
            box = marks.bounding_box()
            assert box is not None
            axis = page.locator("text", has_text=re.compile(r"^16$")).count()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 100)
            for _ in range(6):
                page.mouse.wheel(0, -300)
            page.wait_for_timeout(400)
            zoomed = page.locator("text", has_text=re.compile(r"^16$")).count()
            # The notebook output where Vega cannot be fetched: the PNG stays in place of the chart.
            fragment = tmp_path / "output.html"
            fragment.write_text(small.plot().to_html())
            offline = browser.new_page()
            offline.route("http*://**", lambda route: route.abort())
            offline.goto(fragment.as_uri())
            offline.wait_for_timeout(1500)
            fallback = offline.locator("img[src^='data:image/png']")
            png_shown = fallback.count() == 1 and fallback.is_visible()
        finally:
            browser.close()
    assert errors == []
    assert axis >= 1 and zoomed < axis  # the last second left the view: the axis zoomed in
    assert png_shown
    assert wait_no_chromium(10) == []


def test_a_run_with_nothing_to_draw_still_draws(small, tmp_path):
    """No attempts and no sessions (an empty input): an empty picture, not an error."""
    empty = type(small)(
        results=small.results.iloc[:0],
        errors=small.errors,
        sessions=small.sessions.iloc[:0],
        plan=small.plan,
        backend="local",
        run_id="empty",
        elapsed=0.0,
    )
    picture = empty.plot()
    assert picture.layout.lanes == [] and picture.layout.attempts == 0
    assert picture.save(tmp_path / "empty.png").read_bytes().startswith(PNG)
