"""The sliders app in a dashboard: 40 more controls and two bqplot charts, a build of ~20 ms, not 1.

It reads nothing of the request while it builds, so it allows its sessions to be
prepared ahead (which only a server started with --prepared-sessions does).
bench/reliability.py burst --app dashboard loads it.
"""

import bqplot as bq
import ipywidgets as w
import numpy as np

from jupyter_bridge import curdoc

doc = curdoc()
doc.prepare_ahead = True
slider = w.IntSlider(description="N", min=0, max=100)
label = w.Label("value*2 = 0")
slider.observe(lambda ch: setattr(label, "value", f"value*2 = {ch['new'] * 2}"), "value")
controls = [
    w.FloatSlider(description=f"f{i}") if i % 3 == 0 else
    w.Dropdown(description=f"d{i}", options=["a", "b", "c"]) if i % 3 == 1 else
    w.Checkbox(description=f"c{i}")
    for i in range(40)
]


def chart(f) -> bq.Figure:
    x = np.linspace(0, 10, 2000)
    xs, ys = bq.LinearScale(), bq.LinearScale()
    line = bq.Lines(x=x, y=f(x), scales={"x": xs, "y": ys})
    return bq.Figure(marks=[line], axes=[bq.Axis(scale=xs), bq.Axis(scale=ys, orientation="vertical")])


doc.title = "A dashboard"
doc.add_root(w.VBox([slider, label, w.HBox([chart(np.sin), chart(np.cos)]), w.GridBox(controls)]))
