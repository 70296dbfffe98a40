"""``result.explore()``: a run's rows in a notebook widget, one row's :class:`RowView` beside them.

Rows are filtered by status, reason, site (the URL's host) or route (browser or HTTP); the
list shows the rows that pass, the view beside it shows the one selected, and Previous / Next
step through them. Failed rows come first by default (status ``failed``, when a row failed).

In a saved notebook the last view stays readable: the output carries ``text/html`` and
``text/plain`` of the row shown beside the widget, and each change updates them, as the
progress panel does (``anchorframe._display.panel``).

Example:
    >>> explorer = result.explore()  # doctest: +SKIP
    >>> explorer.status.value = "failed"; explorer.next()  # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import ipywidgets as widgets
import pandas as pd

from .row_view import _FONT, RowView, row_view

if TYPE_CHECKING:
    from .._run.result import ScrapeResult

__all__ = ["Explorer", "rows_table"]

ALL = "(all)"
#: Rows listed at most (the filters narrow a longer run down).
LISTED = 2000


def rows_table(result: ScrapeResult) -> pd.DataFrame:
    """One line per input row: ``label``, ``status``, ``reason``, ``site``, ``route``, ``url``.

    The URL is the first URL its attempts or errors name (empty for a row never tried).
    """
    frame = result._frame
    urls: dict[str, str] = {}
    for source in (result.errors, result.attempts):
        if {"row", "url"} <= set(source.columns):
            for row, url in zip(source["row"], source["url"], strict=True):
                if url is not None:
                    urls.setdefault(str(row), str(url))

    def column(name: str) -> list[Any]:
        return [None if pd.isna(v) else v for v in frame[name]] if name in frame else [None] * len(frame)

    table = pd.DataFrame(
        {
            "label": list(frame.index),
            "status": column("af_status"),
            "reason": column("af_reason"),
            "route": column("af_render"),
            "url": [urls.get(str(label), "") for label in frame.index],
        }
    )
    table["site"] = [urlsplit(u).hostname or "" if u else "" for u in table["url"]]
    return table


class Explorer(widgets.HBox):  # type: ignore[misc]
    """The widget ``result.explore()`` returns: filters, a list of rows, the selected row's view.

    Attributes:
        status, reason, site, route: the filters (Dropdowns; ``"(all)"`` lets every row through).
        rows: the list (a Select of the rows that pass).
        detail: the selected row's :class:`RowView` as HTML.
    """

    def __init__(self, result: ScrapeResult) -> None:
        self.result = result
        self.table = rows_table(result)
        self._handle: Any = None
        self._labels: dict[int, Hashable] = {}
        layout = widgets.Layout(width="150px")
        self.status = widgets.Dropdown(description="status", options=self._choices("status"), layout=layout)
        self.reason = widgets.Dropdown(description="reason", options=self._choices("reason"), layout=layout)
        self.site = widgets.Dropdown(description="site", options=self._choices("site"), layout=layout)
        self.route = widgets.Dropdown(description="route", options=self._choices("route"), layout=layout)
        for dropdown in (self.status, self.reason, self.site, self.route):
            dropdown.style = {"description_width": "46px"}
        if "failed" in self.status.options:
            self.status.value = "failed"
        self.rows = widgets.Select(options=[], rows=14, layout=widgets.Layout(width="310px"))
        self.previous_button = widgets.Button(description="◀ previous", layout=widgets.Layout(width="100px"))
        self.next_button = widgets.Button(description="next ▶", layout=widgets.Layout(width="100px"))
        self.position = widgets.HTML()
        self.detail = widgets.HTML(layout=widgets.Layout(width="auto", flex="1 1 auto"))
        self.previous_button.on_click(lambda _: self.previous())
        self.next_button.on_click(lambda _: self.next())
        filters = widgets.VBox([self.status, self.reason, self.site, self.route])
        steps = widgets.HBox([self.previous_button, self.next_button, self.position])
        side = widgets.VBox([filters, self.rows, steps], layout=widgets.Layout(width="330px"))
        super().__init__([side, self.detail], layout=widgets.Layout(align_items="flex-start"))
        self.add_class("anchorframe-explorer")
        for dropdown in (self.status, self.reason, self.site, self.route):
            dropdown.observe(lambda _: self._filter(), names="value")
        self.rows.observe(lambda _: self._show(), names="value")
        self._filter()

    # -------------------------------------------------------------- actions
    def next(self) -> None:
        """Show the next row of the list."""
        self._step(1)

    def previous(self) -> None:
        """Show the previous row of the list."""
        self._step(-1)

    @property
    def view(self) -> RowView | None:
        """The :class:`RowView` shown (None: no row passes the filters)."""
        label = self.rows.value
        return None if label is None else row_view(self.result, self._labels[label])

    # ------------------------------------------------------------ internals
    def _choices(self, name: str) -> list[str]:
        values = sorted({str(v) for v in self.table[name] if v is not None and str(v) != ""})
        return [ALL, *values]

    def _filter(self) -> None:
        table = self.table
        for name, dropdown in (
            ("status", self.status),
            ("reason", self.reason),
            ("site", self.site),
            ("route", self.route),
        ):
            if dropdown.value != ALL:
                table = table[table[name].astype(str) == dropdown.value]
        table = table.head(LISTED)
        self._labels = {}
        options = []
        for position, row in enumerate(table.itertuples(index=False)):
            self._labels[position] = row.label
            text = f"{row.label} · {row.status} · {row.reason or ''} · {row.url}"
            options.append((text[:90], position))
        self.rows.options = options
        self.rows.value = 0 if options else None
        self._show()

    def _step(self, by: int) -> None:
        count = len(self.rows.options)
        if count:
            self.rows.value = ((self.rows.value or 0) + by) % count

    def _show(self) -> None:
        view = self.view
        count = len(self.rows.options)
        where = (self.rows.value or 0) + 1 if count else 0
        self.position.value = f'<span style="{_FONT}">{where} of {count}</span>'
        self.detail.value = view._repr_html_() if view is not None else _nothing()
        if self._handle is not None:
            self._handle.update(self._bundle(), raw=True)  # the saved notebook shows this view

    def _bundle(self) -> dict[str, Any]:
        bundle: dict[str, Any] = dict(super()._repr_mimebundle_())
        view = self.view
        bundle["text/plain"] = repr(view) if view is not None else "No row passes the filters."
        bundle["text/html"] = (
            f'<div style="{_FONT};color:#555">anchorframe explorer · {len(self.table)} rows · '
            f"showing {html.escape(str(view.label) if view else 'none')}</div>"
            + (view._repr_html_() if view is not None else _nothing())
        )
        return bundle

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return self._bundle()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        self._handle = display(self._bundle(), raw=True, display_id=True)


def _nothing() -> str:
    return f'<div style="{_FONT};color:#555">No row passes the filters.</div>'
