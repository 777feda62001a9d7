"""jupyter_bridge: Bokeh's server model for Jupyter widgets.

Write an app once — a script, or ``def app(doc)`` — whose document holds ipywidgets,
and serve it with one fresh session per browser connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .application import Application
from .document import (
    Document,
    NextTickCallback,
    PeriodicCallback,
    TimeoutCallback,
    curdoc,
    without_document_lock,
)
from .session import Request, ServerContext, SessionContext
from .settings import BridgeSettings

if TYPE_CHECKING:
    from .jupyter.show import show
    from .server import Server

__version__ = "0.1.0"

__all__ = [
    "Application",
    "BridgeSettings",
    "Document",
    "NextTickCallback",
    "PeriodicCallback",
    "Request",
    "Server",
    "ServerContext",
    "SessionContext",
    "TimeoutCallback",
    "__version__",
    "curdoc",
    "show",
    "without_document_lock",
]


def __getattr__(name: str) -> Any:
    # The server pulls in tornado and Jinja2; apps that only use curdoc() need neither.
    if name == "Server":
        from .server import Server

        return Server
    if name == "show":
        from .jupyter.show import show

        return show
    raise AttributeError(f"module 'jupyter_bridge' has no attribute {name!r}")
