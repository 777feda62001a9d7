"""interact in a served app: each tab's output shows only its own prints.

The function's print lands in the Output widget that interact made for this
session, never in another tab's and never on the server's console.
"""

import ipywidgets as w

from jupyter_bridge import curdoc

doc = curdoc()
tab = doc.session_context.id[:6] if doc.session_context else "local"


def square(x: int = 3) -> None:
    print(f"tab {tab}: {x} squared is {x * x}")


controls = w.interactive(square, x=(0, 10))
doc.title = "interact"
doc.add_root(controls)
