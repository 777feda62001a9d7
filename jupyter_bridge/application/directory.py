"""Directory apps, as in the Bokeh server guide.

```
myapp/
  main.py                the app, run for every session
  server_lifecycle.py    optional: on_server_loaded / on_server_unloaded /
                         on_session_created / on_session_request /
                         on_session_destroyed
  static/                optional: served at /myapp/static/
  theme.yaml             optional: default trait values per widget class
  templates/index.html   optional: Jinja2 template of the page
```
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..theme import Theme, ThemeError
from ..theme import install as install_theme
from .handlers import Handler, NotAnAppError, ScriptHandler, app_imports

if TYPE_CHECKING:
    from ..contexts import ServerContext, SessionContext
    from ..document import Document

__all__ = ["DirectoryHandler"]

class DirectoryHandler(Handler):
    def __init__(self, path: str | os.PathLike[str], argv: list[str] | None = None) -> None:
        self.path = Path(path).resolve()
        self.name = self.path.name
        main = self.path / "main.py"
        if not main.is_file():
            raise NotAnAppError(f"{self.path} has no main.py; a directory app runs its main.py")
        try:
            self.main = ScriptHandler(main, argv, name=self.name)
        except SyntaxError as error:
            raise NotAnAppError(f"{error.filename}:{error.lineno}: {error.msg}; fix the script and start again") from None
        self.lifecycle = self._load_lifecycle(argv or [])
        static = self.path / "static"
        self.static_path: str | None = str(static) if static.is_dir() else None
        templates = self.path / "templates"
        self.template_path: str | None = str(templates) if (templates / "index.html").is_file() else None
        theme_file = self.path / "theme.yaml"
        try:
            self.theme = Theme.from_file(theme_file) if theme_file.is_file() else None
        except ThemeError as error:
            raise NotAnAppError(f"{error}; fix the theme and start again") from None

    def _load_lifecycle(self, argv: list[str]) -> ModuleType | None:
        path = self.path / "server_lifecycle.py"
        if not path.is_file():
            return None
        module = ModuleType(f"jupyter_bridge_lifecycle_{uuid.uuid4().hex}")
        module.__file__ = str(path)
        try:
            code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
        except SyntaxError as error:
            raise NotAnAppError(f"{error.filename}:{error.lineno}: {error.msg}; fix the script and start again") from None
        with app_imports(str(self.path), [str(path), *argv]):
            exec(code, module.__dict__)
        return module

    def guess_title(self) -> str | None:
        return self.main.guess_title()

    def modify_document(self, document: Document) -> Any:
        if self.theme is not None:
            install_theme()
            document.theme = self.theme
        return self.main.modify_document(document)

    # The lifecycle hooks are server_lifecycle.py's functions of the same names, if it has them.

    def on_server_loaded(self, server_context: ServerContext) -> None:
        self._lifecycle_hook("on_server_loaded", server_context)

    def on_server_unloaded(self, server_context: ServerContext) -> None:
        self._lifecycle_hook("on_server_unloaded", server_context)

    def on_session_created(self, session_context: SessionContext) -> Any:
        return self._lifecycle_hook("on_session_created", session_context)

    def on_session_destroyed(self, session_context: SessionContext) -> Any:
        return self._lifecycle_hook("on_session_destroyed", session_context)

    def on_session_request(self, session_context: SessionContext) -> Any:
        return self._lifecycle_hook("on_session_request", session_context)

    def _lifecycle_hook(self, name: str, context: ServerContext | SessionContext) -> Any:
        hook: Callable[..., Any] | None = getattr(self.lifecycle, name, None)
        return hook(context) if hook is not None else None
