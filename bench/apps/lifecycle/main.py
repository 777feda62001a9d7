"""A directory app whose hooks leave marks in $BENCH_MARKS (bench/reliability.py, SIGTERM)."""

import ipywidgets as w

from jupyter_bridge import curdoc

curdoc().add_root(w.IntSlider())
