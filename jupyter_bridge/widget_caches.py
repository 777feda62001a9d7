"""Widgets a library caches for the whole process, kept per session instead.

A few libraries keep a widget in a module-level dict the first time one is asked
for, and hand the same widget out from then on: ipyvue makes one ``Template``
widget per template file (``VueTemplate(template_file=...)``, the usual way to
write an ipyvuetify app) and keeps it in ``ipyvue.Template.template_registry``.
In a kernel that is right: one kernel, one user, one front end. In a server it
is not. The widget belongs to the session that happened to ask first, so the
pages of every other session are sent a reference to a model they do not have,
and once that session ends the widget is closed and every later session's app
fails (``'NoneType' object has no attribute 'comm_id'``).

So each cache named in :data:`CACHES` is replaced, once its module is imported,
by a :class:`PerSession` mapping: while a session runs, the cache is that
session's own dict, made empty when the session first uses it and dropped with
the session; outside any session (a library's file watcher thread, say) it is one
dict of its own. The library's code is unchanged: it looks the module global up
on each use, and finds the mapping.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

__all__ = ["CACHES", "PerSession", "keep_per_session"]

#: (module, attribute) of each process-wide widget cache that must be per session.
CACHES: tuple[tuple[str, str], ...] = (("ipyvue.Template", "template_registry"),)


class PerSession(MutableMapping[Any, Any]):
    """A mapping that is the current session's own dict (or one shared outside sessions).

    ``current`` names the session running now (``comms.current_session``), or None.
    """

    def __init__(self, current: Callable[[], Any], outside: dict[Any, Any] | None = None) -> None:
        self._current_session = current
        self._sessions: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()
        self._outside: dict[Any, Any] = dict(outside or {})

    def _current(self) -> dict[Any, Any]:
        session = self._current_session()
        if session is None:
            return self._outside
        found = self._sessions.get(session)
        if found is None:
            found = self._sessions[session] = {}
        return found

    def __getitem__(self, key: Any) -> Any:
        return self._current()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._current()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._current()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


def keep_per_session(current: Callable[[], Any]) -> None:
    """Put a :class:`PerSession` in place of each cache of :data:`CACHES` already imported; cheap when done.

    ``current`` names the session running now (see :class:`PerSession`).
    """
    for module_name, attribute in CACHES:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        cache = getattr(module, attribute, None)
        if isinstance(cache, dict):
            # What is in it was made outside any session (a kernel's own use): it stays there.
            setattr(module, attribute, PerSession(current, cache))
