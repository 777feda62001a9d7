"""Per-session comms: widgets created while a session is current talk to that session.

ipywidgets (and anywidget) open every comm through ``comm.create_comm``, looked up at
call time. :func:`install` replaces it with a router that asks the current
session's channel for the comm when that channel routes comms (a browser
channel makes a :class:`SessionComm`), and otherwise calls whatever was installed
before (ipykernel's, in a kernel), so nothing else changes. :func:`chain` puts
another router in that fallback position.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import comm
from comm.base_comm import BaseComm, CommManager

if TYPE_CHECKING:
    from .channels import BrowserChannel
    from .session import Session

__all__ = [
    "SessionComm",
    "SessionCommManager",
    "chain",
    "current_session",
    "install",
    "set_current_session",
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
        super().__init__(*args, **kwargs)

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
        content: dict[str, Any] = {
            "type": msg_type,
            "comm_id": self.comm_id,
            "data": data or {},
            "metadata": metadata or {},
        }
        if self.channel.handling is not None:
            # Lets the page match an echo_update to the change it sent.
            content["parent"] = self.channel.handling
        if msg_type == "comm_open":
            content["target_name"] = keys.get("target_name", self.target_name)
            content["target_module"] = keys.get("target_module", self.target_module)
        self.channel.outbox.put(content, buffers)

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


_previous_create_comm: Any = None
#: For each router put under ours with chain(): the create_comm it replaced.
_below: dict[Any, Any] = {}


def _create_comm(*args: Any, **kwargs: Any) -> BaseComm:
    session = _current_session.get()
    if session is None or not session.channel.routes_comms:
        return _previous_create_comm(*args, **kwargs)
    return session.channel.create_comm(*args, **kwargs)


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
