"""A directory app using every optional file: lifecycle hooks, static files, theme, template."""

import ipywidgets as w
from data import load_prices

from jupyter_bridge import curdoc

doc = curdoc()
prices = load_prices()

pick = w.Dropdown(options=sorted(prices), description="fruit")
amount = w.IntSlider(1, min=1, max=20, description="how many")
total = w.HTML()
reset = w.Button(description="reset")  # theme.yaml makes every Button "primary"


def update(_change=None) -> None:
    cost = prices[pick.value] * amount.value
    total.value = f'<span class="total">{amount.value} × {pick.value} = {cost:.2f} €</span>'


pick.observe(update, "value")
amount.observe(update, "value")
reset.on_click(lambda _button: setattr(amount, "value", 1))
update()

# server_lifecycle.py counts sessions; on_session_created has already run for this one.
stats = getattr(doc.session_context.server_context, "application_stats", {})
doc.title = "Fruit stand"
doc.template_variables["sessions_so_far"] = stats.get("created", 0)
doc.add_root(w.VBox([pick, amount, reset]), name="controls")
doc.add_root(total, name="total")
