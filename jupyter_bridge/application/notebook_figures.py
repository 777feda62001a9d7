"""Matplotlib in served notebooks: each session its own backend, figures and interactive mode.

Matplotlib keeps its state process-wide: pyplot's backend, its figures (``Gcf.figs``,
numbered from 1, the last one "current") and the interactive flag. The sessions of a
served notebook share one process, so once pyplot is imported (after a notebook app
has been loaded) that state is routed to the session whose code runs:

- ``Gcf.figs`` is the running session's own ordered dict of figures (outside any
  session, the process's own one): every page has its own Figure 1, ``plt.gcf()``
  never draws into another page's figure, and a session's figures are closed when
  it ends. This holds for every app of the process, scripts included.
- pyplot's backend, in a notebook session, is what its ``%matplotlib`` chose:
  ``inline`` (the default, as in JupyterLab) shows figures as PNG images,
  ``widget`` / ``ipympl`` as ipympl canvases. Other sessions keep the process's
  backend (a script's ``matplotlib.use("widget")`` still selects ipympl for it).
- ``matplotlib.interactive`` / ``is_interactive`` (``plt.ion``, ``plt.ioff``) are
  per notebook session, on by default as in Jupyter.

After each cell :func:`flush` does what IPython's post-execute hooks do in a kernel:
inline shows every figure drawn in the cell and closes them, widget shows the canvas
of every figure made in the cell (interactive mode only, as ipympl does).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import io
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import comms
from ..widget_caches import RoutedMapping

if TYPE_CHECKING:
    from ..session import Session

__all__ = ["MODES", "flush", "select", "start", "watch"]

#: ``%matplotlib NAME`` -> the mode a served notebook runs it in (a bare ``%matplotlib`` is inline).
MODES = {"": "inline", "inline": "inline", "widget": "widget", "ipympl": "widget"}
_BACKEND_NAMES = {
    "inline": "inline", "module://matplotlib_inline.backend_inline": "inline",
    "widget": "widget", "ipympl": "widget", "module://ipympl.backend_nbagg": "widget",
}  # fmt: skip
ACCEPTED = "%matplotlib inline (images) or %matplotlib widget / %matplotlib ipympl (interactive ipympl figures)"


@dataclass
class _SessionFigures:
    """One session's share of pyplot."""

    figs: OrderedDict[Any, Any] = field(default_factory=OrderedDict)
    notebook: bool = False
    mode: str | None = None  # None: the process's backend
    interactive: bool = True
    #: Figures to show after the cell: those drawn (inline) or made (widget) while interactive.
    pending: list[Any] = field(default_factory=list)


_states: dict[Session[Any], _SessionFigures] = {}
_installed = False


def watch() -> None:
    """Route pyplot's state per session from the moment pyplot is imported (or now, if it is)."""
    if _installed:
        return
    if "matplotlib.pyplot" in sys.modules:
        _install()
    elif not any(isinstance(finder, _WhenPyplotImported) for finder in sys.meta_path):
        sys.meta_path.insert(0, _WhenPyplotImported())


def start() -> None:
    """The current session runs a notebook: inline figures, interactive, until a magic says otherwise."""
    watch()
    state = _state()
    if state is not None:
        state.notebook, state.mode, state.interactive = True, "inline", True


def select(line: str) -> str | None:
    """Run ``%matplotlib LINE`` for the current session; a sentence for the page if it cannot."""
    words = line.split()
    if any(word in ("-l", "--list") for word in words):
        _say(f"Available matplotlib backends in a served notebook: {ACCEPTED}\n", "stdout")
        return None
    name = next((word for word in words if not word.startswith("-")), "")
    mode = MODES.get(name.lower())
    if mode is None:
        return f"%matplotlib {name} cannot run in a served notebook: use {ACCEPTED}."
    if mode == "widget" and importlib.util.find_spec("ipympl") is None:
        return f"%matplotlib {name} needs ipympl on the server: pip install ipympl, then start the server again."
    import matplotlib.pyplot  # noqa: F401  (as IPython's magic does; installs the routing)

    _switch(mode)
    return None


def flush(shown: list[Any]) -> None:
    """After a cell: show what the session's backend shows then (``shown``: what the cell showed itself)."""
    state = _state()
    if state is None or not state.notebook or not state.pending:
        return
    pending, state.pending = state.pending, []
    if state.mode == "inline":
        _inline().show()
    elif state.mode == "widget":
        from IPython.display import display

        alive = {manager.canvas.figure for manager in state.figs.values()}
        for figure in pending:
            if figure in alive and figure.canvas not in shown:
                display(figure.canvas)


def _say(text: str, stream: str) -> None:
    from .. import output

    output.write_to(output.current_target(), stream, text)


def _state() -> _SessionFigures | None:
    session = comms.current_session()
    if session is None:
        return None
    state = _states.get(session)
    if state is None:
        if session.destroyed:
            return None
        state = _states[session] = _SessionFigures()
        session.document.on_session_destroyed(lambda _context: _close_all(session))
    return state


def _notebook_state() -> _SessionFigures | None:
    state = _state()
    return state if state is not None and state.notebook else None


def _close_all(session: Session[Any]) -> None:
    """The session ends: close every figure pyplot still holds for it (and forget them)."""
    state = _states.pop(session, None)
    if state is None:
        return
    while state.figs:
        _num, manager = state.figs.popitem()
        if hasattr(manager, "_cidgcf"):
            manager.canvas.mpl_disconnect(manager._cidgcf)
        manager.destroy()
    state.pending.clear()


def _switch(mode: str) -> None:
    """The current notebook session draws with ``mode`` from now on; its figures close, as on a switch."""
    state = _notebook_state()
    if state is None:
        return
    from matplotlib import pyplot

    if state.mode != mode:
        pyplot.close("all")
    state.mode, state.interactive = mode, True


def _figs() -> OrderedDict[Any, Any]:
    """What ``Gcf.figs`` stands for now: the running session's figures, or the process's outside sessions."""
    state = _state()
    if state is not None:
        return state.figs
    if comms.current_session() is not None:  # a session being destroyed: nothing to keep
        return OrderedDict()
    return _process_figs


_process_figs: OrderedDict[Any, Any] = OrderedDict()


class _WhenPyplotImported(importlib.abc.MetaPathFinder):
    """Installs the routing right after ``matplotlib.pyplot`` is first imported, before any figure exists."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "matplotlib.pyplot":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _InstallAfter(spec.loader)
        return spec


class _InstallAfter(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        _install()


def _install() -> None:
    global _installed, _process_figs
    if _installed:
        return
    _installed = True
    import matplotlib
    from matplotlib import pyplot
    from matplotlib._pylab_helpers import Gcf

    _process_figs = Gcf.figs
    Gcf.figs = RoutedMapping(_figs)  # type: ignore[assignment]

    get_backend_mod = pyplot._get_backend_mod
    switch_backend = pyplot.switch_backend
    interactive, is_interactive = matplotlib.interactive, matplotlib.is_interactive

    def routed_get_backend_mod() -> Any:
        state = _notebook_state()
        if state is None or state.mode is None:
            return get_backend_mod()
        return _inline() if state.mode == "inline" else _widget_backend()

    def routed_switch_backend(newbackend: Any) -> None:
        state = _notebook_state()
        mode = _BACKEND_NAMES.get(newbackend.lower()) if isinstance(newbackend, str) else None
        if state is None or mode is None:
            if state is not None:
                state.mode = None  # another backend, chosen by the notebook's code: the process's
            switch_backend(newbackend)
            return
        _switch(mode)

    def routed_interactive(b: bool) -> None:
        state = _notebook_state()
        if state is None:
            interactive(b)
        else:
            state.interactive = bool(b)

    def routed_is_interactive() -> bool:
        state = _notebook_state()
        return is_interactive() if state is None else state.interactive

    routed_switch_backend.__doc__ = switch_backend.__doc__
    _route_interact_flush()
    pyplot._get_backend_mod = routed_get_backend_mod  # type: ignore[assignment]
    pyplot.switch_backend = routed_switch_backend  # type: ignore[assignment]
    matplotlib.interactive = routed_interactive
    matplotlib.is_interactive = routed_is_interactive


def _route_interact_flush() -> None:
    """``interact``'s function drew with pyplot: show its figures in its output, as in JupyterLab.

    ipywidgets asks matplotlib_inline to flush after each call only when the
    process's backend is inline; a served notebook's inline sessions ask here.
    """
    try:
        from ipywidgets.widgets import interaction
    except ImportError:
        return
    show = interaction.show_inline_matplotlib_plots

    def show_inline_matplotlib_plots() -> None:
        state = _notebook_state()
        if state is None or state.mode is None:
            show()
        elif state.mode == "inline":
            flush([])

    interaction.show_inline_matplotlib_plots = show_inline_matplotlib_plots


def _figure_image(figure: Any) -> Any:
    """What JupyterLab's inline backend shows for ``figure``: a PNG, or its text if it has nothing drawn."""
    from IPython.display import Image

    if not figure.axes and not figure.lines:
        return figure  # its text form, "<Figure size 640x480 with 0 Axes>", as the inline backend shows
    buffer = io.BytesIO()
    figure.canvas.print_figure(buffer, format="png", bbox_inches="tight")
    return Image(data=buffer.getvalue(), format="png")


def _make_inline_backend() -> type:
    from matplotlib.backend_bases import FigureManagerBase as Manager
    from matplotlib.backend_bases import _Backend
    from matplotlib.backends.backend_agg import FigureCanvasAgg as Agg

    class InlineBackend(_Backend):
        """``%matplotlib inline``: Agg figures, shown as images after the cell or on ``plt.show()``."""

        FigureCanvas = Agg
        FigureManager = Manager

        @classmethod
        def draw_if_interactive(cls) -> None:
            from matplotlib._pylab_helpers import Gcf

            state = _notebook_state()
            manager = Gcf.get_active()
            if state is None or manager is None or not state.interactive:
                return
            figure = manager.canvas.figure
            if figure in state.pending:
                state.pending.remove(figure)
            state.pending.append(figure)

        @classmethod
        def show(cls, *args: Any, block: Any = None, close: bool = True, **kwargs: Any) -> None:
            from IPython.display import display
            from matplotlib import pyplot
            from matplotlib._pylab_helpers import Gcf

            for manager in Gcf.get_all_fig_managers():
                display(_figure_image(manager.canvas.figure))
            state = _notebook_state()
            if state is not None:
                state.pending.clear()
            if close:
                pyplot.close("all")

    return InlineBackend


def _make_widget_backend() -> type:
    from ipympl.backend_nbagg import Canvas
    from ipympl.backend_nbagg import FigureManager as Manager
    from matplotlib import rcParams
    from matplotlib._pylab_helpers import Gcf
    from matplotlib.backend_bases import _Backend

    class WidgetBackend(_Backend):
        """``%matplotlib widget``: ipympl's canvases, shown after the cell that made them or on ``plt.show()``.

        ipympl's own backend keeps the figures to show in one list for the whole
        process; here each session keeps its own.
        """

        FigureCanvas = Canvas
        FigureManager = Manager

        @classmethod
        def new_figure_manager_given_figure(cls, num: Any, figure: Any) -> Any:
            canvas = Canvas(figure)
            if rcParams.get("nbagg.transparent"):
                figure.patch.set_alpha(0)
            manager = Manager(canvas, num)
            state = _notebook_state()
            if state is not None and state.interactive:
                figure.canvas.draw_idle()
                state.pending.append(figure)

            def destroy(_event: Any) -> None:
                canvas.mpl_disconnect(connection)
                Gcf.destroy(manager)

            connection = canvas.mpl_connect("close_event", destroy)
            return manager

        @classmethod
        def show(cls, *args: Any, block: Any = None, **kwargs: Any) -> None:
            from IPython.display import display

            manager = Gcf.get_active()
            if manager is None:
                return
            display(manager.canvas)
            # Showing a figure must not make a click on it select it as pyplot's current one.
            if hasattr(manager, "_cidgcf"):
                manager.canvas.mpl_disconnect(manager._cidgcf)
            state = _notebook_state()
            if state is not None:
                if manager.canvas.figure in state.pending:
                    state.pending.remove(manager.canvas.figure)
                if not state.interactive:
                    Gcf.figs.pop(manager.num, None)

    return WidgetBackend


class _Lazy:
    """A backend class built on first use (it imports matplotlib's, or ipympl's, modules)."""

    def __init__(self, make: Any) -> None:
        self.make = make
        self.made: Any = None

    def __call__(self) -> Any:
        if self.made is None:
            self.made = self.make()
        return self.made


_inline = _Lazy(_make_inline_backend)
_widget_backend = _Lazy(_make_widget_backend)

