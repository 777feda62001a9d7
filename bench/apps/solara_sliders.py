"""The Solara twin of examples/sliders.py, served by bench/load.py (``solara run``).

The same ipywidgets (an IntSlider 0..100 and a Label showing value*2, computed
in Python when the slider moves), as Solara components; Solara has no periodic
callback to match ours, so there is none. Solara is not a jupyter_bridge
dependency: ``pip install solara`` to compare.
"""

import ipywidgets as w
import solara


@solara.component
def Page():
    value, set_value = solara.use_state(0)
    with w.VBox.element() as main:
        w.IntSlider.element(description="N", min=0, max=100, value=value, on_value=set_value)
        w.Label.element(value=f"value*2 = {value * 2}")
    return main
