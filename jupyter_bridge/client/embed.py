"""``<script>`` tags that embed an app's session in a page another server renders.

As Bokeh's ``server_document`` / ``server_session``: put the returned tag where the
app should appear. The browser loads ``<app>/autoload.js`` from the jupyter_bridge
server, which builds the app's container there and connects. The embedding
page's host must be allowed to open session sockets:
``jupyter-bridge serve app.py --allow-websocket-origin=www.example.com``.
One embedded app per page.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping
from typing import Any

from ..protocol import ELEMENT_ID_ARGUMENT, SESSION_ID_ARGUMENT
from .connection import query_string, split_app_url

__all__ = ["server_document", "server_session"]


def server_document(url: str, arguments: Mapping[str, Any] | None = None, *, element_id: str | None = None) -> str:
    """A ``<script>`` tag showing a *new* session of the app at ``url`` on every page view.

    ``arguments`` reach the app as its request's query arguments
    (``{"N": 10}`` → ``session_context.request.arguments == {"N": [b"10"]}``).
    """
    return _script(url, dict(arguments or {}), element_id)


def server_session(session_id: str, url: str, *, element_id: str | None = None) -> str:
    """A ``<script>`` tag showing the existing session ``session_id`` of the app at ``url``.

    Typically ``session.id`` of a :func:`~jupyter_bridge.client.pull_session` that
    customised the session first. The page must load before the server reaps the
    session (its ``--unused-session-lifetime`` after the last connection closed).
    """
    if not isinstance(session_id, str) or not session_id:
        raise ValueError("server_session needs the id of a session (session.id)")
    return _script(url, {SESSION_ID_ARGUMENT: session_id}, element_id)


def _script(url: str, arguments: dict[str, Any], element_id: str | None) -> str:
    base, path = split_app_url(url)
    element_id = element_id or "jb-" + secrets.token_hex(8)
    query = query_string({ELEMENT_ID_ARGUMENT: element_id, **arguments})
    src = f"{base}{'' if path == '/' else path}/autoload.js?{query}"
    return f'<script id="{html.escape(element_id)}" src="{html.escape(src)}"></script>'
