"""ipyleaflet: a map whose zoom a slider sets, and whose clicks Python hears.

The slider's callback changes the map from Python; a click on the map runs a
Python handler that drops a circle where it landed and says where that was.
"""

import ipywidgets as w
from ipyleaflet import CircleMarker, Map

from jupyter_bridge import curdoc

m = Map(center=(52.2, 0.12), zoom=4, scroll_wheel_zoom=True, layout=w.Layout(height="360px"))
zoom = w.IntSlider(description="Zoom", min=1, max=12, value=m.zoom)
clicked = w.Label("Click the map.")


def set_zoom(change):
    m.zoom = change["new"]


def on_interaction(**event):
    if event.get("type") != "click":
        return
    lat, lon = event["coordinates"]
    m.add(CircleMarker(location=(lat, lon), radius=6, color="crimson"))
    clicked.value = f"click at {lat:.2f}, {lon:.2f}"


zoom.observe(set_zoom, "value")
m.observe(lambda change: setattr(zoom, "value", int(change["new"])), "zoom")
m.on_interaction(on_interaction)

doc = curdoc()
doc.title = "ipyleaflet"
doc.add_root(w.VBox([zoom, m, clicked]))
