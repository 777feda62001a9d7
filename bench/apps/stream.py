"""A label rewritten by a periodic callback (bench/reliability.py's streaming app).

``?period=MS`` (default 20: 50 updates/s) and ``?size=BYTES`` (default 20000) of
text per update.
"""

import ipywidgets as w

from jupyter_bridge import curdoc

doc = curdoc()
arguments = doc.session_context.request.arguments if doc.session_context else {}
period = int(arguments.get("period", [b"20"])[0])
size = int(arguments.get("size", [b"20000"])[0])
label = w.Label("0")
doc.add_root(label)
count = 0


def tick() -> None:
    global count
    count += 1
    label.value = f"{count} " + "x" * size


doc.add_periodic_callback(tick, period)
