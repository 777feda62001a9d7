"""Per-session comms: widgets created while a session is current talk to that session.

ipywidgets (and anywidget) open every comm through ``comm.create_comm``, looked up at
call time. :func:`install` replaces it with a router that makes a
:class:`SessionComm` when a session is current, and otherwise calls whatever was
installed before (ipykernel's, in a kernel), so nothing else changes.
"""

from __future__ import annotations

import contextvars
import logging
from typing import TYPE_CHECKING, Any

import comm
from comm.base_comm import BaseComm, CommManager

if TYPE_CHECKING:
    from .session import Session

__all__ = ["SessionComm", "SessionCommManager", "current_session", "install"]

log = logging.getLogger(__name__)

#: The session whose code runs now; set by Session around everything it runs.
_current_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "jupyter_bridge_session", default=None
)


def current_session() -> Session | None:
    return _current_session.get()


class SessionCommManager(CommManager):
    """The comms of one session; the browser can reach only these."""

    def get_comm(self, comm_id: str) -> BaseComm | None:
        # The base class logs a warning for unknown ids; the session reports them instead.
        return self.comms.get(comm_id)


class SessionComm(BaseComm):
    """A comm whose messages go to its session's outbox."""

    def __init__(self, *args: Any, session: Session, **kwargs: Any) -> None:
        # BaseComm.__init__ publishes comm_open, so the session must be known first.
        self.session = session
        super().__init__(*args, **kwargs)

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
        if self.session.handling is not None:
            # Lets the page match an echo_update to the change it sent.
            content["parent"] = self.session.handling
        if msg_type == "comm_open":
            content["target_name"] = keys.get("target_name", self.target_name)
            content["target_module"] = keys.get("target_module", self.target_module)
        self.session.outbox.put(content, buffers)

    def open(
        self,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
    ) -> None:
        manager = self.session.comm_manager
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
        self.session.comm_manager.comms.pop(self.comm_id, None)


_previous_create_comm: Any = None


def _create_comm(*args: Any, **kwargs: Any) -> BaseComm:
    session = _current_session.get()
    if session is None or not session.routes_comms:
        return _previous_create_comm(*args, **kwargs)
    return SessionComm(*args, session=session, **kwargs)


def install() -> None:
    """Route ``comm.create_comm`` through the current session; idempotent.

    Called whenever a session starts running code, so a comm implementation
    installed later (ipykernel installs its own at kernel start) is chained too.
    """
    global _previous_create_comm
    if comm.create_comm is not _create_comm:
        _previous_create_comm = comm.create_comm
        comm.create_comm = _create_comm
