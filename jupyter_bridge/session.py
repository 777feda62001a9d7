"""A session: one document, filled by one run of an app, shown through one channel."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import comms, output, widget_caches
from .activity import CallbackMonitor
from .channels import Channel
from .contexts import SessionContext
from .document import DEFAULT_TITLE, Document, set_curdoc
from .logs import short_id

if TYPE_CHECKING:
    from ipywidgets import Widget

    from .application import Application

__all__ = ["AppError", "Session"]

log = logging.getLogger(__name__)

C = TypeVar("C", bound=Channel)


class AppError(Exception):
    """The application raised while building a session's document."""

    def __init__(self, app_name: str, error: BaseException) -> None:
        self.error = error
        self.traceback = "".join(traceback.format_exception(error))
        super().__init__(f"{app_name} failed: {type(error).__name__}: {error}")


class Session(Generic[C]):
    """One document, filled by the app, shown through ``channel``.

    Everything the session runs (app code, callbacks, incoming widget messages)
    runs inside its own ``contextvars.Context``, where ``curdoc()`` is its document
    and ``comm.create_comm`` asks its channel for comms. The same lifecycle serves
    every channel: :meth:`start` runs ``on_session_created`` and the app,
    :meth:`destroy` stops the callbacks, runs ``on_session_destroyed`` and closes
    every widget. Registering the session in its server context is the job of
    the :class:`~jupyter_bridge.application.host.AppHost` that creates and destroys it.
    """

    def __init__(
        self,
        context: SessionContext,
        application: Application,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        channel: C,
    ) -> None:
        self.context = context
        self.id = context.id
        self.application = application
        self.loop = loop or asyncio.get_running_loop()
        self.channel = channel
        self.document = Document()
        self.destroyed = False
        self._started = False
        #: The ``contextvars.Context`` all of the session's code runs in.
        self.run_context = contextvars.copy_context()
        self.run_context.run(comms.set_current_session, self)
        self.run_context.run(set_curdoc, self.document)
        context.document = self.document
        channel.bind(self)
        #: Times the document's callbacks; tells the channel while they keep it busy.
        self.timing = CallbackMonitor(self.loop, context.server_context.url_path, self.id, channel.busy)
        self.document.attach(self)

    # Life

    async def start(self) -> None:
        """Run ``on_session_created`` and the app to fill the document.

        Raises AppError (after destroying the session) if the app fails.
        """
        comms.install()
        output.install()
        widget_caches.keep_per_session(comms.current_session)
        widget_caches.make_process_changes_inert(comms.current_session)
        await self.application.session_created(self)
        try:
            await self.run(self.application.initialize_document, self.document)
        except (Exception, SystemExit) as error:  # an app's sys.exit() must not stop the server
            await self.destroy()
            raise AppError(self.application.name, error) from error
        if self.document.title != DEFAULT_TITLE:
            self.application.last_title = self.document.title
        # The channel shows the document now; from then on every change of roots
        # or title is passed on.
        self._started = True
        self.channel.started(self.document)

    async def run(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` (plain or coroutine function) inside this session.

        A plain function runs at once; a coroutine is awaited in a task of the
        session's context. So a session whose app and hooks are plain functions
        starts without waiting for the loop (``show`` relies on it).
        """
        if comms.current_session() is self:
            result = func(*args)  # already inside: a Context cannot be entered twice
        else:
            result = self.run_context.run(func, *args)
        if inspect.isawaitable(result):
            result = await self.loop.create_task(_awaited(result), context=self.run_context)
        return result

    async def destroy(self, *, app_changed: bool = False) -> None:
        """Stop callbacks, run on_session_destroyed, close every widget; idempotent.

        ``app_changed`` tells connected pages to load again (development mode).
        """
        if self.destroyed:
            return
        self.destroyed = True
        self.context.destroyed = True
        for callback in self.document.close():
            try:
                await self.run(callback, self.context)
            except Exception:
                log.exception("Error in on_session_destroyed callback %r", callback)
        self.channel.end("app changed" if app_changed else "ended")
        await self.run(self.channel.close_widgets)
        self.document.detach()
        # The session refers to itself through its context (the current-session
        # variable): drop it so its memory returns without a full collection.
        self.run_context = contextvars.Context()
        await self.application.session_destroyed(self)
        log.debug("Session %s destroyed", short_id(self.id))

    # What the document asks of its host (jupyter_bridge.document.DocumentHost)

    def document_changed(self, document: Document) -> None:
        if self._started:
            self.channel.document_changed(document)

    def report_error(self, error: BaseException, where: str) -> None:
        self.channel.report_error(error, where)

    def owner_problem(self, widget: Widget) -> str | None:
        return self.channel.owner_problem(widget)

    def callback_started(self, func: Callable[..., Any], label: str | None) -> Callable[[], None]:
        return self.timing.started(func, label)

    def __repr__(self) -> str:
        return f"<Session {self.id} {self.application.name}>"


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
