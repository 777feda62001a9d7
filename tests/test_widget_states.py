"""Widgets from states and states from widgets: the order they are sent in, the classes a page may get."""

from __future__ import annotations

import sys

import ipywidgets as w
import pytest
from ipywidgets.widgets.widget import _instances
from traitlets import Instance

from jupyter_bridge.protocol import model_refs
from jupyter_bridge.widget_states import PageWidgetRefused, page_widget_class, states_in_order


class Wrapper(w.Widget):
    """A widget referring to one other (no Layout of its own: cheap to make thousands of)."""

    inner = Instance(w.Widget, allow_none=True).tag(sync=True, **w.widget_serialization)


def nested(depth: int) -> tuple[w.Widget, list[w.Widget]]:
    made: list[w.Widget] = [w.Widget()]
    for _ in range(depth):
        made.append(Wrapper(inner=made[-1]))
    return made[-1], made


def assert_referred_first(states: list) -> None:
    position = {state.widget.model_id: index for index, state in enumerate(states)}
    assert len(position) == len(states)
    for state in states:
        for ref in model_refs(state.data["state"]):
            if ref in position:
                assert position[ref] < position[state.widget.model_id]


def test_each_widget_comes_after_the_widgets_it_refers_to_however_deep():
    # Deeper than the recursion limit (ipywidgets raises it to 3000): the walk does not recurse.
    outer, made = nested(sys.getrecursionlimit() + 100)
    try:
        states = states_in_order([outer], _instances.get)
        mine = [s for s in states if s.widget in made]
        assert len(mine) == len(made)
        assert_referred_first(states)
        assert states[-1].widget is outer
    finally:
        for widget in made:
            widget.close()


def test_references_outside_are_left_out_and_a_cycle_ends():
    inner, outer = w.Label("in"), w.HBox()
    outer.children = [inner]
    first, second = w.VBox(), w.VBox()
    first.children, second.children = [second], [first]
    try:
        # Only what refers_to gives is walked.
        assert [s.widget for s in states_in_order([outer], lambda ref: None)] == [outer]
        ring = {first.model_id: first, second.model_id: second}
        assert [s.widget for s in states_in_order([first], ring.get)] == [second, first]
    finally:
        for widget in (inner, outer, first, second):
            widget.close()


class OwnSlider(w.IntSlider):
    """An app's own class with the model of a library's."""


def test_a_page_gets_the_class_its_app_declared_then_a_known_library_s_and_nothing_else():
    slider = {
        "_model_module": "@jupyter-widgets/controls", "_model_module_version": "2.0.0", "_model_name": "IntSliderModel",
        "_view_module": "@jupyter-widgets/controls", "_view_module_version": "2.0.0", "_view_name": "IntSliderView",
    }  # fmt: skip
    assert page_widget_class(slider, [OwnSlider], []) is OwnSlider
    assert page_widget_class(slider, [], ["@jupyter-widgets/controls:IntSliderModel"]) is w.IntSlider
    assert page_widget_class(slider, [], ["*"]) is w.IntSlider
    with pytest.raises(PageWidgetRefused, match=r"may not open a @jupyter-widgets/controls IntSliderModel widget"):
        page_widget_class(slider, [], ["@jupyter-widgets/controls:IntTextModel"])


def test_the_models_pythreejs_makes_in_the_page_are_allowed_by_default():
    three = pytest.importorskip("pythreejs")
    for name, cls in (("LightShadowModel", three.LightShadow), ("PerspectiveCameraModel", three.PerspectiveCamera)):
        state = {"_model_module": "jupyter-threejs", "_model_module_version": "^2.4.1", "_model_name": name,
                 "_view_module": None, "_view_module_version": "", "_view_name": None}  # fmt: skip
        assert issubclass(page_widget_class(state, [], []), cls)
    mesh = {"_model_module": "jupyter-threejs", "_model_name": "MeshModel"}
    with pytest.raises(PageWidgetRefused, match="--page-widgets 'jupyter-threejs:MeshModel'"):
        page_widget_class(mesh, [], [])
