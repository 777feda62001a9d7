"""The client's mirror widgets: their comm, and a stand-in for a class this process lacks.

The client builds a *mirror* of each server widget from its state
(``jupyter_bridge.widget_states`` chooses the class), with a :class:`ClientComm`
whose sync goes over the session's WebSocket (and which never sends a
``comm_open``: the model already exists on the server).
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

__all__ = ["ClientComm", "UnknownWidget", "building"]


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
