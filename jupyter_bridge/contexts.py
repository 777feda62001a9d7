"""What an app can see of the request that made its session and of the server running it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from .document import Document
    from .session import Session

__all__ = ["Request", "ServerContext", "SessionContext"]


@dataclass(frozen=True)
class Request:
    """What the page request carried, as the app sees it.

    ``arguments`` maps each query argument to its list of values as bytes
    (``?N=10`` gives ``{"N": [b"10"]}``), like Tornado and Bokeh. ``protocol``
    is ``http`` or ``https`` and ``remote_ip`` the client's address, as the
    browser sees them when the server runs behind a proxy with
    ``--use-xheaders`` (``X-Forwarded-Proto``/``X-Scheme``, ``X-Forwarded-For``/
    ``X-Real-Ip``); ``host`` is the ``Host`` the page was asked for.
    """

    arguments: dict[str, list[bytes]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    remote_ip: str | None = None
    path: str = "/"
    protocol: str = "http"
    host: str | None = None

    @property
    def uri(self) -> str:
        """The path and query the app was asked for (without the server's own arguments)."""
        query = urlencode(
            [(name, value.decode("utf-8", "surrogateescape")) for name, values in self.arguments.items() for value in values]
        )
        return f"{self.path}?{query}" if query else self.path


class ServerContext:
    """What an application can see of the server that runs it.

    The :class:`~jupyter_bridge.application.host.AppHost` that creates and destroys
    an application's sessions (for a server, ``show`` or an export) registers them
    here, so that ``sessions`` lists exactly the live ones.
    """

    def __init__(self, url_path: str = "/") -> None:
        self.url_path = url_path
        self._sessions: dict[str, Session[Any]] = {}

    @property
    def sessions(self) -> list[SessionContext]:
        """The contexts of the sessions of this application that are alive."""
        return [s.context for s in self._sessions.values()]

    def add_session(self, session: Session[Any]) -> None:
        """Count ``session`` among the live ones (before its app runs)."""
        self._sessions[session.id] = session

    def remove_session(self, session: Session[Any]) -> None:
        """Forget ``session`` (once it is destroyed); idempotent."""
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]


class SessionContext:
    """Who a session is for: its id, the request that made it, the server's context.

    A session prepared ahead of its page (``--prepared-sessions``) is built before
    anyone asks for it: until a page takes it, ``waiting`` is True, ``request`` is
    empty and ``user`` None. Reading either then is noted (``read_while_waiting``):
    the server will not hand such a session to a page, as what the app read was
    not the page's. Read them in ``on_session_request`` instead, which runs once
    the page's request is there, prepared or not.
    """

    def __init__(
        self,
        session_id: str,
        request: Request,
        server_context: ServerContext | None = None,
        user: Any = None,
        *,
        waiting: bool = False,
    ) -> None:
        self.id = session_id
        self._request = request
        self.server_context = server_context or ServerContext()
        self._user = user
        #: True once the session has been destroyed.
        self.destroyed = False
        #: The session's document; set by the Session that serves this context.
        self.document: Document | None = None
        #: Built ahead of its page (``--prepared-sessions``); stays True once handed to one.
        self.prepared = waiting
        #: Built ahead and not yet handed to a page: the request is not known yet.
        self.waiting = waiting
        #: What was read of the request while ``waiting`` ("request" or "user"), if anything.
        self.read_while_waiting: str | None = None

    @property
    def request(self) -> Request:
        """What the page request carried (empty while the session waits for its page)."""
        if self.waiting and self.read_while_waiting is None:
            self.read_while_waiting = "request"
        return self._request

    @request.setter
    def request(self, request: Request) -> None:
        self._request = request

    @property
    def user(self) -> Any:
        """The logged-in user the session is for (None without an auth module, or while it waits)."""
        if self.waiting and self.read_while_waiting is None:
            self.read_while_waiting = "user"
        return self._user

    @user.setter
    def user(self, user: Any) -> None:
        self._user = user

    def apply_request(self, request: Request, user: Any = None) -> None:
        """Give a session built ahead the request (and user) of the page it now serves."""
        self._request = request
        self._user = user
        self.waiting = False

    def __repr__(self) -> str:
        return f"<SessionContext {self.id}>"
