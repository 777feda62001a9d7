"""Per-session comms: widgets created while a session is current talk to that session.

ipywidgets (and anywidget) open every comm through ``comm.create_comm``, looked up at
call time. :func:`install` replaces it with a router that asks the current
session's channel for the comm when that channel routes comms (a browser
channel makes a :class:`SessionComm`), and otherwise calls whatever was installed
before (ipykernel's, in a kernel), so nothing else changes. :func:`chain` puts
another router in that fallback position.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import comm
from comm.base_comm import BaseComm, CommManager

from . import widget_states
from .widget_caches import keep_per_session

if TYPE_CHECKING:
    from .channels import BrowserChannel
    from .session import Session

__all__ = [
    "SessionComm",
    "SessionCommManager",
    "SharedComm",
    "chain",
    "current_session",
    "install",
    "set_current_session",
    "shared_comms",
]

log = logging.getLogger(__name__)

#: The session whose code runs now; set by Session around everything it runs.
_current_session: contextvars.ContextVar[Session[Any] | None] = contextvars.ContextVar(
    "jupyter_bridge_session", default=None
)


def current_session() -> Session[Any] | None:
    """The session whose code is running now, or None."""
    return _current_session.get()


def set_current_session(session: Session[Any]) -> None:
    """Make ``session`` the current one in the current ``contextvars.Context``.

    A session calls it once, in the context it runs all its code in.
    """
    _current_session.set(session)


class SessionCommManager(CommManager):
    """The comms of one session; the browser can reach only these."""

    def get_comm(self, comm_id: str) -> BaseComm | None:
        # The base class logs a warning for unknown ids; the session reports them instead.
        return self.comms.get(comm_id)


class SessionComm(BaseComm):
    """A comm whose messages go to its browser channel's outbox."""

    def __init__(self, *args: Any, channel: BrowserChannel, **kwargs: Any) -> None:
        # BaseComm.__init__ publishes comm_open, so the channel must be known first.
        self.channel = channel
        #: State keys whose updates are not sent now (see withholding).
        self.withheld: frozenset[str] = frozenset()
        super().__init__(*args, **kwargs)

    @contextlib.contextmanager
    def withholding(self, keys: Iterable[str]) -> Iterator[None]:
        """Send no update of ``keys`` meanwhile: the page has newer values of them.

        For a widget the page made: its constructor sets traits (to their
        defaults) before the page's state is applied, and the page must not get
        those values after it has its own.
        """
        self.withheld = frozenset(keys)
        try:
            yield
        finally:
            self.withheld = frozenset()

    @property
    def session(self) -> Session[Any] | None:
        """The session this comm's widget belongs to."""
        return self.channel.session

    def publish_msg(
        self,
        msg_type: str,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
        **keys: Any,
    ) -> None:
        target: dict[str, Any] = {}
        if self.withheld and msg_type == "comm_msg" and (data or {}).get("method") == "update":
            data, buffers = _without(data or {}, buffers or [], self.withheld)
            if not data["state"]:
                return
        if msg_type == "comm_open":
            target = {
                "target_name": keys.get("target_name", self.target_name),
                "target_module": keys.get("target_module", self.target_module),
            }
        self.channel.put_comm_message(self, msg_type, data or {}, metadata or {}, buffers, **target)

    def open(
        self,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
    ) -> None:
        manager = self.channel.comm_manager
        manager.register_comm(self)
        try:
            self.publish_msg(
                "comm_open",
                data=self._open_data if data is None else data,
                metadata=metadata,
                buffers=buffers,
                target_name=self.target_name,
                target_module=self.target_module,
            )
            self._closed = False
        except Exception:
            manager.unregister_comm(self)
            raise

    def close(
        self,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
        deleting: bool = False,
    ) -> None:
        if self._closed:
            return
        self._closed = True
        self.publish_msg(
            "comm_close",
            data=self._close_data if data is None else data,
            metadata=metadata,
            buffers=buffers,
        )
        self.channel.comm_manager.comms.pop(self.comm_id, None)


def _without(data: dict[str, Any], buffers: list[Any], keys: frozenset[str]) -> tuple[dict[str, Any], list[Any]]:
    """An update message's ``data`` and ``buffers`` less the state of ``keys``."""
    paths = data.get("buffer_paths", [])
    kept = [index for index, path in enumerate(paths) if path[0] not in keys]
    state = {key: value for key, value in data.get("state", {}).items() if key not in keys}
    return {**data, "state": state, "buffer_paths": [paths[i] for i in kept]}, [buffers[i] for i in kept]


#: The comms of widgets shared by every session, by comm id (see SharedComm).
shared_comms: weakref.WeakValueDictionary[str, SharedComm] = weakref.WeakValueDictionary()


class SharedComm(BaseComm):
    """The comm of a widget a library makes once, when it is imported, for all to use.

    ipycanvas sends every drawing command through one canvas manager made at
    import; ipyvue's widgets all refer to one loader widget. Such a widget must
    not belong to the session whose code happened to import the library (it
    would close with that session, and other sessions would talk through it to
    the first one's page). A shared comm is opened in each browser channel that
    needs it, before the first message that does: when one of the session's
    widgets refers to it, or when the session's code sends through it. Custom messages go only
    to the session whose code sends them (a canvas manager's commands are for
    that session's canvases); state changes go to every channel it is open in.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.channels: weakref.WeakSet[BrowserChannel] = weakref.WeakSet()
        self._opening: dict[str, Any] = {}
        super().__init__(*args, **kwargs)
        shared_comms[self.comm_id] = self

    def open(
        self,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
    ) -> None:
        self._closed = False
        session = _current_session.get()
        if session is not None and session.channel.routes_comms:
            self._opening = {"data": data or {}, "metadata": metadata or {}, "buffers": buffers or []}
            self.open_in(session.channel)
            self._opening = {}

    def open_in(self, channel: BrowserChannel) -> None:
        """Open this comm in ``channel`` (its page gets the widget's current state); idempotent."""
        if channel in self.channels or self._closed or channel.outbox.closed:
            return
        self.channels.add(channel)
        channel.comm_manager.register_comm(self)
        if self._opening:
            data, metadata, buffers = self._opening["data"], self._opening["metadata"], self._opening["buffers"]
        else:
            from ipywidgets.widgets.widget import _instances

            widget = _instances.get(self.comm_id)
            if widget is None:
                return
            _, data, buffers = widget_states.opening(widget)
            metadata = widget_states.open_metadata()
        channel.put_comm_message(
            self, "comm_open", data, metadata, buffers, answering=False,
            target_name=self.target_name, target_module=self.target_module,
        )  # fmt: skip

    def leave(self, channel: BrowserChannel) -> None:
        """``channel``'s session ended: stop sending to it (the widget lives on)."""
        self.channels.discard(channel)
        channel.comm_manager.comms.pop(self.comm_id, None)

    def publish_msg(
        self,
        msg_type: str,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
        **keys: Any,
    ) -> None:
        data = data or {}
        session = _current_session.get()
        current = session.channel if session is not None and session.channel.routes_comms else None
        if current is not None:
            self.open_in(current)
        if msg_type == "comm_msg" and data.get("method") == "custom" and current is not None:
            targets = [current]  # a command for this session's own widgets
        else:
            targets = [c for c in self.channels if not c.outbox.closed]
        for channel in targets:
            channel.put_comm_message(self, msg_type, data, metadata or {}, buffers, answering=channel is current)

    def close(
        self,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
        deleting: bool = False,
    ) -> None:
        if self._closed:
            return
        self.publish_msg("comm_close", data=self._close_data if data is None else data, metadata=metadata)
        self._closed = True
        for channel in list(self.channels):
            self.leave(channel)
        shared_comms.pop(self.comm_id, None)


def made_by_a_library_import() -> bool:
    """Whether the code running now is an installed library's module being imported.

    The innermost module-level frame tells: it must be run by the import system
    (not an app's script or notebook, which the app runs itself) for a module
    whose file is in an installed-packages folder (not an app's own helper).
    """
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back
    if frame is None or frame.f_back is None:
        return False
    imported = frame.f_back.f_code.co_filename.startswith("<frozen importlib")
    return imported and f"-packages{os.sep}" in (frame.f_globals.get("__file__") or "")


_previous_create_comm: Any = None
#: For each router put under ours with chain(): the create_comm it replaced.
_below: dict[Any, Any] = {}


def _create_comm(*args: Any, **kwargs: Any) -> BaseComm:
    session = _current_session.get()
    if session is not None:
        # Before the widget being made can land in a library's process-wide cache.
        keep_per_session(current_session)
    if session is None or not session.channel.routes_comms:
        return _previous_create_comm(*args, **kwargs)
    taken = _taken(kwargs.get("comm_id"))
    if taken:
        raise ValueError(
            f"a widget with model id {taken!r} already exists in this server, whose sessions share one registry "
            "of widgets: leave model_id out and ipywidgets gives each widget an id of its own"
        )
    if made_by_a_library_import():
        return SharedComm(*args, **kwargs)
    return session.channel.create_comm(*args, **kwargs)


def _taken(comm_id: Any) -> str | None:
    """``comm_id`` if a live widget or comm has it already (an app chose it: ``Widget(model_id=...)``), else None.

    ipywidgets keeps widgets by id for the whole process: a second widget of
    that id would take the first's place there, and one session's page would
    reach the other session's widget.
    """
    if not isinstance(comm_id, str):
        return None
    from ipywidgets.widgets.widget import _instances

    return comm_id if comm_id in _instances or comm_id in shared_comms else None


def install() -> None:
    """Route ``comm.create_comm`` through the current session; idempotent.

    Called whenever a session starts running code, so a comm implementation
    installed later (ipykernel installs its own at kernel start) is chained too.
    """
    global _previous_create_comm
    if comm.create_comm is not _create_comm:
        _previous_create_comm = comm.create_comm
        comm.create_comm = _create_comm


def chain(router: Callable[..., BaseComm]) -> Callable[..., BaseComm]:
    """Make ``router`` the ``create_comm`` used when no session routes the comm.

    Returns the ``create_comm`` that ``router`` replaced, which it calls for the
    comms it does not make itself. Call it again before each use: if someone has
    replaced ``comm.create_comm`` since, ours goes back on top and ``router`` is
    put under it again (its fallback then being the newcomer); the chain never
    loops.
    """
    global _previous_create_comm
    install()
    if _previous_create_comm is not router:
        _below[router] = _previous_create_comm
        _previous_create_comm = router
    return _below[router]
