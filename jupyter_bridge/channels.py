"""Channels: how a session's widgets reach their views, and how the views answer.

A :class:`~jupyter_bridge.session.Session` runs an app the same way wherever it
is shown; its channel is what differs. The browser channel here gives the
session comms of its own, numbers every frame in an outbox and speaks
docs/protocol.md to any number of connected pages. The kernel channel
(``jupyter_bridge.jupyter.kernel``) leaves the widgets on the kernel's own comms
and shows the document as a cell output.
"""

from __future__ import annotations

import logging
import secrets
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import comms
from .logs import short_id, shown
from .outbox import Outbox
from .protocol import PROTOCOL_VERSION, Message, model_refs
from .version import __version__

if TYPE_CHECKING:
    import asyncio

    from comm.base_comm import BaseComm
    from ipywidgets import Widget

    from .document import Document
    from .session import Session

__all__ = ["BrowserChannel", "Channel", "Send"]

log = logging.getLogger(__name__)

#: One connection's way to send a frame (a text or binary WebSocket message).
Send = Callable[[str | bytes], None]
#: The most widgets a session may hold before a page may open no more of its own.
MAX_COMMS = 20_000


class Channel:
    """What a session asks of the place its document is shown.

    A channel serves one session: :meth:`bind` is called once, by the session's
    constructor, before any app code runs.
    """

    #: Whether widgets made in the session get comms from :meth:`create_comm`
    #: (False: they keep the process's own, e.g. the kernel's, and Output widgets
    #: are left to ipywidgets).
    routes_comms = False

    def __init__(self) -> None:
        self.session: Session[Any] | None = None

    def bind(self, session: Session[Any]) -> None:
        if self.session is not None:
            raise RuntimeError("a channel serves one session")
        self.session = session

    def create_comm(self, *args: Any, **kwargs: Any) -> BaseComm:
        """A comm for a widget made in the session (only if ``routes_comms``)."""
        raise NotImplementedError

    def started(self, document: Document) -> None:
        """The app has filled the document: show it."""
        self.document_changed(document)

    def document_changed(self, document: Document) -> None:
        """The document's roots or title changed after it was first shown."""

    def report_error(self, error: BaseException, where: str) -> None:
        """A callback of the app raised (it is logged already): tell the viewer."""

    def owner_problem(self, widget: Widget) -> str | None:
        """Why ``widget`` cannot be a root of the session's document, or None."""
        if getattr(widget, "comm", None) is None:
            return f"{type(widget).__name__} has been closed; create a new widget to display"
        return None

    def busy(self, busy: bool) -> None:
        """The session's callbacks have run a while (True), or are done (False)."""

    def end(self, app_changed: bool) -> None:
        """The session is ending: tell the viewers, before the widgets close."""

    def close_widgets(self) -> None:
        """Close every widget and comm of the session (runs inside the session)."""


class BrowserChannel(Channel):
    """Pages in browsers: the session's own comms, numbered frames, many connections.

    Everything a page sends arrives through :meth:`receive`; everything the
    session sends leaves through the outbox, to every attached connection.
    """

    routes_comms = True

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        dev: bool = False,
        receive_push: Callable[[Session[BrowserChannel], Message, Send | None], None] | None = None,
    ) -> None:
        super().__init__()
        self.dev = dev
        #: What takes a ``push_doc`` for an app that has no ``receive_push`` of its
        #: own (a PushTarget has): the server's ``--allow-push`` handler, or None.
        self.receive_push = receive_push
        self.comm_manager = comms.SessionCommManager()
        self.outbox = Outbox(loop)
        self.outbox.on_unsendable = self._unsendable
        # send -> what to call if the session ends while that connection is open
        self._connections: dict[Send, Callable[[bool], None] | None] = {}
        #: When a connection last came, went or sent something (the reaper reads it).
        self.last_seen = time.monotonic()
        #: The id of the client message being handled, named as `parent` in replies.
        self.handling: str | None = None
        #: Whether a page may still come for this session while none is connected:
        #: true until its first connection (the page is still loading its scripts),
        #: and after a connection that dropped rather than closed. The reaper then
        #: keeps the session for as long as the page's token could recreate it.
        self.page_may_return = True
        #: Names this copy of the session's stream: another process that recreates
        #: the session from its token numbers another stream, which a page showing
        #: this one must not take for a continuation of it.
        self.stream = secrets.token_urlsafe(9)

    def create_comm(self, *args: Any, **kwargs: Any) -> BaseComm:
        return comms.SessionComm(*args, channel=self, **kwargs)

    def put_comm_message(
        self,
        comm: BaseComm,
        msg_type: str,
        data: dict[str, Any],
        metadata: dict[str, Any],
        buffers: list[Any] | None,
        *,
        answering: bool = True,
        **fields: Any,
    ) -> None:
        """Queue a comm's message for the pages, after the shared widgets it refers to.

        ``answering``: it may answer the page message being handled, which it
        then names as ``parent`` (the page matches an echo_update to its change).
        """
        content: dict[str, Any] = {"type": msg_type, "comm_id": comm.comm_id, "data": data, "metadata": metadata}
        if answering and self.handling is not None:
            content["parent"] = self.handling
        content.update(fields)
        self.open_shared_refs(data, comm)
        self.outbox.put(content, buffers)

    def open_shared_refs(self, data: dict[str, Any], sender: BaseComm) -> None:
        """Open the shared widgets (comms.SharedComm) that ``data`` refers to, before it is sent."""
        if not comms.shared_comms:
            return
        for ref in model_refs(data):
            shared = comms.shared_comms.get(ref)
            if shared is not None and shared is not sender:
                shared.open_in(self)

    # Connections

    @property
    def connections(self) -> int:
        """How many connections are attached now."""
        return len(self._connections)

    def attach(
        self,
        send: Send,
        last_seq: int = 0,
        on_end: Callable[[bool], None] | None = None,
        *,
        recreated: bool = False,
    ) -> None:
        """Start sending to a new connection, from ``last_seq`` on.

        A new page (``last_seq`` 0) of a session whose first messages are already
        forgotten gets a snapshot instead: every widget's current state, then the
        stream from the session's current position. ``on_end(app_changed)`` is
        called if the session is destroyed while attached. ``recreated``: the page
        showed another copy of this session, now gone; its ``hello`` says so, and
        the page drops what it shows before this stream (from ``last_seq`` 0).
        """
        session = self._session()
        self._connections[send] = on_end
        self.last_seen = time.monotonic()
        self.outbox.flush()
        snapshot = last_seq == 0 and not self.outbox.can_resume(0)
        start = self.outbox.last_seq if snapshot else last_seq
        hello = {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "session_id": session.id,
            "server": f"jupyter-bridge {__version__}",
            "last_seq": start,
            "stream": self.stream,
        }
        if recreated:
            hello["recreated"] = True
        send(self.outbox.unnumbered(hello))
        if snapshot:
            for content, buffers in self._snapshot():
                send(self.outbox.unnumbered(content, buffers))
        self.outbox.attach(send, start)

    def detach(self, send: Send, *, page_left: bool = True) -> None:
        """Stop sending to a connection; ``page_left`` False if it dropped (the page may be back)."""
        self._connections.pop(send, None)
        self.last_seen = time.monotonic()
        self.outbox.detach(send)
        if not self._connections:
            self.page_may_return = not page_left

    def _session(self) -> Session[Any]:
        assert self.session is not None, "the channel is not bound to a session"
        return self.session

    def _snapshot(self) -> list[tuple[dict[str, Any], list[Any]]]:
        """comm_open messages of every widget's current state, models before their users."""
        from ipywidgets.widgets.widget import _instances, _remove_buffers

        widgets = {cid: _instances[cid] for cid in self.comm_manager.comms if cid in _instances}
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(comm_id: str) -> None:
            if comm_id in visiting or comm_id in ordered:
                return
            visiting.add(comm_id)
            for ref in model_refs(widgets[comm_id].get_state()):
                if ref in widgets:
                    visit(ref)
            ordered.append(comm_id)

        for comm_id in widgets:
            visit(comm_id)
        messages = []
        for comm_id in ordered:
            widget = widgets[comm_id]
            state, paths, buffers = _remove_buffers(widget.get_state())
            comm = widget.comm
            messages.append(({
                "type": "comm_open",
                "comm_id": comm_id,
                "target_name": comm.target_name,
                "target_module": comm.target_module,
                "data": {"state": state, "buffer_paths": paths},
                "metadata": {"version": _widget_protocol_version()},
            }, buffers))
        messages.append((_doc_message(self._session().document), []))
        return messages

    # What pages send

    async def receive(self, message: Message, sender: Send | None = None) -> None:
        """Handle one validated client message (``sender``: the connection it came from)."""
        if self.receive_at_once(message, sender):
            return
        session = self._session()
        content = message.content
        kind = content["type"]
        parent = content["id"]
        if kind in ("doc", "push_doc"):
            await session.document.run_locked(
                lambda: session.run_context.run(self._receive_document, message, sender), label=kind
            )
            self.reply({"type": "idle", "parent": parent}, sender)
            return
        if kind == "comm_open":
            await session.document.run_locked(
                lambda: session.run_context.run(self._open_from_page, message, sender), label=kind
            )
            self.reply({"type": "idle", "parent": parent}, sender)
            return
        comm = self.comm_manager.get_comm(content["comm_id"])
        if comm is None:
            self.refuse(
                f"there is no comm {content['comm_id']!r} in this session; "
                "a page can only talk to its own session's widgets",
                parent,
                sender,
            )
            return
        kernel_msg = {
            "header": {"msg_id": parent, "msg_type": kind},
            "parent_header": {},
            "metadata": content.get("metadata", {}),
            "content": {"comm_id": comm.comm_id, "data": content.get("data", {})},
            "buffers": message.buffers,
        }
        handle = comm.handle_msg if kind == "comm_msg" else comm.handle_close
        await session.document.run_locked(lambda: self._deliver(comm, handle, kernel_msg), label=kind)
        self.reply({"type": "idle", "parent": parent}, sender)

    def receive_at_once(self, message: Message, sender: Send | None = None) -> bool:
        """Handle an ``ack`` or a ``ping`` now (they need no document lock); False for other messages.

        A connection calls it before :meth:`receive`, which it can then skip, with
        the task a coroutine needs, for the most frequent message a page sends.
        """
        content = message.content
        kind = content["type"]
        self.last_seen = time.monotonic()
        if kind == "ack":
            self.outbox.ack(content["seq"], sender)
            return True
        if kind == "ping":
            self.reply({"type": "pong", "parent": content["id"]}, sender)
            return True
        return False

    def reply(self, content: dict[str, Any], sender: Send | None) -> None:
        """Answer the connection a message came from (idle, pong, a refusal).

        Answers go to that connection only, after everything the message caused,
        and outside the stream (seq 0): other pages of the session never see them.
        """
        if sender is None:
            self.outbox.put(content)
            return
        self.outbox.flush()
        sender(self.outbox.unnumbered(content))

    def refuse(self, reason: str, parent: str | None = None, sender: Send | None = None) -> None:
        """Answer a bad client frame with an error message, and log it."""
        log.warning("Session %s: refused a frame: %s", short_id(self._session().id), shown(reason))
        content: dict[str, Any] = {"type": "error", "where": "frame", "message": reason}
        if parent is not None:
            content["parent"] = parent
        self.reply(content, sender)

    def _receive_document(self, message: Message, sender: Send | None = None) -> None:
        """A client sets the title or roots (``doc``), or fills a push target (``push_doc``)."""
        session = self._session()
        content = message.content
        parent = content["id"]
        if content["type"] == "push_doc":
            # An app that asks for pushes (jupyter_bridge.client.PushTarget), or any
            # app of a server started with --allow-push.
            receive_push = getattr(session.application, "receive_push", None) or self.receive_push
            if receive_push is None:
                self.refuse(
                    f"{session.application.name} does not accept pushed documents; start the server "
                    "with --allow-push to let a push replace an app's document, or push to an app "
                    "served as jupyter_bridge.client.PushTarget()",
                    parent,
                    sender,
                )
                return
            receive_push(session, message, sender)
            return
        from ipywidgets.widgets.widget import _instances

        roots = []
        for model_id in content.get("roots", []):
            widget = _instances.get(model_id) if self.comm_manager.get_comm(model_id) else None
            if widget is None:
                self.refuse(f"there is no widget {model_id!r} in this session to show as a root", parent, sender)
                return
            roots.append(widget)
        document = session.document
        if "title" in content:
            document.title = content["title"]
        if "roots" in content and roots != document.roots:
            names = {id(widget): name for name, widget in document.named_roots.items()}
            document.clear()
            for widget in roots:
                document.add_root(widget, name=names.get(id(widget)))

    def _open_from_page(self, message: Message, sender: Send | None = None) -> None:
        """A page made a widget model of its own (pythreejs makes a light's shadow): make its widget.

        As in a kernel, the class comes from ipywidgets' registry of the classes
        this process has imported, never from the message; the id must be new
        to the whole process, so a page cannot take over another's widget.
        """
        from ipywidgets.widgets.widget import PROTOCOL_VERSION_MAJOR, _instances, _put_buffers, _registry

        content = message.content
        parent, comm_id = content["id"], content["comm_id"]
        if content["target_name"] != "jupyter.widget":
            self.refuse(f"a page may open only widget comms ('jupyter.widget'), not {content['target_name']!r}", parent, sender)
            return
        if comm_id in _instances or comm_id in comms.shared_comms or self.comm_manager.get_comm(comm_id) is not None:
            self.refuse(f"the id {comm_id!r} is taken; a page opens new widgets with new ids", parent, sender)
            return
        if len(self.comm_manager.comms) >= MAX_COMMS:
            self.refuse(f"a session may hold at most {MAX_COMMS} widgets", parent, sender)
            return
        comm = comms.SessionComm(comm_id=comm_id, target_name="jupyter.widget", primary=False, channel=self)
        self.comm_manager.register_comm(comm)
        data = content["data"]
        state = data["state"]
        try:
            # What a kernel's Widget.handle_comm_opened does, but for the page's
            # own values: what the constructor sets before set_state applies
            # them (pythreejs sets a shadow's camera to "uninitialized") is not
            # sent back over them; the echo of set_state confirms them.
            version = str(content.get("metadata", {}).get("version", ""))
            if version.split(".")[0] != PROTOCOL_VERSION_MAJOR:
                raise ValueError(f"the page speaks widget protocol {version!r}, not {PROTOCOL_VERSION_MAJOR}.x")
            widget_class = _registry.get(
                state["_model_module"], state["_model_module_version"], state["_model_name"],
                state["_view_module"], state["_view_module_version"], state["_view_name"],
            )  # fmt: skip
            with comm.withholding(state):
                widget = widget_class(comm=comm)
            _put_buffers(state, data.get("buffer_paths", []), message.buffers)
            widget.set_state(state)
        except Exception as error:
            self.comm_manager.comms.pop(comm_id, None)
            widget = _instances.pop(comm_id, None)
            if widget is not None:
                widget.comm = None
            state = content["data"]["state"]
            named = f"{state.get('_model_module', '?')} {state.get('_model_name', '?')}"
            reason = "the server has no widget class for it" if isinstance(error, KeyError) else f"{type(error).__name__}: {error}"
            self.refuse(f"could not make the {named} the page opened: {reason}", parent, sender)

    def _deliver(self, comm: Any, handle: Callable[[dict[str, Any]], None], msg: dict[str, Any]) -> None:
        # ipywidgets catches and logs exceptions raised by observers of a browser
        # change; catch those log records too, so the page can show the error.
        from ipywidgets.widgets.widget import _instances

        session = self._session()
        widget = _instances.get(comm.comm_id)
        logger = getattr(widget, "log", None)
        logger = getattr(logger, "logger", logger)
        capture = _ErrorCapture()
        level = None
        if isinstance(logger, logging.Logger):
            logger.addHandler(capture)
            if not logger.isEnabledFor(logging.WARNING):
                # A quieter logging set-up must not hide the error from the page.
                level = logger.level
                logger.setLevel(logging.WARNING)
        self.handling = msg["header"]["msg_id"]
        try:
            session.run_context.run(handle, msg)
        finally:
            self.handling = None
            if isinstance(logger, logging.Logger):
                logger.removeHandler(capture)
                if level is not None:
                    logger.setLevel(level)
        for record in capture.records:
            assert record.exc_info is not None and record.exc_info[1] is not None
            # ipywidgets logged it without saying whose it is: name the app, session and widget.
            log.error(
                "Session %s of %s: a callback of %s %s raised",
                short_id(session.id),
                session.context.server_context.url_path,
                type(widget).__name__,
                comm.comm_id,
                exc_info=record.exc_info,
            )
            self.report_error(record.exc_info[1], f"a callback of {type(widget).__name__}")

    # What the session tells pages

    def document_changed(self, document: Document) -> None:
        self.outbox.put(_doc_message(document))

    def report_error(self, error: BaseException, where: str) -> None:
        content: dict[str, Any] = {
            "type": "error",
            "where": "app",
            "message": f"{where} raised {type(error).__name__}: {error}",
        }
        if self.dev:
            content["detail"] = "".join(traceback.format_exception(error))
        self.outbox.put(content)

    def _unsendable(self, content: dict[str, Any], error: Exception) -> None:
        """A message a value of the app made impossible to send: log and show which widget and traits."""
        from ipywidgets.widgets.widget import _instances

        comm_id = content.get("comm_id")
        widget = _instances.get(comm_id) if comm_id else None
        whose = f"{type(widget).__name__} {comm_id}" if widget is not None else (comm_id or "a message")
        state = (content.get("data") or {}).get("state") or {}
        traits = f" (traits {', '.join(sorted(state))})" if state else ""
        problem = f"an update of {whose}{traits} could not be sent to the page: {error}"
        if self.session is not None:
            context = self.session.context
            log.error("Session %s of %s: %s", short_id(context.id), context.server_context.url_path, shown(problem, 2000))
        else:
            log.error("%s", problem)
        if content.get("type") != "error":
            self.outbox.put({"type": "error", "where": "app", "message": problem[0].upper() + problem[1:]})

    def owner_problem(self, widget: Widget) -> str | None:
        comm = getattr(widget, "comm", None)
        if comm is None:
            return f"{type(widget).__name__} has been closed; create a new widget to display"
        if isinstance(comm, comms.SharedComm):
            comm.open_in(self)
            return None
        if getattr(comm, "channel", None) is not self:
            return (
                f"{type(widget).__name__} was not created in this session; create the "
                "widgets a document shows inside the app code (each session gets its own)"
            )
        return None

    def busy(self, busy: bool) -> None:
        self.outbox.put({"type": "busy", "busy": busy})

    def end(self, app_changed: bool) -> None:
        # Open pages first, so they keep showing the last state and say the
        # session ended, rather than watching every widget close.
        connections, self._connections = self._connections, {}
        for on_end in connections.values():
            if on_end is not None:
                on_end(app_changed)
        self.outbox.close()

    def close_widgets(self) -> None:
        from ipywidgets.widgets.widget import _instances

        for comm_id, comm in list(self.comm_manager.comms.items()):
            if isinstance(comm, comms.SharedComm):
                comm.leave(self)  # it belongs to every session
                continue
            widget = _instances.get(comm_id)
            try:
                if widget is not None:
                    widget.close()
                else:
                    comm.close()
            except Exception:
                log.exception("Error closing comm %s of session %s", shown(comm_id), short_id(self._session().id))
        self.comm_manager.comms.clear()


def _doc_message(document: Document) -> dict[str, Any]:
    return {
        "type": "doc",
        "title": document.title,
        "roots": [w.model_id for w in document.roots],
        "names": {w.model_id: name for name, w in document.named_roots.items()},
    }


def _widget_protocol_version() -> str:
    from ipywidgets._version import __protocol_version__

    return __protocol_version__


class _ErrorCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.records.append(record)
