"""An Application: the handlers that fill each new document, and its lifecycle hooks."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from .handlers import FunctionHandler, Handler, NotAnAppError, ScriptHandler

if TYPE_CHECKING:
    from ..contexts import ServerContext, SessionContext
    from ..document import Document
    from ..protocol import Message
    from ..session import Session

__all__ = ["AppSpec", "Application", "NotAnAppError", "build_application"]

log = logging.getLogger(__name__)

#: What a user may pass where an app is expected.
AppSpec = Union["Application", Callable[["Document"], Any], str, os.PathLike]


class Application:
    """Runs its handlers, in order, on every new session's document.

    Lifecycle hooks, each handler's (declared on :class:`Handler`; exceptions are
    logged, never fatal): ``on_server_loaded(server_context)``,
    ``on_server_unloaded(server_context)``, ``on_session_created(session_context)``,
    ``on_session_request(session_context)`` (once the page's request is known),
    ``on_session_destroyed(session_context)``. An :class:`~.host.AppHost` calls them.
    """

    #: For the server's operators only (the admin page): kept out of the index.
    operator_only: bool = False

    def __init__(self, *handlers: Handler, name: str | None = None) -> None:
        self.handlers = list(handlers)
        self.name = name or (self.handlers[0].name if self.handlers else "app")
        self.server_context: ServerContext | None = None
        #: The title its last session's document had (None until one ran).
        self.last_title: str | None = None

    def add(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def initialize_document(self, document: Document) -> Awaitable[None] | None:
        """Run the handlers in order on ``document``.

        Plain handlers run now; from the first that returns an awaitable on, the
        rest run in the coroutine returned, so an app of plain handlers is
        complete when this returns (``show`` relies on it).
        """
        for index, handler in enumerate(self.handlers):
            result = handler.modify_document(document)
            if inspect.isawaitable(result):
                return self._finish(result, self.handlers[index + 1 :], document)
        return None

    async def _finish(self, pending: Awaitable[Any], handlers: list[Handler], document: Document) -> None:
        await pending
        for handler in handlers:
            result = handler.modify_document(document)
            if inspect.isawaitable(result):
                await result

    def url_path(self) -> str:
        return self.handlers[0].url_path() if self.handlers else "/"

    @property
    def title(self) -> str:
        """A title for the index page: the last session's, else a guess, else the name."""
        guesses = (h.guess_title() for h in self.handlers)
        return self.last_title or next((g for g in guesses if g), None) or self.name

    @property
    def source(self) -> Path | None:
        """The file or folder this app was built from, if it was built from one."""
        path = self.handlers[0].path if len(self.handlers) == 1 else None
        return Path(path) if path is not None else None

    # Lifecycle: each handler's hook, in the handlers' order

    def on_server_loaded(self, server_context: ServerContext) -> None:
        self.server_context = server_context
        for handler in self.handlers:
            self._run_hook(handler.on_server_loaded, server_context)

    def on_server_unloaded(self, server_context: ServerContext) -> None:
        for handler in self.handlers:
            self._run_hook(handler.on_server_unloaded, server_context)

    async def session_created(self, session: Session[Any]) -> None:
        """Run ``on_session_created``: called before the app fills a new session's document."""
        for handler in self.handlers:
            await self._run_session_hook(handler.on_session_created, session)

    async def session_requested(self, session: Session[Any]) -> None:
        """Run ``on_session_request`` (each handler's, then the document's callbacks).

        Called once the session's request is known: right after the app built its
        document, or when a page takes a session prepared ahead of it.
        """
        for handler in self.handlers:
            await self._run_session_hook(handler.on_session_request, session)
        for callback in session.document.take_request_callbacks():
            await self._run_session_hook(callback, session)

    async def session_destroyed(self, session: Session[Any]) -> None:
        """Run ``on_session_destroyed``: called once the session's widgets are closed."""
        for handler in self.handlers:
            await self._run_session_hook(handler.on_session_destroyed, session)

    def _run_hook(self, hook: Callable[[ServerContext], None], server_context: ServerContext) -> None:
        try:
            hook(server_context)
        except Exception:
            log.exception("Error in %s of %s", hook.__name__, self.name)

    async def _run_session_hook(self, hook: Callable[[SessionContext], Any], session: Session[Any]) -> None:
        try:
            await session.run(hook, session.context)
        except Exception:
            log.exception("Error in %s of %s", getattr(hook, "__name__", hook), self.name)

    # Pushed documents

    def receive_push(self, session: Session[Any], message: Message, sender: Any = None) -> bool:
        """Take a client's validated ``push_doc`` for ``session``; False if this app takes none.

        Runs inside the session, under its document lock. An app that takes
        pushes (:class:`~jupyter_bridge.application.push.PushTarget`) answers the
        pushing connection ``sender`` and returns True. This one takes none: the
        server's ``--allow-push`` decides.
        """
        return False

    @property
    def static_path(self) -> str | None:
        """A folder served at ``<app>/static/`` (a directory app's ``static/``)."""
        return next((h.static_path for h in self.handlers if h.static_path), None)

    @property
    def template_path(self) -> str | None:
        """A folder whose ``index.html`` Jinja2 template renders the app's page."""
        return next((h.template_path for h in self.handlers if h.template_path), None)


def build_application(
    spec: AppSpec, argv: list[str] | None = None, *, notebook_layout: str = "cells"
) -> Application:
    """An Application from an Application, a ``def app(doc)`` function or a path.

    A path may be a Python script, a directory holding ``main.py``, or a notebook
    (``notebook_layout`` says what its page shows: ``cells`` or only the ``roots``).

    Raises NotAnAppError (one sentence: the problem and the fix) for a path that
    does not exist or is not an app, and for a script with a syntax error.
    """
    if isinstance(spec, Application):
        return spec
    if callable(spec):
        return Application(FunctionHandler(spec))
    if not isinstance(spec, (str, os.PathLike)):
        raise NotAnAppError(
            f"cannot serve a {type(spec).__name__}; pass an app file path, a "
            "function app(doc) or an Application"
        )
    path = Path(spec)
    if not path.exists():
        raise NotAnAppError(f"{path}: no such file or directory; check the path")
    if path.is_file() and path.suffix == ".py":
        try:
            return Application(ScriptHandler(path, argv))
        except SyntaxError as error:
            raise NotAnAppError(
                f"{error.filename}:{error.lineno}: {error.msg}; fix the script and start again"
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise NotAnAppError(f"{path}: cannot read it ({error})") from None
    if path.is_dir():
        from .directory import DirectoryHandler

        return Application(DirectoryHandler(path, argv))
    if path.is_file() and path.suffix == ".ipynb":
        from .notebook import NotebookHandler

        return Application(NotebookHandler(path, argv, layout=notebook_layout))
    raise NotAnAppError(
        f"{path} is not an app: serve a Python script (.py) that builds curdoc(), "
        "a directory with main.py, or a notebook (.ipynb)"
    )
