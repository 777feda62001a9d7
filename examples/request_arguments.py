"""Request arguments: /request_arguments?N=10 draws 10 points (default 5)."""

import random

import bqplot as bq
import ipywidgets as w

from jupyter_bridge import curdoc

doc = curdoc()
arguments = doc.session_context.request.arguments if doc.session_context else {}
try:
    n = int(arguments.get("N", [b"5"])[0])
except ValueError:
    n = 5
n = max(1, min(n, 1000))

x_scale, y_scale = bq.LinearScale(min=0, max=1), bq.LinearScale(min=0, max=1)
scatter = bq.Scatter(x=[random.random() for _ in range(n)], y=[random.random() for _ in range(n)],
                     scales={"x": x_scale, "y": y_scale}, default_size=40)
figure = bq.Figure(marks=[scatter], layout=w.Layout(width="400px", height="400px"))
doc.title = f"{n} random points"
doc.add_root(w.VBox([w.Label(f"N = {n} (change it with ?N=...)"), figure]))
