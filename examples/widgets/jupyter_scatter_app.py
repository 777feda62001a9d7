"""jupyter-scatter: a WebGL scatter plot whose point size a slider sets, and whose selection Python hears."""

import ipywidgets as w
import numpy as np
import pandas as pd
from jscatter import Scatter

from jupyter_bridge import curdoc

# A 5 x 5 grid of points: the middle one sits at the centre of the plot.
xs, ys = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
points = pd.DataFrame({"x": xs.ravel(), "y": ys.ravel(), "group": list("ab" * 12 + "a")})
scatter = Scatter(data=points, x="x", y="y", color_by="group", size=12, height=320)
size = w.IntSlider(description="Point size", min=2, max=40, value=12)
selected = w.Label("Click a point.")


def set_size(change):
    scatter.size(default=change["new"])


def on_selection(change):
    rows = points.iloc[list(change["new"])]
    selected.value = "selected " + ", ".join(f"({x:g}, {y:g})" for x, y in zip(rows.x, rows.y)) if len(rows) else "none"


size.observe(set_size, "value")
scatter.widget.observe(on_selection, "selection")

doc = curdoc()
doc.title = "jupyter-scatter"
doc.add_root(w.VBox([size, scatter.show(), selected]))
