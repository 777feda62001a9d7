"""The Bokeh guide's "Press Me" app, drawn with bqplot: each click adds one number.

A black figure; every click puts the next number at a random position, in a
random colour of the RdYlBu palette.
"""

import random

import bqplot as bq
import ipywidgets as w

from jupyter_bridge import curdoc

RDYLBU = ["#a50026", "#d73027", "#f46d43", "#fdae61", "#fee090", "#ffffbf",
          "#e0f3f8", "#abd9e9", "#74add1", "#4575b4", "#313695"]

x_scale, y_scale = bq.LinearScale(min=0, max=100), bq.LinearScale(min=0, max=100)
numbers = bq.Label(x=[], y=[], text=[], colors=[], scales={"x": x_scale, "y": y_scale},
                   default_size=26, font_weight="bolder", align="middle")
figure = bq.Figure(marks=[numbers], background_style={"fill": "black"},
                   fig_margin={"top": 10, "bottom": 10, "left": 10, "right": 10},
                   layout=w.Layout(width="420px", height="420px"))
button = w.Button(description="Press Me")


def press(_button: w.Button) -> None:
    count = len(numbers.text)
    with numbers.hold_sync():
        numbers.x = [*numbers.x, random.uniform(5, 95)]
        numbers.y = [*numbers.y, random.uniform(5, 95)]
        numbers.text = [*numbers.text, str(count)]
        numbers.colors = [*numbers.colors, random.choice(RDYLBU)]


button.on_click(press)

doc = curdoc()
doc.title = "Press Me (bqplot)"
doc.add_root(w.VBox([button, figure]))
