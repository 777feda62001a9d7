"""The one lifecycle of an app, whoever runs it: a server, ``show(app)`` or an export.

Load the app (``on_server_loaded``) → open a session and count it among the live
ones → start it (``on_session_created``, the app, then ``on_session_request``) →
destroy it (``on_session_destroyed``) → forget it → unload the app
(``on_server_unloaded``). A session prepared ahead of its page is started without
a request and waits; ``on_session_request`` runs when a page takes it.
Every runner goes through an :class:`AppHost`, so the hooks run the same
way everywhere; a runner adds only how its sessions reach their views.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Generic, TypeVar

from ..channels import Channel
from ..contexts import Request, ServerContext, SessionContext
from ..session import Session
from ..tokens import generate_session_id
from .application import Application

__all__ = ["AppHost"]

log = logging.getLogger(__name__)

C = TypeVar("C", bound=Channel)


class AppHost(Generic[C]):
    """One application as a runner hosts it at ``url_path``: loaded once, its live sessions by id.

    :meth:`load` runs ``on_server_loaded`` once before the first session;
    :meth:`unload` destroys every session, then runs ``on_server_unloaded`` once.
    A session is counted in the app's ``server_context`` from the moment it is
    opened (its app sees itself among the live sessions, as in Bokeh) until it is
    destroyed; :attr:`sessions` holds the started ones.
    """

    def __init__(self, application: Application, url_path: str = "/") -> None:
        self.application = application
        self.url_path = url_path
        self.server_context = ServerContext(url_path)
        self.loaded = False
        self.sessions: dict[str, Session[C]] = {}

    def load(self) -> None:
        """Run the app's ``on_server_loaded``; once, until :meth:`unload`."""
        if not self.loaded:
            self.loaded = True
            self.application.on_server_loaded(self.server_context)

    def open_session(
        self,
        channel: C,
        request: Request | None = None,
        session_id: str | None = None,
        *,
        user: Any = None,
        loop: asyncio.AbstractEventLoop | None = None,
        waiting: bool = False,
    ) -> Session[C]:
        """A new session of the app, counted among the live ones; :meth:`start_session` runs it.

        Call :meth:`load` first. Two steps, so that ``show`` can hold the session
        (and display its output) before an async app has finished. ``waiting``: it
        is built ahead of its page, which :meth:`prepare_session` does.
        """
        context = SessionContext(
            session_id or generate_session_id(), request or Request(), self.server_context, user=user, waiting=waiting
        )
        session = Session(context, self.application, loop, channel=channel)
        self.server_context.add_session(session)
        return session

    async def start_session(self, session: Session[C]) -> Session[C]:
        """Run ``on_session_created`` and the app; raises AppError if the app fails.

        A session whose app failed is destroyed (by ``Session.start``) and forgotten.
        """
        await self._start(session)
        self.sessions[session.id] = session
        await self.application.session_requested(session)
        return session

    async def _start(self, session: Session[C]) -> None:
        try:
            await session.start()
        finally:
            if session.destroyed:
                session.context.server_context.remove_session(session)

    async def prepare_session(self, channel: C, session_id: str | None = None) -> Session[C]:
        """Build a session ahead of its page: ``on_session_created`` and the app, no request yet.

        It is not among :attr:`sessions` (no page can reach it) until
        :meth:`hand_over` gives it to one; raises AppError if the app fails.
        """
        session = self.open_session(channel, None, session_id, waiting=True)
        await self._start(session)
        return session

    async def hand_over(self, session: Session[C], request: Request, user: Any = None) -> Session[C]:
        """Give a prepared session the page's request and user, then run ``on_session_request``.

        From now on it is one of :attr:`sessions`, like one built for the page.
        """
        session.context.apply_request(request, user)
        self.sessions[session.id] = session
        await self.application.session_requested(session)
        return session

    async def create_session(
        self,
        channel: C,
        request: Request | None = None,
        session_id: str | None = None,
        *,
        user: Any = None,
    ) -> Session[C]:
        """Open and start a session: :meth:`open_session` then :meth:`start_session`."""
        return await self.start_session(self.open_session(channel, request, session_id, user=user))

    async def destroy_session(self, session: Session[C], *, app_changed: bool = False) -> None:
        """Destroy ``session`` (``on_session_destroyed``) and forget it; idempotent.

        ``app_changed`` tells its open pages to load again (their app was rebuilt).
        """
        self.sessions.pop(session.id, None)
        try:
            await session.destroy(app_changed=app_changed)
        finally:
            session.context.server_context.remove_session(session)

    async def destroy_all(self, *, app_changed: bool = False) -> None:
        for session in list(self.sessions.values()):
            await self.destroy_session(session, app_changed=app_changed)

    async def unload(self, *, app_changed: bool = False) -> None:
        """Destroy every session, then run the app's ``on_server_unloaded``; once.

        With no live session, nothing here waits (``show`` relies on it).
        """
        await self.destroy_all(app_changed=app_changed)
        if self.loaded:
            self.loaded = False
            self.application.on_server_unloaded(self.server_context)

    async def replace_application(self, application: Application) -> None:
        """Unload the app, then host ``application`` in its place, loaded."""
        await self.unload(app_changed=True)
        self.application = application
        self.server_context = ServerContext(self.url_path)
        self.load()

    def __repr__(self) -> str:
        return f"<AppHost {self.url_path} {self.application.name}: {len(self.sessions)} sessions>"
