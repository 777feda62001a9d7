"""ipyvuetify: Vuetify components driven by an ipywidgets slider, and a Vuetify button Python hears.

The counter below is a ``VuetifyTemplate`` written in a ``.vue`` file beside
this one, the usual way to write an ipyvuetify app: its button calls
``vue_bump`` in Python, whose new count the template shows.
"""

import ipyvuetify as v
import ipywidgets as w
import traitlets

from jupyter_bridge import curdoc

progress = v.ProgressLinear(model_value=20, height=12, color="teal")
chip = v.Chip(children=["20 %"], color="teal", text_color="white")
slider = w.IntSlider(description="Progress", min=0, max=100, value=20)
button = v.Btn(children=[v.Icon(children=["mdi-thumb-up"]), "Press me"], color="primary")
pressed = w.Label("Not pressed yet.")
presses = 0


def set_progress(change):
    progress.model_value = change["new"]
    chip.children = [f"{change['new']} %"]


def on_press(widget, event, data):
    global presses
    presses += 1
    pressed.value = f"pressed {presses} times"


class Counter(v.VuetifyTemplate):
    template_file = (__file__, "ipyvuetify_counter.vue")
    count = traitlets.Int(0).tag(sync=True)

    def vue_bump(self, _data=None):
        self.count += 1


counter = Counter()
slider.observe(set_progress, "value")
button.on_event("click", on_press)

doc = curdoc()
doc.title = "ipyvuetify"
doc.add_root(w.VBox([slider, v.Container(children=[progress, chip, button, counter]), pressed]))
