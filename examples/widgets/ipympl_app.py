"""ipympl: a matplotlib figure (``%matplotlib widget``'s canvas) that a slider redraws.

The slider's Python callback changes the curve and redraws the figure; a
click on the figure reaches a matplotlib event handler in Python, which marks
the spot and says where it was.
"""

import ipywidgets as w
import matplotlib
import numpy as np

matplotlib.use("widget")  # ipympl's backend, as %matplotlib widget selects it in a notebook

import matplotlib.pyplot as plt  # noqa: E402

from jupyter_bridge import curdoc  # noqa: E402

plt.ioff()  # the app places the figure itself
fig = plt.figure(figsize=(5, 3.5))
ax = fig.add_subplot()
x = np.linspace(0, 2 * np.pi, 200)
(line,) = ax.plot(x, np.sin(x))
(marks,) = ax.plot([], [], "o", color="crimson")
ax.set_ylim(-1.2, 1.2)

frequency = w.FloatSlider(description="Frequency", min=1, max=5, step=0.5, value=1)
clicked = w.Label("Click the figure.")


def redraw(change):
    line.set_ydata(np.sin(change["new"] * x))
    fig.canvas.draw_idle()


def on_click(event):
    if event.inaxes is not ax:
        return
    marks.set_data([*marks.get_xdata(), event.xdata], [*marks.get_ydata(), event.ydata])
    fig.canvas.draw_idle()
    clicked.value = f"click at x={event.xdata:.2f}, y={event.ydata:.2f}"


frequency.observe(redraw, "value")
fig.canvas.mpl_connect("button_press_event", on_click)

doc = curdoc()
doc.title = "ipympl"
doc.add_root(w.VBox([frequency, fig.canvas, clicked]))
# pyplot keeps every figure it made until closed: close this session's with it.
doc.on_session_destroyed(lambda _context: plt.close(fig))
