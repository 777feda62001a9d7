"""One served application: its lifecycle and its sessions (create, find, recreate, reap)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from typing import Any

from ..application import Application
from ..channels import BrowserChannel
from ..client.target import replace_with_push
from ..contexts import Request, ServerContext, SessionContext
from ..logs import short_id
from ..session import Session
from ..tokens import generate_session_id
from .builds import build_turns

__all__ = ["ServedApp", "release_free_memory"]

log = logging.getLogger(__name__)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc


_trim = _malloc_trim()


def release_free_memory() -> None:
    """Give the C allocator's free pages back to the system (glibc only).

    Sessions come and go in bursts; without this, glibc keeps the freed memory
    of past sessions in its arenas and the process's RSS only grows.
    """
    if _trim is not None:
        _trim(0)


class ServedApp:
    """One application as a server serves it at ``url_path``: its live sessions, by id.

    The :class:`~jupyter_bridge.server.bridge.Bridge` that owns it calls
    :meth:`load` once before the first session and :meth:`unload` when it stops
    serving the app; each runs the app's server hook once.
    """

    def __init__(
        self, application: Application, url_path: str, *, dev: bool = False, accept_push: bool = False
    ) -> None:
        self.application = application
        self.url_path = url_path
        self.dev = dev
        #: Whether a client's push may replace a session's document (--allow-push).
        self.accept_push = accept_push
        self.server_context = ServerContext(url_path)
        self.loaded = False
        self.sessions: dict[str, Session[BrowserChannel]] = {}
        # Sessions being built, so two sockets carrying one token build it once.
        self._pending: dict[str, asyncio.Future[Session[BrowserChannel]]] = {}

    async def create(
        self, request: Request, session_id: str | None = None, user: Any = None
    ) -> Session[BrowserChannel]:
        """Build a new session by running the app; raises AppError if the app fails."""
        await build_turns().turn()  # a burst of page loads builds one per pass of the loop
        session_id = session_id or generate_session_id()  # callers with a key pass a signed one
        context = SessionContext(session_id, request, self.server_context, user=user)
        loop = asyncio.get_running_loop()
        channel = BrowserChannel(loop, dev=self.dev, receive_push=replace_with_push if self.accept_push else None)
        session = Session(context, self.application, loop, channel=channel)
        # Counted among the live sessions while its app runs, as Bokeh does.
        self.server_context.add_session(session)
        try:
            await session.start()
        finally:
            if session.destroyed:  # the app failed: start destroyed it
                self.server_context.remove_session(session)
        self.sessions[session_id] = session
        log.info("Session %s created for %s", short_id(session_id), self.url_path)
        return session

    async def get_or_recreate(self, session_id: str, request: Request, user: Any = None) -> Session[BrowserChannel]:
        """The live session with this id, or a new one built from the token's request."""
        session = self.sessions.get(session_id)
        if session is not None and not session.destroyed:
            return session
        pending = self._pending.get(session_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Session[BrowserChannel]] = asyncio.get_running_loop().create_future()
        self._pending[session_id] = future
        try:
            session = await self.create(request, session_id, user)
            future.set_result(session)
            return session
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._pending[session_id]

    async def destroy(self, session: Session[BrowserChannel], *, app_changed: bool = False) -> None:
        self.sessions.pop(session.id, None)
        await session.destroy(app_changed=app_changed)
        session.context.server_context.remove_session(session)

    def load(self) -> None:
        """Run the app's ``on_server_loaded``; once."""
        if not self.loaded:
            self.loaded = True
            self.application.on_server_loaded(self.server_context)

    async def unload(self, *, app_changed: bool = False) -> None:
        """Destroy every session, then run the app's ``on_server_unloaded``; once.

        ``app_changed`` tells open pages to load again (their app was rebuilt).
        """
        await self.destroy_all(app_changed=app_changed)
        if self.loaded:
            self.loaded = False
            self.application.on_server_unloaded(self.server_context)

    async def replace_application(self, application: Application) -> None:
        """Serve ``application`` from now on; open pages load again to get it."""
        await self.unload(app_changed=True)
        self.application = application
        self.server_context = ServerContext(self.url_path)
        self.load()

    async def destroy_unused(self, lifetime_ms: int, grace_ms: int = 0) -> int:
        """Destroy sessions with no connection for longer than ``lifetime_ms``.

        A session whose page may still come (it never connected, or its connection
        dropped rather than closed) is kept for ``grace_ms`` (the lifetime of the
        page's token) if that is longer: its state must not be lost, nor its
        ``on_session_destroyed`` run, while its page is open.
        """
        now = time.monotonic()
        unused = []
        for session in self.sessions.values():
            channel = session.channel
            limit = max(lifetime_ms, grace_ms) if channel.page_may_return else lifetime_ms
            if channel.connections == 0 and (now - channel.last_seen) * 1000 > limit:
                unused.append(session)
                log.info("Session %s unused for %d ms: destroying it", short_id(session.id), limit)
        # All at once: one by one, each destruction's steps would wait behind
        # whatever else the loop is doing, and on a busy server closed sessions
        # would pile up faster than they go.
        results = await asyncio.gather(*(self.destroy(session) for session in unused), return_exceptions=True)
        for session, result in zip(unused, results):
            if isinstance(result, Exception):
                log.error("Session %s: destroying it failed", short_id(session.id), exc_info=result)
        if unused:
            release_free_memory()
        return len(unused)

    async def destroy_all(self, *, app_changed: bool = False) -> None:
        for session in list(self.sessions.values()):
            await self.destroy(session, app_changed=app_changed)
