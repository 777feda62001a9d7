"""What can go wrong when a Python client talks to a jupyter_bridge server.

Every failure a user can cause or meet is one :class:`ClientError` subclass whose
text names the thing and the fix.
"""

from __future__ import annotations

__all__ = [
    "AppFailedError",
    "AppNotFoundError",
    "ClientError",
    "OriginRefusedError",
    "ServerUnreachableError",
    "SessionClosedError",
]


class ClientError(Exception):
    """A jupyter_bridge client could not do what was asked; the text says why."""


class ServerUnreachableError(ClientError):
    """Nothing answered at the server's address (not running, wrong host or port)."""


class AppNotFoundError(ClientError):
    """The server answered, but serves no app at that path (HTTP 404)."""


class OriginRefusedError(ClientError):
    """The server refused the WebSocket because of its Origin (HTTP 403)."""


class AppFailedError(ClientError):
    """The app raised while the server built the session's document."""


class SessionClosedError(ClientError):
    """The session has ended, or this client session was closed."""
