"""The "Press Me" app: each click adds a number at a random place, in a random colour.

The drawing is an SVG string in an HTML widget; the Python callback rebuilds it.
"""

import random

import ipywidgets as w

from jupyter_bridge import curdoc

# RdYlBu, 11 colours
PALETTE = ["#a50026", "#d73027", "#f46d43", "#fdae61", "#fee090", "#ffffbf",
           "#e0f3f8", "#abd9e9", "#74add1", "#4575b4", "#313695"]
WIDTH, HEIGHT = 400, 400

points: list[tuple[float, float, str, int]] = []
canvas = w.HTML()
button = w.Button(description="Press Me")


def draw() -> None:
    texts = "".join(
        f'<text x="{x:.0f}" y="{y:.0f}" fill="{colour}" font-size="26" '
        f'font-weight="bold" text-anchor="middle" class="jb-point">{n}</text>'
        for x, y, colour, n in points
    )
    canvas.value = (
        f'<svg width="{WIDTH}" height="{HEIGHT}" style="background:black">{texts}</svg>'
    )


def press(_button: w.Button) -> None:
    # Keep the points away from the edges so every number stays visible.
    x = random.uniform(20, WIDTH - 20)
    y = random.uniform(30, HEIGHT - 10)
    points.append((x, y, random.choice(PALETTE), len(points)))
    draw()


button.on_click(press)
draw()

doc = curdoc()
doc.title = "Press Me"
doc.add_root(w.VBox([button, canvas]))
