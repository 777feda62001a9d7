"""ipydatagrid: a grid that grows from a Python callback and says which cell was picked."""

import ipywidgets as w
import pandas as pd
from ipydatagrid import DataGrid

from jupyter_bridge import curdoc

cities = pd.DataFrame(
    {"city": ["Lisbon", "Oslo", "Quito", "Perth"], "population": [545_000, 709_000, 2_800_000, 2_140_000]}
)
grid = DataGrid(cities, selection_mode="cell", base_column_size=120, layout=w.Layout(height="200px"))
add = w.Button(description="Add a city")
picked = w.Label("Pick a cell.")
extra = iter([("Hanoi", 8_050_000), ("Dakar", 1_440_000), ("Tartu", 97_000)])


def add_city(_):
    city, population = next(extra, ("Nowhere", 0))
    grid.data = pd.concat([grid.data, pd.DataFrame({"city": [city], "population": [population]})], ignore_index=True)


def on_selection(_):
    values = grid.selected_cell_values
    picked.value = f"picked {values[0]}" if values else "Pick a cell."


add.on_click(add_city)
grid.observe(on_selection, "selections")

doc = curdoc()
doc.title = "ipydatagrid"
doc.add_root(w.VBox([add, grid, picked]))
