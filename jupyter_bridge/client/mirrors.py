"""The mirror widgets of one client session: this process's stand-ins for the session's widgets.

A mirror is a live ipywidgets object of the server widget's class (or an
:class:`~jupyter_bridge.client.UnknownWidget`), whose comm sends its changes to the
server. ipywidgets model ids are per process, so a mirror has an id of its own:
every state that crosses between the two has its widget references renamed. A
widget this process pushed (``push_session``) is *adopted*: it becomes the mirror
of the widget the server made from it, and is not closed when the session ends.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from ipywidgets import Widget
from ipywidgets.widgets.widget import _instances, _put_buffers

from .. import widget_states
from ..protocol import rename_model_refs
from . import widgets
from .errors import ClientError

__all__ = ["Mirrors"]

log = logging.getLogger(__name__)

#: Sends one widget message (``data``, ``buffers``) to the server widget ``remote_id``.
SendWidgetMessage = Callable[[str, dict[str, Any], list[Any] | None], None]


def _any_class(cls: type) -> bool:
    # The client mirrors with any widget class its own process has imported.
    return cls is not widgets.UnknownWidget


class Mirrors:
    """A client session's widgets in this process, by their model id on the server (the *remote* id).

    ``send`` delivers a mirror's message to the server (the session drops it once
    closed); ``session_id`` names the session in error messages. Runs on the
    client loop, except :meth:`send`, which a mirror's comm calls from any thread.
    """

    def __init__(self, send: SendWidgetMessage, session_id: Callable[[], str | None]) -> None:
        self._deliver = send
        self._session_id = session_id
        self._widgets: dict[str, Widget] = {}  # remote id -> widget here
        self._remote_ids: dict[str, str] = {}  # local model id -> remote id
        self._pushed: set[str] = set()

    def get(self, remote_id: str) -> Widget | None:
        """The mirror of the server widget ``remote_id``, or None."""
        return self._widgets.get(remote_id)

    def widgets(self) -> list[Widget]:
        """Every mirror, in the order the server opened them."""
        return list(self._widgets.values())

    def remote_id(self, widget: Widget) -> str:
        """The server's model id of ``widget``; ClientError if it is not a widget of the session."""
        if not isinstance(widget, Widget) or widget.comm is None:
            raise ClientError(f"{widget!r} is not an open widget of session {self._session_id()}")
        return self._remote_id_of_ref(widget.model_id)

    def send(self, remote_id: str, data: dict[str, Any], buffers: list[Any] | None) -> None:
        """A mirror's message to the server, its widget references renamed to the server's ids."""
        if "state" in data:
            data = {**data, "state": rename_model_refs(data["state"], self._remote_id_of_ref)}
        self._deliver(remote_id, data, buffers)

    def _remote_id_of_ref(self, local_id: str) -> str:
        remote = self._remote_ids.get(local_id)
        if remote is None:
            widget = _instances.get(local_id)
            name = type(widget).__name__ if widget is not None else "a widget"
            raise ClientError(
                f"{name} {local_id} is not a widget of session {self._session_id()}; a client can only "
                "refer to the session's own widgets (create new ones in the app's code)"
            )
        return remote

    def _local_id_of_ref(self, remote_id: str) -> str:
        widget = self._widgets.get(remote_id)
        return widget.model_id if widget is not None and widget.comm is not None else remote_id

    def opened(self, content: dict[str, Any], buffers: list[Any]) -> None:
        """A ``comm_open``: build the mirror (a snapshot of a mirrored widget updates it instead)."""
        remote_id = content["comm_id"]
        data = content.get("data") or {}
        if remote_id in self._pushed:
            return  # a widget pushed from here: it already holds this state
        if remote_id in self._widgets:
            self.changed({"comm_id": remote_id, "data": {**data, "method": "update"}}, buffers, ours=False)
            return
        if content.get("target_name") != "jupyter.widget":
            log.debug("Session %s: ignored a comm for target %s", self._session_id(), content.get("target_name"))
            return
        raw = data.get("state") or {}
        state = rename_model_refs(raw, self._local_id_of_ref)
        _put_buffers(state, data.get("buffer_paths") or [], buffers)
        widget = self._build(remote_id, raw, state)
        self._widgets[remote_id] = widget
        self._remote_ids[widget.model_id] = remote_id

    def _build(self, remote_id: str, raw: dict[str, Any], state: dict[str, Any]) -> Widget:
        cls = widget_states.widget_class(raw, search=_any_class)
        if cls is not None:
            local_id = uuid.uuid4().hex
            comm = widgets.ClientComm(remote_id=remote_id, send=self.send, comm_id=local_id)
            try:
                with widgets.building():
                    return widget_states.instantiate(cls, state, comm=comm)
            except Exception as error:
                _instances.pop(local_id, None)
                log.warning(
                    "Session %s: could not mirror %s (%s: %s); it is an UnknownWidget holding its state",
                    self._session_id(), cls.__name__, type(error).__name__, error,
                )
        comm = widgets.ClientComm(remote_id=remote_id, send=self.send)
        with widgets.building():
            return widgets.UnknownWidget(
                comm=comm,
                model_module=str(raw.get("_model_module", "")),
                model_name=str(raw.get("_model_name", "")),
                state=state,
            )

    def changed(self, content: dict[str, Any], buffers: list[Any], *, ours: bool) -> None:
        """A ``comm_msg`` for a mirror; ``ours`` if it answers a message this client sent."""
        widget = self._widgets.get(content["comm_id"])
        if widget is None or widget.comm is None:
            return
        data = content.get("data") or {}
        method = data.get("method")
        if method == "custom" and ours:
            return  # our own message, passed on to the pages
        if method == "echo_update":
            if ours:
                return  # our own change, confirmed
            method = "update"  # another page's change
        if method == "update":
            state = rename_model_refs(data.get("state") or {}, self._local_id_of_ref)
            data = {**data, "method": "update", "state": state}
        msg = {
            "header": {"msg_id": content.get("parent") or "", "msg_type": "comm_msg"},
            "parent_header": {},
            "metadata": content.get("metadata") or {},
            "content": {"comm_id": widget.model_id, "data": data},
            "buffers": buffers,
        }
        widget.comm.handle_msg(msg)

    def closed(self, content: dict[str, Any]) -> None:
        """A ``comm_close``: the server's widget is gone, so is its mirror."""
        widget = self._widgets.pop(content["comm_id"], None)
        if widget is None:
            return
        self._remote_ids.pop(widget.model_id, None)
        self._pushed.discard(content["comm_id"])
        if isinstance(widget.comm, widgets.ClientComm):
            widget.comm.detach()
        widget.close()

    def adopt(self, widget: Widget, remote_id: str) -> None:
        """Make a pushed widget of this process talk to its server twin from now on."""
        old = widget.comm
        comm = widgets.ClientComm(remote_id=remote_id, send=self.send, comm_id=widget.model_id)
        old.on_msg(None)
        widget.comm = comm
        try:
            old.close()  # a notebook's view of it goes away: the widget now lives in the session
        except Exception:
            log.debug("Closing the previous comm of %r failed", widget, exc_info=True)
        _instances[widget.model_id] = widget
        self._widgets[remote_id] = widget
        self._remote_ids[widget.model_id] = remote_id
        self._pushed.add(remote_id)

    def release(self) -> None:
        """The session ended: mirrors stop sending and are closed; pushed widgets stay the user's."""
        for remote_id, widget in list(self._widgets.items()):
            comm = widget.comm
            if isinstance(comm, widgets.ClientComm):
                comm.detach()
            if remote_id not in self._pushed:
                widget.close()
        self._widgets.clear()
        self._remote_ids.clear()
