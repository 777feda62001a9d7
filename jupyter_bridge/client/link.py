"""The reconnecting WebSocket of one client session: frames out in order, frames in by ``seq``.

It does for the Python client what the page client's connection.ts does: it
applies the server's stream in ``seq`` order (a frame at or below the last one
applied is a replay, and dropped), acknowledges what it applied, and after a
dropped connection reconnects with ``?last_seq=N`` so that the stream resumes
where it stopped. Frames written while no socket is open wait, and go out in
order on the next one. A close with a 4xxx code is the server's refusal: the link
ends with the error it means. Everything here runs on the client loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tornado.websocket import WebSocketClientConnection, WebSocketClosedError

from ..protocol import (
    CLOSE_APP_FAILED,
    CLOSE_BAD_TOKEN,
    CLOSE_NORMAL,
    CLOSE_SERVER_RESTART,
    CLOSE_SESSION_GONE,
    LAST_SEQ_ARGUMENT,
    NO_SUCH_APP,
    PROTOCOL_VERSION,
    Message,
    ProtocolError,
    decode_server_frame,
    encode,
    is_refusal,
)
from .connection import open_socket
from .errors import AppFailedError, AppNotFoundError, ClientError, OriginRefusedError, SessionClosedError

__all__ = ["ACK_DELAY", "RECONNECT_DELAYS", "SessionLink"]

log = logging.getLogger(__name__)

#: How long (s) to wait between reconnection attempts after a dropped connection.
RECONNECT_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)
#: How long (s) an acknowledgement waits, so that one ``ack`` covers a burst of frames.
ACK_DELAY = 0.2

Frame = str | bytes


class SessionLink:
    """One client session's connection to its server session, kept up across dropped sockets.

    ``receive`` gets every message of the session's stream, in order, once (the
    link itself takes ``hello`` and the ``error`` that says why the server closes);
    ``ended`` gets the error that ended the link, once.
    """

    def __init__(
        self,
        *,
        socket_url: str,
        token: str,
        headers: dict[str, str],
        origin: str | None,
        timeout: float,
        app_url: str,
        session_id: str | None,
        receive: Callable[[Message], None],
        ended: Callable[[ClientError], None],
        python_side: bool = False,
    ) -> None:
        #: The session's id, as the server's last ``hello`` gave it.
        self.session_id = session_id
        #: The last ``seq`` applied: a new socket asks for what follows it.
        self.last_seq = 0
        #: Caught up with the session once: before that a dropped socket ends the link, after it the link reconnects.
        self.attached = False
        #: Closing on purpose (:meth:`close`): a dropped socket is expected.
        self.closing = False
        self._socket_url = socket_url
        self._token = token
        self._headers = headers
        self._origin = origin
        self._timeout = timeout
        self._python_side = python_side
        self._app_url = app_url
        self._receive = receive
        self._ended = ended
        self._ws: WebSocketClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._outgoing: list[Frame] = []
        self._resend: dict[str, Frame] = {}
        self._ack_scheduled = False
        self._done = False
        self._last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def open(self) -> None:
        """Open the socket (raises a ClientError naming why not) and start reading it."""
        self._ws = await open_socket(
            self._socket_url, self._token, self._headers, self._origin, self._timeout, python_side=self._python_side
        )
        self._reader = asyncio.ensure_future(self._read())

    def write(self, frame: Frame) -> None:
        """Send ``frame`` now, or on the next socket if none is open."""
        ws = self._ws
        if ws is None:
            if not self._done:
                self._outgoing.append(frame)
            return
        try:
            ws.write_message(frame, binary=isinstance(frame, bytes))
        except WebSocketClosedError:
            self._outgoing.append(frame)

    def write_until_answered(self, message_id: str, frame: Frame) -> None:
        """Send ``frame``, and again on each new socket until :meth:`answered` (a lost ping is asked again)."""
        self._resend[message_id] = frame
        self.write(frame)

    def answered(self, message_id: str) -> None:
        self._resend.pop(message_id, None)

    async def close(self, reason: str) -> None:
        """Close the socket on purpose and end the link with SessionClosedError(``reason``)."""
        self.closing = True
        ws = self._ws
        if ws is not None:
            ws.close(CLOSE_NORMAL, "client closed")
        if self._reader is not None and not self._reader.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), 5)
            except TimeoutError:
                self._reader.cancel()
        self._ws = None
        self._end(SessionClosedError(f"session {self.session_id} was {reason}"))

    def _end(self, error: ClientError) -> None:
        if self._done:
            return
        self._done = True
        self._resend.clear()
        self._ended(error)

    async def _read(self) -> None:
        while True:
            ws = self._ws
            if ws is None:
                return
            frame = await ws.read_message()
            if frame is None:
                self._ws = None
                if self.closing:
                    return
                code, reason = ws.close_code, ws.close_reason
                # A server that stops ends its sessions: a program cannot resume one elsewhere.
                if is_refusal(code) or code == CLOSE_SERVER_RESTART or not self.attached:
                    self._end(self._close_error(code, reason))
                    return
                log.info("Session %s: connection lost (%s); reconnecting", self.session_id, code)
                if not await self._reconnect():
                    self._end(SessionClosedError(f"the connection to session {self.session_id} was lost"))
                    return
                continue
            try:
                message = decode_server_frame(frame)
            except ProtocolError as error:
                log.warning("Session %s: ignored a bad frame from the server: %s", self.session_id, error)
                continue
            try:
                self._apply(message)
            except Exception:
                log.exception("Session %s: error applying a %s message", self.session_id, message.type)

    def _apply(self, message: Message) -> None:
        content = message.content
        kind = content["type"]
        if kind == "hello":
            if content.get("protocol") != PROTOCOL_VERSION:
                log.error(
                    "Session %s: the server speaks protocol %s, not %s",
                    self.session_id, content.get("protocol"), PROTOCOL_VERSION,
                )
            self.session_id = content.get("session_id", self.session_id)
            last = content.get("last_seq")
            if isinstance(last, int) and last > self.last_seq:
                self.last_seq = last
            return
        seq = content.get("seq", 0)
        if isinstance(seq, int) and seq > 0:
            if seq <= self.last_seq:
                return  # already applied (a resumed stream)
            self.last_seq = seq
            self._schedule_ack()
        if kind == "error" and content.get("where") == "session":
            # Why the server is about to close: the close's error says it.
            self._last_error = str(content.get("message", "unknown error"))
            return
        self._receive(message)

    def _close_error(self, code: int | None, reason: str | None) -> ClientError:
        message = self._last_error or reason or "the server closed the connection"
        if code == CLOSE_BAD_TOKEN:
            return ClientError(f"the server refused the session token: {reason}")
        if code == CLOSE_APP_FAILED:
            return AppFailedError(f"the app at {self._app_url} failed while building the session: {message}")
        if code == CLOSE_SESSION_GONE and reason == NO_SUCH_APP:
            return AppNotFoundError(f"there is no app at {self._app_url}; check the app's path")
        if code == CLOSE_SERVER_RESTART:
            return SessionClosedError(
                f"session {self.session_id} has ended: its server stopped; pull a new session once it is back"
            )
        if code == CLOSE_SESSION_GONE:
            # The server's message speaks to a page ("reload"); say it for a program.
            return SessionClosedError(
                f"session {self.session_id} has ended on the server ({reason}); pull a new session to go on"
            )
        return SessionClosedError(f"session {self.session_id} has ended: {message}")

    async def _reconnect(self) -> bool:
        for delay in RECONNECT_DELAYS:
            await asyncio.sleep(delay)
            if self.closing:
                return False
            try:
                ws = await open_socket(
                    f"{self._socket_url}?{LAST_SEQ_ARGUMENT}={self.last_seq}",
                    self._token,
                    self._headers,
                    self._origin,
                    self._timeout,
                    python_side=self._python_side,
                )
            except (AppNotFoundError, OriginRefusedError):
                return False
            except ClientError as error:
                log.info("Session %s: reconnecting failed: %s", self.session_id, error)
                continue
            self._ws = ws
            for frame in [*self._outgoing, *self._resend.values()]:
                self.write(frame)
            self._outgoing.clear()
            return True
        return False

    def _schedule_ack(self) -> None:
        if not self._ack_scheduled:
            self._ack_scheduled = True
            asyncio.get_running_loop().call_later(ACK_DELAY, self._send_ack)

    def _send_ack(self) -> None:
        self._ack_scheduled = False
        if self._ws is not None:
            self.write(encode(Message({"type": "ack", "seq": self.last_seq})))
