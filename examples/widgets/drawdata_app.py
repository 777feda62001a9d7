"""drawdata: points drawn with the mouse arrive in Python; a button adds one from Python.

Drawing on the widget sends its points to Python, which counts them by class;
the button's Python callback adds a point in the middle of the canvas.
"""

from collections import Counter

import ipywidgets as w
from drawdata import ScatterWidget

from jupyter_bridge import curdoc

canvas = ScatterWidget(width=600, height=300)
add = w.Button(description="Add a point")
counts = w.Label("Draw some points.")


def add_point(_button):
    canvas.data = [*canvas.data, {"x": 300, "y": 150, "color": "#2ca02c", "label": "c", "batch": 0}]


def count(change):
    by_label = Counter(point["label"] for point in change["new"])
    counts.value = f"{len(change['new'])} points: " + ", ".join(f"{k} {v}" for k, v in sorted(by_label.items()))


add.on_click(add_point)
canvas.observe(count, "data")

doc = curdoc()
doc.title = "drawdata"
doc.add_root(w.VBox([add, canvas, counts]))
