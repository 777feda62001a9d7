"""``show(app)``: run an app in a notebook cell, through the kernel's own comms.

In a kernel, the app's widgets are ordinary kernel widgets: the notebook's widget
manager renders them, both ways, with no extra port. The document's callbacks run
on the kernel's event loop, so periodic and timeout callbacks keep going while
the kernel is idle, and threads may use ``add_next_tick_callback``.

Inside a session that is being served (a notebook promoted to an app), ``show``
adds the app's roots to that session's document instead, so one notebook works
both in Jupyter and when served.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import sys
import uuid
from typing import Any

from ..application import AppSpec, build_application
from ..comms import current_session
from ..session import Request, Session, SessionContext

__all__ = ["ShowHandle", "show"]

log = logging.getLogger(__name__)

#: The live handle of each app shown in this kernel, so showing it again replaces it.
_shown: dict[str, ShowHandle] = {}


class KernelSession(Session):
    """A session whose widgets use the kernel's comms and whose page is a cell output."""

    routes_comms = False

    def __init__(self, context: SessionContext, application: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.widgets: list[Any] = []
        self.container: Any = None
        super().__init__(context, application, loop)

    def track(self, widget: Any) -> None:
        """Own ``widget`` (closed with the session) and run its browser events in the session."""
        self.widgets.append(widget)
        widget.observe(self._wrap_comm, "comm")

    def _wrap_comm(self, change: dict[str, Any]) -> None:
        comm = change["new"]
        if comm is None:
            return
        handler = comm._msg_callback
        if handler is None or getattr(handler, "__jupyter_bridge_session__", None) is self:
            return

        def in_session(msg: dict[str, Any]) -> None:
            self._context.run(handler, msg)

        in_session.__jupyter_bridge_session__ = self  # type: ignore[attr-defined]
        comm.on_msg(in_session)

    def _document_changed(self, document: Any) -> None:
        if self.container is not None:
            self.container.children = tuple(document.roots)

    def _owner_problem(self, widget: Any) -> str | None:
        if getattr(widget, "comm", None) is None:
            return f"{type(widget).__name__} has been closed; create a new widget to display"
        return None

    def _report_error(self, error: BaseException, where: str) -> None:
        print(f"{where} raised {type(error).__name__}: {error}", file=sys.stderr)

    def _close_comms(self) -> None:
        for widget in [*self.widgets, self.container]:
            if widget is not None and widget.comm is not None:
                try:
                    widget.close()
                except Exception:
                    log.exception("Error closing %r", widget)
        self.widgets.clear()


class ShowHandle:
    """What ``show`` returns: the shown ``document``, and ``close()`` to end the session."""

    def __init__(self, session: Session, key: str | None) -> None:
        self.session = session
        self.document = session.document
        self._key = key

    @property
    def closed(self) -> bool:
        return self.session.destroyed

    def close(self) -> None:
        """Stop the callbacks, run on_session_destroyed, close every widget."""
        if self._key is not None and _shown.get(self._key) is self:
            del _shown[self._key]
        if self.session.destroyed:
            return
        task = self.session.loop.create_task(self.session.destroy())
        if not self.session.loop.is_running():
            self.session.loop.run_until_complete(task)

    def _ipython_display_(self) -> None:
        # Showing the handle again (as a cell's value) must not print its repr.
        pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "live"
        return f"<jupyter_bridge show: {self.session.application.name}, {state}>"


def show(app: AppSpec, *, arguments: dict[str, list[str]] | None = None) -> ShowHandle:
    """Run ``app`` in this notebook cell, two-way through the kernel's comms.

    ``app`` is a ``def app(doc)`` function, a path to a script, directory app or
    notebook, or an Application. Showing the same app again (re-running the cell)
    destroys the previous session first. ``arguments`` stand in for a page's
    query arguments (``session_context.request.arguments``).
    """
    from IPython.display import display
    from ipywidgets import VBox

    served = current_session()
    if served is not None and served.routes_comms:
        # A served notebook: the app fills the document of the session serving it.
        application = build_application(app)
        for handler in application.handlers:
            result = handler.modify_document(served.document)
            if inspect.isawaitable(result):
                served.loop.create_task(result)
        return ShowHandle(served, None)

    key = _app_key(app)
    previous = _shown.pop(key, None)
    if previous is not None:
        previous.close()

    application = build_application(app)
    loop = asyncio.get_event_loop()
    request = Request(arguments={k: [v.encode() for v in vs] for k, vs in (arguments or {}).items()})
    session = KernelSession(SessionContext(uuid.uuid4().hex, request), application, loop)
    _install_tracking()
    session.container = VBox()
    session.container.add_class("jupyter-bridge-show")
    try:
        for handler in application.handlers:
            result = session._context.run(handler.modify_document, session.document)
            if inspect.isawaitable(result):
                loop.create_task(result, context=session._context)
    except Exception:
        handle = ShowHandle(session, None)
        handle.close()
        raise
    session.container.children = tuple(session.document.roots)
    session.document._change_listeners.append(session._document_changed)
    handle = ShowHandle(session, key)
    _shown[key] = handle
    display(session.container)
    return handle


def _app_key(app: AppSpec) -> str:
    """The same app shown again has the same key, even when its cell was re-run."""
    if isinstance(app, (str, os.PathLike)):
        return "path:" + os.path.realpath(app)
    if callable(app) and hasattr(app, "__qualname__"):
        return f"func:{getattr(app, '__module__', '')}.{app.__qualname__}"
    return f"object:{id(app)}"


_tracking_installed = False


def _install_tracking() -> None:
    """Widgets made while a kernel session runs belong to it (chained construction hook)."""
    global _tracking_installed
    if _tracking_installed:
        return
    from ipywidgets import Widget

    previous = Widget._widget_construction_callback

    def constructed(widget: Any) -> None:
        session = current_session()
        if isinstance(session, KernelSession) and not session.destroyed:
            session.track(widget)
        if previous is not None:
            previous(widget)

    Widget.on_widget_constructed(constructed)
    _tracking_installed = True
