"""One served application: its sessions as pages reach them (create, find, recreate, reap)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..application import Application
from ..application.host import AppHost
from ..application.push import replace_with_push
from ..channels import BrowserChannel, PageLimits
from ..contexts import Request
from ..logs import short_id
from ..session import Session
from .builds import build_turns
from .prepared import PreparedSessions

__all__ = ["ServedApp", "TooManySessions", "release_free_memory"]

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


class TooManySessions(Exception):
    """The process holds as many sessions as it may (--max-sessions); the text says so."""


class ServedApp(AppHost[BrowserChannel]):
    """One application as a server serves it at ``url_path``: its sessions' pages and sockets.

    The lifecycle (hooks, the registry of live sessions) is :class:`AppHost`'s; a
    served app adds the browser channel its sessions are shown through, the
    rebuilding of a session from a page's token, and the reaping of unused
    sessions. The :class:`~jupyter_bridge.server.bridge.Bridge` that owns it calls
    :meth:`load` once before the first session and :meth:`unload` when it stops
    serving the app.
    """

    def __init__(
        self,
        application: Application,
        url_path: str,
        *,
        dev: bool = False,
        accept_push: bool = False,
        page_widgets: Iterable[str] = (),
        limits: PageLimits | None = None,
        admit: Callable[[], None] | None = None,
        prepared: int = 0,
        new_session_id: Callable[[], str] | None = None,
        room_to_prepare: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(application, url_path)
        self.dev = dev
        #: Whether a client's push may replace a session's document (--allow-push).
        self.accept_push = accept_push
        #: Widget models a page may open beyond the libraries' own (--page-widgets).
        self.page_widgets = tuple(page_widgets)
        #: What the pages of each session may make it do or hold.
        self.limits = limits or PageLimits()
        #: Called before a session is made; raises TooManySessions when the process is full.
        self.admit = admit
        #: Sessions whose app is running now, not yet in ``sessions``.
        self.building = 0
        #: Sessions built ahead of their pages (``--prepared-sessions``), not in ``sessions``.
        self.prepared = PreparedSessions(self, prepared)
        self._new_session_id = new_session_id
        self._room_to_prepare = room_to_prepare
        # Sessions being built, so two sockets carrying one token build it once.
        self._pending: dict[str, asyncio.Future[Session[BrowserChannel]]] = {}

    def _channel(self) -> BrowserChannel:
        return BrowserChannel(
            asyncio.get_running_loop(),
            dev=self.dev,
            receive_push=replace_with_push if self.accept_push else None,
            page_widgets=self.page_widgets,
            limits=self.limits,
        )

    async def create(
        self, request: Request, session_id: str | None = None, user: Any = None, *, turn_taken: bool = False
    ) -> Session[BrowserChannel]:
        """Build a new session by running the app.

        Raises TooManySessions (before anything runs) when the process holds as
        many sessions as it may, and AppError if the app fails. ``turn_taken``:
        the caller already has this pass of the loop (see :meth:`take_prepared`).
        """
        if not turn_taken:
            await build_turns().turn()  # a burst of page loads builds one per pass of the loop
        if self.admit is not None:
            self.admit()
        self.building += 1
        try:
            # Callers with a key pass a signed id.
            session = await self.create_session(self._channel(), request, session_id, user=user)
        finally:
            self.building -= 1
        log.info("Session %s created for %s", short_id(session.id), self.url_path)
        self.prepared.learn(session)
        return session

    async def take_prepared(self, request: Request, user: Any = None) -> Session[BrowserChannel] | None:
        """A session prepared ahead, now this page's (its request applied), or None if none is ready.

        It waits for a turn, as a build does: handed over and rendered all in one
        pass of the loop, a burst's pages would hold up open sessions as long as
        builds did. Given None, the caller builds the page's session in that
        same turn (``create(..., turn_taken=True)``), without queueing again.
        """
        await build_turns().turn()
        session = self.prepared.take()
        if session is None:
            return None
        # Its page's socket has from now on as long to connect as if it had been built now.
        session.channel.last_seen = time.monotonic()
        await self.hand_over(session, request, user)
        log.info("Session %s (prepared) taken for %s", short_id(session.id), self.url_path)
        return session

    async def prepare(self) -> Session[BrowserChannel]:
        """Build a session ahead of its page (see PreparedSessions); raises AppError if the app fails."""
        session_id = self._new_session_id() if self._new_session_id is not None else None
        return await self.prepare_session(self._channel(), session_id)

    def room_to_prepare(self) -> bool:
        """Whether the process may hold one more session without a page asking for it."""
        return self._room_to_prepare() if self._room_to_prepare is not None else True

    def load(self) -> None:
        """As AppHost.load; sessions of the app may be prepared again from its next page on."""
        super().load()
        self.prepared.reopen()

    async def unload(self, *, app_changed: bool = False) -> None:
        """Destroy the prepared sessions, then as AppHost.unload (every session, then the hook)."""
        await self.prepared.stop()
        await super().unload(app_changed=app_changed)

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
        """Destroy ``session`` and forget it (see :meth:`AppHost.destroy_session`)."""
        await self.destroy_session(session, app_changed=app_changed)

    async def destroy_unused(self, lifetime_ms: int, grace_ms: int = 0, unconnected_ms: int | None = None) -> int:
        """Destroy sessions with no connection for longer than ``lifetime_ms``.

        A session whose connection dropped rather than closed (its page may come
        back) is kept for ``grace_ms`` (the lifetime of the page's token) if that
        is longer: its state must not be lost, nor its ``on_session_destroyed``
        run, while its page is open. A session whose page never connected is
        kept ``unconnected_ms`` (or as long as that grace, if shorter): page loads
        that never run their scripts must not hold a session for a token's life,
        and a page that comes later gets its session rebuilt from its token.
        """
        now = time.monotonic()
        unused = []
        for session in self.sessions.values():
            channel = session.channel
            limit = max(lifetime_ms, grace_ms) if channel.page_may_return else lifetime_ms
            if unconnected_ms is not None and not channel.ever_connected:
                limit = min(unconnected_ms, limit)
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
