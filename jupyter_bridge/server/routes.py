"""The route list: every page, socket and asset of a Bridge, under its prefix.

The standalone :class:`~jupyter_bridge.server.Server` and the Jupyter server
extension both mount ``routes(bridge)``; handlers find their state in the
``Bridge`` passed to them, never in globals.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import autoload, notebook_files, views, websocket
from .bridge import Bridge
from .not_found import NotFoundHandler

__all__ = ["Route", "path_pattern", "routes"]

#: A Tornado URL spec: pattern, handler class, the handler's initialize() arguments.
Route = tuple[str, type, dict[str, Any]]


def routes(bridge: Bridge, wrap: Callable[[type], type] | None = None) -> list[Route]:
    """Tornado URL specs for every handler of ``bridge``, under its prefix.

    ``wrap`` turns each handler class into the one to mount (the Jupyter
    extension adds Jupyter's authentication to every handler this way).
    """
    prefix = bridge.prefix
    args = {"bridge": bridge}
    found: list[Route] = [
        (prefix + r"/static/nbextensions/(.*)", views.WidgetModuleHandler, args),
        (prefix + r"/static/(.*)", views.AssetHandler, args),
        (prefix + r"/healthz", views.HealthHandler, args),
    ]
    if bridge.auth is not None:
        found.extend(bridge.auth.routes(prefix))
    if bridge.settings.metrics:
        from .metrics import MetricsHandler

        found.append((prefix + r"/metrics", MetricsHandler, args))
    if bridge.settings.admin:
        from ..admin import ADMIN_PATH, mount

        found.extend(mount(bridge))  # the admin app, with handlers of its own
    for url_path, served in bridge.apps.items():
        if bridge.settings.admin and url_path == ADMIN_PATH:
            continue
        app_url = "" if url_path == "/" else path_pattern(url_path)
        app_args = {"bridge": bridge, "url_path": url_path}
        found.append((prefix + app_url + r"/ws", websocket.SessionSocket, app_args))
        static_path = served.application.static_path
        if static_path:
            found.append((prefix + app_url + r"/static/(.*)", views.AppStaticFileHandler,
                          {"bridge": bridge, "path": static_path}))
        found.append((prefix + app_url + r"/autoload\.js", autoload.AutoloadHandler, app_args))
        found.append((prefix + app_url + r"/files/(.*)", notebook_files.NotebookFilesHandler, app_args))
        if bridge.settings.dev:
            found.append((prefix + app_url + r"/app-version", views.AppVersionHandler, app_args))
        found.append((prefix + app_url + r"/?", views.PageHandler, app_args))
    if bridge.resolver is not None:
        dynamic = {"bridge": bridge, "url_path": None}
        found.append((prefix + r"(/apps/.+?)/ws", websocket.SessionSocket, dynamic))
        found.append((prefix + r"(/apps/.+?\.ipynb)/files/(.*)", notebook_files.NotebookFilesHandler, dynamic))
        found.append((prefix + r"(/apps/.+?)/autoload\.js", autoload.AutoloadHandler, dynamic))
        found.append((prefix + r"(/apps/.+?)/?", views.PageHandler, dynamic))
    if "/" not in bridge.apps:
        found.append((prefix + r"/?", views.IndexHandler, args))
    found.append((prefix + r"/.*", NotFoundHandler, args))  # last: what nothing else serves
    if wrap is not None:
        found = [(pattern, wrap(handler), kwargs) for pattern, handler, kwargs in found]
    return found


def path_pattern(path: str) -> str:
    """A pattern of ``path`` as browsers send it: each character as is or percent-encoded.

    Tornado matches routes against the path as sent, and a browser encodes some
    characters (a space in ``My app.ipynb``'s ``/My app``) and not others.
    """
    parts = []
    for char in path:
        if char.isascii() and (char.isalnum() or char in "/-_.~"):
            parts.append(re.escape(char))
        else:
            encoded = "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
            parts.append(f"(?:{re.escape(char)}|{encoded}|{encoded.lower()})")
    return "".join(parts)
