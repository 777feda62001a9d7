"""Per-session output: ``print``, ``display`` and ``ipywidgets.Output`` inside served sessions.

In a kernel, ``print`` and ``display`` go to the cell that runs, and ``with out:``
(an ``ipywidgets.Output``) captures them through the kernel's message ids. A served
session has no kernel, and many sessions share one process, so :func:`install`
replaces the process-wide hooks with routers that ask the context of the running
code where its output goes:

- ``sys.stdout`` / ``sys.stderr`` become proxies;
- ``IPython.display.display``, ``clear_output``, ``publish_display_data`` (and the
  names ``ipywidgets.widgets.interaction`` and ``widget_output`` bound early) become
  routers;
- ``ipywidgets.Output.__enter__`` / ``__exit__`` make the widget the target of the
  session's context while the ``with`` block runs.

Each router sends output to the current :class:`OutputTarget` of the running
context (a contextvar, so sessions never see each other's targets), and otherwise
calls whatever was installed before: a kernel or a plain Python process behaves
exactly as before. ``Output`` widgets are only taken over inside a session that
routes its own comms (a served page); in a kernel ipywidgets keeps its own way.

Known limits: a thread does not inherit the context of the code that started it,
so its output goes to the real streams; a coroutine that awaits inside ``with
out:`` shares the target with the other callbacks of its session meanwhile (as
one kernel shares its output area); writes made by the ``logging`` module always
go to the real stream, so server logs never reach a page.
"""

from __future__ import annotations

import base64
import contextvars
import logging
import sys
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from . import comms

__all__ = ["Display", "OutputTarget", "current_target", "install", "redirect", "show_in", "write_to"]

log = logging.getLogger(__name__)

#: The output targets of the running context, innermost last. Holds OutputTargets
#: and _Passthrough markers (an Output widget left to ipywidgets, in a kernel).
_targets: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar(
    "jupyter_bridge_output", default=()
)

_ROUTER = "__jupyter_bridge_router__"
_BINARY_MIME = ("image/png", "image/jpeg", "image/gif", "image/webp")


@dataclass
class Display:
    """One ``display`` call's output: the mime bundle, and the object if there was one."""

    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    obj: Any = None
    display_id: str | None = None
    update: bool = False


class OutputTarget:
    """Where the output of the code running in one context goes, while it is current."""

    def write(self, name: str, text: str) -> None:
        """Text written to ``sys.stdout`` (``name`` "stdout") or ``sys.stderr``."""
        raise NotImplementedError

    def show(self, item: Display) -> None:
        """A displayed object (or, with ``item.update``, a new value of an earlier display)."""
        raise NotImplementedError

    def clear(self, wait: bool = False) -> None:
        """``clear_output``; ``wait`` clears when the next output arrives."""
        raise NotImplementedError


class _Passthrough:
    """An Output widget entered outside a served session: ipywidgets handles it."""

    def __init__(self, widget: Any) -> None:
        self.widget = widget


def current_target() -> OutputTarget | None:
    """The target output goes to now, or None for the real streams and hooks."""
    stack = _targets.get()
    if stack and isinstance(stack[-1], OutputTarget):
        return stack[-1]
    return None


@contextmanager
def redirect(target: OutputTarget) -> Iterator[OutputTarget]:
    """Send this context's output to ``target`` while the block runs (routers installed)."""
    install()
    marker = _push(target)
    try:
        yield target
    finally:
        _remove(lambda entry: entry is marker)


def _push(entry: Any) -> Any:
    _targets.set((*_targets.get(), entry))
    return entry


def _remove(matches: Callable[[Any], bool]) -> Any:
    """Drop the innermost entry that ``matches``; return it (None if there is none)."""
    stack = _targets.get()
    for index in range(len(stack) - 1, -1, -1):
        if matches(stack[index]):
            _targets.set(stack[:index] + stack[index + 1 :])
            return stack[index]
    return None


def write_to(target: OutputTarget | None, name: str, text: str) -> None:
    """Write to ``target``, or to the real stream (what was there before install) if None."""
    if target is not None:
        target.write(name, text)
        return
    stream = getattr(sys, name)
    if isinstance(stream, _StreamRouter):
        stream = stream.previous
    stream.write(text)


def show_in(target: OutputTarget | None, item: Display) -> None:
    """Show ``item`` in ``target``, or with the display hook installed before if None."""
    if target is not None:
        target.show(item)
        return
    kwargs: dict[str, Any] = {}
    if item.display_id:
        kwargs = {"display_id": item.display_id, "update": item.update}
    if item.obj is not None:
        _previous_display(item.obj, **kwargs)
    else:
        _previous_display(item.data, raw=True, metadata=item.metadata, **kwargs)


# Streams


class _StreamRouter:
    """``sys.stdout`` / ``sys.stderr``: the current target's, else the stream it replaced."""

    def __init__(self, previous: Any, name: str) -> None:
        self.previous = previous
        self.name = name

    def write(self, text: str) -> int:
        target = current_target()
        # Log records go to the server's log, never to a page.
        if target is None or sys._getframe(1).f_globals.get("__name__") == "logging":
            return self.previous.write(text)
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        target.write(self.name, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.previous.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.previous, name)

    def __repr__(self) -> str:
        return f"<jupyter_bridge {self.name} router over {self.previous!r}>"


# display / clear_output / publish_display_data

_formatter: Any = None
# The earliest display hook found, for targets that hand output back (show_in).
_previous_display: Callable[..., Any] = print
#: Where each display_id of a session was shown, so updates reach it from anywhere.
_displays: weakref.WeakKeyDictionary[Any, dict[str, OutputTarget]] = weakref.WeakKeyDictionary()


def _format(obj: Any, include: Any = None, exclude: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    global _formatter
    from IPython.core.interactiveshell import InteractiveShell

    if InteractiveShell.initialized():  # a kernel: its formatters (matplotlib's, ...)
        formatter = InteractiveShell.instance().display_formatter
    else:
        if _formatter is None:
            from IPython.core.formatters import DisplayFormatter

            _formatter = DisplayFormatter()
        formatter = _formatter
    return formatter.format(obj, include=include, exclude=exclude)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """Binary images as base64 text, as Jupyter sends them."""
    return {
        mime: base64.b64encode(value).decode("ascii")
        if isinstance(value, bytes) and mime in _BINARY_MIME
        else value
        for mime, value in data.items()
    }


def _registry() -> dict[str, OutputTarget] | None:
    session = comms.current_session()
    if session is None:
        return None
    registry = _displays.get(session)
    if registry is None:
        registry = _displays[session] = {}
        # Its targets hold the session's widgets, which hold the session: drop them with it.
        session.document.on_session_destroyed(lambda _context: _displays.pop(session, None))
    return registry


def _make_display(previous: Callable[..., Any]) -> Callable[..., Any]:
    def display(*objs: Any, **kwargs: Any) -> Any:
        target = current_target()
        display_id = kwargs.get("display_id")
        update = bool(kwargs.get("update"))
        registry = _registry()
        if update and display_id and registry is not None and display_id in registry:
            target = registry[display_id]  # an update goes where the display went
        if target is None:
            return previous(*objs, **kwargs)
        from IPython.display import DisplayHandle

        raw = kwargs.get("raw", False)
        metadata = kwargs.get("metadata") or {}
        if display_id is True:
            display_id = uuid.uuid4().hex
        if not objs and display_id:
            objs, raw = ({},), True  # a placeholder to update later
        if kwargs.get("clear"):
            target.clear(wait=True)
        for obj in objs:
            if raw:
                data, md = obj, dict(metadata)
            else:
                data, md = _format(obj, kwargs.get("include"), kwargs.get("exclude"))
                if not data:  # it displayed itself (_ipython_display_)
                    continue
                md.update(metadata)
            target.show(Display(_jsonable(data), md, None if raw else obj, display_id or None, update))
        if display_id:
            if registry is not None and not update:
                registry[display_id] = target
            return DisplayHandle(display_id)
        return None

    return display


def _make_clear_output(previous: Callable[..., Any]) -> Callable[..., Any]:
    def clear_output(wait: bool = False) -> None:
        target = current_target()
        if target is None:
            previous(wait=wait)
        else:
            target.clear(wait=wait)

    return clear_output


def _make_publish_display_data(previous: Callable[..., Any]) -> Callable[..., Any]:
    def publish_display_data(*args: Any, **kwargs: Any) -> None:
        target = current_target()
        if target is None:
            previous(*args, **kwargs)
            return
        data = args[0] if args else kwargs["data"]
        metadata = (args[1] if len(args) > 1 else kwargs.get("metadata")) or {}
        display_id = (kwargs.get("transient") or {}).get("display_id")
        target.show(Display(_jsonable(data), dict(metadata), None, display_id, bool(kwargs.get("update"))))

    return publish_display_data


# ipywidgets.Output


class _OutputWidget(OutputTarget):
    """An ``ipywidgets.Output`` of a served session: output becomes its ``outputs``."""

    def __init__(self, widget: Any) -> None:
        self.widget = widget
        self.clear_pending = False
        self.display_index: dict[str, list[int]] = {}

    def _append(self, output: dict[str, Any]) -> None:
        if self.clear_pending:
            self.clear()
        self.widget.outputs = (*self.widget.outputs, output)

    def write(self, name: str, text: str) -> None:
        if not text:
            return
        if self.clear_pending:
            self.clear()
        outputs = list(self.widget.outputs)
        last = outputs[-1] if outputs else None
        if last is not None and last.get("output_type") == "stream" and last.get("name") == name:
            # New dicts, never changed in place, so traitlets sees the change.
            outputs[-1] = {**last, "text": last["text"] + text}
            self.widget.outputs = tuple(outputs)
        else:
            self._append({"output_type": "stream", "name": name, "text": text})

    def show(self, item: Display) -> None:
        output = {"output_type": "display_data", "data": item.data, "metadata": item.metadata}
        if item.update:
            outputs = list(self.widget.outputs)
            for index in self.display_index.get(item.display_id or "", []):
                outputs[index] = output
            self.widget.outputs = tuple(outputs)
            return
        self._append(output)
        if item.display_id:
            self.display_index.setdefault(item.display_id, []).append(len(self.widget.outputs) - 1)

    def clear(self, wait: bool = False) -> None:
        if wait:
            self.clear_pending = True
            return
        self.clear_pending = False
        self.display_index.clear()
        self.widget.outputs = ()

    def error(self, error: BaseException) -> None:
        lines = "".join(traceback.format_exception(error)).rstrip("\n").split("\n")
        self._append(
            {"output_type": "error", "ename": type(error).__name__, "evalue": str(error), "traceback": lines}
        )


_previous_enter: Callable[..., Any] | None = None
_previous_exit: Callable[..., Any] | None = None


def _in_served_session() -> bool:
    """Whether this session's channel captures output (a kernel's leaves it to ipywidgets)."""
    session = comms.current_session()
    return session is not None and session.channel.routes_comms


def _output_enter(self: Any) -> Any:
    if _in_served_session():
        sys.stdout.flush()
        sys.stderr.flush()
        # One per widget, so a pending clear_output(wait=True) outlives its `with` block.
        target = self.__dict__.get("_jupyter_bridge_output")
        if target is None:
            target = self._jupyter_bridge_output = _OutputWidget(self)
        _push(target)
        return None
    if _targets.get():  # a target is current: writes inside go to the real stream (the kernel's)
        _push(_Passthrough(self))
    assert _previous_enter is not None
    return _previous_enter(self)


def _output_exit(
    self: Any, etype: type[BaseException] | None, evalue: BaseException | None, tb: TracebackType | None
) -> bool | None:
    entry = _remove(lambda e: isinstance(e, (_OutputWidget, _Passthrough)) and e.widget is self)
    if isinstance(entry, _OutputWidget):
        if isinstance(evalue, Exception):
            # As in a kernel: the error is shown in the widget and goes no further.
            entry.error(evalue)
            log.error("Error inside an Output widget (shown in it)", exc_info=(etype, evalue, tb))
            return True
        return None
    if entry is None and _in_served_session():
        return None  # entered in another context: nothing of ours to undo
    assert _previous_exit is not None
    return _previous_exit(self, etype, evalue, tb)


_output_enter.__jupyter_bridge_router__ = True  # type: ignore[attr-defined]
_output_exit.__jupyter_bridge_router__ = True  # type: ignore[attr-defined]


# Installing


def _route(module: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    current = module.__dict__.get(name)
    if current is None or getattr(current, _ROUTER, False):
        return
    router = make(current)
    setattr(router, _ROUTER, True)
    router.__wrapped__ = current  # type: ignore[attr-defined]
    router.__name__ = name
    router.__doc__ = current.__doc__
    setattr(module, name, router)


def install() -> None:
    """Route stdout, stderr, display and ``Output`` through the current target; idempotent.

    Called whenever a session starts, so a stream or hook installed since (a test
    runner's capture, a kernel's stream) is chained too.
    """
    global _previous_display, _previous_enter, _previous_exit
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _StreamRouter):
            setattr(sys, name, _StreamRouter(stream, name))

    import IPython.core.display_functions as display_functions
    import IPython.display as ipython_display
    from ipywidgets import Output
    from ipywidgets.widgets import interaction, widget_output

    original = display_functions.__dict__.get("display")
    if original is not None and not getattr(original, _ROUTER, False):
        _previous_display = original
    for module in (display_functions, ipython_display, interaction):
        _route(module, "display", _make_display)
    for module in (display_functions, ipython_display, interaction, widget_output):
        _route(module, "clear_output", _make_clear_output)
    for module in (display_functions, ipython_display):
        _route(module, "publish_display_data", _make_publish_display_data)

    if not getattr(Output.__dict__.get("__enter__"), _ROUTER, False):
        _previous_enter = Output.__enter__
        _previous_exit = Output.__exit__
        Output.__enter__ = _output_enter
        Output.__exit__ = _output_exit
