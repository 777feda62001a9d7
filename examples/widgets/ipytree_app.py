"""ipytree: a tree that a button grows from Python, and that says which node was picked."""

import ipywidgets as w
from ipytree import Node, Tree

from jupyter_bridge import curdoc

fruit = Node("Fruit", [Node("Apple"), Node("Pear")])
vegetables = Node("Vegetables", [Node("Leek"), Node("Kale")], opened=False)
tree = Tree(nodes=[fruit, vegetables], multiple_selection=False)
name = w.Text(value="Plum", description="New fruit")
add = w.Button(description="Add")
picked = w.Label("Pick a node.")


def add_node(_):
    fruit.add_node(Node(name.value))


def on_selected(change):
    picked.value = "picked " + ", ".join(node.name for node in change["new"])


add.on_click(add_node)
tree.observe(on_selected, "selected_nodes")

doc = curdoc()
doc.title = "ipytree"
doc.add_root(w.VBox([w.HBox([name, add]), tree, picked]))
