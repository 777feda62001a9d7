"""altair JupyterChart: a Vega-Lite chart whose cut-off a slider sets, and whose clicked bar Python hears.

``enable_offline()`` makes the chart load Vega from the installed
vl-convert package instead of a CDN, so the page works without the internet.
"""

import altair as alt
import ipywidgets as w
import pandas as pd

from jupyter_bridge import curdoc

alt.JupyterChart.enable_offline()

fruit = pd.DataFrame({"fruit": ["apple", "pear", "plum", "fig", "kiwi"], "sold": [28, 55, 43, 91, 19]})
cutoff = alt.param(name="cutoff", value=50)
pick = alt.selection_point(name="pick", fields=["fruit"])
chart = (
    alt.Chart(fruit)
    .mark_bar()
    .encode(
        x="fruit:N",
        y="sold:Q",
        color=alt.condition(alt.datum.sold > cutoff, alt.value("darkorange"), alt.value("steelblue")),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.4)),
    )
    .add_params(cutoff, pick)
    .properties(width=320, height=200)
)
jchart = alt.JupyterChart(chart)
slider = w.IntSlider(description="Cut-off", min=0, max=100, value=50)
picked = w.Label("Click a bar.")


def set_cutoff(change):
    jchart.params.cutoff = change["new"]


def on_pick(change):
    chosen = [row["fruit"] for row in change["new"].value or []]
    picked.value = "picked " + ", ".join(chosen) if chosen else "nothing picked"


slider.observe(set_cutoff, "value")
jchart.selections.observe(on_pick, "pick")

doc = curdoc()
doc.title = "altair"
doc.add_root(w.VBox([slider, jchart, picked]))
