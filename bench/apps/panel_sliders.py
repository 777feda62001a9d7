"""The Panel twin of examples/sliders.py, served by bench/load.py (``panel serve``).

An IntSlider 0..100 and a StaticText whose value is value*2, set by a Python
watcher, plus a 1000 ms periodic callback that does nothing. Panel is not a
jupyter_bridge dependency: ``pip install panel`` to compare.
"""

import panel as pn

slider = pn.widgets.IntSlider(name="N", start=0, end=100, value=0)
label = pn.widgets.StaticText(value="value*2 = 0")
slider.param.watch(lambda event: setattr(label, "value", f"value*2 = {event.new * 2}"), "value")

pn.state.add_periodic_callback(lambda: None, 1000)
pn.Column(slider, label).servable(title="Sliders")
