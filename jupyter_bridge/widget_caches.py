"""Widgets a library keeps for the whole process, kept per session instead.

A few libraries keep a widget in a module-level dict the first time one is asked
for, and hand the same widget out from then on: ipyvue makes one ``Template``
widget per template file (``VueTemplate(template_file=...)``, the usual way to
write an ipyvuetify app) and keeps it in ``ipyvue.Template.template_registry``.
In a kernel that is right: one kernel, one user, one front end. In a server it
is not. The widget belongs to the session that happened to ask first, so the
pages of every other session are sent a reference to a model they do not have,
and once that session ends the widget is closed and every later session's app
fails (``'NoneType' object has no attribute 'comm_id'``).

Likewise a library's "current" state: ``ipyvolume.pylab`` keeps the figure that
``ipv.figure()`` made last (and every figure by key) as attributes of its module's
``current`` class, so two pages of a pylab app would draw into one another's
figure, or into a closed one.

So each cache named in :data:`CACHES` is replaced, once its module is imported,
by a :class:`PerSession` mapping: while a session runs, the cache is that
session's own dict, made empty when the session first uses it and dropped with
the session; outside any session (a library's file watcher thread, say) it is one
dict of its own. Each object of :data:`NAMESPACES` is replaced by a
:class:`PerSessionNamespace` the same way: its attributes are the current
session's own, starting from the values the library gave them. The library's
code is unchanged: it looks the module global up on each use, and finds ours.

A library may also offer a function that changes ipywidgets for the whole
process, for one notebook's sake: pythreejs's ``use_example_model_ids()``
replaces ``Widget.__init__`` so that every widget made afterwards gets the next
of a thousand numbered ids (its example notebooks call it to keep the ids saved
in their files stable). Served, it would number the widgets of every session and
every app of the server from one counter, predictably, and after a thousand
widgets every ``Widget()`` in the process would fail; numbering each session
from 1 instead would give two sessions the same ids in ipywidgets' process-wide
registry, where one session's page would reach the other's widgets. Each
function of :data:`PROCESS_CHANGES` therefore does nothing while a session runs
(its widgets keep their unique ids, and a page saves no widget state to keep
stable) and logs so once; outside sessions (a kernel) it works as before.
"""

from __future__ import annotations

import copy
import functools
import importlib.abc
import importlib.machinery
import logging
import sys
import types
import weakref
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any

__all__ = [
    "CACHES",
    "NAMESPACES",
    "PROCESS_CHANGES",
    "PerSession",
    "PerSessionNamespace",
    "RoutedMapping",
    "keep_per_session",
]

log = logging.getLogger(__name__)

#: (module, attribute) of each process-wide widget cache that must be per session.
CACHES: tuple[tuple[str, str], ...] = (("ipyvue.Template", "template_registry"),)
#: (module, attribute) of each object whose attributes hold a library's current widgets.
NAMESPACES: tuple[tuple[str, str], ...] = (("ipyvolume.pylab", "current"),)
#: (module, function) of each library function that changes ipywidgets for the whole process.
PROCESS_CHANGES: tuple[tuple[str, str], ...] = (("pythreejs._example_helper", "use_example_model_ids"),)


class RoutedMapping:
    """A mapping whose contents are chosen anew on each use: ``choose()`` returns the one to act on.

    Every operation, the chosen mapping's own methods included (an OrderedDict's
    ``move_to_end`` and ``popitem``), goes to what ``choose`` returns then; pyplot's
    figures (``Gcf.figs`` in served notebooks) are routed this way too.
    """

    def __init__(self, choose: Callable[[], MutableMapping[Any, Any]]) -> None:
        self._choose = choose

    def __getattr__(self, name: str) -> Any:  # get, pop, items, clear, move_to_end, ...
        return getattr(self._choose(), name)

    def __getitem__(self, key: Any) -> Any:
        return self._choose()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._choose()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._choose()[key]

    def __contains__(self, key: Any) -> bool:
        return key in self._choose()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._choose())

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self._choose())  # type: ignore[call-overload]

    def __len__(self) -> int:
        return len(self._choose())

    def __bool__(self) -> bool:
        return bool(self._choose())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} now {self._choose()!r}>"


class PerSession(RoutedMapping):
    """A mapping that is the current session's own dict (or one shared outside sessions).

    ``current`` names the session running now (``comms.current_session``), or None.
    """

    def __init__(self, current: Callable[[], Any], outside: dict[Any, Any] | None = None) -> None:
        super().__init__(self._current)
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


class PerSessionNamespace:
    """An object whose attributes are the current session's own (or the library's own outside sessions).

    Each session starts from ``initial``'s public attributes as the library set
    them, containers copied (``current.figures = {}`` must not be shared).
    """

    def __init__(self, current: Callable[[], Any], initial: Any) -> None:
        state = {
            name: value for name, value in vars(initial).items() if not name.startswith("_") and not callable(value)
        }
        object.__setattr__(self, "_current_session", current)
        object.__setattr__(self, "_initial", state)
        object.__setattr__(self, "_outside", initial)
        object.__setattr__(self, "_sessions", weakref.WeakKeyDictionary())

    def _namespace(self) -> Any:
        session = self._current_session()
        if session is None:
            return self._outside
        found = self._sessions.get(session)
        if found is None:
            found = types.SimpleNamespace(**{name: copy.copy(value) for name, value in self._initial.items()})
            self._sessions[session] = found
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._namespace(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._namespace(), name, value)


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
    for module_name, attribute in NAMESPACES:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        namespace = getattr(module, attribute, None)
        if namespace is not None and not isinstance(namespace, PerSessionNamespace):
            setattr(module, attribute, PerSessionNamespace(current, namespace))


def _inert_in_sessions(function: Callable[..., Any], current: Callable[[], Any]) -> Callable[..., Any]:
    """``function``, doing nothing (and saying so once) while a session runs."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        if current() is None:
            return function(*args, **kwargs)
        name = f"{function.__module__}.{function.__qualname__}()"
        if name not in _said:
            _said.add(name)
            log.warning(
                "%s does nothing in a served app: it changes every widget of the server process "
                "(served widgets keep their own unique ids)",
                name,
            )
        return None

    call.__jupyter_bridge_inert__ = True  # type: ignore[attr-defined]
    return call


_said: set[str] = set()


def _make_inert(module: types.ModuleType, current: Callable[[], Any]) -> None:
    """Replace ``module``'s functions of :data:`PROCESS_CHANGES`, and the package's re-export of each."""
    for module_name, attribute in PROCESS_CHANGES:
        if module.__name__ != module_name:
            continue
        function = getattr(module, attribute, None)
        if function is None or getattr(function, "__jupyter_bridge_inert__", False):
            continue
        inert = _inert_in_sessions(function, current)
        setattr(module, attribute, inert)
        package = sys.modules.get(module_name.rpartition(".")[0])
        if package is not None and getattr(package, attribute, None) is function:
            setattr(package, attribute, inert)


class _OnImport(importlib.abc.MetaPathFinder):
    """Makes a module of :data:`PROCESS_CHANGES` inert the moment it is imported, before anyone takes its names."""

    def __init__(self, current: Callable[[], Any]) -> None:
        self.current = current

    def find_spec(self, name: str, path: Sequence[str] | None, target: Any = None) -> Any:
        if not any(name == module_name for module_name, _ in PROCESS_CHANGES):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, current = spec.loader, self.current

        class Loader(importlib.abc.Loader):
            def create_module(self, spec: Any) -> Any:
                return loader.create_module(spec)

            def exec_module(self, module: types.ModuleType) -> None:
                loader.exec_module(module)  # type: ignore[attr-defined]
                _make_inert(module, current)

        spec.loader = Loader()
        return spec


_finder: _OnImport | None = None


def make_process_changes_inert(current: Callable[[], Any]) -> None:
    """Make each function of :data:`PROCESS_CHANGES` inert in sessions, now and when its module is imported; idempotent."""
    global _finder
    if _finder is None:
        _finder = _OnImport(current)
        sys.meta_path.insert(0, _finder)
    for module_name, _ in PROCESS_CHANGES:
        module = sys.modules.get(module_name)
        if module is not None:
            _make_inert(module, current)
