"""The session WebSocket: one connection to one session, speaking docs/protocol.md."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from tornado import web, websocket

from ..activity import traffic
from ..application import NotAnAppError
from ..channels import BrowserChannel, EndReason
from ..logs import short_id, shown
from ..protocol import (
    BATCH_ARGUMENT,
    CLIENT_ARGUMENT,
    CLOSE_APP_CHANGED,
    CLOSE_APP_FAILED,
    CLOSE_BAD_TOKEN,
    CLOSE_SERVER_RESTART,
    CLOSE_SESSION_GONE,
    CLOSE_TOO_SLOW,
    LAST_SEQ_ARGUMENT,
    NO_SUCH_APP,
    PAGE_STATE_ARGUMENT,
    STREAM_ARGUMENT,
    SUBPROTOCOL,
    Message,
    ProtocolError,
    batch_frame,
    decode,
)
from ..session import AppError, Session
from ..tokens import TokenError, read_token
from .auth import GatedHandler, authenticate, may_join
from .bridge import Bridge, SessionIdError
from .served_app import TooManySessions
from .views import XSRF_ARGUMENT

__all__ = ["SessionSocket", "origin_allowed", "origin_host"]

log = logging.getLogger(__name__)

def origin_host(origin: str) -> str | None:
    """'host:port' of an Origin header, with the scheme's default port filled in; None if malformed."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:  # a port out of range, an unclosed [IPv6 address
        return None
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("http", "https", "ws", "wss"):
        return None
    if ":" in host:
        host = f"[{host}]"
    port = port or (443 if parts.scheme in ("https", "wss") else 80)
    return f"{host}:{port}"


def origin_allowed(origin: str, allowed: set[str]) -> bool:
    """Whether a page of ``origin`` may connect, given the allowed ``[scheme://]host:port`` entries.

    An entry with a scheme admits that scheme only; one without admits any
    (see ``settings.origin_entry``). A malformed Origin is never allowed.
    """
    if "*" in allowed:
        return True
    host = origin_host(origin)
    if host is None:
        return False
    scheme = urlsplit(origin).scheme.lower()
    return host in allowed or f"{scheme}://{host}" in allowed


class SessionSocket(websocket.WebSocketHandler, GatedHandler):
    """Attaches a WebSocket to the session its token names (recreating it if needed)."""

    def initialize(self, bridge: Bridge, url_path: str | None) -> None:
        self.bridge = bridge
        self.url_path = url_path
        self.session: Session[BrowserChannel] | None = None
        self._token: str | None = None
        # Bytes handed to Tornado and not yet written to the network.
        self._unsent = 0
        # A client that reads batches gets the frames of one stretch of work in
        # one WebSocket message: one write to the network instead of one each.
        self._batching = False
        self._pending: list[str | bytes] = []
        self._pending_write: asyncio.Handle | None = None

    requires_user = True

    async def prepare(self) -> None:
        # The origin is checked here, for every browser request: Tornado 6.6 calls
        # check_origin only for requests it deems cross-origin, and an Origin equal
        # to the Host header (a DNS-rebinding page) is not, for it.
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.check_origin(origin):
            host = origin_host(origin)
            if host is None:
                log.warning("Refused a WebSocket connection to %s from a malformed origin %s",
                            self.request.path, shown(origin))
                raise web.HTTPError(403, reason="the Origin header is not scheme://host[:port]")
            log.warning(
                "Refused a WebSocket connection to %s from origin %s; to allow it, start the "
                "server with --allow-websocket-origin=%s",
                self.request.path,
                shown(origin),
                host.removesuffix(":80"),
            )
            flag = f"--allow-websocket-origin={host.removesuffix(':80')}"
            raise web.HTTPError(403, reason=f"this origin is not allowed; start the server with {flag}")
        if origin is not None and self.bridge.settings.enable_xsrf_cookies:
            self._check_xsrf()
        try:
            await authenticate(self, self.bridge, redirect=False)
        except web.HTTPError as error:
            log.warning("Refused a WebSocket connection to %s: %s (the auth module found no user)",
                        self.request.path, error.reason)
            raise

    def _check_xsrf(self) -> None:
        # Browsers send an Origin with every WebSocket handshake, and the _xsrf cookie
        # with it; only a page of this server could read the cookie's value into the
        # socket's URL. Clients that are not browsers (no Origin) cannot be forged
        # into connecting, so they need neither.
        try:
            self.check_xsrf_cookie()
        except web.HTTPError:
            problem = (
                f"its {XSRF_ARGUMENT} argument is missing"
                if self.get_query_argument(XSRF_ARGUMENT, None) is None
                else f"its {XSRF_ARGUMENT} argument does not match the {XSRF_ARGUMENT} cookie"
            )
            log.warning(
                "Refused a WebSocket connection to %s from origin %s: %s (the server runs with "
                "--enable-xsrf-cookies); a page of this server passes it, so reload the page",
                self.request.path, shown(self.request.headers.get("Origin")), problem,
            )
            raise web.HTTPError(403, reason=f"{problem} (--enable-xsrf-cookies); reload the page") from None

    def check_origin(self, origin: str) -> bool:
        return origin_allowed(origin, self.bridge.settings.allowed_origins())

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        if len(subprotocols) >= 2 and subprotocols[0] == SUBPROTOCOL:
            self._token = subprotocols[1]
            return SUBPROTOCOL
        return None

    def get_compression_options(self) -> dict[str, Any] | None:
        settings = self.bridge.settings
        options: dict[str, Any] = {}
        if settings.websocket_compression_level is not None:
            options["compression_level"] = settings.websocket_compression_level
        if settings.websocket_compression_mem_level is not None:
            options["mem_level"] = settings.websocket_compression_mem_level
        return options

    async def open(self, url_path: str | None = None) -> None:
        # Small frames answer small frames: without this, Nagle's algorithm and the
        # peer's delayed ACK add ~40 ms to every slider move's round trip.
        self.set_nodelay(True)
        if self._token is None:
            # Only the first name: what follows may be a token, which the log must not hold.
            offered = self.request.headers.get("Sec-WebSocket-Protocol", "").split(",")[0].strip()[:60]
            log.warning(
                "Refused a WebSocket connection to %s: it offered the subprotocol %r, not %r followed "
                "by a session token (a page of another version of jupyter_bridge? reload it)",
                self.request.path, offered or None, SUBPROTOCOL,
            )
            self.close(CLOSE_BAD_TOKEN, f"offer the subprotocols '{SUBPROTOCOL}' and a session token")
            return
        self.url_path = self.url_path or url_path
        try:
            served = await self.bridge.app_for(self.url_path or "")
        except NotAnAppError:
            served = None
        if served is None:
            self.close(CLOSE_SESSION_GONE, NO_SUCH_APP)
            return
        secret_key = self.bridge.settings.signing_key
        last_seq = self._last_seq()
        # The stream the page showed, named by a page that can take a fresh one in its place.
        stream = self.get_query_argument(STREAM_ARGUMENT, None)
        try:
            session_id, request = read_token(self._token, secret_key=secret_key, check_expiry=False)
            live = served.sessions.get(session_id)
            fresh = bool(last_seq) and stream is not None and (live is None or live.channel.stream != stream)
            if live is None or fresh:
                # Only a live session may be resumed with an expired token.
                read_token(self._token, secret_key=secret_key, now=self.bridge.clock())
            if live is None:
                self.bridge.recreated_session_id(session_id)
        except (TokenError, SessionIdError) as error:
            log.warning("Refused a WebSocket to %s: %s", self.request.path, error)
            # A close reason holds at most 123 bytes.
            self.close(CLOSE_BAD_TOKEN, str(error).encode()[:123].decode(errors="ignore"))
            return
        if live is not None and not may_join(self.bridge, live, self.current_user):
            log.warning("Refused a WebSocket to %s: the session belongs to another user", self.request.path)
            self.close(CLOSE_BAD_TOKEN, "this session belongs to another user")
            return
        if fresh:
            # The copy of the session the page showed is gone (its process died; a
            # balancer sent the page elsewhere): the page gets this process's copy,
            # built from its token if need be, from the start, and says so.
            log.info("Session %s: its page's stream is gone; sending it a fresh copy of the session",
                     short_id(session_id))
            last_seq = 0
        elif last_seq and (live is None or not live.channel.outbox.can_resume(last_seq)):
            if live is None or self.get_query_argument(PAGE_STATE_ARGUMENT, None) is None:
                self._send_error("this session has ended; reload the page to start a new one")
                self.close(CLOSE_SESSION_GONE, "session gone")
                return
            # A page showing the state its HTML carried, whose position other pages'
            # acknowledgements have since forgotten: it never sent anything, so it
            # takes the session's current state in place of what it shows.
            log.info("Session %s: a new page's position is gone; sending it the session's state",
                     short_id(session_id))
            fresh, last_seq = True, 0
        try:
            session = await served.get_or_recreate(session_id, request, user=self.current_user)
        except AppError as error:
            log.error("%s: %s\n%s", self.request.path, error, error.traceback)
            self._send_error(str(error))
            self.close(CLOSE_APP_FAILED, "app failed")
            return
        except TooManySessions as error:
            # "Try again later": the page retries, and gets its session once there is room.
            log.warning("Refused to recreate session %s for a WebSocket to %s: %s", session_id, self.request.path, error)
            self.close(CLOSE_TOO_SLOW, f"the server holds its --max-sessions {self.bridge.settings.max_sessions}; try again later")
            return
        if self.ws_connection is None or self.ws_connection.is_closing():
            return  # the client left while the session was built; the reaper frees it
        self.session = session
        self._batching = self.get_query_argument(BATCH_ARGUMENT, None) == "1"
        session.channel.attach(
            self.send_frame,
            last_seq,
            on_end=self._session_ended,
            recreated=fresh,
            python=self.get_query_argument(CLIENT_ARGUMENT, "") == "python",
        )
        self.write_pending()

    def _session_ended(self, reason: EndReason) -> None:
        self.session = None
        self.write_pending()
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        if reason == "app changed":
            self.close(CLOSE_APP_CHANGED, "the app changed")
        elif reason == "server stopping":
            # Not "this session ended": the page waits for a server to answer again
            # and takes a fresh session there, bringing its user's changes.
            self.close(CLOSE_SERVER_RESTART, "the server is restarting")
        else:
            self._send_error("this session has ended; reload the page to start a new one")
            self.close(CLOSE_SESSION_GONE, "session ended")

    def _last_seq(self) -> int:
        value = self.get_query_argument(LAST_SEQ_ARGUMENT, "0")
        try:
            return max(0, int(value))
        except ValueError:
            return 0

    def _send_error(self, message: str) -> None:
        self.write_message(json.dumps({"type": "error", "seq": 0, "where": "session", "message": message}))

    def send_frame(self, frame: str | bytes) -> None:
        traffic.sent(frame)
        if not self._batching:
            self._write(frame)
            return
        self._pending.append(frame)
        if self._pending_write is None:
            # Whatever else this stretch of work sends goes in the same write.
            self._pending_write = asyncio.get_running_loop().call_soon(self.write_pending)

    def write_pending(self) -> None:
        """Write the frames held for a batch: each run of text frames as one frame, in order."""
        if self._pending_write is not None:
            self._pending_write.cancel()
            self._pending_write = None
        frames, self._pending = self._pending, []
        texts: list[str] = []
        for frame in frames:
            if isinstance(frame, str):
                texts.append(frame)
                continue
            if texts:
                self._write(batch_frame(texts))
                texts = []
            self._write(frame)
        if texts:
            self._write(batch_frame(texts))

    def _write(self, frame: str | bytes) -> None:
        limit = self.bridge.settings.websocket_max_unsent
        if limit and self._unsent > limit:
            return  # closing: see below
        try:
            written = self.write_message(frame, binary=isinstance(frame, bytes))
        except websocket.WebSocketClosedError:
            return
        # Tornado buffers whatever the client does not read, without limit: count it,
        # and close a socket whose client has stopped reading (the session's frames
        # stay in its outbox, so the page resumes when it reconnects).
        size = len(frame)
        self._unsent += size
        written.add_done_callback(lambda done: self._written(done, size))
        if limit and self._unsent > limit:
            log.warning(
                "Session %s: its client has not read %.1f MB of updates (more than "
                "--websocket-max-unsent %d); closing its socket, the page will reconnect",
                short_id(self.session.id) if self.session else "?", self._unsent / 2**20, limit,
            )
            self.close(CLOSE_TOO_SLOW, "the page read too slowly; reconnect")

    def _written(self, done: Any, size: int) -> None:
        self._unsent -= size
        if not done.cancelled():
            done.exception()  # a closed stream: on_close tells the session

    def on_message(self, frame: str | bytes) -> Awaitable[None] | None:
        # Acks and pings are answered at once; Tornado awaits what the others
        # return before it reads the next frame, so the order is kept either way.
        traffic.received(frame)
        session = self.session
        if session is None or session.destroyed:
            return None
        try:
            message = decode(frame, max_buffers=self.bridge.settings.websocket_max_buffers)
        except ProtocolError as error:
            session.channel.refuse(str(error), error.parent, self.send_frame)
            return None
        handling = session.channel.receive(message, self.send_frame)
        return None if handling is None else self._handle(session, message, handling)

    async def _handle(self, session: Session[BrowserChannel], message: Message, handling: Awaitable[None]) -> None:
        try:
            await handling
            self.write_pending()  # the answer, at once
        except Exception:
            # A bug of ours, not the client's: keep the connection and the session.
            log.exception("Session %s: error handling a %s message", short_id(session.id), shown(message.type))
            session.channel.refuse(
                f"the server failed to handle this {message.type} message",
                message.content.get("id"),
                self.send_frame,
            )

    def on_close(self) -> None:
        if self._pending_write is not None:
            self._pending_write.cancel()
            self._pending_write = None
        self._pending.clear()
        if self.session is not None:
            # A page that closes (a tab closed, a navigation) sends a close code; a
            # connection that dropped sends nothing, and its page may come back.
            self.session.channel.detach(self.send_frame, page_left=self.close_code is not None)
            self.session = None
