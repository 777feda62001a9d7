"""A background thread produces data; the document is only changed on the loop.

Threads may call only doc.add_next_tick_callback (and remove_next_tick_callback):
the thread hands each new value to a next-tick callback, which updates the widgets
under the document lock. The thread stops when the session is destroyed.
"""

import random
import threading
import time
from functools import partial

import ipywidgets as w

from jupyter_bridge import curdoc

doc = curdoc()
count = w.IntText(description="updates", disabled=True)
latest = w.FloatProgress(description="latest", min=0, max=1)
history = w.Label("")
recent: list[float] = []
stop = threading.Event()


def update(value: float) -> None:
    count.value += 1
    latest.value = value
    recent[:] = [value, *recent[:4]]
    history.value = "latest first: " + " ".join(f"{v:.2f}" for v in recent)


def produce() -> None:
    while not stop.wait(0.2):
        value = random.random()  # stands in for slow work: reading a sensor, a query
        time.sleep(0.01)
        doc.add_next_tick_callback(partial(update, value))


doc.on_session_destroyed(lambda _context: stop.set())
threading.Thread(target=produce, name="thread_updates producer", daemon=True).start()

doc.title = "Updates from a thread"
doc.add_root(w.VBox([count, latest, history]))
