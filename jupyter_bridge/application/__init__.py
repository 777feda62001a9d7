"""Applications: what a session runs to fill its document, one handler per app format."""

from __future__ import annotations

from .application import Application, AppSpec, NotAnAppError, build_application
from .handlers import FunctionHandler, Handler, ScriptHandler

__all__ = [
    "AppSpec",
    "Application",
    "FunctionHandler",
    "Handler",
    "NotAnAppError",
    "ScriptHandler",
    "build_application",
]
