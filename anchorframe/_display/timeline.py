"""The picture of a run: sessions and tabs as lanes, attempts as bars, pages per second beneath.

Drawn with Altair (Vega-Lite), imported only when a timeline is drawn: ``import
anchorframe`` never loads it. Without the ``plot`` extra, drawing raises an error that
names ``pip install 'anchorframe[plot]'``.
"""

from __future__ import annotations

import base64
import html
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .timeline_data import run_usage
from .timeline_layout import TimelineLayout, layout_timeline

if TYPE_CHECKING:
    from .._run.result import ScrapeResult

__all__ = ["Timeline", "timeline", "write_timeline"]

_INSTALL = "pip install 'anchorframe[plot]'"
#: Known outcomes keep their colour from one picture to the next; others take the spares.
_OUTCOME_COLOURS = {
    "ok": "#2e7d32",
    "timeout": "#ef6c00",
    "navigation": "#c62828",
    "http_status": "#ad1457",
    "callable_error": "#6a1b9a",
    "moved": "#64b5f6",
    "cancelled": "#9e9e9e",
}
_SPARE_COLOURS = ("#d84315", "#8d6e63", "#f9a825", "#4e342e", "#880e4f", "#5d4037", "#b71c1c")
_PROVISIONING = "#cfd8dc"
_FAILED_START = "#f4c7c3"
_WIDTH = 760


class Timeline:
    """A drawn timeline of a run: shows itself in a notebook and saves as PNG, SVG or HTML.

    ``chart`` is the Altair chart, for anyone who wants to restyle or compose it.

    Example:
        >>> picture = result.plot()  # doctest: +SKIP
        >>> picture.save("run.png")  # doctest: +SKIP
        >>> picture.save("run.html")  # doctest: +SKIP
    """

    def __init__(self, chart: Any, layout: TimelineLayout, title: str) -> None:
        self.chart = chart
        self.layout = layout
        self.title = title

    def save(self, path: str | os.PathLike[str], *, scale: float = 2.0) -> Path:
        """Write the picture to ``path``; the suffix picks the format (.png, .svg, .html, .json).

        The HTML file carries the JavaScript it needs (it opens without a network) and
        stays interactive; PNG and SVG are drawn without a browser.
        """
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix not in (".png", ".svg", ".html", ".json"):
            raise ValueError(
                f"Cannot save a timeline as {target.name!r}: use a file name ending in .png, .svg, "
                ".html or .json."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".png":
            target.write_bytes(self.to_png(scale=scale))
        elif suffix == ".html":
            self.chart.save(str(target), inline=True)
        else:
            self.chart.save(str(target))
        return target

    def to_png(self, *, scale: float = 2.0) -> bytes:
        """The picture as PNG bytes, drawn without a browser (``scale`` 2 suits high-DPI screens)."""
        import vl_convert

        return bytes(vl_convert.vegalite_to_png(self.chart.to_json(), scale=scale))

    def to_html(self) -> str:
        """A fragment for a notebook: the interactive chart, with a PNG shown until it loads.

        Where scripts do not run (a saved notebook on GitHub, an untrusted notebook, no
        network to fetch Vega), the PNG stays: the output is never blank.
        """
        div = f"anchorframe-timeline-{uuid.uuid4().hex[:12]}"
        png = base64.b64encode(self.to_png(scale=1.5)).decode("ascii")
        live = self.chart.to_html(fullhtml=False, output_div=f"{div}-live")
        return (
            f'<div id="{div}" class="anchorframe-timeline">'
            f'<img id="{div}-png" alt="{html.escape(self.title)}" style="max-width:100%" '
            f'src="data:image/png;base64,{png}">{live}</div>'
            "<script>(function(){"
            f'var live=document.getElementById("{div}-live"),png=document.getElementById("{div}-png");'
            "if(!live||!png)return;var seen=new MutationObserver(function(){"
            'if(live.querySelector("canvas,svg")){png.remove();seen.disconnect();}});'
            "seen.observe(live,{childList:true,subtree:true});})();</script>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": repr(self), "text/html": self.to_html()}

    def __repr__(self) -> str:
        layout = self.layout
        kind = f"summed up per {layout.bin_s:g} s" if layout.aggregated else "one bar each"
        return f"<Timeline {self.title}: {len(layout.lanes)} lanes, {layout.attempts} attempts ({kind})>"


def timeline(result: ScrapeResult, *, max_bars: int = 2000, max_lanes: int = 48) -> Timeline:
    """Draw ``result`` as a :class:`Timeline` (what ``ScrapeResult.plot`` returns).

    Example:
        >>> timeline(result).save("run.png")  # doctest: +SKIP
    """
    alt = _altair()
    layout = layout_timeline(result.attempts, result.sessions, max_bars=max_bars, max_lanes=max_lanes)
    usage = run_usage(result.sessions)
    title = f"run {result.run_id} on {result.backend}"
    subtitle = [
        f"{len(result.sessions)} sessions · {layout.attempts} attempts · {result.elapsed:.1f} s · "
        + (f"idle {usage['idle_share']:.0%} of session-minutes" if usage else "idle time not recorded")
        + (f" · bars summed up per {layout.bin_s:g} s" if layout.aggregated else ""),
        "grey: starting up (red: never ready) · tick: released (red: failed or lost) · "
        "drag or scroll to zoom, hover for details",
    ]
    chart = _chart(alt, layout, title, subtitle)
    return Timeline(chart, layout, title)


def write_timeline(result: ScrapeResult, path: str | os.PathLike[str]) -> Path:
    """Save the timeline of ``result`` to ``path`` (.html, .png, .svg); for the CLI's ``--timeline``.

    Example:
        >>> write_timeline(result, "run.html")  # doctest: +SKIP
    """
    return timeline(result).save(path)


def _altair() -> Any:
    try:
        import altair
        import vl_convert  # noqa: F401  (PNG and offline HTML need it; fail now, not at save)
    except ImportError as exc:
        raise ImportError(
            f"Drawing a timeline needs Altair and vl-convert, which are not installed ({exc.name} is "
            f"missing). Install them with: {_INSTALL}"
        ) from exc
    return altair


def _colours(outcomes: list[str]) -> tuple[list[str], list[str]]:
    domain = [o for o in _OUTCOME_COLOURS if o in outcomes] + sorted(
        o for o in outcomes if o not in _OUTCOME_COLOURS
    )
    spare = iter(_SPARE_COLOURS * (1 + len(domain) // len(_SPARE_COLOURS)))
    return domain, [_OUTCOME_COLOURS.get(o) or next(spare) for o in domain]


def _values(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (NaN as null), passed inline so no row limit applies."""
    return [
        {str(k): (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _chart(alt: Any, layout: TimelineLayout, title: str, subtitle: list[str]) -> Any:
    step = max(3.0, min(18.0, 520.0 / max(1, len(layout.lanes))))
    lanes_y = alt.Y(
        "lane:N",
        sort=layout.lanes,
        title=None,
        scale=alt.Scale(domain=layout.lanes, paddingInner=0.2),
        axis=alt.Axis(labels=step >= 8, ticks=step >= 8, labelLimit=160),
    )
    # One time axis for both views, titled once under the rate strip.
    x = alt.X("t0:Q", title=None, scale=alt.Scale(zero=True, nice=False))
    zoom = alt.selection_interval(bind="scales", encodings=["x"])
    outcomes = sorted(set(layout.bars["outcome"])) if len(layout.bars) else ["ok"]
    domain, colours = _colours(outcomes)
    colour = alt.Color("outcome:N", scale=alt.Scale(domain=domain, range=colours), title="outcome")
    provisioning = (
        alt.Chart(alt.Data(values=_values(layout.provisioning)))
        .mark_bar(opacity=0.9, clip=True)
        .encode(
            x=x,
            color=alt.condition(
                alt.datum.state == "failed", alt.value(_FAILED_START), alt.value(_PROVISIONING)
            ),
            x2="t1:Q",
            y=lanes_y,
            tooltip=[
                alt.Tooltip("session:N"),
                alt.Tooltip("state:N"),
                alt.Tooltip("ready_s:Q", title="time to ready (s)", format=".2f"),
            ],
        )
    )
    bar_tooltip = (
        [
            alt.Tooltip("lane:N"),
            alt.Tooltip("t0:Q", title="from (s)", format=".1f"),
            alt.Tooltip("t1:Q", title="to (s)", format=".1f"),
            alt.Tooltip("attempts:Q", title="attempts ended"),
            alt.Tooltip("ok:Q"),
            alt.Tooltip("failed:Q"),
            alt.Tooltip("busy_share:Q", title="tabs busy", format=".0%"),
        ]
        if layout.aggregated
        else [
            alt.Tooltip("url:N", title="URL"),
            alt.Tooltip("outcome:N", title="status"),
            alt.Tooltip("duration_s:Q", title="duration (s)", format=".2f"),
            alt.Tooltip("attempt:Q"),
            alt.Tooltip("row:N"),
            alt.Tooltip("lane:N"),
        ]
    )
    bars = alt.Chart(alt.Data(values=_values(layout.bars))).mark_bar(cornerRadius=1, clip=True)
    encoding: dict[str, Any] = {"x": x, "x2": "t1:Q", "y": lanes_y, "color": colour, "tooltip": bar_tooltip}
    if layout.aggregated:
        encoding["opacity"] = alt.Opacity(
            "busy_share:Q", scale=alt.Scale(domain=[0, 1], range=[0.2, 1]), legend=None
        )
    bars = bars.encode(**encoding)
    releases = (
        alt.Chart(alt.Data(values=_values(layout.releases)))
        .mark_tick(thickness=2, size=max(4.0, step * 0.9), clip=True)
        .encode(
            x=alt.X("t:Q"),
            color=alt.condition(
                alt.FieldOneOfPredicate(field="state", oneOf=["failed", "lost"]),
                alt.value("#c62828"),
                alt.value("#263238"),
            ),
            y=lanes_y,
            tooltip=[
                alt.Tooltip("session:N"),
                alt.Tooltip("state:N"),
                alt.Tooltip("t:Q", title="released at (s)", format=".1f"),
            ],
        )
    )
    lanes = (
        alt.layer(provisioning, bars, releases)
        .properties(width=_WIDTH, height=step * max(1, len(layout.lanes)))
        .add_params(zoom)
    )
    rate = (
        alt.Chart(alt.Data(values=_values(layout.rate)))
        .mark_bar(clip=True)
        .encode(
            x=alt.X("t0:Q", title="seconds since the run began"),
            x2="t1:Q",
            y=alt.Y("sum(pages_per_s):Q", title="pages/s", stack=True),
            color=alt.Color(
                "kind:N",
                scale=alt.Scale(domain=["ok", "failed"], range=["#66bb6a", "#e57373"]),
                title="pages",
            ),
            tooltip=[
                alt.Tooltip("t0:Q", title="from (s)", format=".1f"),
                alt.Tooltip("kind:N"),
                alt.Tooltip("sum(pages):Q", title="pages"),
                alt.Tooltip("sum(pages_per_s):Q", title="pages/s", format=".1f"),
            ],
        )
        .properties(width=_WIDTH, height=80)
    )
    return (
        alt.vconcat(lanes, rate, spacing=6)
        .resolve_scale(x="shared", color="independent")
        .properties(title=alt.Title(title, subtitle=subtitle, anchor="start"))
        .configure_view(stroke=None)
        .configure_axis(labelFontSize=10, titleFontSize=11)
    )
