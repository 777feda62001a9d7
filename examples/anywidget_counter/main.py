"""An anywidget whose front end is a JavaScript file in the app folder (counter.js)."""

from pathlib import Path

import anywidget
import ipywidgets as w
import traitlets

from jupyter_bridge import curdoc

HERE = Path(__file__).parent


class Counter(anywidget.AnyWidget):
    _esm = HERE / "counter.js"
    _css = HERE / "counter.css"
    count = traitlets.Int(0).tag(sync=True)


counter = Counter()
doubled = w.Label("doubled: 0")
counter.observe(lambda change: setattr(doubled, "value", f"doubled: {change['new'] * 2}"), "count")

doc = curdoc()
doc.title = "anywidget counter"
doc.add_root(w.VBox([counter, doubled]))
