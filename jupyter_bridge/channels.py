"""Channels: how a session's widgets reach their views, and how the views answer.

A :class:`~jupyter_bridge.session.Session` runs an app the same way wherever it
is shown; its channel is what differs. The browser channel here gives the
session comms of its own, numbers every frame in an outbox and speaks
docs/protocol.md to any number of connected pages. The kernel channel
(``jupyter_bridge.jupyter.kernel``) leaves the widgets on the kernel's own comms
and shows the document as a cell output.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

from . import comms, widget_states
from .logs import short_id, shown
from .outbox import Outbox
from .protocol import MODEL_REF_PREFIX, PROTOCOL_VERSION, Message, decode_server_frame, model_refs
from .settings import BridgeSettings
from .version import __version__

if TYPE_CHECKING:
    from comm.base_comm import BaseComm
    from ipywidgets import Widget

    from .document import Document
    from .session import Session

__all__ = ["BrowserChannel", "Channel", "EndReason", "PageLimits", "Send"]

log = logging.getLogger(__name__)

#: One connection's way to send a frame (a text or binary WebSocket message).
Send = Callable[[str | bytes], None]
#: Why a session ends while pages show it: the session is over ("ended"), the
#: app's files changed (the page loads again), or the server is stopping (the
#: page waits for a server and takes a fresh session there, with its changes).
EndReason = Literal["ended", "app changed", "server stopping"]

def _default(name: str) -> Any:
    return BridgeSettings.class_traits()[name].default_value


@dataclass(frozen=True)
class PageLimits:
    """What the pages of one session may make it do or hold; 0 is no limit.

    Each field is the server setting of the same name (``--max-document-roots``
    and so on), and a refusal names that flag.
    """

    #: Roots a ``doc`` message may name.
    max_document_roots: int = _default("max_document_roots")
    #: Characters of a title a ``doc`` message may set.
    max_title_length: int = _default("max_title_length")
    #: Bytes of widget state (values, buffers, opened widgets) pages may make the session hold.
    max_session_state: int = _default("max_session_state")
    #: Widgets the session may hold before its pages may open no more of their own.
    max_session_widgets: int = _default("max_session_widgets")

    @classmethod
    def from_settings(cls, settings: BridgeSettings) -> PageLimits:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


class Channel:
    """What a session asks of the place its document is shown.

    A channel serves one session: :meth:`bind` is called once, by the session's
    constructor, before any app code runs.
    """

    #: Whether widgets made in the session get comms from :meth:`create_comm`
    #: (False: they keep the process's own, e.g. the kernel's, and Output widgets
    #: are left to ipywidgets).
    routes_comms = False
    #: Development mode (``--dev``): the viewer may see the app's tracebacks.
    dev = False

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

    def end(self, reason: EndReason) -> None:
        """The session is ending, for ``reason``: tell the viewers, before the widgets close."""

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
        page_widgets: Iterable[str] = (),
        limits: PageLimits | None = None,
    ) -> None:
        super().__init__()
        self.dev = dev
        self.limits = limits or PageLimits()
        # comm id -> state key -> bytes the pages sent for it (see _hold)
        self._held: dict[str, dict[str, int]] = {}
        #: Bytes of widget state the pages have made this session hold (an estimate).
        self.held_bytes = 0
        #: What takes a ``push_doc`` when the app takes none itself
        #: (``Application.receive_push``): the server's ``--allow-push`` handler, or None.
        self.receive_push = receive_push
        #: Widget models a page may open beyond the libraries' own (``--page-widgets``).
        self.page_widgets = tuple(page_widgets)
        self.comm_manager = comms.SessionCommManager()
        self.outbox = Outbox(loop)
        self.outbox.on_unsendable = self._unsendable
        # send -> what to call if the session ends while that connection is open
        self._connections: dict[Send, Callable[[EndReason], None] | None] = {}
        #: The connections that speak for the widgets' Python side: the client's that
        #: pushed them (its socket URL says ``client=python``).
        self._python_side: set[Send] = set()
        #: Whether the session's widgets came from a client's push. Their Python side
        #: (a Button's on_click, a library's answers) is then in that client's
        #: process: custom messages go between it and the pages, as they would
        #: between a kernel and its views, and the server's copies take no part.
        self.pushed = False
        #: When a connection last came, went or sent something (the reaper reads it).
        self.last_seen = time.monotonic()
        #: The id of the client message being handled, named as `parent` in replies.
        self.handling: str | None = None
        #: Whether a page may still come for this session while none is connected:
        #: true until its first connection (the page is still loading its scripts),
        #: and after a connection that dropped rather than closed. The reaper then
        #: keeps a dropped session for as long as the page's token could recreate
        #: it, and one that never connected for --unconnected-session-lifetime.
        self.page_may_return = True
        #: Names this copy of the session's stream: another process that recreates
        #: the session from its token numbers another stream, which a page showing
        #: this one must not take for a continuation of it.
        self.stream = secrets.token_urlsafe(9)
        #: Whether a page has ever connected (one that never did lives shorter: see the reaper).
        self.ever_connected = False

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
        on_end: Callable[[EndReason], None] | None = None,
        *,
        recreated: bool = False,
        python: bool = False,
    ) -> None:
        """Start sending to a new connection, from ``last_seq`` on.

        A new page (``last_seq`` 0) of a session whose first messages are already
        forgotten gets a snapshot instead: every widget's current state, then the
        stream from the session's current position. ``on_end(reason)`` is
        called if the session ends while attached. ``recreated``: the page
        showed another copy of this session, now gone; its ``hello`` says so, and
        the page drops what it shows before this stream (from ``last_seq`` 0).
        ``python``: the connection speaks for the widgets' Python side (see ``pushed``).
        """
        session = self._session()
        self._connections[send] = on_end
        if python:
            self._python_side.add(send)
        self.ever_connected = True
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
        self._python_side.discard(send)
        self.last_seen = time.monotonic()
        self.outbox.detach(send)
        if not self._connections:
            self.page_may_return = not page_left

    def page_state(self) -> tuple[int, list[tuple[dict[str, Any], list[Any]]]]:
        """What a page can show before its socket connects: the stream's position and the state at it.

        Every widget's ``comm_open``, the widgets' custom messages sent so far
        (which no state holds), and the ``doc``, for the page's HTML. The page then resumes the stream after
        that position (``last_seq``): no update is missed or applied twice.
        """
        self.outbox.flush()  # what is queued is numbered now, so the state is that of last_seq
        messages = self._snapshot()
        # The custom messages sent so far (a canvas's drawings) are in no state:
        # after the models, before the doc that shows them.
        customs = []
        for frame in self.outbox.custom_frames():
            message = decode_server_frame(frame)
            message.content.pop("seq", None)
            customs.append((message.content, message.buffers))
        messages[-1:-1] = customs
        return self.outbox.last_seq, messages

    def _session(self) -> Session[Any]:
        assert self.session is not None, "the channel is not bound to a session"
        return self.session

    def _snapshot(self) -> list[tuple[dict[str, Any], list[Any]]]:
        """comm_open messages of every widget's current state, models before their users."""
        from ipywidgets.widgets.widget import _instances

        widgets = {cid: _instances[cid] for cid in self.comm_manager.comms if cid in _instances}
        messages = []
        for opened in widget_states.states_in_order(widgets.values(), widgets.get):
            comm = opened.widget.comm
            messages.append(({
                "type": "comm_open",
                "comm_id": comm.comm_id,
                "target_name": comm.target_name,
                "target_module": comm.target_module,
                "data": opened.data,
                "metadata": widget_states.open_metadata(),
            }, opened.buffers))  # fmt: skip
        messages.append((_doc_message(self._session().document), []))
        return messages

    # What pages send

    def receive(self, message: Message, sender: Send | None = None) -> Awaitable[None] | None:
        """Handle one validated client message (``sender``: the connection it came from).

        An ``ack`` or a ``ping`` needs no document lock: it is answered now and
        None is returned. For any other message, the coroutine that handles it is
        returned, for the connection to await before it reads its next message
        (the task that costs is spared for the most frequent messages a page sends).
        """
        content = message.content
        kind = content["type"]
        self.last_seen = time.monotonic()
        if kind == "ack":
            self.outbox.ack(content["seq"], sender)
            return None
        if kind == "ping":
            self.reply({"type": "pong", "parent": content["id"]}, sender)
            return None
        return self._receive(message, sender)

    async def _receive(self, message: Message, sender: Send | None) -> None:
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
        if kind == "restore":
            self.reply(await self._restore(message), sender)
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
        if kind == "comm_close":
            self._release(comm.comm_id)
        else:
            foreign = self.foreign_ref(content["data"].get("state"))
            if foreign is not None:
                self.refuse(_foreign_reason(foreign), parent, sender)
                return
            if not self._hold(comm.comm_id, content["data"], message.buffers, parent, sender):
                return
        kernel_msg = {
            "header": {"msg_id": parent, "msg_type": kind},
            "parent_header": {},
            "metadata": content.get("metadata", {}),
            "content": {"comm_id": comm.comm_id, "data": content.get("data", {})},
            "buffers": message.buffers,
        }
        if self.pushed and kind == "comm_msg" and content.get("data", {}).get("method") == "custom":
            self._pass_on_custom(comm, content, message.buffers, sender)
            self.reply({"type": "idle", "parent": parent}, sender)
            return
        handle = comm.handle_msg if kind == "comm_msg" else comm.handle_close
        await session.document.run_locked(lambda: self._deliver(comm, handle, kernel_msg), label=kind)
        self.reply({"type": "idle", "parent": parent}, sender)

    def _pass_on_custom(
        self, comm: BaseComm, content: dict[str, Any], buffers: list[Any], sender: Send | None
    ) -> None:
        """A custom message in a pushed session: from the pages to the Python side, or back.

        A page's (a click) goes to the pushing client's connections, whose widgets
        have the handlers; while none is connected, it reaches nobody, as with a
        kernel that has gone. The Python side's goes to every connection (the
        pages; the client that sent it knows it by ``parent`` and skips it).
        """
        data, metadata, parent = content["data"], content.get("metadata", {}), content["id"]
        if sender is not None and sender in self._python_side:
            self.put_comm_message(comm, "comm_msg", data, metadata, buffers, answering=False, parent=parent)
            return
        passed = {"type": "comm_msg", "comm_id": comm.comm_id, "data": data, "metadata": metadata, "parent": parent}
        self.outbox.flush()  # after what is already queued
        frame = self.outbox.unnumbered(passed, buffers)
        for send in list(self._python_side):
            send(frame)

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

    def foreign_ref(self, value: Any) -> str | None:
        """The first widget ``value`` names that lives but is not this session's, or None.

        ipywidgets turns an ``IPY_MODEL_<id>`` in a state into the widget of that
        id from its process-wide registry: a page's value must never reach another
        session's widget that way. Ids of no widget stay harmless text.
        """
        from ipywidgets.widgets.widget import _instances

        for ref in model_refs(value):
            if ref in _instances and self.comm_manager.get_comm(ref) is None:
                return ref
        return None

    # What the pages make the session hold

    def _hold(
        self, comm_id: str, data: dict[str, Any], buffers: list[Any], parent: str | None, sender: Send | None,
        *, opening: bool = False,
    ) -> bool:
        """Count the state a page sends to a widget; refuse it (False) beyond --max-session-state.

        A value replaces the one the page sent before for the same key, so what
        is counted is what the session holds, not what it was ever sent.
        """
        from ipywidgets.widgets.widget import _instances

        state = data.get("state")
        if not isinstance(state, dict) or (not opening and data.get("method") != "update"):
            return True  # custom messages and state requests leave nothing behind
        paths = data.get("buffer_paths", [])
        if opening:
            # Its class is not known yet: the whole state, as one value.
            sizes = {"": _held_size(state) + sum(len(buffer) for buffer in buffers)}
        else:
            # A widget keeps only the keys it syncs: count those, not every key a page names.
            widget = _instances.get(comm_id)
            synced = set(getattr(widget, "keys", None) or state)
            sizes = {key: _held_size(state[key]) for key in synced if key in state}
            for path, buffer in zip(paths, buffers):
                if path[0] in synced:
                    sizes[path[0]] = sizes.get(path[0], 0) + len(buffer)
        held = {} if opening else self._held.get(comm_id, {})
        growth = sum(sizes.values()) - sum(held.get(key, 0) for key in sizes)
        limit = self.limits.max_session_state
        if limit and growth > 0 and self.held_bytes + growth > limit:
            self._forget_closed()
            if self.held_bytes + growth > limit:
                self.refuse(
                    f"the pages of a session may make it hold at most {_mib(limit)} of widget state and this "
                    f"message would bring it to {_mib(self.held_bytes + growth)}; start the server with a "
                    "higher --max-session-state to allow more",
                    parent,
                    sender,
                )
                return False
        self._held[comm_id] = {**held, **sizes}
        self.held_bytes += growth
        return True

    def _release(self, comm_id: str) -> None:
        self.held_bytes -= sum(self._held.pop(comm_id, {}).values())

    def _forget_closed(self) -> None:
        """Stop counting the state of widgets closed since (by the app or the page)."""
        for comm_id in [c for c in self._held if c not in self.comm_manager.comms]:
            self._release(comm_id)

    def _receive_document(self, message: Message, sender: Send | None = None) -> None:
        """A client sets the title or roots (``doc``), or fills a push target (``push_doc``)."""
        session = self._session()
        content = message.content
        parent = content["id"]
        if content["type"] == "push_doc":
            # An app that takes pushes (a PushTarget), or any app of a server
            # started with --allow-push.
            if session.application.receive_push(session, message, sender):
                return
            if self.receive_push is None:
                self.refuse(
                    f"{session.application.name} does not accept pushed documents; start the server "
                    "with --allow-push to let a push replace an app's document, or push to an app "
                    "served as jupyter_bridge.client.PushTarget()",
                    parent,
                    sender,
                )
                return
            self.receive_push(session, message, sender)
            return
        from ipywidgets.widgets.widget import _instances

        limits = self.limits
        title = content.get("title")
        if title is not None and limits.max_title_length and len(title) > limits.max_title_length:
            self.refuse(
                f"a page may set a title of at most {limits.max_title_length} characters and this one has "
                f"{len(title)}; start the server with a higher --max-title-length to allow more",
                parent,
                sender,
            )
            return
        asked = content.get("roots", [])
        if limits.max_document_roots and len(asked) > limits.max_document_roots:
            self.refuse(
                f"a page may show at most {limits.max_document_roots} roots and this doc message names "
                f"{len(asked)}; start the server with a higher --max-document-roots to allow more",
                parent,
                sender,
            )
            return
        roots = []
        for model_id in asked:
            widget = _instances.get(model_id) if self.comm_manager.get_comm(model_id) else None
            if widget is None:
                self.refuse(f"there is no widget {model_id!r} in this session to show as a root", parent, sender)
                return
            roots.append(widget)
        document = session.document
        if title is not None:
            document.title = title
        if "roots" in content:
            # One change for the whole list: one doc message out, whatever its length.
            document.set_roots(roots, document.named_roots)

    def _open_from_page(self, message: Message, sender: Send | None = None) -> None:
        """A page made a widget model of its own (pythreejs makes a light's shadow): make its widget.

        Only of a class the session's app allowed (its own class object) or of an
        installed library that the known libraries' front ends make or the server
        allows (``widget_states.page_widget_class``): never a class that another
        session's app code defined, never from the message. The id must be new to
        the whole process, so a page cannot take over another's widget.
        """
        from ipywidgets.widgets.widget import PROTOCOL_VERSION_MAJOR, _instances, _put_buffers

        content = message.content
        parent, comm_id = content["id"], content["comm_id"]
        if content["target_name"] != "jupyter.widget":
            self.refuse(f"a page may open only widget comms ('jupyter.widget'), not {content['target_name']!r}", parent, sender)
            return
        if comm_id in _instances or comm_id in comms.shared_comms or self.comm_manager.get_comm(comm_id) is not None:
            self.refuse(f"the id {comm_id!r} is taken; a page opens new widgets with new ids", parent, sender)
            return
        widgets = self.limits.max_session_widgets
        if widgets and len(self.comm_manager.comms) >= widgets:
            self.refuse(
                f"a page may open widgets only while its session holds fewer than {widgets}; start the "
                "server with a higher --max-session-widgets to allow more",
                parent,
                sender,
            )
            return
        data = content["data"]
        foreign = self.foreign_ref(data.get("state"))
        if foreign is not None:
            self.refuse(_foreign_reason(foreign), parent, sender)
            return
        if not self._hold(comm_id, data, message.buffers, parent, sender, opening=True):
            return
        state = data["state"]
        try:
            widget_class = widget_states.page_widget_class(
                state, self._session().document.page_widget_classes, self.page_widgets
            )
        except widget_states.PageWidgetRefused as refusal:
            self._release(comm_id)
            self.refuse(str(refusal), parent, sender)
            return
        comm = comms.SessionComm(comm_id=comm_id, target_name="jupyter.widget", primary=False, channel=self)
        self.comm_manager.register_comm(comm)
        try:
            # What a kernel's Widget.handle_comm_opened does, but for the page's
            # own values: what the constructor sets before set_state applies
            # them (pythreejs sets a shadow's camera to "uninitialized") is not
            # sent back over them; the echo of set_state confirms them.
            version = str(content.get("metadata", {}).get("version", ""))
            if version.split(".")[0] != PROTOCOL_VERSION_MAJOR:
                raise ValueError(f"the page speaks widget protocol {version!r}, not {PROTOCOL_VERSION_MAJOR}.x")
            with comm.withholding(state):
                widget = widget_class(comm=comm)
            _put_buffers(state, data.get("buffer_paths", []), message.buffers)
            widget.set_state(state)
        except Exception as error:
            self.comm_manager.comms.pop(comm_id, None)
            self._release(comm_id)
            widget = _instances.pop(comm_id, None)
            if widget is not None:
                widget.comm = None
            named = f"{state.get('_model_module', '?')} {state.get('_model_name', '?')}"
            self.refuse(
                f"could not make the {named} the page opened: {type(error).__name__}: {error}", parent, sender
            )

    # A page's changes, brought back into a fresh session (docs/protocol.md, "Restoring")

    async def _restore(self, message: Message) -> dict[str, Any]:
        """Apply, in order, the changes a page made in the session it showed before this one.

        Each change names its widget by a place: a root's index, then the keys
        that lead through the states of the widgets inside it to that widget's
        reference. It is applied as the page's own ``update`` would be, so the
        app's callbacks run; a change whose place no longer leads to a widget of
        the same model (the app changed) is skipped, as is one into a widget
        marked ``do_not_restore`` or into a widget every session shares.
        """
        session = self._session()
        document = session.document
        content = message.content
        parent = content["id"]
        changes = content["changes"]
        answer: dict[str, Any] = {"type": "restored", "parent": parent, "applied": 0, "skipped": 0, "withheld": 0}
        if not document.restore_user_changes:
            answer["withheld"] = len(changes)
            answer["refused"] = f"{session.application.name} starts every session afresh (restore_user_changes is False)"
            return answer
        buffers = list(message.buffers)
        for change in changes:
            count = len(change.get("buffer_paths", []))
            own, buffers = buffers[:count], buffers[count:]
            outcome = await document.run_locked(
                lambda change=change, own=own: self._restore_change(change, own, parent),
                label="restore",
            )
            answer[outcome or "skipped"] += 1
            # Callbacks the change scheduled for the next tick run before the next change.
            await asyncio.sleep(0)
        log.info(
            "Session %s: restored %d changes of its page (%d no longer fit the app, %d not to be restored)",
            session.id, answer["applied"], answer["skipped"], answer["withheld"],
        )
        return answer

    def _restore_change(self, change: dict[str, Any], buffers: list[Any], parent: str) -> str:
        """Apply one restored change; 'applied', 'skipped' (no such place) or 'withheld'."""
        try:
            found = self._widget_at(change["place"])
        except Exception:
            log.exception("Session %s: could not follow the place %r", self._session().id, change["place"])
            return "skipped"
        if found is None or found == "withheld":
            return found or "skipped"
        module, name = change["model"]
        if (getattr(found, "_model_module", None), getattr(found, "_model_name", None)) != (module, name):
            return "skipped"
        if self.foreign_ref(change["state"]) is not None:
            return "skipped"  # it names a widget of another session: never this page's change
        comm = found.comm
        kernel_msg = {
            "header": {"msg_id": parent, "msg_type": "comm_msg"},
            "parent_header": {},
            "metadata": {},
            "content": {
                "comm_id": comm.comm_id,
                "data": {"method": "update", "state": change["state"], "buffer_paths": change.get("buffer_paths", [])},
            },
            "buffers": buffers,
        }
        self._deliver(comm, comm.handle_msg, kernel_msg)
        return "applied"

    def _widget_at(self, place: list[Any]) -> Any:
        """The session's widget at ``place`` (see :meth:`_restore`), "withheld", or None."""
        from ipywidgets.widgets.widget import _instances

        document = self._session().document
        roots = document.roots
        if not 0 <= place[0] < len(roots):
            return None
        marked = {id(widget) for widget in document.not_restored}
        widget = roots[place[0]]
        steps = place[1:]
        at = 0
        while True:
            if id(widget) in marked:
                return "withheld"
            if at == len(steps):
                break
            key = steps[at]
            if not isinstance(key, str) or key not in widget.keys:
                return None
            value: Any = widget.get_state(key)[key]
            at += 1
            while not isinstance(value, str) and at < len(steps):
                step = steps[at]
                if isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
                    value = value[step]
                elif isinstance(value, dict) and isinstance(step, str) and step in value:
                    value = value[step]
                else:
                    return None
                at += 1
            if not isinstance(value, str) or not value.startswith(MODEL_REF_PREFIX):
                return None
            model_id = value[len(MODEL_REF_PREFIX) :]
            comm = self.comm_manager.get_comm(model_id)
            # Only this session's own widgets: never one every session shares.
            if comm is None or isinstance(comm, comms.SharedComm) or model_id not in _instances:
                return None
            widget = _instances[model_id]
        comm = getattr(widget, "comm", None)
        if comm is None or isinstance(comm, comms.SharedComm) or self.comm_manager.get_comm(comm.comm_id) is not comm:
            return None
        return widget

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
            if _refused_value(record.exc_info[1]):
                # The widget's own front end sent a value its Python side does not
                # accept (pythreejs 2.4 sends a rotation's order lower-cased): neither
                # the app nor its user can act on it, so, as in JupyterLab and Voila,
                # the page is not told; the server's log says what was refused.
                log.warning(
                    "Session %s of %s: %s %s refused a value its page sent: %s",
                    short_id(session.id),
                    session.context.server_context.url_path,
                    type(widget).__name__,
                    comm.comm_id,
                    shown(str(record.exc_info[1]), 500),
                )
                continue
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
        # Made when the tick's messages go: a change costs the same for 1 root or 1,000.
        self.outbox.put_document(lambda: _doc_message(document))

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
        if not isinstance(comm, comms.SessionComm) or comm.channel is not self:
            return (
                f"{type(widget).__name__} was not created in this session; create the "
                "widgets a document shows inside the app code (each session gets its own)"
            )
        return None

    def busy(self, busy: bool) -> None:
        self.outbox.put({"type": "busy", "busy": busy})

    def end(self, reason: EndReason) -> None:
        # Open pages first, so they keep showing the last state and say the
        # session ended, rather than watching every widget close.
        connections, self._connections = self._connections, {}
        self._python_side.clear()
        for on_end in connections.values():
            if on_end is not None:
                on_end(reason)
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
                    widget_states.close(widget)
                else:
                    comm.close()
            except Exception:
                log.exception("Error closing comm %s of session %s", shown(comm_id), short_id(self._session().id))
        self.comm_manager.comms.clear()
        self._held.clear()
        self.held_bytes = 0


def _held_size(value: Any) -> int:
    """About the bytes a JSON value takes once parsed: its text, and more per object and list."""
    if isinstance(value, str):
        return len(value) + 50
    if value is None or isinstance(value, (bool, int, float)):
        return 32
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (RecursionError, ValueError, TypeError):
        # Nested nearly as deep as a message may be: its outer level, at least
        # (the message's size bounds the rest).
        return sys.getsizeof(value)
    return len(text) + 64 * (text.count("{") + text.count("["))


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _doc_message(document: Document) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "doc",
        "title": document.title,
        "roots": [w.model_id for w in document.roots],
        "names": {w.model_id: name for name, w in document.named_roots.items()},
    }
    if not document.restore_user_changes:
        message["restore"] = False
    not_restored = [w.model_id for w in document.not_restored if getattr(w, "comm", None) is not None]
    if not_restored:
        message["no_restore"] = not_restored
    return message


def _refused_value(error: BaseException) -> bool:
    """Whether ``error`` is a trait refusing a page's value, rather than raised by an app's observer."""
    from traitlets import TraitError

    if not isinstance(error, TraitError):
        return False
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name == "_notify_observers":
            return False  # raised (or re-raised) while an observer ran: the app's callback
        frame = frame.tb_next
    return True


class _ErrorCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.records.append(record)


def _foreign_reason(model_id: str) -> str:
    return (
        f"the message refers to widget {shown(model_id)}, which is not in this session; "
        "a page can only refer to its own session's widgets"
    )
