"""A widget from a state, and a state from a widget.

A widget state is what a ``comm_open`` carries: the model and view names that
choose a class, and the synced traits. Three places turn one into a live
ipywidgets object — a page that opens a widget of its own
(:meth:`~jupyter_bridge.channels.BrowserChannel.receive`), a pushed document
(:mod:`jupyter_bridge.application.push`) and the Python client's mirrors — and
two turn widgets into states (a new page's snapshot, a push). All of them use
this module. A state names a class; it never names code to run.

Which class a state may get is the caller's decision, made here with
:func:`widget_class`'s ``accept``. On a server, a class must be
:func:`importable`: app code runs in a fresh module namespace per session, and
a class it defines (and perhaps registers in ipywidgets' process-wide registry)
belongs to that one session, its methods closing over that session's variables.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from .protocol import model_refs

if TYPE_CHECKING:
    from ipywidgets import Widget

__all__ = [
    "CLASS_KEYS",
    "LIBRARY_PAGE_WIDGETS",
    "PageWidgetRefused",
    "WidgetState",
    "app_code_running",
    "close",
    "describe",
    "importable",
    "instantiate",
    "open_metadata",
    "opening",
    "page_widget_class",
    "states_in_order",
    "widget_class",
    "widget_protocol_version",
]

#: The registry key of a widget class: where its model and view live, and their names.
CLASS_KEYS = (
    "_model_module",
    "_model_module_version",
    "_model_name",
    "_view_module",
    "_view_module_version",
    "_view_name",
)
_NAME_KEYS = ("_model_module", "_model_name", "_view_module", "_view_name")

#: The widget models known libraries' front ends make by themselves, which pages
#: may therefore open without anyone allowing them: model module -> model names.
LIBRARY_PAGE_WIDGETS: dict[str, frozenset[str]] = {
    # pythreejs makes what Python left "uninitialized" — a light's shadow, the
    # shadow's camera, a light's target, a wide line's geometry and material — as
    # models named after the three.js object's class, and the attributes of a
    # BufferGeometry copied from another one (_ref_geometry).
    "jupyter-threejs": frozenset({
        "LightShadowModel", "DirectionalLightShadowModel", "SpotLightShadowModel",
        "PointLightShadowModel", "OrthographicCameraModel", "PerspectiveCameraModel",
        "Object3DModel", "LineMaterialModel", "LineGeometryModel", "LineSegmentsGeometryModel",
        "BufferAttributeModel", "InterleavedBufferAttributeModel",
    }),  # fmt: skip
}


def widget_protocol_version() -> str:
    """The Jupyter widget message protocol this process's ipywidgets speaks (``2.1.0``)."""
    from ipywidgets._version import __protocol_version__

    return __protocol_version__


def describe(state: dict[str, Any]) -> str:
    """'@jupyter-widgets/controls IntSliderModel 2.0.0', for messages."""
    return " ".join(str(state.get(key, "?")) for key in ("_model_module", "_model_name", "_model_module_version"))


# From a state to a class and a widget


#: App code running now (its awaits included): its folder, and the modules loaded before it ran.
_running: list[tuple[str, set[str]]] = []


@contextlib.contextmanager
def app_code_running(folder: str, before: set[str]) -> Iterator[None]:
    """Meanwhile, modules loaded from ``folder`` (not before) are app code, run for one session.

    ``application.handlers.app_imports`` drops them afterwards; while they are in
    ``sys.modules`` (a notebook cell awaits, say), their classes are not :func:`importable` either.
    """
    entry = (os.path.join(folder, ""), before)
    _running.append(entry)
    try:
        yield
    finally:
        _running.remove(entry)


def importable(cls: type) -> bool:
    """Whether ``cls`` belongs to the process rather than to one session's app code.

    True for a class of a library or of the operator's own modules: what its
    module and qualified name lead to in ``sys.modules``. False for a class that
    app code defined in a session's namespace (a script, a notebook, a module of
    the app's folder, a function app's body): another session has another class
    of that name, closing over other variables.
    """
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None) or ""
    for folder, before in list(_running):
        if cls.__module__ not in before and file.startswith(folder) and "-packages" not in file:
            return False  # a session's app module, findable only while its code runs
    found: Any = module
    for part in cls.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is cls


def widget_class(
    state: dict[str, Any],
    *,
    accept: Callable[[type], bool] | None = None,
    search: Callable[[type], bool] | None = None,
) -> type[Widget] | None:
    """The widget class for a state's model and view names, or None.

    First ipywidgets' registry (classes a library registered to be made from a
    front end). Many libraries register only some classes (bqplot: Figure, not
    Axis or Scatter), so with ``search`` the classes already imported in this
    process are looked through too, keeping those ``search`` accepts. A class
    ``accept`` refuses is never returned, wherever it was found.
    """
    from ipywidgets.widgets.widget import _registry

    try:
        cls = _registry.get(*(state.get(key) for key in CLASS_KEYS))
    except (KeyError, IndexError, TypeError):
        cls = None
    if cls is not None and (accept is None or accept(cls)):
        return cls
    if search is None:
        return None
    names = tuple(state.get(key) for key in _NAME_KEYS)
    found = [cls for cls in _classes_named(names) if search(cls) and (accept is None or accept(cls))]
    # A subclass that keeps its parent's model (class MySlider(IntSlider)) is not what was meant.
    return min(found, key=lambda cls: len(cls.__mro__)) if found else None


_index: dict[tuple[Any, ...], list[type]] = {}


def _classes_named(names: tuple[Any, ...]) -> list[type]:
    global _index
    from ipywidgets import Widget

    if names not in _index:  # perhaps imported since: look again
        index: dict[tuple[Any, ...], list[type]] = {}
        for cls in _subclasses(Widget):
            try:
                traits = cls.class_traits()
                key = tuple(traits[name].default_value for name in _NAME_KEYS)
            except (KeyError, AttributeError):
                continue
            index.setdefault(key, []).append(cls)
        _index = index  # swapped whole: another thread may be reading the old one
    return _index.get(names, [])


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


class PageWidgetRefused(Exception):
    """A page asked for a widget class it may not open; the message says how to allow it."""


def page_widget_class(
    state: dict[str, Any], declared: Iterable[type[Widget]], allowed: Iterable[str]
) -> type[Widget]:
    """The class of a widget a page opens in a session, or PageWidgetRefused.

    ``declared``: the classes the session's own app allowed
    (``Document.allow_page_widgets``), its own class objects, which win. Then an
    installed library's class, if its model is one a known library's front end
    makes (:data:`LIBRARY_PAGE_WIDGETS`) or ``allowed`` names it
    (``module:ModelName``, or ``*`` for any) — only an :func:`importable` class,
    never one that some session's app code defined.
    """
    module, name = state.get("_model_module"), state.get("_model_name")
    for cls in declared:
        if _model_of(cls) == (module, name):
            return cls
    allowed = set(allowed)
    if not ("*" in allowed or f"{module}:{name}" in allowed or name in LIBRARY_PAGE_WIDGETS.get(str(module), ())):
        raise PageWidgetRefused(
            f"a page may not open a {module} {name} widget by itself; an app whose pages make "
            "them allows its class with curdoc().allow_page_widgets(TheClass), and a server "
            f"allows an installed library's with --page-widgets '{module}:{name}'"
        )
    cls = widget_class(state, accept=importable, search=_any_class)
    if cls is None:
        raise PageWidgetRefused(
            f"the server has no widget class for {describe(state)} from an installed library; "
            "import the library that defines it, or let the app allow its own class with "
            "curdoc().allow_page_widgets(TheClass)"
        )
    return cls


def _model_of(cls: type) -> tuple[Any, Any]:
    traits = cls.class_traits()
    return tuple(traits[key].default_value if key in traits else None for key in ("_model_module", "_model_name"))  # type: ignore[return-value]


def _any_class(cls: type) -> bool:
    return True


def instantiate(cls: type[Widget], state: dict[str, Any], **extra: Any) -> Widget:
    """A ``cls`` widget holding ``state`` (JSON values, references already resolvable).

    The state becomes constructor arguments, so cross-validated traits (a slider's
    value and bounds) are checked together, and classes whose constructor needs
    arguments (``Link(source, target)``) can be built. Selection widgets carry only
    their labels: they become the options.
    """
    from ipywidgets.widgets.widget_selection import _MultipleSelection, _Selection

    traits = cls.class_traits(sync=True)
    kwargs: dict[str, Any] = {}
    for name, value in state.items():
        trait = traits.get(name)
        if trait is None or name in CLASS_KEYS or trait.read_only:
            continue
        from_json = trait.metadata.get("from_json", _identity)
        kwargs[name] = from_json(value, None)
    if issubclass(cls, (_Selection, _MultipleSelection)) and "_options_labels" in state:
        kwargs["options"] = list(state["_options_labels"])
    return cls(**kwargs, **extra)


def _identity(value: Any, owner: Any) -> Any:
    return value


# From widgets to states


class WidgetState(NamedTuple):
    """A widget's current state as a ``comm_open`` carries it: ``data`` and the buffers split off."""

    widget: Widget
    data: dict[str, Any]  # {"state": ..., "buffer_paths": ...}
    buffers: list[Any]


def close(widget: Widget) -> None:
    """Close ``widget``, even one of a class with a trait named ``close``.

    pythreejs's ``TubeGeometry`` has one (a bool): ``widget.close`` is then its
    value, and the widget would outlive its session.
    """
    method = getattr(widget, "close", None)
    if callable(method):
        method()
    else:
        from ipywidgets import Widget

        Widget.close(widget)


def open_metadata() -> dict[str, Any]:
    """The metadata of a ``comm_open`` of a widget."""
    return {"version": widget_protocol_version()}


def opening(widget: Widget) -> WidgetState:
    """``widget``'s current state, ready for a ``comm_open`` (with :func:`open_metadata`)."""
    from ipywidgets.widgets.widget import _remove_buffers

    state, paths, buffers = _remove_buffers(widget.get_state())
    return WidgetState(widget, {"state": state, "buffer_paths": paths}, buffers)


def states_in_order(
    widgets: Iterable[Widget], refers_to: Callable[[str], Widget | None]
) -> list[WidgetState]:
    """The current state of ``widgets`` and of the widgets they refer to, each after those it refers to.

    ``refers_to(model_id)`` is the widget a reference names: None leaves it out
    (outside what is being sent), and it may raise to refuse the reference. Each
    widget's state is read once; a cycle of references is sent in visiting order.
    """
    ordered: list[WidgetState] = []
    placed: set[str] = set()
    for first in widgets:
        # Depth first, without recursion: a chain of references may be as long as a session's widgets.
        stack: list[tuple[WidgetState, Iterator[str]]] = []
        pending: Widget | None = first
        while pending is not None or stack:
            if pending is not None:
                if pending.model_id not in placed:
                    placed.add(pending.model_id)
                    current = opening(pending)
                    stack.append((current, iter(model_refs(current.data["state"]))))
                pending = None
                continue
            current, refs = stack[-1]
            for ref in refs:
                if ref not in placed:
                    pending = refers_to(ref)
                    if pending is not None:
                        break
            else:
                stack.pop()
                ordered.append(current)
    return ordered
