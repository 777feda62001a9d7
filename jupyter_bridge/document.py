"""The document: a session's root widgets, title and scheduled callbacks.

Names follow Bokeh's ``Document`` so that Bokeh users feel at home. Callbacks run on
the session's asyncio loop under the document lock, unless decorated with
:func:`without_document_lock`. Only :meth:`Document.add_next_tick_callback` and
:meth:`Document.remove_next_tick_callback` may be called from another thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import itertools
import logging
import math
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .logs import short_id

if TYPE_CHECKING:
    from ipywidgets import Widget

    from .contexts import SessionContext
    from .theme import Theme

__all__ = [
    "Document",
    "DocumentHost",
    "NextTickCallback",
    "PeriodicCallback",
    "SessionCallback",
    "TimeoutCallback",
    "current_document",
    "curdoc",
    "set_curdoc",
    "without_document_lock",
]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: The document of the session whose code is running now (None outside sessions).
_current_document: contextvars.ContextVar[Document | None] = contextvars.ContextVar(
    "jupyter_bridge_document", default=None
)
_default_document: Document | None = None
#: The title of a document whose app did not set one.
DEFAULT_TITLE = "jupyter_bridge app"
_ids = itertools.count(1)


def curdoc() -> Document:
    """The document of the session that is running this code.

    Outside any session (a plain Python prompt, a test) it is one process-wide
    document, as in Bokeh.
    """
    document = _current_document.get()
    if document is not None:
        return document
    global _default_document
    if _default_document is None:
        _default_document = Document()
    return _default_document


def current_document() -> Document | None:
    """The document of the session running this code, or None outside sessions."""
    return _current_document.get()


def set_curdoc(document: Document) -> contextvars.Token[Document | None]:
    """Make ``document`` what ``curdoc()`` returns in the current context.

    A session calls it once in its own ``contextvars.Context``; returns the token
    that ``contextvars.ContextVar.reset`` takes.
    """
    return _current_document.set(document)


class DocumentHost(Protocol):
    """What the session serving a document provides to it (see ``Document.attach``)."""

    #: The loop the document's callbacks run on.
    loop: asyncio.AbstractEventLoop
    #: The ``contextvars.Context`` they run in (``curdoc()`` is the document there).
    run_context: contextvars.Context
    #: Who the session is for: the document's ``session_context``.
    context: SessionContext

    def document_changed(self, document: Document) -> None:
        """The roots or the title changed."""

    def report_error(self, error: BaseException, where: str) -> None:
        """A callback raised ``error`` (already logged); ``where`` names it."""

    def owner_problem(self, widget: Widget) -> str | None:
        """Why ``widget`` cannot be a root of this document, or None if it can."""

    def callback_started(self, func: Callable[..., Any], label: str | None) -> Callable[[], None]:
        """A callback starts; what this returns is called when it ends (the session times them: activity.py)."""


def without_document_lock(func: F) -> F:
    """Run this callback without holding the document lock.

    Use it for a coroutine that waits on slow work (an executor, the network); it
    must not change widgets itself, but schedule a locked
    ``add_next_tick_callback`` to do so, as in the Bokeh guide.
    """
    func.__jupyter_bridge_nolock__ = True  # type: ignore[attr-defined]
    return func


class SessionCallback:
    """A callback the document has scheduled; pass it to the matching ``remove_*``."""

    def __init__(self, callback: Callable[[], Any]) -> None:
        if not callable(callback):
            raise TypeError(f"a callback must be callable, not {type(callback).__name__}")
        self.callback = callback
        self.id = next(_ids)
        self._handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self._cancelled = False

    def _cancel(self) -> None:
        self._cancelled = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def __repr__(self) -> str:
        name = getattr(self.callback, "__qualname__", repr(self.callback))
        return f"<{type(self).__name__} {self.id} {name}>"


class NextTickCallback(SessionCallback):
    """Runs once, as soon as the loop is free."""


class TimeoutCallback(SessionCallback):
    """Runs once, after ``timeout`` milliseconds."""

    def __init__(self, callback: Callable[[], Any], timeout: float) -> None:
        super().__init__(callback)
        self.timeout = _milliseconds(timeout, "timeout")


class PeriodicCallback(SessionCallback):
    """Runs every ``period`` milliseconds until removed or the session ends."""

    def __init__(self, callback: Callable[[], Any], period: float) -> None:
        super().__init__(callback)
        self.period = _milliseconds(period, "period")
        if self.period <= 0:
            raise ValueError(f"a periodic callback needs a period above 0 ms, not {period}")
        self._running = False


def _milliseconds(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of milliseconds, not {value!r}")
    if math.isnan(value):
        # NaN compares false with everything, so the loop's timer heap would misorder it.
        raise ValueError(f"{name} must be a number of milliseconds, not NaN")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return float(value)


class Document:
    """Root widgets, title, template variables and callbacks of one session."""

    def __init__(self) -> None:
        self._roots: list[Widget] = []
        # id() of each root, so that adding one is not a search of the list
        self._root_ids: set[int] = set()
        self._title = DEFAULT_TITLE
        self.template_variables: dict[str, Any] = {}
        #: Default trait values per widget class for widgets this document's code makes.
        self.theme: Theme | None = None
        self._root_names: dict[str, Widget] = {}
        self._restore_user_changes = True
        self._not_restored: weakref.WeakSet[Widget] = weakref.WeakSet()
        self._host: DocumentHost | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        # Guarded by _callbacks_lock: threads may add and remove next-tick callbacks.
        self._callbacks_lock = threading.Lock()
        self._callbacks: dict[int, SessionCallback] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._destroy_callbacks: list[Callable[[SessionContext], Any]] = []
        self._request_callbacks: list[Callable[[SessionContext], Any]] = []
        #: The app may have its sessions built ahead of their pages (``--prepared-sessions``):
        #: it reads nothing of the request (or user) while it builds, only in
        #: ``on_session_request`` callbacks. Set it while building: ``curdoc().prepare_ahead = True``.
        self.prepare_ahead = False
        self._destroyed = False
        self._page_widget_classes: list[type[Widget]] = []

    # Roots and title

    @property
    def roots(self) -> list[Widget]:
        """The root widgets, in display order (a copy)."""
        return list(self._roots)

    def add_root(self, widget: Widget, name: str | None = None) -> None:
        """Display ``widget`` as a root of this document (once; again is a no-op).

        ``name`` lets a page template place this root: ``{{ embed(roots.<name>) }}``.
        """
        self._check_root(widget, "add_root")
        if name is not None:
            self._root_names[name] = widget
        if id(widget) in self._root_ids:
            return
        self._roots.append(widget)
        self._root_ids.add(id(widget))
        self._changed()

    def set_roots(self, widgets: Iterable[Widget], names: Mapping[str, Widget] | None = None) -> None:
        """Display exactly ``widgets``, in order, as the roots: one change, however many.

        ``names`` maps template names to widgets (see :meth:`add_root`); a name
        whose widget is not among ``widgets`` is dropped. Every widget is checked
        before anything changes, so a bad one leaves the roots as they were.
        """
        roots: list[Widget] = []
        ids: set[int] = set()
        for widget in widgets:
            self._check_root(widget, "set_roots")
            if id(widget) not in ids:
                ids.add(id(widget))
                roots.append(widget)
        named = {name: widget for name, widget in (names or {}).items() if id(widget) in ids}
        if roots == self._roots and named == self._root_names:
            return
        self._roots, self._root_ids, self._root_names = roots, ids, named
        self._changed()

    def _check_root(self, widget: Widget, method: str) -> None:
        from ipywidgets import Widget

        if not isinstance(widget, Widget):
            raise TypeError(
                f"{method} takes an ipywidgets Widget, not {type(widget).__name__}; "
                "wrap other objects in a widget (e.g. ipywidgets.HTML or Output)"
            )
        if self._host is not None:
            problem = self._host.owner_problem(widget)
            if problem:
                raise ValueError(problem)

    def remove_root(self, widget: Widget) -> None:
        """Stop displaying ``widget`` (it stays alive; close it to free it)."""
        if id(widget) not in self._root_ids:
            raise ValueError(f"{widget!r} is not a root of this document")
        self._roots = [root for root in self._roots if root is not widget]
        self._root_ids.discard(id(widget))
        self._root_names = {k: v for k, v in self._root_names.items() if v is not widget}
        self._changed()

    def clear(self) -> None:
        """Remove every root."""
        self._root_names.clear()
        if self._roots:
            self._roots.clear()
            self._root_ids.clear()
            self._changed()

    @property
    def named_roots(self) -> dict[str, Widget]:
        """Roots added with a name (a copy)."""
        return dict(self._root_names)

    @property
    def title(self) -> str:
        return self._title

    @title.setter
    def title(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"title must be a string, not {type(value).__name__}")
        if value != self._title:
            self._title = value
            self._changed()

    # Widgets a page opens

    def allow_page_widgets(self, *classes: type[Widget]) -> None:
        """Let this session's pages open widgets of ``classes`` themselves.

        Some widget front ends make models of their own (a ``comm_open`` from the
        page) and expect the Python side to make the widget. A page may open only
        what its session's app allows here — these class objects, the app's own —
        plus the models known libraries make (pythreejs's shadows and cameras)
        and those the server allows (``--page-widgets``). Each page-opened widget
        runs its class's Python code for the page: allow only classes written
        for it.
        """
        from ipywidgets import Widget

        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, Widget)):
                raise TypeError(f"allow_page_widgets takes ipywidgets Widget classes, not {cls!r}")
            if cls not in self._page_widget_classes:
                self._page_widget_classes.append(cls)

    @property
    def page_widget_classes(self) -> list[type[Widget]]:
        """The widget classes this session's pages may open (:meth:`allow_page_widgets`; a copy)."""
        return list(self._page_widget_classes)

    # What a fresh session of the app takes back from its page (docs/apps.md)

    @property
    def restore_user_changes(self) -> bool:
        """Whether a page that lands in a fresh session of this app gets its user's changes back.

        A page whose session is gone (the server restarted, its process died,
        ``--dev`` reloaded the app) is given a fresh session and replays into it,
        in order, the changes its user made to the widgets, so the app's callbacks
        run again. True by default; False starts every such page from the app's
        initial state.
        """
        return self._restore_user_changes

    @restore_user_changes.setter
    def restore_user_changes(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"restore_user_changes must be True or False, not {value!r}")
        if value != self._restore_user_changes:
            self._restore_user_changes = value
            self._changed()

    def do_not_restore(self, *widgets: Widget) -> None:
        """Never restore what the user changes in these widgets, nor in any widget inside them.

        For a password field or anything else that must not outlive its session:
        the page does not keep those changes, and a fresh session refuses them.
        """
        from ipywidgets import Widget

        for widget in widgets:
            if not isinstance(widget, Widget):
                raise TypeError(f"do_not_restore takes ipywidgets Widgets, not {type(widget).__name__}")
        added = [widget for widget in widgets if widget not in self._not_restored]
        for widget in added:
            self._not_restored.add(widget)
        if added:
            self._changed()

    @property
    def not_restored(self) -> list[Widget]:
        """The widgets marked with :meth:`do_not_restore` (a copy)."""
        return list(self._not_restored)

    @property
    def session_context(self) -> SessionContext | None:
        """The session this document belongs to (None outside a served session)."""
        return self._host.context if self._host is not None else None

    def _changed(self) -> None:
        if self._host is not None:
            self._host.document_changed(self)

    # Callbacks

    def add_next_tick_callback(self, callback: Callable[[], Any]) -> NextTickCallback:
        """Run ``callback`` once on the loop, soon. Thread-safe."""
        cb = NextTickCallback(callback)
        self._register(cb)
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._start_next_tick, cb)
        return cb

    def remove_next_tick_callback(self, callback: NextTickCallback) -> None:
        """Cancel a next-tick callback that has not run yet. Thread-safe."""
        self._unregister(callback, NextTickCallback)

    def add_timeout_callback(self, callback: Callable[[], Any], timeout: float) -> TimeoutCallback:
        """Run ``callback`` once after ``timeout`` milliseconds."""
        cb = TimeoutCallback(callback, timeout)
        self._register(cb)
        if self._loop is not None:
            self._start_timeout(cb)
        return cb

    def remove_timeout_callback(self, callback: TimeoutCallback) -> None:
        self._unregister(callback, TimeoutCallback)

    def add_periodic_callback(self, callback: Callable[[], Any], period: float) -> PeriodicCallback:
        """Run ``callback`` every ``period`` milliseconds.

        A run that is still going when the next is due makes that next run skip.
        """
        cb = PeriodicCallback(callback, period)
        self._register(cb)
        if self._loop is not None:
            self._start_periodic(cb)
        return cb

    def remove_periodic_callback(self, callback: PeriodicCallback) -> None:
        self._unregister(callback, PeriodicCallback)

    def clear_callbacks(self) -> None:
        """Remove every next-tick, timeout and periodic callback (``on_session_destroyed`` ones stay)."""
        with self._callbacks_lock:
            pending = list(self._callbacks.values())
            self._callbacks.clear()
        for cb in pending:
            if self._loop is not None and not _on_loop(self._loop):
                self._loop.call_soon_threadsafe(cb._cancel)
            else:
                cb._cancel()

    @property
    def callbacks(self) -> list[SessionCallback]:
        """The callbacks still scheduled (a copy)."""
        with self._callbacks_lock:
            return list(self._callbacks.values())

    def on_session_destroyed(self, *callbacks: Callable[[SessionContext], Any]) -> None:
        """Call each ``callback(session_context)`` when the session is destroyed."""
        for callback in callbacks:
            if not callable(callback):
                raise TypeError(f"on_session_destroyed takes callables, not {callback!r}")
            self._destroy_callbacks.append(callback)

    def on_session_request(self, *callbacks: Callable[[SessionContext], Any]) -> None:
        """Call each ``callback(session_context)`` once the page's request is known.

        That is right after the app has built the document, or, for a session
        prepared ahead of its page (``--prepared-sessions``), when a page takes it:
        the place to read ``session_context.request`` and ``user`` in an app that
        sets ``prepare_ahead``. Callbacks run in order, inside the session.
        """
        for callback in callbacks:
            if not callable(callback):
                raise TypeError(f"on_session_request takes callables, not {callback!r}")
            self._request_callbacks.append(callback)

    def take_request_callbacks(self) -> list[Callable[[SessionContext], Any]]:
        """The ``on_session_request`` callbacks to run now (each runs once)."""
        callbacks, self._request_callbacks = self._request_callbacks, []
        return callbacks

    def _register(self, cb: SessionCallback) -> None:
        if self._destroyed:
            raise RuntimeError("this document's session has been destroyed; it runs no more callbacks")
        with self._callbacks_lock:
            self._callbacks[cb.id] = cb

    def _unregister(self, cb: SessionCallback, kind: type[SessionCallback]) -> None:
        if not isinstance(cb, kind):
            raise TypeError(
                f"expected the {kind.__name__} returned by add_…, got {type(cb).__name__}"
            )
        with self._callbacks_lock:
            found = self._callbacks.pop(cb.id, None)
        if found is None:
            raise ValueError(f"{cb!r} has already run or been removed")
        if self._loop is not None and not _on_loop(self._loop):
            self._loop.call_soon_threadsafe(cb._cancel)
        else:
            cb._cancel()

    # Running on a loop

    def attach(self, host: DocumentHost) -> None:
        """Start running callbacks on the host's loop, inside its context.

        Called once, by the session that serves this document, on the loop thread;
        from now on the host hears of changes and errors and vets new roots.
        """
        if self._host is not None:
            raise RuntimeError("this document is already served by a session")
        loop = host.loop
        self._host = host
        self._loop = loop
        self._lock = asyncio.Lock()
        for cb in self.callbacks:
            if isinstance(cb, NextTickCallback):
                loop.call_soon(self._start_next_tick, cb)
            elif isinstance(cb, TimeoutCallback):
                self._start_timeout(cb)
            elif isinstance(cb, PeriodicCallback):
                self._start_periodic(cb)

    def _start_next_tick(self, cb: NextTickCallback) -> None:
        with self._callbacks_lock:
            if self._callbacks.pop(cb.id, None) is None:
                return
        self._spawn(cb)

    def _start_timeout(self, cb: TimeoutCallback) -> None:
        assert self._loop is not None

        def fire() -> None:
            with self._callbacks_lock:
                if self._callbacks.pop(cb.id, None) is None:
                    return
            self._spawn(cb)

        cb._handle = self._loop.call_later(cb.timeout / 1000, fire)

    def _start_periodic(self, cb: PeriodicCallback) -> None:
        assert self._loop is not None
        loop = self._loop
        period = cb.period / 1000
        due = loop.time() + period

        def fire() -> None:
            nonlocal due
            if cb._cancelled:
                return
            due += period
            now = loop.time()
            if due < now:  # fell behind (a blocked loop): skip the missed runs
                due = now + period
            cb._handle = loop.call_at(due, fire)
            if not cb._running:
                self._spawn(cb)

        cb._handle = loop.call_at(due, fire)

    def _spawn(self, cb: SessionCallback) -> None:
        if cb._cancelled or self._destroyed or self._host is None:
            return
        assert self._loop is not None
        task = self._loop.create_task(self._invoke(cb), context=self._host.run_context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _invoke(self, cb: SessionCallback) -> None:
        if isinstance(cb, PeriodicCallback):
            cb._running = True
        try:
            await self.run_locked(cb.callback)
        finally:
            if isinstance(cb, PeriodicCallback):
                cb._running = False

    async def run_locked(self, func: Callable[[], Any], *, label: str | None = None) -> Any:
        """Run ``func`` (plain or coroutine function) as a document callback.

        It holds the document lock until all its work, awaited included, is done,
        unless ``func`` is decorated with :func:`without_document_lock`. An exception
        is logged with its traceback and reported; the session goes on.
        """
        locked = not getattr(func, "__jupyter_bridge_nolock__", False)
        token = _current_document.set(self)
        ended = self._host.callback_started(func, label) if self._host is not None else None
        try:
            if locked and self._lock is not None:
                async with self._lock:
                    return await _call(func)
            return await _call(func)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            where = label or getattr(func, "__qualname__", repr(func))
            context = self._host.context if self._host is not None else None
            if context is not None:
                log.exception(
                    "Error in callback %s of session %s of %s", where, short_id(context.id), context.server_context.url_path
                )
            else:
                log.exception("Error in callback %s", where)
            if self._host is not None:
                self._host.report_error(error, where)
            return None
        finally:
            _current_document.reset(token)
            if ended is not None:
                ended()

    def close(self) -> list[Callable[[SessionContext], Any]]:
        """Stop every callback for good; return the on_session_destroyed callbacks to run.

        Called by the session that serves this document when it is destroyed.
        """
        self._destroyed = True
        with self._callbacks_lock:
            pending = list(self._callbacks.values())
            self._callbacks.clear()
        for cb in pending:
            cb._cancel()
        for task in list(self._tasks):
            task.cancel()
        callbacks, self._destroy_callbacks = self._destroy_callbacks, []
        self._request_callbacks = []
        return callbacks

    def detach(self) -> None:
        """Forget the host and the roots (their widgets are closed by now).

        The host refers to the document and the document to its host: breaking
        that cycle lets a destroyed session's memory go without a full collection.
        """
        self._host = None
        self._roots.clear()
        self._root_ids.clear()
        self._root_names.clear()


async def _call(func: Callable[[], Any]) -> Any:
    result = func()
    if inspect.isawaitable(result):
        result = await result
    return result


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
