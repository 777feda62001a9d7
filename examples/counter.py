"""A counter the server increments 20 times a second: watch it survive a dropped connection.

Every update is numbered; a page that loses its connection reconnects and gets
exactly the updates it missed, none twice. ``?until=N`` stops the count at N.
"""

import ipywidgets as w

from jupyter_bridge import curdoc

doc = curdoc()
arguments = doc.session_context.request.arguments if doc.session_context else {}
until = int(arguments.get("until", [b"0"])[0]) or None
counter = w.IntText(0, description="count", disabled=True)


def tick() -> None:
    if until is None or counter.value < until:
        counter.value += 1
    else:
        doc.remove_periodic_callback(ticking)


ticking = doc.add_periodic_callback(tick, 50)
doc.title = "Counter"
doc.add_root(counter)
