"""Applications: what a session runs to fill its document, one handler per app format."""

from __future__ import annotations

from .application import Application, AppSpec, NotAnAppError, build_application
from .handlers import FunctionHandler, Handler, ScriptHandler


def __getattr__(name: str) -> type:
    # Loaded on first use: they pull in YAML, nbformat and IPython.
    if name == "DirectoryHandler":
        from .directory import DirectoryHandler

        return DirectoryHandler
    if name == "NotebookHandler":
        from .notebook import NotebookHandler

        return NotebookHandler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AppSpec",
    "Application",
    "DirectoryHandler",
    "FunctionHandler",
    "Handler",
    "NotAnAppError",
    "NotebookHandler",
    "ScriptHandler",
    "build_application",
]
