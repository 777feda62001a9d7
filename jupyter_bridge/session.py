"""A session: one document, its comms and its outbox, for one browser connection."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import comms, output
from .activity import CallbackMonitor
from .document import DEFAULT_TITLE, Document, _current_document
from .outbox import Outbox
from .protocol import PROTOCOL_VERSION, Message

if TYPE_CHECKING:
    from .application import Application

__all__ = ["AppError", "Request", "ServerContext", "Session", "SessionContext"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """What the page request carried, as the app sees it.

    ``arguments`` maps each query argument to its list of values as bytes
    (``?N=10`` gives ``{"N": [b"10"]}``), like Tornado and Bokeh.
    """

    arguments: dict[str, list[bytes]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    remote_ip: str | None = None
    path: str = "/"


class ServerContext:
    """What an application can see of the server that runs it."""

    def __init__(self, url_path: str = "/") -> None:
        self.url_path = url_path
        self._sessions: dict[str, Session] = {}

    @property
    def sessions(self) -> list[SessionContext]:
        """The contexts of the sessions of this application that are alive."""
        return [s.context for s in self._sessions.values()]


class SessionContext:
    """Who a session is for: its id, the request that made it, the server's context."""

    def __init__(
        self,
        session_id: str,
        request: Request,
        server_context: ServerContext | None = None,
        user: Any = None,
    ) -> None:
        self.id = session_id
        self.request = request
        self.server_context = server_context or ServerContext()
        self.user = user
        self.destroyed = False
        self._document: Document | None = None

    @property
    def document(self) -> Document | None:
        return self._document

    def __repr__(self) -> str:
        return f"<SessionContext {self.id}>"


class AppError(Exception):
    """The application raised while building a session's document."""

    def __init__(self, app_name: str, error: BaseException) -> None:
        self.error = error
        self.traceback = "".join(traceback.format_exception(error))
        super().__init__(f"{app_name} failed: {type(error).__name__}: {error}")


class Session:
    """One document served to one client, with the comms its widgets opened.

    Everything the session runs (app code, callbacks, incoming widget messages)
    runs inside its own ``contextvars.Context``, where ``curdoc()`` is its document
    and ``comm.create_comm`` makes comms that belong to it.
    """

    #: Whether widgets made in this session get comms of its own (False in a
    #: kernel, where the kernel's comms already reach the frontend).
    routes_comms = True

    def __init__(
        self,
        context: SessionContext,
        application: Application,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        dev: bool = False,
    ) -> None:
        self.context = context
        self.id = context.id
        self.application = application
        self.dev = dev
        self.loop = loop or asyncio.get_running_loop()
        self.document = Document()
        self.comm_manager = comms.SessionCommManager()
        self.outbox = Outbox(self.loop)
        # send -> what to call if the session ends while that connection is open
        self._connections: dict[Callable[[str | bytes], None], Callable[[bool], None] | None] = {}
        self.last_seen = time.monotonic()
        self.destroyed = False
        #: The id of the client message being handled, named as `parent` in replies.
        self.handling: str | None = None

        context._document = self.document
        self._context = contextvars.copy_context()
        self._context.run(comms._current_session.set, self)
        self._context.run(_current_document.set, self.document)
        self.document._owner_check = self._owner_problem
        self.document._error_listeners.append(self._report_error)
        self.document._monitor = CallbackMonitor(
            self.loop,
            context.server_context.url_path,
            self.id,
            lambda busy: self.outbox.put({"type": "busy", "busy": busy}),
        ).started
        self.document._attach(self.loop, self._context, context)

    # Life

    async def start(self) -> None:
        """Run the application to fill the document; raise AppError if it fails."""
        comms.install()
        output.install()
        await self.application.session_opened(self)
        try:
            await self.run(self.application.initialize_document, self.document)
        except (Exception, SystemExit) as error:  # an app's sys.exit() must not stop the server
            await self.destroy()
            raise AppError(self.application.name, error) from error
        if self.document.title != DEFAULT_TITLE:
            self.application.last_title = self.document.title
        # The client shows the document once it has its first `doc` message; from
        # now on every change of roots or title sends another.
        self._document_changed(self.document)
        self.document._change_listeners.append(self._document_changed)

    async def run(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` (plain or coroutine function) inside this session."""

        async def call() -> Any:
            result = func(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return await self.loop.create_task(call(), context=self._context)

    async def destroy(self, *, app_changed: bool = False) -> None:
        """Stop callbacks, run on_session_destroyed, close every widget; idempotent.

        ``app_changed`` tells connected pages to load again (development mode).
        """
        if self.destroyed:
            return
        self.destroyed = True
        self.context.destroyed = True
        for callback in self.document._destroy():
            try:
                await self.run(callback, self.context)
            except Exception:
                log.exception("Error in on_session_destroyed callback %r", callback)
        # Tell open pages first, so they keep showing the last state and say the
        # session ended, rather than watching every widget close.
        connections, self._connections = self._connections, {}
        for on_end in connections.values():
            if on_end is not None:
                on_end(app_changed)
        self.outbox.close()
        await self.run(self._close_comms)
        self.document._roots.clear()
        # The session refers to itself through its context (the current-session
        # variable) and the document's hooks: break those cycles so its memory
        # returns without waiting for a full garbage collection.
        document = self.document
        document._change_listeners.clear()
        document._error_listeners.clear()
        document._owner_check = None
        document._monitor = None
        document._context = None
        self._context = contextvars.Context()
        await self.application.session_closed(self)
        log.debug("Session %s destroyed", self.id)

    def _close_comms(self) -> None:
        from ipywidgets.widgets.widget import _instances

        for comm_id, comm in list(self.comm_manager.comms.items()):
            widget = _instances.get(comm_id)
            try:
                if widget is not None:
                    widget.close()
                else:
                    comm.close()
            except Exception:
                log.exception("Error closing comm %s of session %s", comm_id, self.id)
        self.comm_manager.comms.clear()

    # Connections

    @property
    def connections(self) -> int:
        """How many connections are attached now."""
        return len(self._connections)

    def attach(
        self,
        send: Callable[[str | bytes], None],
        last_seq: int = 0,
        on_end: Callable[[bool], None] | None = None,
    ) -> None:
        """Start sending to a new connection, from ``last_seq`` on.

        A new page (``last_seq`` 0) of a session whose first messages are already
        forgotten gets a snapshot instead: every widget's current state, then the
        stream from the session's current position. ``on_end(app_changed)`` is
        called if the session is destroyed while attached.
        """
        from . import __version__

        self._connections[send] = on_end
        self.last_seen = time.monotonic()
        self.outbox.flush()
        snapshot = last_seq == 0 and not self.outbox.can_resume(0)
        start = self.outbox.last_seq if snapshot else last_seq
        hello = {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "session_id": self.id,
            "server": f"jupyter-bridge {__version__}",
            "last_seq": start,
        }
        send(self.outbox.unnumbered(hello))
        if snapshot:
            for content, buffers in self._snapshot():
                send(self.outbox.unnumbered(content, buffers))
        self.outbox.attach(send, start)

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
            for ref in _model_refs(widgets[comm_id].get_state()):
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
        messages.append((_doc_message(self.document), []))
        return messages

    def detach(self, send: Callable[[str | bytes], None]) -> None:
        self._connections.pop(send, None)
        self.last_seen = time.monotonic()
        self.outbox.detach(send)

    async def receive(self, message: Message, sender: Callable[[str | bytes], None] | None = None) -> None:
        """Handle one validated client message (``sender``: the connection it came from)."""
        content = message.content
        kind = content["type"]
        self.last_seen = time.monotonic()
        if kind == "ack":
            self.outbox.ack(content["seq"], sender)
            return
        parent = content["id"]
        if kind == "ping":
            self.reply({"type": "pong", "parent": parent}, sender)
            return
        if kind in ("doc", "push_doc"):
            await self.document.run_locked(
                lambda: self._context.run(self._receive_document, message, sender), label=kind
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
        await self.document.run_locked(lambda: self._deliver(comm, handle, kernel_msg), label=kind)
        self.reply({"type": "idle", "parent": parent}, sender)

    def reply(self, content: dict[str, Any], sender: Callable[[str | bytes], None] | None) -> None:
        """Answer the connection a message came from (idle, pong, a refusal).

        Answers go to that connection only, after everything the message caused,
        and outside the stream (seq 0): other pages of the session never see them.
        """
        if sender is None:
            self.outbox.put(content)
            return
        self.outbox.flush()
        sender(self.outbox.unnumbered(content))

    def _receive_document(self, message: Message, sender: Callable[[str | bytes], None] | None = None) -> None:
        """A client sets the title or roots (``doc``), or fills a push target (``push_doc``)."""
        content = message.content
        parent = content["id"]
        if content["type"] == "push_doc":
            # Only an app that asks for pushes (jupyter_bridge.client.PushTarget) gets them.
            receive_push = getattr(self.application, "receive_push", None)
            if receive_push is None:
                self.refuse(
                    f"{self.application.name} does not accept pushed documents; push to an app "
                    "served as jupyter_bridge.client.PushTarget()",
                    parent,
                    sender,
                )
                return
            receive_push(self, message, sender)
            return
        from ipywidgets.widgets.widget import _instances

        roots = []
        for model_id in content.get("roots", []):
            widget = _instances.get(model_id) if self.comm_manager.get_comm(model_id) else None
            if widget is None:
                self.refuse(f"there is no widget {model_id!r} in this session to show as a root", parent, sender)
                return
            roots.append(widget)
        document = self.document
        if "title" in content:
            document.title = content["title"]
        if "roots" in content and roots != document.roots:
            names = {id(widget): name for name, widget in document.named_roots.items()}
            document.clear()
            for widget in roots:
                document.add_root(widget, name=names.get(id(widget)))

    def _deliver(self, comm: Any, handle: Callable[[dict[str, Any]], None], msg: dict[str, Any]) -> None:
        # ipywidgets catches and logs exceptions raised by observers of a browser
        # change; catch those log records too, so the page can show the error.
        from ipywidgets.widgets.widget import _instances

        widget = _instances.get(comm.comm_id)
        logger = getattr(widget, "log", None)
        logger = getattr(logger, "logger", logger)
        capture = _ErrorCapture()
        if isinstance(logger, logging.Logger):
            logger.addHandler(capture)
        self.handling = msg["header"]["msg_id"]
        try:
            self._context.run(handle, msg)
        finally:
            self.handling = None
            if isinstance(logger, logging.Logger):
                logger.removeHandler(capture)
        for record in capture.records:
            assert record.exc_info is not None and record.exc_info[1] is not None
            self._report_error(record.exc_info[1], f"a callback of {type(widget).__name__}")

    def refuse(
        self, reason: str, parent: str | None = None, sender: Callable[[str | bytes], None] | None = None
    ) -> None:
        """Answer a bad client frame with an error message, and log it."""
        log.warning("Session %s: refused a frame: %s", self.id, reason)
        content: dict[str, Any] = {"type": "error", "where": "frame", "message": reason}
        if parent is not None:
            content["parent"] = parent
        self.reply(content, sender)

    # Document events

    def _document_changed(self, document: Document) -> None:
        self.outbox.put(_doc_message(document))

    def _report_error(self, error: BaseException, where: str) -> None:
        content: dict[str, Any] = {
            "type": "error",
            "where": "app",
            "message": f"{where} raised {type(error).__name__}: {error}",
        }
        if self.dev:
            content["detail"] = "".join(traceback.format_exception(error))
        self.outbox.put(content)

    def _owner_problem(self, widget: Any) -> str | None:
        comm = getattr(widget, "comm", None)
        if comm is None:
            return f"{type(widget).__name__} has been closed; create a new widget to display"
        if getattr(comm, "session", None) is not self:
            return (
                f"{type(widget).__name__} was not created in this session; create the "
                "widgets a document shows inside the app code (each session gets its own)"
            )
        return None

    def __repr__(self) -> str:
        return f"<Session {self.id} {self.application.name}>"


def _doc_message(document: Document) -> dict[str, Any]:
    return {
        "type": "doc",
        "title": document.title,
        "roots": [w.model_id for w in document.roots],
        "names": {w.model_id: name for name, w in document.named_roots.items()},
    }


def _model_refs(value: Any) -> list[str]:
    """Model ids a widget state refers to ("IPY_MODEL_<id>" strings, at any depth)."""
    if isinstance(value, str):
        return [value[10:]] if value.startswith("IPY_MODEL_") else []
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _model_refs(item)]
    if isinstance(value, (list, tuple)):
        return [ref for item in value for ref in _model_refs(item)]
    return []


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
