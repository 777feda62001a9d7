"""An app whose button blocks the event loop: ``time.sleep`` in a callback (bench/reliability.py)."""

import time

import ipywidgets as w

from jupyter_bridge import curdoc

button = w.Button(description="block for 5 s")


def block(_button) -> None:
    time.sleep(5)  # what an app must not do: the whole process waits


button.on_click(block)
curdoc().add_root(button)
