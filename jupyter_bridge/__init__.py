"""jupyter_bridge: Bokeh's server model for Jupyter widgets.

Write an app once — a script, or ``def app(doc)`` — whose document holds ipywidgets,
and serve it with one fresh session per browser connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .application import Application
from .contexts import Request, ServerContext, SessionContext
from .document import (
    Document,
    NextTickCallback,
    PeriodicCallback,
    TimeoutCallback,
    curdoc,
    without_document_lock,
)
from .settings import BridgeSettings
from .version import __version__

if TYPE_CHECKING:
    from .application.push import PushTarget
    from .client import pull_session, push_session, server_document, server_session
    from .jupyter.show import show
    from .server import Server


__all__ = [
    "Application",
    "BridgeSettings",
    "Document",
    "NextTickCallback",
    "PeriodicCallback",
    "PushTarget",
    "Request",
    "Server",
    "ServerContext",
    "SessionContext",
    "TimeoutCallback",
    "__version__",
    "curdoc",
    "pull_session",
    "push_session",
    "server_document",
    "server_session",
    "show",
    "without_document_lock",
]

#: Names of jupyter_bridge.client offered here, imported on first use (the client needs tornado).
_CLIENT_NAMES = {"pull_session", "push_session", "server_document", "server_session"}


def __getattr__(name: str) -> Any:
    # The server pulls in tornado and Jinja2; apps that only use curdoc() need neither.
    if name == "Server":
        from .server import Server

        return Server
    if name == "show":
        from .jupyter.show import show

        return show
    if name == "PushTarget":
        from .application.push import PushTarget

        return PushTarget
    if name in _CLIENT_NAMES:
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module 'jupyter_bridge' has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The Jupyter server extension (``jupyter server extension enable|disable jupyter_bridge``).

    jupyter_server_config.d/jupyter_bridge.json, installed with the package, enables it.
    """
    # Imported on call: a kernel importing jupyter_bridge never loads jupyter_server.
    from .jupyter.extension import BridgeExtension

    return [{"module": "jupyter_bridge.jupyter.extension", "app": BridgeExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension, for ``jupyter labextension develop``.

    An installed wheel puts it in share/jupyter/labextensions/jupyter-bridge/ instead.
    """
    return [{"src": "labextension", "dest": "jupyter-bridge"}]
