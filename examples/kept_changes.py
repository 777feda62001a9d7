"""What a user changes here survives a server restart: the page brings it back.

Move the slider, pick a colour, type a name and brush over some points, then
stop the server (Ctrl-C) and start it again: the page waits, reconnects and
replays your changes into its fresh session, so the summary is computed again.
The password is marked ``do_not_restore``: it always starts empty.
"""

import bqplot as bq
import ipywidgets as w
import numpy as np

from jupyter_bridge import curdoc

x = np.arange(20.0)
xs, ys = bq.LinearScale(), bq.LinearScale()
dots = bq.Scatter(x=x, y=np.sqrt(x), scales={"x": xs, "y": ys}, default_size=60)
brush = bq.interacts.BrushIntervalSelector(scale=xs, marks=[dots])
figure = bq.Figure(
    marks=[dots],
    axes=[bq.Axis(scale=xs), bq.Axis(scale=ys, orientation="vertical")],
    interaction=brush,
    layout=w.Layout(width="480px", height="260px"),
)
count = w.IntSlider(description="Count", min=0, max=10)
colour = w.Dropdown(description="Colour", options=["red", "green", "blue"])
name = w.Text(description="Name")
password = w.Password(description="Password")
summary = w.Label()


def summarize(_change=None):
    chosen = 0 if dots.selected is None else len(dots.selected)
    summary.value = f"{name.value or 'nobody'}: {count.value} {colour.value}, {chosen} points selected"


for widget, trait in ((count, "value"), (colour, "value"), (name, "value"), (dots, "selected")):
    widget.observe(summarize, trait)
summarize()

doc = curdoc()
doc.title = "Kept changes"
doc.do_not_restore(password)
doc.add_root(w.VBox([count, colour, name, password, figure, summary]))
