"""bqplot: a scatter whose points a slider moves from Python, and that says which point was clicked."""

import bqplot as bq
import ipywidgets as w
import numpy as np

from jupyter_bridge import curdoc

x = np.arange(8.0)
xs, ys = bq.LinearScale(), bq.LinearScale(min=-10, max=10)
dots = bq.Scatter(x=x, y=np.sin(x), scales={"x": xs, "y": ys}, colors=["steelblue"], default_size=120)
figure = bq.Figure(
    marks=[dots],
    axes=[bq.Axis(scale=xs, label="x"), bq.Axis(scale=ys, orientation="vertical", label="y")],
    layout=w.Layout(height="320px"),
)
gain = w.IntSlider(description="Gain", min=1, max=9, value=1)
clicked = w.Label("Click a point.")


def set_gain(change):
    dots.y = change["new"] * np.sin(x)


def on_click(mark, event):
    index = event["data"]["index"]
    clicked.value = f"clicked point {index}: y = {dots.y[index]:.2f}"


gain.observe(set_gain, "value")
dots.on_element_click(on_click)

doc = curdoc()
doc.title = "bqplot"
doc.add_root(w.VBox([gain, figure, clicked]))
