"""The page of a notebook app: where a running notebook's output goes.

In cell order (``layout="cells"``): markdown cells rendered to HTML, displayed
widgets (``display(w)`` or a cell's last expression), roots added with
``curdoc().add_root``, and the rich outputs of other displays and prints, each in
an ipywidget (HTML, Image, or HTML ``<pre>`` for text). ``layout="roots"`` shows
only the widgets (displayed or added as roots); prints then go to the server's
stdout, as a script's do.
"""

from __future__ import annotations

import base64
import html
import logging
from typing import TYPE_CHECKING, Any

from .. import output
from .notebook_cells import has_math, render_markdown

if TYPE_CHECKING:
    from ipywidgets import Widget

    from ..document import Document

__all__ = ["LAYOUTS", "NotebookPage", "rich_widget"]

log = logging.getLogger(__name__)

#: How a notebook's page is laid out: every output in cell order, or only its widgets.
LAYOUTS = ("cells", "roots")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class NotebookPage(output.OutputTarget):
    """Where a notebook's output goes while it runs: roots of the session's document, in order."""

    def __init__(self, document: Document, layout: str) -> None:
        self.document = document
        self.cells = layout == "cells"
        self.cell_widgets: list[Widget] = []
        self.stream: tuple[str, Any, str] | None = None  # name, its <pre> widget, its text
        self.clear_pending = False
        self.displays: dict[str, Any] = {}  # display_id -> the box showing it

    def start_cell(self) -> None:
        """A new cell runs: clearing an output clears only this cell's widgets."""
        self.cell_widgets = []
        self.stream = None
        self.clear_pending = False

    def _add(self, widget: Widget) -> None:
        if self.clear_pending:
            self.clear()
        self.document.add_root(widget)
        self.cell_widgets.append(widget)

    def markdown(self, rendered: str, math: bool = False) -> None:
        """Show a markdown cell (already rendered to HTML), in the cells layout; with math, typeset."""
        if self.cells:
            from ipywidgets import HTML, HTMLMath

            widget = (HTMLMath if math else HTML)(rendered)
            widget.add_class("jb-notebook-markdown")
            self._add(widget)

    def write(self, name: str, text: str) -> None:
        if not self.cells:
            output.write_to(None, name, text)
            return
        if not text:
            return
        if self.clear_pending:
            self.clear()
        if self.stream is not None and self.stream[0] == name:
            widget, text = self.stream[1], self.stream[2] + text
        else:
            from ipywidgets import HTML

            widget = HTML()
            widget.add_class(f"jb-notebook-{name}")
            self._add(widget)
        self.stream = (name, widget, text)
        widget.value = _pre(text, name)

    def show(self, item: output.Display) -> None:
        widget = self._widget_for(item)
        if item.update:
            box = self.displays.get(item.display_id or "")
            if box is not None and widget is not None:
                box.children = (widget,)
            return
        if widget is None:
            return
        self.stream = None
        if widget in self.document.roots:
            widget = another_view(widget)
        if item.display_id:
            from ipywidgets import VBox

            widget = self.displays[item.display_id] = VBox([widget])
        self._add(widget)

    def _widget_for(self, item: output.Display) -> Widget | None:
        from ipywidgets import Widget
        from ipywidgets.widgets.widget import _instances

        # What the object's display data names, as Jupyter shows it: a library may
        # show another widget for it (pythreejs shows a geometry in a Preview widget).
        view = item.data.get(WIDGET_MIME)
        if isinstance(view, dict) and view.get("model_id") in _instances:
            return _instances[view["model_id"]]
        if isinstance(item.obj, Widget) and getattr(item.obj, "_view_name", None) is not None:
            return item.obj
        if not self.cells:
            return None
        return rich_widget(item.data, item.metadata)

    def error(self, message: str, detail: str | None) -> None:
        """A cell raised: show ``message`` (and the traceback ``detail``) where its output goes.

        Shown in both layouts: a page that stops half-way says why.
        """
        from ipywidgets import HTML

        self.stream = None
        body = f'<p style="margin:0"><strong>{html.escape(message)}</strong></p>'
        body += '<p style="margin:4px 0 0">The cells after it did not run.</p>'
        if detail:
            body += f'<pre style="margin:6px 0 0;white-space:pre-wrap;font-size:12px">{html.escape(detail)}</pre>'
        widget = HTML(
            '<div role="alert" style="background:#fdd;color:#600;border-left:4px solid #c33;'
            f'padding:6px 10px;font-family:monospace">{body}</div>'
        )
        widget.add_class("jb-notebook-error")
        self._add(widget)

    def clear(self, wait: bool = False) -> None:
        if wait:
            self.clear_pending = True
            return
        self.clear_pending = False
        roots = self.document.roots
        for widget in self.cell_widgets:
            if widget in roots:
                self.document.remove_root(widget)
        self.cell_widgets = []
        self.stream = None


def another_view(widget: Widget) -> Widget:
    """A root that shows ``widget`` once more: each display of a widget is a view, as in Jupyter.

    A document shows a root once, so the widget is shown again as the only
    child of a box that adds no space of its own.
    """
    from ipywidgets import Box, Layout

    box = Box([widget], layout=Layout(overflow="visible", margin="0", padding="0"))
    box.add_class("jb-notebook-view")
    return box


def _pre(text: str, name: str = "stdout") -> str:
    style = "margin:0;white-space:pre-wrap;font-family:monospace"
    if name == "stderr":
        style += ";background:#fdd;padding:2px 4px"
    return f'<pre class="jb-notebook-text" style="{style}">{html.escape(text)}</pre>'


def rich_widget(data: dict[str, Any], metadata: dict[str, Any] | None = None) -> Widget | None:
    """A widget that shows a display's mime bundle: HTML, an image, or text; None to skip."""
    from ipywidgets import HTML, HTMLMath, Image

    metadata = metadata or {}
    if "application/javascript" in data:
        log.debug("a JavaScript output is not run in a served notebook; skipped")
        return None
    if "text/html" in data:
        return HTML(_text(data["text/html"]))
    if "text/markdown" in data:
        source = _text(data["text/markdown"])
        return (HTMLMath if has_math(source) else HTML)(render_markdown(source))
    if "text/latex" in data:  # sympy's expressions, IPython's Math and Latex
        return HTMLMath(html.escape(_text(data["text/latex"]), quote=False))
    for mime, image_format in (("image/svg+xml", "svg+xml"), ("image/png", "png"), ("image/jpeg", "jpeg"),
                               ("image/gif", "gif")):
        if mime in data:
            value = data[mime]
            if isinstance(value, str):
                value = value.encode() if image_format == "svg+xml" else base64.b64decode(value)
            size = metadata.get(mime) if isinstance(metadata.get(mime), dict) else {}
            sizes = {k: str(size[k]) for k in ("width", "height") if k in size}
            return Image(value=value, format=image_format, **sizes)
    if "text/plain" in data:
        return HTML(_pre(_text(data["text/plain"])))
    return None


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)
