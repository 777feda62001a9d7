"""Widgets from widget states: the client's mirrors, and the widgets a push creates.

Both sides of the client API turn a widget state (what a ``comm_open`` carries)
into a live ipywidgets object of a class chosen by the state's model and view
names — from ipywidgets' registry, or among widget classes this process has
imported — never from anything the peer names as code:

- the client builds a *mirror* of each server widget, with a :class:`ClientComm`
  whose sync goes over the session's WebSocket (and which never sends a
  ``comm_open``: the model already exists on the server);
- a :class:`~jupyter_bridge.client.PushTarget` session on the server builds real
  session widgets from a pushed document.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

from comm.base_comm import BaseComm
from ipywidgets import Widget
from traitlets import Dict, Unicode

from .. import comms

__all__ = ["ClientComm", "UnknownWidget", "describe", "instantiate", "widget_class"]

#: The registry key of a widget class: where its model and view live, and their names.
CLASS_KEYS = (
    "_model_module",
    "_model_module_version",
    "_model_name",
    "_view_module",
    "_view_module_version",
    "_view_name",
)


class ClientComm(BaseComm):
    """The comm of a mirror widget: its messages go to the server over the client's socket.

    ``send`` is the client's function that delivers a widget message (``data``,
    ``buffers``) for ``remote_id``. A comm with no ``send`` is local only: it is
    what a widget gets when a library makes one while a mirror is being built.
    Closing a mirror is local too: the server's widget lives on.
    """

    def __init__(
        self,
        *,
        remote_id: str | None = None,
        send: Callable[[str, dict[str, Any], list[Any] | None], None] | None = None,
        **kwargs: Any,
    ) -> None:
        self.remote_id = remote_id
        self._deliver = send
        # primary=False: the server already has this model; never publish a comm_open.
        kwargs.pop("primary", None)
        super().__init__(primary=False, **kwargs)

    def publish_msg(
        self,
        msg_type: str,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
        **keys: Any,
    ) -> None:
        if msg_type != "comm_msg" or self._deliver is None or self.remote_id is None or _quiet.get():
            return
        data = data or {}
        if data.get("method") == "echo_update":
            return  # a browser never echoes; the server already has the value
        self._deliver(self.remote_id, data, buffers)

    def close(
        self,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
        deleting: bool = False,
    ) -> None:
        # Not registered with the process's comm manager, and not sent: local only.
        self._closed = True
        self._deliver = None

    def detach(self) -> None:
        """Stop sending (the client session ended); the widget keeps its last state."""
        self._deliver = None

    def handle_msg(self, msg: dict[str, Any]) -> None:
        # BaseComm.handle_msg fires IPython's pre/post_execute events, which must
        # not run on the client's thread inside a notebook.
        if self._msg_callback is not None:
            self._msg_callback(msg)


class UnknownWidget(Widget):
    """A mirror of a widget whose class this process does not have.

    ``state`` holds the server's state as it arrives (widget references are
    ``IPY_MODEL_<model_id>`` strings naming mirrors in this process);
    ``model_module`` and ``model_name`` say what it is. Import the widget's
    library before pulling the session to get a real mirror instead.
    """

    model_module = Unicode(help="The server widget's _model_module.")
    model_name = Unicode(help="The server widget's _model_name.")
    state = Dict(help="The server widget's state, updated as it changes.")

    def set_state(self, sync_data: dict[str, Any]) -> None:
        self.state = {**self.state, **sync_data}

    def __repr__(self) -> str:
        return f"<UnknownWidget {self.model_module} {self.model_name} {self._model_id}>"


def widget_class(state: dict[str, Any], search: Callable[[type], bool] | None = None) -> type[Widget] | None:
    """The widget class for a state's model and view names, or None.

    First ipywidgets' registry (classes a library registered to be made from a
    front end). Many libraries register only some classes (bqplot: Figure, not
    Axis or Scatter), so with ``search`` the classes already imported in this
    process are looked through too, keeping those ``search`` accepts.
    """
    from ipywidgets.widgets.widget import _registry

    try:
        return _registry.get(*(state.get(key) for key in CLASS_KEYS))
    except (KeyError, IndexError, TypeError):
        pass
    if search is None:
        return None
    names = tuple(state.get(key) for key in _NAME_KEYS)
    found = [cls for cls in _classes_named(names) if search(cls)]
    # A subclass that keeps its parent's model (class MySlider(IntSlider)) is not what was meant.
    return min(found, key=lambda cls: len(cls.__mro__)) if found else None


_NAME_KEYS = ("_model_module", "_model_name", "_view_module", "_view_name")
_index: dict[tuple[Any, ...], list[type]] = {}


def _classes_named(names: tuple[Any, ...]) -> list[type]:
    global _index
    if names not in _index:  # perhaps imported since: look again
        index: dict[tuple[Any, ...], list[type]] = {}
        for cls in _subclasses(Widget):
            if cls is UnknownWidget:
                continue
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


def describe(state: dict[str, Any]) -> str:
    """'@jupyter-widgets/controls IntSliderModel 2.0.0', for messages."""
    return " ".join(str(state.get(key, "?")) for key in ("_model_module", "_model_name", "_model_module_version"))


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


# Building mirrors: no outgoing messages, and widgets a library makes meanwhile
# (a default Layout, say) get local-only comms rather than the process's default.

_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("jupyter_bridge_client_quiet", default=False)
_building: contextvars.ContextVar[bool] = contextvars.ContextVar("jupyter_bridge_client_building", default=False)
_next_create_comm: Any = None


def _create_comm(*args: Any, **kwargs: Any) -> BaseComm:
    if _building.get():
        return ClientComm(**kwargs)
    return _next_create_comm(*args, **kwargs)


def _install_routing() -> None:
    """Put the client's router under the sessions' router in the ``create_comm`` chain.

    The sessions' router (jupyter_bridge.comms) re-installs itself on top whenever
    someone replaced ``comm.create_comm``, saving what it found as the next link.
    Sitting *below* it — as that saved link — keeps the chain free of loops.
    """
    global _next_create_comm
    _next_create_comm = comms.chain(_create_comm)


@contextlib.contextmanager
def building() -> Iterator[None]:
    """While a mirror is built: nothing is sent, and new comms are local only."""
    _install_routing()
    quiet = _quiet.set(True)
    build = _building.set(True)
    try:
        yield
    finally:
        _building.reset(build)
        _quiet.reset(quiet)
