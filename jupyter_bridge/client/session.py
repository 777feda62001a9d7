"""A Python client of one server session: live mirror widgets over the session's WebSocket.

:func:`pull_session` connects to a session of an app (a new one, or an existing
one by id); :func:`~jupyter_bridge.client.push_session` publishes a document
built in this process as a new session. Either gives a :class:`ClientSession`, whose ``document`` holds live ipywidgets objects: reading a
trait gives the server's value, setting one sends it to the server as a browser
would, and the server's changes update the widgets (and fire their observers).

Threads: the session's messages are handled on the client's own thread, so
observers of mirror widgets run there. Setting traits from any thread is fine.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
import uuid
import webbrowser
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from ipywidgets import Widget
from ipywidgets.widgets.widget import _instances, _put_buffers
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError

from ..protocol import (
    CLOSE_APP_FAILED,
    CLOSE_BAD_TOKEN,
    CLOSE_NORMAL,
    CLOSE_SESSION_GONE,
    LAST_SEQ_ARGUMENT,
    NO_SUCH_APP,
    PROTOCOL_VERSION,
    SESSION_ID_ARGUMENT,
    Message,
    ProtocolError,
    decode_server_frame,
    encode,
    is_refusal,
    rename_model_refs,
)
from ..session import Request
from ..tokens import make_token
from . import widgets as mirrors
from .connection import (
    client_loop,
    fetch_config,
    open_socket,
    query_string,
    split_app_url,
    ws_url,
)
from .document import ClientDocument
from .errors import AppFailedError, AppNotFoundError, ClientError, OriginRefusedError, SessionClosedError

__all__ = ["ClientSession", "pull_session"]

log = logging.getLogger(__name__)

#: How long (s) to wait between reconnection attempts after a dropped connection.
RECONNECT_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)


def pull_session(
    url: str,
    session_id: str | None = None,
    arguments: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    origin: str | None = None,
    secret_key: str | bytes | None = None,
    timeout: float = 10.0,
) -> ClientSession:
    """Connect to a session of the app at ``url`` (``http://localhost:5006/sliders``).

    Without ``session_id`` the server makes a new session, as for a page view;
    ``arguments`` are its query arguments (``{"N": 10}`` → ``?N=10``). With
    ``session_id``, the client attaches to that live session (a server that does not
    hold it creates it under that id, with ``arguments``); on a server with signed
    session ids the token is signed with ``secret_key`` (default:
    ``JUPYTER_BRIDGE_SECRET_KEY``).

    ``headers`` go with the page request and the socket handshake (a login cookie
    or ``Authorization``). ``origin`` sends an ``Origin`` header, as a page of that
    origin would; by default none is sent, like any non-browser client.
    Returns once the document has arrived. Raises a :class:`ClientError` subclass.
    """
    loop = client_loop()
    return loop.run(
        _pull(url, session_id, arguments, dict(headers or {}), origin, secret_key, timeout),
        timeout,
        f"pull a session from {url}",
    )


async def _pull(
    url: str,
    session_id: str | None,
    arguments: Mapping[str, Any] | None,
    headers: dict[str, str],
    origin: str | None,
    secret_key: str | bytes | None,
    timeout: float,
) -> ClientSession:
    base, path = split_app_url(url)
    if session_id is None:
        query = query_string(arguments)
        page_url, config = await fetch_config(
            base + path + ("?" + query if query else ""), headers, timeout
        )
        app_url = page_url.split("?")[0].rstrip("/") or base
        socket_url = ws_url(page_url, config["wsUrl"])
        token = config["token"]
        session_id = config.get("sessionId")
    else:
        if not isinstance(session_id, str) or not session_id:
            raise ClientError("session_id must be a non-empty string (a session's id)")
        key = secret_key if secret_key is not None else os.environ.get("JUPYTER_BRIDGE_SECRET_KEY") or None
        request = Request(arguments=_request_arguments(arguments), headers=dict(headers), path=path)
        token = make_token(session_id, request, secret_key=key.encode("utf-8") if isinstance(key, str) else key)
        app_url = base + ("" if path == "/" else path)
        socket_url = ws_url(base, ("" if path == "/" else path) + "/ws")
    session = ClientSession(
        app_url=app_url,
        socket_url=socket_url,
        token=token,
        session_id=session_id,
        headers=headers,
        origin=origin,
        timeout=timeout,
    )
    await session._connect()
    return session


def _request_arguments(arguments: Mapping[str, Any] | None) -> dict[str, list[bytes]]:
    """{'N': [b'10']} for {'N': 10}, as a page request's query arguments."""
    result: dict[str, list[bytes]] = {}
    for name, value in (arguments or {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        result[name] = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in values]
    return result


def _any_class(cls: type) -> bool:
    # The client mirrors with any widget class its own process has imported.
    return True


class ClientSession:
    """A connection to one server session; ``with`` closes it.

    ``document`` holds the session's widgets, live. ``sync()`` waits until the
    server has handled every change sent so far. Closing the client leaves the
    server's session alive until its unused-session lifetime passes (a page may
    open it meanwhile: ``url``, ``show()``, or ``server_session(session.id, ...)``).
    """

    def __init__(
        self,
        *,
        app_url: str,
        socket_url: str,
        token: str,
        session_id: str | None,
        headers: dict[str, str],
        origin: str | None,
        timeout: float,
    ) -> None:
        self.id = session_id
        self.app_url = app_url
        self.document = ClientDocument(self)
        #: The messages of the errors the server reported (app callbacks that raised,
        #: refused messages), oldest first.
        self.errors: list[str] = []
        self._socket_url = socket_url
        self._token = token
        self._headers = headers
        self._origin = origin
        self._timeout = timeout
        self._loop = client_loop()
        self._ws: WebSocketClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._id_prefix = f"py-{uuid.uuid4().hex[:12]}-"
        self._last_seq = 0
        self._ack_scheduled = False
        self._own: set[str] = set()
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._pings: dict[str, bytes | str] = {}
        self._outgoing: list[str | bytes] = []
        self._held: list[Message] | None = None
        # remote (server) model id -> widget here; local model id -> remote id
        self._mirrors: dict[str, Widget] = {}
        self._remote_ids: dict[str, str] = {}
        self._pushed: set[str] = set()
        self._attached = False  # caught up with the session once
        self._seen_document = False
        self._closing = False
        self._closed = threading.Event()
        self._close_reason: str | None = None
        self._last_error: str | None = None

    # Public

    @property
    def url(self) -> str:
        """The page that shows this session in a browser."""
        return f"{self.app_url}?{SESSION_ID_ARGUMENT}={quote(self.id or '', safe='')}"

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._closed.is_set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def show(self) -> None:
        """Open this session's page in a web browser."""
        webbrowser.open(self.url)

    def sync(self, timeout: float = 10.0) -> None:
        """Wait until the server has handled every change sent so far, and its answers arrived.

        Raises SessionClosedError if the session has ended.
        """
        self._check_open()
        self._loop.run(self._round_trip(), timeout, "sync with the server")

    def loop_until_closed(self) -> None:
        """Block (handling the session's messages) until the session ends or Ctrl-C."""
        try:
            while not self._closed.wait(0.25):
                pass
        except KeyboardInterrupt:
            self.close()

    def close(self, timeout: float = 5.0) -> None:
        """Send what is pending, then disconnect; the server's session lives on until reaped."""
        if self._closed.is_set():
            return
        if self.connected:
            try:
                self.sync(timeout)
            except ClientError as error:
                log.warning("Closing session %s without a final sync: %s", self.id, error)
        self._loop.run(self._shutdown("closed by the client"), timeout, "close the session")

    def __enter__(self) -> ClientSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "connected" if self.connected else "connecting"
        return f"<ClientSession {self.id} {self.app_url} {state}>"

    # Connecting (on the client loop)

    async def _connect(self) -> None:
        self._ws = await open_socket(self._socket_url, self._token, self._headers, self._origin, self._timeout)
        self._reader = asyncio.ensure_future(self._read())
        try:
            # The pong comes after every message the session had when we attached:
            # then the document is complete (the first `doc` of a stream may be older).
            await asyncio.wait_for(self._round_trip(), self._timeout)
        except TimeoutError:
            await self._shutdown("given up: no document arrived")
            raise ClientError(
                f"the session at {self.app_url} sent no document within {self._timeout:g} s"
            ) from None
        except asyncio.CancelledError:
            await self._shutdown("given up: the client timed out")
            raise
        if not self._seen_document:
            await self._shutdown("given up: no document arrived")
            raise ClientError(f"the session at {self.app_url} sent no document")
        self._attached = True

    async def _read(self) -> None:
        while True:
            ws = self._ws
            if ws is None:
                return
            frame = await ws.read_message()
            if frame is None:
                self._ws = None
                if self._closing:
                    return
                code, reason = ws.close_code, ws.close_reason
                if is_refusal(code) or not self._attached:
                    self._end(self._close_error(code, reason))
                    return
                log.info("Session %s: connection lost (%s); reconnecting", self.id, code)
                if not await self._reconnect():
                    self._end(SessionClosedError(f"the connection to session {self.id} was lost"))
                    return
                continue
            try:
                message = decode_server_frame(frame)
            except ProtocolError as error:
                log.warning("Session %s: ignored a bad frame from the server: %s", self.id, error)
                continue
            try:
                self._apply(message)
            except Exception:
                log.exception("Session %s: error applying a %s message", self.id, message.type)

    def _close_error(self, code: int | None, reason: str | None) -> ClientError:
        message = self._last_error or reason or "the server closed the connection"
        if code == CLOSE_BAD_TOKEN:
            return ClientError(f"the server refused the session token: {reason}")
        if code == CLOSE_APP_FAILED:
            return AppFailedError(f"the app at {self.app_url} failed while building the session: {message}")
        if code == CLOSE_SESSION_GONE and reason == NO_SUCH_APP:
            return AppNotFoundError(f"there is no app at {self.app_url}; check the app's path")
        if code == CLOSE_SESSION_GONE:
            # The server's message speaks to a page ("reload"); say it for a program.
            return SessionClosedError(
                f"session {self.id} has ended on the server ({reason}); pull a new session to go on"
            )
        return SessionClosedError(f"session {self.id} has ended: {message}")

    async def _reconnect(self) -> bool:
        for delay in RECONNECT_DELAYS:
            await asyncio.sleep(delay)
            if self._closing:
                return False
            try:
                ws = await open_socket(
                    f"{self._socket_url}?{LAST_SEQ_ARGUMENT}={self._last_seq}",
                    self._token,
                    self._headers,
                    self._origin,
                    self._timeout,
                )
            except (AppNotFoundError, OriginRefusedError):
                return False
            except ClientError as error:
                log.info("Session %s: reconnecting failed: %s", self.id, error)
                continue
            self._ws = ws
            # Pings answer sync(); one lost with the connection is asked again.
            for frame in [*self._outgoing, *self._pings.values()]:
                self._write(frame)
            self._outgoing.clear()
            return True
        return False

    async def _shutdown(self, reason: str) -> None:
        self._closing = True
        ws = self._ws
        if ws is not None:
            ws.close(CLOSE_NORMAL, "client closed")
        if self._reader is not None and not self._reader.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), 5)
            except TimeoutError:
                self._reader.cancel()
        self._ws = None
        self._end(SessionClosedError(f"session {self.id} was {reason}"))

    def _end(self, error: ClientError) -> None:
        if self._closed.is_set():
            return
        self._close_reason = str(error)
        self._closed.set()
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._waiters.clear()
        self._pings.clear()
        for remote_id, widget in list(self._mirrors.items()):
            comm = widget.comm
            if isinstance(comm, mirrors.ClientComm):
                comm.detach()
            if remote_id not in self._pushed:
                widget.close()  # a mirror: frees it; pushed widgets are the user's
        self._mirrors.clear()
        self._remote_ids.clear()
        if not self._closing:
            log.warning("%s", error)

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise SessionClosedError(self._close_reason or f"session {self.id} is closed")

    # Sending (any thread)

    def _send(self, content: dict[str, Any], buffers: list[Any] | None = None) -> str:
        """Queue a client message; returns its id."""
        self._check_open()
        message_id = self._next_id()
        content = {**content, "id": message_id}
        frame = encode(Message(content, list(buffers or [])))
        self._own.add(message_id)
        self._loop.call_soon(self._write, frame)
        return message_id

    def _next_id(self) -> str:
        # Answers (idle, pong, error) go to every connection of the session, so an
        # id must not collide with another client's: a random prefix per client.
        return f"{self._id_prefix}{next(self._ids)}"

    def _write(self, frame: str | bytes) -> None:
        ws = self._ws
        if ws is None:
            if not self._closed.is_set():
                self._outgoing.append(frame)
            return
        try:
            ws.write_message(frame, binary=isinstance(frame, bytes))
        except WebSocketClosedError:
            self._outgoing.append(frame)

    def _send_widget_message(self, remote_id: str, data: dict[str, Any], buffers: list[Any] | None) -> None:
        if "state" in data:
            data = {**data, "state": rename_model_refs(data["state"], self._remote_id_of_ref)}
        if self._closed.is_set():
            return
        self._send({"type": "comm_msg", "comm_id": remote_id, "data": data}, buffers)

    def _remote_id_of_ref(self, local_id: str) -> str:
        remote = self._remote_ids.get(local_id)
        if remote is None:
            widget = _instances.get(local_id)
            name = type(widget).__name__ if widget is not None else "a widget"
            raise ClientError(
                f"{name} {local_id} is not a widget of session {self.id}; a client can only "
                "refer to the session's own widgets (create new ones in the app's code)"
            )
        return remote

    def _remote_id(self, widget: Widget) -> str:
        if not isinstance(widget, Widget) or widget.comm is None:
            raise ClientError(f"{widget!r} is not an open widget of session {self.id}")
        return self._remote_id_of_ref(widget.model_id)

    def _send_document(self, **fields: Any) -> None:
        self._send({"type": "doc", **fields})

    async def _round_trip(self) -> None:
        message_id = self._next_id()
        frame = encode(Message({"type": "ping", "id": message_id}))
        waiter = self._waiter(message_id)
        self._pings[message_id] = frame
        self._write(frame)
        try:
            await waiter
        finally:
            self._pings.pop(message_id, None)

    def _waiter(self, message_id: str) -> asyncio.Future[dict[str, Any]]:
        self._check_open()
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[message_id] = waiter
        return waiter

    def _schedule_ack(self) -> None:
        if not self._ack_scheduled:
            self._ack_scheduled = True
            self._loop.loop.call_later(0.2, self._send_ack)

    def _send_ack(self) -> None:
        self._ack_scheduled = False
        if self._ws is not None:
            self._write(encode(Message({"type": "ack", "seq": self._last_seq})))

    # Receiving (on the client loop)

    def _apply(self, message: Message) -> None:
        content = message.content
        kind = content["type"]
        seq = content.get("seq", 0)
        if kind == "hello":
            if content.get("protocol") != PROTOCOL_VERSION:
                log.error("Session %s: the server speaks protocol %s, not %s", self.id, content.get("protocol"), PROTOCOL_VERSION)
            self.id = content.get("session_id", self.id)
            last = content.get("last_seq")
            if isinstance(last, int) and last > self._last_seq:
                self._last_seq = last
            return
        if isinstance(seq, int) and seq > 0:
            if seq <= self._last_seq:
                return  # already applied (a resumed stream)
            self._last_seq = seq
            self._schedule_ack()
        if self._held is not None and kind in ("comm_open", "comm_msg", "comm_close", "doc"):
            self._held.append(message)
            return
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(self, content, message.buffers)

    def _on_comm_open(self, content: dict[str, Any], buffers: list[Any]) -> None:
        remote_id = content["comm_id"]
        data = content.get("data") or {}
        if remote_id in self._pushed:
            return  # a widget pushed from here: it already holds this state
        if remote_id in self._mirrors:
            # A snapshot of a widget already mirrored: take its state as an update.
            self._on_comm_msg({"comm_id": remote_id, "data": {**data, "method": "update"}}, buffers)
            return
        if content.get("target_name") != "jupyter.widget":
            log.debug("Session %s: ignored a comm for target %s", self.id, content.get("target_name"))
            return
        raw = data.get("state") or {}
        state = rename_model_refs(raw, self._local_id_of_ref)
        _put_buffers(state, data.get("buffer_paths") or [], buffers)
        widget = self._build(remote_id, raw, state)
        self._mirrors[remote_id] = widget
        self._remote_ids[widget.model_id] = remote_id

    def _build(self, remote_id: str, raw: dict[str, Any], state: dict[str, Any]) -> Widget:
        cls = mirrors.widget_class(raw, search=_any_class)
        if cls is not None:
            local_id = uuid.uuid4().hex
            comm = mirrors.ClientComm(remote_id=remote_id, send=self._send_widget_message, comm_id=local_id)
            try:
                with mirrors.building():
                    return mirrors.instantiate(cls, state, comm=comm)
            except Exception as error:
                _instances.pop(local_id, None)
                log.warning(
                    "Session %s: could not mirror %s (%s: %s); it is an UnknownWidget holding its state",
                    self.id, cls.__name__, type(error).__name__, error,
                )
        comm = mirrors.ClientComm(remote_id=remote_id, send=self._send_widget_message)
        with mirrors.building():
            return mirrors.UnknownWidget(
                comm=comm,
                model_module=str(raw.get("_model_module", "")),
                model_name=str(raw.get("_model_name", "")),
                state=state,
            )

    def _local_id_of_ref(self, remote_id: str) -> str:
        widget = self._mirrors.get(remote_id)
        return widget.model_id if widget is not None and widget.comm is not None else remote_id

    def _on_comm_msg(self, content: dict[str, Any], buffers: list[Any]) -> None:
        widget = self._mirrors.get(content["comm_id"])
        if widget is None or widget.comm is None:
            return
        data = content.get("data") or {}
        method = data.get("method")
        if method == "echo_update":
            if content.get("parent") in self._own:
                return  # our own change, confirmed
            method = "update"  # another page's change
        if method == "update":
            data = {**data, "method": "update", "state": rename_model_refs(data.get("state") or {}, self._local_id_of_ref)}
        msg = {
            "header": {"msg_id": content.get("parent") or "", "msg_type": "comm_msg"},
            "parent_header": {},
            "metadata": content.get("metadata") or {},
            "content": {"comm_id": widget.model_id, "data": data},
            "buffers": buffers,
        }
        widget.comm.handle_msg(msg)

    def _on_comm_close(self, content: dict[str, Any], buffers: list[Any]) -> None:
        widget = self._mirrors.pop(content["comm_id"], None)
        if widget is None:
            return
        self._remote_ids.pop(widget.model_id, None)
        self._pushed.discard(content["comm_id"])
        if isinstance(widget.comm, mirrors.ClientComm):
            widget.comm.detach()
        widget.close()

    def _on_doc(self, content: dict[str, Any], buffers: list[Any]) -> None:
        roots = [self._mirrors[r] for r in content.get("roots", []) if r in self._mirrors]
        self.document._update(str(content.get("title", "")), roots)
        self._seen_document = True

    def _on_answer(self, content: dict[str, Any], buffers: list[Any]) -> None:
        parent = content.get("parent")
        self._own.discard(parent)
        waiter = self._waiters.pop(parent, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(content)

    def _on_error(self, content: dict[str, Any], buffers: list[Any]) -> None:
        message = str(content.get("message", "unknown error"))
        where = content.get("where")
        if where == "session":
            self._last_error = message
            return
        self.errors.append(message)
        log.warning("Session %s: the server reported: %s", self.id, message)
        waiter = self._waiters.pop(content.get("parent"), None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(ClientError(f"the server refused the message: {message}"))

    _handlers: dict[str, Callable[[ClientSession, dict[str, Any], list[Any]], None]] = {
        "comm_open": _on_comm_open,
        "comm_msg": _on_comm_msg,
        "comm_close": _on_comm_close,
        "doc": _on_doc,
        "idle": _on_answer,
        "pong": _on_answer,
        "pushed": _on_answer,
        "error": _on_error,
    }

    # Pushing (on the client loop)

    async def _push(
        self,
        roots: list[Widget],
        title: str,
        models: list[tuple[Widget, dict[str, Any]]],
        buffers: list[Any],
    ) -> None:
        content = {
            "type": "push_doc",
            "title": title,
            "roots": [root.model_id for root in roots],
            "models": [model for _, model in models],
        }
        message_id = self._next_id()
        waiter = self._waiter(message_id)
        # Hold the server's messages until the answer says which of its widgets are ours.
        self._held = []
        self._write(encode(Message({**content, "id": message_id}, buffers)))
        try:
            answer = await waiter
        except ClientError as error:
            raise ClientError(f"the server did not take the pushed document: {error}") from None
        finally:
            held, self._held = self._held or [], None
        created: dict[str, str] = answer.get("models", {})
        for widget, model in models:
            remote_id = created.get(model["model_id"])
            if remote_id is None:
                continue
            self._adopt(widget, remote_id)
        for message in held:
            handler = self._handlers.get(message.type)
            if handler is not None:
                handler(self, message.content, message.buffers)

    def _adopt(self, widget: Widget, remote_id: str) -> None:
        """Make a pushed widget of this process talk to its server twin from now on."""
        old = widget.comm
        comm = mirrors.ClientComm(remote_id=remote_id, send=self._send_widget_message, comm_id=widget.model_id)
        old.on_msg(None)
        widget.comm = comm
        try:
            old.close()  # a notebook's view of it goes away: the widget now lives in the session
        except Exception:
            log.debug("Closing the previous comm of %r failed", widget, exc_info=True)
        _instances[widget.model_id] = widget
        self._mirrors[remote_id] = widget
        self._remote_ids[widget.model_id] = remote_id
        self._pushed.add(remote_id)
