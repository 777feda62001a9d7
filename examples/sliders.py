"""Move the slider: Python computes the label. Each browser tab gets its own session."""

import ipywidgets as w

from jupyter_bridge import curdoc

slider = w.IntSlider(description="N", min=0, max=100)
label = w.Label("value*2 = 0")
slider.observe(lambda ch: setattr(label, "value", f"value*2 = {ch['new'] * 2}"), "value")

doc = curdoc()
doc.title = "Sliders"
doc.add_root(w.VBox([slider, label]))
doc.add_periodic_callback(lambda: None, 1000)
