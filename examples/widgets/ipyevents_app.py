"""ipyevents: DOM events of a widget, heard in Python.

The dropdown's Python callback chooses which events the page listens for;
each event that arrives is described by a Python handler.
"""

import ipywidgets as w
from ipyevents import Event

from jupyter_bridge import curdoc

area = w.HTML(
    "<div style='padding: 2em; border: 2px dashed #888; text-align: center'>Click, double-click or press a key here</div>",
    layout=w.Layout(width="360px"),
)
watch = w.Dropdown(description="Listen to", options=["click", "dblclick", "keydown"], value="click")
heard = w.Label("Nothing heard yet.")
event = Event(source=area, watched_events=[watch.value])


def listen_to(change):
    event.watched_events = [change["new"]]


def on_event(e):
    where = f" at {e['relativeX']}, {e['relativeY']}" if "relativeX" in e else ""
    key = f" key {e['key']!r}" if "key" in e else ""
    heard.value = f"heard {e['type']}{key}{where}"


watch.observe(listen_to, "value")
event.on_dom_event(on_event)

doc = curdoc()
doc.title = "ipyevents"
doc.add_root(w.VBox([watch, area, heard]))
