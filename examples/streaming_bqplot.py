"""Streaming from a thread: a bqplot scatter that grows every 0.1 s.

The thread only produces numbers; each batch reaches the widgets through
doc.add_next_tick_callback, which runs on the session's loop.
"""

import random
import threading
from functools import partial

import bqplot as bq
import ipywidgets as w
import numpy as np

from jupyter_bridge import curdoc

doc = curdoc()
x_scale, y_scale = bq.LinearScale(), bq.LinearScale()
scatter = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": x_scale, "y": y_scale},
                     default_size=24, colors=["#4575b4"])
figure = bq.Figure(marks=[scatter], axes=[bq.Axis(scale=x_scale), bq.Axis(scale=y_scale, orientation="vertical")],
                   animation_duration=0, layout=w.Layout(width="520px", height="360px"))
count = w.Label("0 points")
stop = threading.Event()


def append(x: float, y: float) -> None:
    scatter.x = np.append(scatter.x, x)
    scatter.y = np.append(scatter.y, y)
    count.value = f"{len(scatter.x)} points"


def produce() -> None:
    x, y = 0.0, 0.0
    while not stop.wait(0.1):
        x, y = x + 1, y + random.uniform(-1, 1)
        doc.add_next_tick_callback(partial(append, x, y))


doc.on_session_destroyed(lambda _context: stop.set())
threading.Thread(target=produce, name="streaming_bqplot", daemon=True).start()
doc.title = "Streaming from a thread"
doc.add_root(w.VBox([figure, count]))
