"""plotly: a FigureWidget whose trace a slider changes, and whose points Python hears.

The slider's Python callback replaces the trace's y values (in a
``batch_update``); a click on a point runs the trace's ``on_click`` handler in
Python, which says which point it was.
"""

import ipywidgets as w
import plotly.graph_objects as go

from jupyter_bridge import curdoc

xs = list(range(10))
fig = go.FigureWidget(
    data=[go.Scatter(x=xs, y=[x * x for x in xs], mode="lines+markers", marker={"size": 12})],
    layout={"height": 360, "margin": {"t": 30}, "title": {"text": "y = x ** 2"}},
)
power = w.IntSlider(description="Power", min=1, max=4, value=2)
clicked = w.Label("Click a point.")


def set_power(change):
    with fig.batch_update():
        fig.data[0].y = [x ** change["new"] for x in xs]
        fig.layout.title.text = f"y = x ** {change['new']}"


def on_click(trace, points, _state):
    if points.point_inds:
        i = points.point_inds[0]
        clicked.value = f"clicked point {i}: ({points.xs[0]}, {points.ys[0]})"


power.observe(set_power, "value")
fig.data[0].on_click(on_click)

doc = curdoc()
doc.title = "plotly"
doc.add_root(w.VBox([power, fig, clicked]))
