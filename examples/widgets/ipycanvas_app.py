"""ipycanvas: a canvas drawn from Python, and mouse clicks heard in Python.

The slider's Python callback redraws the circle; a click on the canvas is
reported by a Python handler, which marks the spot. Every drawing command
passes through the canvas manager ipycanvas makes when it is imported, which
all sessions share: each tab still gets only its own drawings.
"""

import ipywidgets as w
from ipycanvas import Canvas

from jupyter_bridge import curdoc

# Its layout keeps it at its own 320×200: in a VBox (here as in JupyterLab and
# Voila) a canvas is otherwise stretched to the box's width, and blurred.
canvas = Canvas(width=320, height=200, layout=w.Layout(width="320px", height="200px"))
radius = w.IntSlider(description="Radius", min=10, max=90, value=40)
heard = w.Label("Click the canvas.")


def draw(_change=None):
    canvas.clear()
    canvas.fill_style = "#3b82f6"
    canvas.fill_circle(160, 100, radius.value)


def on_click(x, y):
    heard.value = f"click at {x:.0f}, {y:.0f}"
    canvas.fill_style = "#ef4444"
    canvas.fill_rect(x - 4, y - 4, 8, 8)


radius.observe(draw, "value")
canvas.on_mouse_down(on_click)
draw()

doc = curdoc()
doc.title = "ipycanvas"
doc.add_root(w.VBox([radius, canvas, heard]))
