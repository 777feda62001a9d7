"""The Bokeh equivalent of examples/sliders.py, served by the benchmarks (``bokeh serve``).

A Slider 0..100 and a Div whose text is value*2, computed by a Python on_change
callback, plus a 1000 ms periodic callback that does nothing. Bokeh is not a
jupyter_bridge dependency: ``pip install bokeh`` to compare.
"""

from bokeh.io import curdoc
from bokeh.layouts import column
from bokeh.models import Div, Slider

slider = Slider(title="N", start=0, end=100, value=0, step=1)
label = Div(text="value*2 = 0")
slider.on_change("value", lambda attr, old, new: setattr(label, "text", f"value*2 = {new * 2}"))

doc = curdoc()
doc.title = "Sliders"
doc.add_root(column(slider, label))
doc.add_periodic_callback(lambda: None, 1000)
