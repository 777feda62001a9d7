"""A Python client of one server session: live mirror widgets over the session's WebSocket.

:func:`pull_session` connects to a session of an app (a new one, or an existing
one by id); :func:`~jupyter_bridge.client.push_session` publishes a document
built in this process as a new session. Either gives a :class:`ClientSession`,
whose ``document`` holds live ipywidgets objects: reading a trait gives the
server's value, setting one sends it to the server as a browser would, and the
server's changes update the widgets (and fire their observers).

The session answers requests (``sync``, a push) and hands widget messages to its
:class:`~jupyter_bridge.client.mirrors.Mirrors`; its
:class:`~jupyter_bridge.client.link.SessionLink` keeps the socket up.

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

from ..contexts import Request
from ..protocol import SESSION_ID_ARGUMENT, Message, encode
from ..tokens import make_token
from .connection import client_loop, fetch_config, query_string, split_app_url, ws_url
from .document import ClientDocument
from .errors import ClientError, SessionClosedError
from .link import SessionLink
from .mirrors import Mirrors

__all__ = ["ClientSession", "pull_session"]

log = logging.getLogger(__name__)


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
    ``session_id``, the client attaches to that live session. Holding the server's
    ``secret_key`` (default: ``JUPYTER_BRIDGE_SECRET_KEY``), the client makes the
    session's token itself, and a server that does not hold the session creates it
    under that id, with ``arguments`` (as a process of an ``external-signed``
    deployment does); without it, the server must hold the session live (or run
    with ``--session-ids unsigned``).

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
    if session_id is not None and (not isinstance(session_id, str) or not session_id):
        raise ClientError("session_id must be a non-empty string (a session's id)")
    key = secret_key if secret_key is not None else os.environ.get("JUPYTER_BRIDGE_SECRET_KEY") or None
    if session_id is None or key is None:
        # The server makes the session (or, for a live one, hands out its token).
        named = {SESSION_ID_ARGUMENT: session_id} if session_id is not None else {}
        query = query_string({**(arguments or {}), **named})
        page_url, config = await fetch_config(
            base + path + ("?" + query if query else ""), headers, timeout
        )
        app_url = page_url.split("?")[0].rstrip("/") or base
        socket_url = ws_url(page_url, config["wsUrl"])
        token = config["token"]
        session_id = config.get("sessionId")
    else:
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
    await session.connect()
    return session


def _request_arguments(arguments: Mapping[str, Any] | None) -> dict[str, list[bytes]]:
    """{'N': [b'10']} for {'N': 10}, as a page request's query arguments."""
    result: dict[str, list[bytes]] = {}
    for name, value in (arguments or {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        result[name] = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in values]
    return result


class ClientSession:
    """A connection to one server session; ``with`` closes it.

    ``document`` holds the session's widgets, live. ``sync()`` waits until the
    server has handled every change sent so far. Closing the client leaves the
    server's session alive until its unused-session lifetime passes (a page may
    open it meanwhile: ``url``, ``show()``, or ``server_session(session.id, ...)``).
    ``python_side``: this process holds the widgets' Python side (``push_session``):
    pages' custom messages come here, and the widgets' own go to the pages.
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
        python_side: bool = False,
    ) -> None:
        self.app_url = app_url
        self._link = SessionLink(
            socket_url=socket_url,
            token=token,
            headers=headers,
            origin=origin,
            timeout=timeout,
            app_url=app_url,
            session_id=session_id,
            receive=self._apply,
            ended=self._end,
            python_side=python_side,
        )
        self._mirrors = Mirrors(self._send_widget_message, lambda: self.id)
        self.document = ClientDocument(self._mirrors, self._send_document)
        #: The messages of the errors the server reported (app callbacks that raised,
        #: refused messages), oldest first.
        self.errors: list[str] = []
        self._timeout = timeout
        self._loop = client_loop()
        self._ids = itertools.count(1)
        self._id_prefix = f"py-{uuid.uuid4().hex[:12]}-"
        self._own: set[str] = set()
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._held: list[Message] | None = None
        self._seen_document = False
        self._closed = threading.Event()
        self._close_reason: str | None = None

    # Public

    @property
    def id(self) -> str | None:
        """The session's id on the server."""
        return self._link.session_id

    @property
    def url(self) -> str:
        """The page that shows this session in a browser."""
        return f"{self.app_url}?{SESSION_ID_ARGUMENT}={quote(self.id or '', safe='')}"

    @property
    def connected(self) -> bool:
        return self._link.connected and not self._closed.is_set()

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
        self._loop.run(self._link.close("closed by the client"), timeout, "close the session")

    def __enter__(self) -> ClientSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "connected" if self.connected else "connecting"
        return f"<ClientSession {self.id} {self.app_url} {state}>"

    # On the client loop: how pull_session and push_session start a session

    async def connect(self) -> None:
        """Open the socket and wait until the document has arrived; a coroutine for the client loop.

        ``pull_session`` and ``push_session`` run it there. On failure the session
        is closed and a ClientError says why.
        """
        await self._link.open()
        try:
            # The pong comes after every message the session had when we attached:
            # then the document is complete (the first `doc` of a stream may be older).
            await asyncio.wait_for(self._round_trip(), self._timeout)
        except TimeoutError:
            await self._link.close("given up: no document arrived")
            raise ClientError(
                f"the session at {self.app_url} sent no document within {self._timeout:g} s"
            ) from None
        except asyncio.CancelledError:
            await self._link.close("given up: the client timed out")
            raise
        if not self._seen_document:
            await self._link.close("given up: no document arrived")
            raise ClientError(f"the session at {self.app_url} sent no document")
        self._link.attached = True

    async def push(
        self,
        roots: list[Widget],
        title: str,
        models: list[tuple[Widget, dict[str, Any]]],
        buffers: list[Any],
    ) -> None:
        """Fill the connected, empty session with these widgets; a coroutine for the client loop.

        ``models`` pairs each widget with its ``push_doc`` model, every widget after
        the widgets it refers to. Once the server took them, each widget talks to
        its server twin. On failure the session is closed and a ClientError says why.
        """
        try:
            await self._push(roots, title, models, buffers)
        except BaseException:
            await self._link.close("the push failed")
            raise

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
        self._link.write(encode(Message({**content, "id": message_id}, buffers)))
        try:
            answer = await waiter
        except ClientError as error:
            raise ClientError(f"the server did not take the pushed document: {error}") from None
        finally:
            held, self._held = self._held or [], None
        created: dict[str, str] = answer.get("models", {})
        for widget, model in models:
            remote_id = created.get(model["model_id"])
            if remote_id is not None:
                self._mirrors.adopt(widget, remote_id)
        for message in held:
            self._handle(message)

    def _end(self, error: ClientError) -> None:
        if self._closed.is_set():
            return
        self._close_reason = str(error)
        self._closed.set()
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._waiters.clear()
        self._mirrors.release()
        if not self._link.closing:
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
        self._loop.call_soon(self._link.write, frame)
        return message_id

    def _next_id(self) -> str:
        # Answers (idle, pong, error) go to every connection of the session, so an
        # id must not collide with another client's: a random prefix per client.
        return f"{self._id_prefix}{next(self._ids)}"

    def _send_widget_message(self, remote_id: str, data: dict[str, Any], buffers: list[Any] | None) -> None:
        if self._closed.is_set():
            return
        self._send({"type": "comm_msg", "comm_id": remote_id, "data": data}, buffers)

    def _send_document(self, **fields: Any) -> None:
        self._send({"type": "doc", **fields})

    async def _round_trip(self) -> None:
        message_id = self._next_id()
        waiter = self._waiter(message_id)
        self._link.write_until_answered(message_id, encode(Message({"type": "ping", "id": message_id})))
        try:
            await waiter
        finally:
            self._link.answered(message_id)

    def _waiter(self, message_id: str) -> asyncio.Future[dict[str, Any]]:
        self._check_open()
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[message_id] = waiter
        return waiter

    # Receiving (on the client loop)

    def _apply(self, message: Message) -> None:
        if self._held is not None and message.type in ("comm_open", "comm_msg", "comm_close", "doc"):
            self._held.append(message)
            return
        self._handle(message)

    def _handle(self, message: Message) -> None:
        handler = self._handlers.get(message.type)
        if handler is not None:
            handler(self, message.content, message.buffers)

    def _on_comm_open(self, content: dict[str, Any], buffers: list[Any]) -> None:
        self._mirrors.opened(content, buffers)

    def _on_comm_msg(self, content: dict[str, Any], buffers: list[Any]) -> None:
        self._mirrors.changed(content, buffers, ours=content.get("parent") in self._own)

    def _on_comm_close(self, content: dict[str, Any], buffers: list[Any]) -> None:
        self._mirrors.closed(content)

    def _on_doc(self, content: dict[str, Any], buffers: list[Any]) -> None:
        roots = [self._mirrors.get(r) for r in content.get("roots", [])]
        self.document.apply_server_doc(str(content.get("title", "")), [r for r in roots if r is not None])
        self._seen_document = True

    def _on_answer(self, content: dict[str, Any], buffers: list[Any]) -> None:
        parent = content.get("parent")
        self._own.discard(parent)
        waiter = self._waiters.pop(parent, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(content)

    def _on_error(self, content: dict[str, Any], buffers: list[Any]) -> None:
        message = str(content.get("message", "unknown error"))
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
