"""ipyvolume: a 3-D scatter whose point size a slider sets, and that says which point was clicked."""

import ipyvolume as ipv
import ipywidgets as w
import numpy as np

from jupyter_bridge import curdoc

x = np.array([0.0, 0.6, -0.6, 0.0, 0.0])
y = np.array([0.0, 0.0, 0.0, 0.6, -0.6])
z = np.zeros(5)
figure = ipv.Figure(width=360, height=300)
with figure:
    points = ipv.scatter(x, y, z, size=8, marker="sphere", color="crimson")
    ipv.xyzlim(-1, 1)
size = w.FloatSlider(description="Size", min=1, max=20, value=8)
clicked = w.Label("Click a point.")


def set_size(change):
    points.size = change["new"]


def on_click(change):
    index = change["new"]
    if index is not None:
        clicked.value = f"clicked point {index} at ({x[index]:g}, {y[index]:g}, {z[index]:g})"


size.observe(set_size, "value")
points.observe(on_click, "clicked_index")

doc = curdoc()
doc.title = "ipyvolume"
doc.add_root(w.VBox([size, figure, clicked]))
