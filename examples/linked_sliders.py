"""Browser-side links: jslink keeps the two sliders together without asking Python.

The link runs in the page, so it works even while the connection is down; the
label, computed in Python, follows once the page is connected.
"""

import ipywidgets as w

from jupyter_bridge import curdoc

left = w.IntSlider(description="left")
right = w.IntSlider(description="right")
w.jslink((left, "value"), (right, "value"))
total = w.Label("Python saw 0")
right.observe(lambda change: setattr(total, "value", f"Python saw {change['new']}"), "value")

doc = curdoc()
doc.title = "Linked sliders"
doc.add_root(w.VBox([left, right, total]))
