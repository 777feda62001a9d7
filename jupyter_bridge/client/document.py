"""The client's view of a session's document: its root widgets and title, kept current."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ipywidgets import Widget

if TYPE_CHECKING:
    from .mirrors import Mirrors

__all__ = ["ClientDocument"]

log = logging.getLogger(__name__)

W = TypeVar("W", bound=Widget)


class ClientDocument:
    """A session's document as the client sees it: root widgets and title, kept current.

    Roots are live widgets of this process (mirrors of the server's, or the pushed
    ones). Setting ``title``, ``add_root`` and ``remove_root`` change the server's
    document too (roots must be widgets of the session).

    A :class:`~jupyter_bridge.client.ClientSession` makes it, with its mirrors and
    the function that sends a ``doc`` message to the server.
    """

    def __init__(self, mirrors: Mirrors, send_document: Callable[..., Any]) -> None:
        self._mirrors = mirrors
        self._send_document = send_document
        self._roots: list[Widget] = []
        self._title = ""
        self._listeners: list[Callable[[ClientDocument], None]] = []

    @property
    def roots(self) -> list[Widget]:
        """The root widgets, in display order (a copy)."""
        return list(self._roots)

    @property
    def title(self) -> str:
        return self._title

    @title.setter
    def title(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"title must be a string, not {type(value).__name__}")
        self._title = value
        self._send_document(title=value)

    def add_root(self, widget: Widget) -> None:
        """Show ``widget`` (a widget of this session) after the other roots."""
        if widget not in self._roots:
            self._set_roots([*self._roots, widget])

    def remove_root(self, widget: Widget) -> None:
        if widget not in self._roots:
            raise ValueError(f"{widget!r} is not a root of this document")
        self._set_roots([w for w in self._roots if w is not widget])

    def _set_roots(self, roots: list[Widget]) -> None:
        ids = [self._mirrors.remote_id(widget) for widget in roots]
        self._roots = roots
        self._send_document(roots=ids)

    @property
    def models(self) -> list[Widget]:
        """Every widget of the session, mirrored in this process."""
        return self._mirrors.widgets()

    def get_model_by_id(self, model_id: str) -> Widget | None:
        """The widget whose model id *on the server* is ``model_id``."""
        return self._mirrors.get(model_id)

    def select(self, cls: type[W]) -> list[W]:
        """The session's widgets that are instances of ``cls``, in creation order."""
        return [w for w in self._mirrors.widgets() if isinstance(w, cls)]

    def select_one(self, cls: type[W]) -> W:
        """The one widget of class ``cls``; ValueError if there is none or several."""
        found = self.select(cls)
        if len(found) != 1:
            raise ValueError(f"the document has {len(found)} {cls.__name__} widgets, not one")
        return found[0]

    def on_change(self, callback: Callable[[ClientDocument], None]) -> None:
        """Call ``callback(document)`` (on the client's thread) when the server's roots or title change."""
        self._listeners.append(callback)

    def apply_server_doc(self, title: str, roots: list[Widget]) -> None:
        """Take the server's title and roots (the session calls this for each ``doc`` message)."""
        self._title = title
        self._roots = roots
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception:
                log.exception("Error in a document change callback")

    def __repr__(self) -> str:
        return f"<ClientDocument {self._title!r} roots={self._roots!r}>"
