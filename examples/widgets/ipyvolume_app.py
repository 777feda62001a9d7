"""ipyvolume: a 3-D scatter whose point size a slider sets, and that says which point was clicked.

It builds its figure from ipyvolume's widgets (Figure, Scatter) rather than the
pylab functions (ipv.figure, ipv.scatter): pylab keeps "the current figure" and
every figure it made in module globals, which all sessions of a server share,
so a second page would draw into the first page's closed figure.
"""

import ipyvolume as ipv
import ipywidgets as w
import numpy as np

from jupyter_bridge import curdoc

x = np.array([0.0, 0.6, -0.6, 0.0, 0.0])
y = np.array([0.0, 0.0, 0.0, 0.6, -0.6])
z = np.zeros(5)
# color_selected and size_selected are given as pylab gives them: their
# defaults are numpy scalars, which no widget message (JSON) can carry.
points = ipv.Scatter(
    x=x, y=y, z=z, size=8, geo="sphere", color="crimson", size_selected=10, color_selected="orange"
)
figure = ipv.Figure(scatters=[points], width=360, height=300)
figure.xlim = figure.ylim = figure.zlim = (-1, 1)
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
