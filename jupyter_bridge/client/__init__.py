"""Python clients of a jupyter_bridge server, and embedding in other sites' pages.

- :func:`pull_session` — connect to a session of a served app; its ``document``
  holds live ipywidgets mirrors of the session's widgets.
- :func:`push_session` — publish a document built in this process as a new
  session of a :class:`PushTarget` app (the server half, defined in
  ``jupyter_bridge.application.push`` and offered here too).
- :func:`server_document`, :func:`server_session` — ``<script>`` tags that embed
  an app's session in a page rendered elsewhere (Flask, Django, static HTML).

See docs/client.md.
"""

from __future__ import annotations

from ..application.push import PushTarget
from .document import ClientDocument
from .embed import server_document, server_session
from .errors import (
    AppFailedError,
    AppNotFoundError,
    ClientError,
    OriginRefusedError,
    ServerUnreachableError,
    SessionClosedError,
)
from .push import push_session
from .session import ClientSession, pull_session
from .widgets import UnknownWidget

__all__ = [
    "AppFailedError",
    "AppNotFoundError",
    "ClientDocument",
    "ClientError",
    "ClientSession",
    "OriginRefusedError",
    "PushTarget",
    "ServerUnreachableError",
    "SessionClosedError",
    "UnknownWidget",
    "pull_session",
    "push_session",
    "server_document",
    "server_session",
]
