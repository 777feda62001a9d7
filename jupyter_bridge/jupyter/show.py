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
import uuid
from collections.abc import Coroutine
from typing import Any

from ..application import AppSpec, build_application
from ..application.host import AppHost
from ..comms import current_session
from ..contexts import Request
from ..session import Session
from .kernel import KernelChannel, track_kernel_widgets

__all__ = ["ShowHandle", "show"]

log = logging.getLogger(__name__)

#: The live handle of each app shown in this kernel, so showing it again replaces it.
_shown: dict[str, ShowHandle] = {}


class ShowHandle:
    """What ``show`` returns: the shown ``document``, and ``close()`` to end the session."""

    def __init__(self, session: Session[Any], key: str | None, host: AppHost[KernelChannel] | None = None) -> None:
        self.session = session
        self.document = session.document
        self._key = key
        # None for a served notebook's show: the serving session is not ours to end.
        self._host = host

    @property
    def closed(self) -> bool:
        return self.session.destroyed

    def close(self) -> None:
        """Stop the callbacks, run on_session_destroyed, close every widget, unload the app."""
        if self._key is not None and _shown.get(self._key) is self:
            del _shown[self._key]
        if self.session.destroyed or self._host is None:
            return
        loop = self.session.loop
        task = loop.create_task(self._host.unload())
        if not loop.is_running():
            loop.run_until_complete(task)

    def _ipython_display_(self) -> None:
        # Showing the handle again (as a cell's value) must not print its repr.
        pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "live"
        return f"<jupyter_bridge show: {self.session.application.name}, {state}>"


def show(app: AppSpec, *, arguments: dict[str, list[str]] | None = None) -> ShowHandle:
    """Run ``app`` in this notebook cell, two-way through the kernel's comms.

    ``app`` is a ``def app(doc)`` function, a path to a script, directory app or
    notebook, or an Application. Its lifecycle is a served app's: ``on_server_loaded``,
    then ``on_session_created``, the app, and at ``close()`` (or when the same app
    is shown again, re-running the cell) ``on_session_destroyed`` and
    ``on_server_unloaded``. ``arguments`` stand in for a page's query arguments
    (``session_context.request.arguments``). An app that fails raises here.
    """
    from IPython.display import display

    served = current_session()
    if served is not None and served.channel.routes_comms:
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
    host: AppHost[KernelChannel] = AppHost(application)
    host.load()
    channel = KernelChannel()
    session = host.open_session(channel, request, uuid.uuid4().hex, loop=loop)
    track_kernel_widgets()
    handle = ShowHandle(session, key, host)
    started = _start_now(host.start_session(session), loop)
    if started.done():
        if started.exception() is not None:
            # The session is destroyed already: unloading waits for nothing.
            _start_now(host.unload(), loop)
            raise started.exception()  # type: ignore[misc]
    else:  # an async app or hook: it goes on on the loop; a failure is printed there
        started.add_done_callback(lambda future: _report_late_failure(future, session, host))
    _shown[key] = handle
    display(channel.container)
    return handle


def _report_late_failure(future: asyncio.Future[Any], session: Session[Any], host: AppHost[KernelChannel]) -> None:
    if future.cancelled() or future.exception() is None:
        return
    error = future.exception()
    session.loop.create_task(host.unload())
    log.error("%s", error)
    session.channel.report_error(error, session.application.name)  # type: ignore[arg-type]


def _start_now(coroutine: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
    """Run ``coroutine`` now, up to where it first waits; the rest runs on ``loop``.

    A cell cannot wait for the loop it runs on, yet a plain app should be in the
    cell's output, or raise there, when ``show`` returns: a session made of
    plain functions never waits, so it is done when this returns.
    """
    future: asyncio.Future[Any] = loop.create_future()

    def advance(_done: Any = None) -> None:
        try:
            waiting_on = coroutine.send(None)
        except StopIteration as stop:
            future.set_result(stop.value)
            return
        except BaseException as error:  # handed to whoever awaits the future
            future.set_exception(error)
            return
        if waiting_on is None:  # a bare yield (asyncio.sleep(0))
            loop.call_soon(advance)
        else:  # an asyncio future: go on when it is done, as a task would
            waiting_on._asyncio_future_blocking = False
            waiting_on.add_done_callback(advance)

    advance()
    return future


def _app_key(app: AppSpec) -> str:
    """The same app shown again has the same key, even when its cell was re-run."""
    if isinstance(app, (str, os.PathLike)):
        return "path:" + os.path.realpath(app)
    if callable(app) and hasattr(app, "__qualname__"):
        return f"func:{getattr(app, '__module__', '')}.{app.__qualname__}"
    return f"object:{id(app)}"
