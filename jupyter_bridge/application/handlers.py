"""Handlers: each app format knows how to fill a fresh document."""

from __future__ import annotations

import ast
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any

from .. import widget_states

if TYPE_CHECKING:
    from ..contexts import ServerContext, SessionContext
    from ..document import Document

__all__ = ["FunctionHandler", "Handler", "NotAnAppError", "ScriptHandler", "app_imports"]


class NotAnAppError(ValueError):
    """A path or object that cannot be served as an app; the text says why and what to do."""


class Handler:
    """Fills a document for one session. Subclasses say how.

    The lifecycle hooks do nothing here; a handler that has hooks (a
    directory app's ``server_lifecycle.py``) overrides them. A session hook may
    be a coroutine function.
    """

    #: A short name for logs, the index page and error messages.
    name = "app"
    #: The file or folder the app is built from, if it is built from one.
    path: Path | None = None
    #: A folder served at ``<app>/static/`` (a directory app's ``static/``).
    static_path: str | None = None
    #: A folder whose ``index.html`` Jinja2 template renders the app's page.
    template_path: str | None = None
    #: A folder whose media files the page may fetch at ``<app>/files/`` (a notebook's folder).
    files_path: str | None = None

    def modify_document(self, document: Document) -> Any:
        raise NotImplementedError

    def on_server_loaded(self, server_context: ServerContext) -> None:
        """Once, before the app's first session."""

    def on_server_unloaded(self, server_context: ServerContext) -> None:
        """Once, after the app's last session is destroyed."""

    def on_session_created(self, session_context: SessionContext) -> Any:
        """Before the app fills a new session's document."""

    def on_session_destroyed(self, session_context: SessionContext) -> Any:
        """Once the session's widgets are closed."""

    def on_session_request(self, session_context: SessionContext) -> Any:
        """Once the page's request is known: after the app ran, or when a page takes a prepared session."""

    def url_path(self) -> str:
        """The URL path this handler suggests, e.g. ``/sliders`` for sliders.py."""
        return "/" + self.name

    def guess_title(self) -> str | None:
        """The page title, if it can be known without running the app (for the index)."""
        return None


class FunctionHandler(Handler):
    """Runs ``func(doc)``; an ``async def`` function is awaited."""

    def __init__(self, func: Callable[[Document], Any]) -> None:
        if not callable(func):
            raise TypeError(f"an app function must be callable, not {type(func).__name__}")
        self.func = func
        self.name = getattr(func, "__name__", "app").strip("<>") or "app"

    def modify_document(self, document: Document) -> Any:
        return self.func(document)


class ScriptHandler(Handler):
    """Runs a Python script in a fresh module namespace for every session.

    The module is named ``jupyter_bridge_app_<hex>`` (so ``if __name__ ==
    "__main__"`` blocks do not run), ``__file__`` is the script's path, the
    script's folder is on ``sys.path`` while it runs, and ``sys.argv`` is the
    script's path followed by ``argv``.
    """

    def __init__(
        self, path: str | os.PathLike[str], argv: list[str] | None = None, name: str | None = None
    ) -> None:
        self.path = Path(path).resolve()
        self.argv = list(argv or [])
        self.name = name or self.path.stem
        # Compiled once: a changed file is picked up by a restart, or by --dev.
        source = self.path.read_text(encoding="utf-8")
        self.code: CodeType = compile(source, str(self.path), "exec")
        self._title = _title_assigned(source)

    def guess_title(self) -> str | None:
        return self._title

    def modify_document(self, document: Document) -> Any:
        code = self.code
        module = ModuleType(f"jupyter_bridge_app_{uuid.uuid4().hex}")
        module.__dict__["__file__"] = str(self.path)
        folder = str(self.path.parent)
        with app_imports(folder, [str(self.path), *self.argv]):
            sys.modules[module.__name__] = module
            try:
                exec(code, module.__dict__)
            finally:
                # Findable only while it runs (dataclasses, pickle and typing look
                # it up there); afterwards its functions keep it alive.
                sys.modules.pop(module.__name__, None)
        return None


def _title_assigned(source: str) -> str | None:
    """The string in a top-level ``<something>.title = "..."`` assignment, if any."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Attribute) and t.attr == "title" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    return None


@contextmanager
def app_imports(folder: str, argv: list[str]) -> Iterator[None]:
    """Run app code with ``folder`` first on ``sys.path`` and ``argv`` as ``sys.argv``.

    Modules the app imports from its own folder (``from helpers import load``)
    are dropped from ``sys.modules`` afterwards, so every session gets fresh ones
    and two apps that both have a ``helpers.py`` never see each other's.
    """
    saved_argv, saved_path = sys.argv, list(sys.path)
    before = set(sys.modules)
    sys.argv = argv
    sys.path.insert(0, folder)
    try:
        with widget_states.app_code_running(folder, before):
            yield
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
        prefix = os.path.join(folder, "")
        for name in set(sys.modules) - before:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file.startswith(prefix) and "-packages" not in file:
                del sys.modules[name]
