"""Notebook apps: every session runs a notebook's code cells, and its page shows what they show.

A session runs the code cells in order, in-process, in a fresh module namespace
(as :class:`ScriptHandler` runs a script: ``__file__`` is the notebook's path, its
folder is on ``sys.path`` and ``sys.argv`` is the path and the app's arguments).
Cells are transformed like IPython does (magics, ``!`` escapes) and a cell's last
expression is displayed, as in Jupyter.

This module runs the notebook; the rooms beside it hold the rest:
``notebook_cells`` reads and compiles the cells, ``notebook_page`` is where
their output goes (``layout="cells"`` or ``"roots"``), and ``notebook_shell`` is
the ``get_ipython()`` the cells see.

A cell that raises stops the run, as in Voila: the page shows what the cells
before it showed, then the error where the cell's output would be (``cell 3
raised NameError: … (line 2: …)``; the traceback in development mode), and no
later cell runs. The server log has the traceback.
"""

from __future__ import annotations

import contextlib
import linecache
import logging
import os
import sys
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from .. import comms, output
from . import notebook_cells, notebook_figures
from .handlers import Handler, app_imports
from .notebook_cells import (
    Cell,
    CellError,
    Code,
    Steps,
    compile_cell,
    drive,
    execute,
    read_notebook,
    render_markdown,
)
from .notebook_page import LAYOUTS, NotebookPage
from .notebook_shell import NotebookShell

if TYPE_CHECKING:
    from ..document import Document

__all__ = ["CellError", "NotebookHandler", "NotebookShell"]

log = logging.getLogger(__name__)

#: Our own frames, dropped from the top of a cell's traceback.
_OWN_FILES = {__file__, notebook_cells.__file__}


class NotebookHandler(Handler):
    """Runs a notebook's code cells for every session; the page shows their output."""

    def __init__(
        self, path: str | os.PathLike[str], argv: list[str] | None = None, layout: str = "cells"
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"a notebook layout is 'cells' or 'roots', not {layout!r}")
        self.path = Path(path).resolve()
        self.argv = list(argv or [])
        self.layout = layout
        self.name = self.path.stem
        #: The folder whose media files the page may load (``<app>/files/``): the notebook's.
        self.files_path = str(self.path.parent)
        self._markdown: dict[tuple[int, str | None], str] = {}
        self._noted: set[tuple[int, str]] = set()
        self._bodies: dict[tuple[int, str], Code] = {}
        self.cells, self.title = read_notebook(self.path)
        self.is_async = any(c.code.is_async for c in self.cells if c.code is not None)
        # From now on pyplot, once imported, keeps each session's figures apart.
        notebook_figures.watch()

    def guess_title(self) -> str | None:
        return self.title

    def modify_document(self, document: Document) -> Any:
        output.install()
        steps = self._run(document)
        if self.is_async:
            return drive(steps)
        for awaitable in steps:  # no cell awaits: nothing is ever yielded
            steps.close()
            raise RuntimeError(f"{self.name}: unexpected await of {awaitable!r}")
        return None

    def _run(self, document: Document) -> Steps:
        from IPython.display import display

        module = ModuleType(f"jupyter_bridge_app_{uuid.uuid4().hex}")
        namespace = module.__dict__
        namespace["__file__"] = str(self.path)
        shell = NotebookShell(self, namespace)
        namespace["get_ipython"] = shell.get_ipython
        namespace["display"] = display
        namespace["input"] = _no_input
        shell.hide("get_ipython", "display", "input")
        if self.title:
            document.title = self.title
        page = NotebookPage(document, self.layout)
        files_url = _files_url(document)
        folder = WorkingFolder(self.path.parent)
        with app_imports(str(self.path.parent), [str(self.path), *self.argv]), output.redirect(page):
            # Findable only while it runs, as a script's module is (dataclasses, pickle).
            sys.modules[module.__name__] = module
            notebook_figures.start()
            try:
                for cell in self.cells:
                    page.start_cell()
                    if cell.code is None:
                        page.markdown(self._rendered(cell, files_url), math=cell.math)
                        continue
                    with folder.inside():
                        result = shell.cell_starts(cell)
                    try:
                        yield from folder.run(execute(cell.code, namespace))
                    except (Exception, SystemExit) as error:  # a notebook's sys.exit() is a failure too
                        with contextlib.suppress(Exception):  # what the cell drew before it raised
                            notebook_figures.flush(page.cell_widgets)
                        with folder.inside():
                            shell.cell_ended(result, error)
                        self._stop_at(cell, error, page)
                        return
                    notebook_figures.flush(page.cell_widgets)  # IPython's post-execute: figures show
                    with folder.inside():
                        shell.cell_ended(result)
            finally:
                sys.modules.pop(module.__name__, None)

    def _rendered(self, cell: Cell, files_url: str | None) -> str:
        key = (cell.number, files_url)
        html = self._markdown.get(key)
        if html is None:
            html = cell.html if files_url is None else render_markdown(cell.source, files_url, cell.attachments)
            if len(self._markdown) < 4096:  # a few addresses per cell: the page's path ends in / or not
                self._markdown[key] = html
        return html

    def _stop_at(self, cell: Cell, error: BaseException, page: NotebookPage) -> None:
        """A cell raised: log it, show it where the cell's output goes, and run no further cell."""
        failure = self._cell_error(cell, error)
        detail = "".join(traceback.format_exception(error))
        log.error("%s: %s\n%s", self.path.name, failure, detail)
        page.error(str(failure), detail if _show_tracebacks() else None)

    def _cell_error(self, cell: Cell, error: BaseException) -> CellError:
        assert cell.code is not None
        # Drop our own frames: the traceback starts in the cell, as in Jupyter.
        tb: TracebackType | None = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename in _OWN_FILES:
            tb = tb.tb_next
        error.__traceback__ = tb
        line = excerpt = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == cell.code.filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        if line is None and isinstance(error, SyntaxError) and error.filename == cell.code.filename:
            line = error.lineno
        if line is not None:
            excerpt = linecache.getline(cell.code.filename, line).strip() or None
        return CellError(cell.number, error, line, excerpt)

    def note(self, cell: int, text: str) -> None:
        """Log ``text`` about ``cell``: a warning the first time, then only for debugging."""
        key = (cell, text)
        level = logging.DEBUG if key in self._noted else logging.WARNING
        self._noted.add(key)
        log.log(level, "%s cell %d: %s", self.path.name, cell, text)

    def compile_body(self, cell: Cell, body: str) -> Code:
        """A cell magic's body (the cell's lines after the first), compiled once for every session."""
        key = (cell.number, body)
        code = self._bodies.get(key)
        if code is None:
            assert cell.code is not None
            code = self._bodies[key] = compile_cell(body, cell.code.filename, line_offset=1)
        return code


class WorkingFolder:
    """The working directory a notebook's cells see: the notebook's folder, as in Jupyter.

    Sessions share one process, so the process's working directory is the
    notebook's folder only while a cell's code runs (synchronously, on the loop):
    it is restored at every top-level ``await`` of a cell and when the cell ends.
    A cell that changes directory with ``os.chdir`` keeps its choice for the
    session's next cells.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)

    def run(self, steps: Steps) -> Steps:
        """Run ``steps`` (a cell) in the folder; a cell's awaited code steps in it too."""
        value: Any = None
        error: BaseException | None = None
        while True:
            saved = self._enter()
            try:
                awaitable = steps.send(value) if error is None else steps.throw(error)
            except StopIteration:
                return
            finally:
                self._leave(saved)
            value, error = None, None
            try:
                value = yield self._stepped(awaitable)
            except BaseException as raised:  # handed back to the cell that awaited
                error = raised

    async def _stepped(self, awaitable: Any) -> Any:
        return await _InFolder(awaitable.__await__(), self)

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        """Run the block (plain code, no await) in the folder."""
        saved = self._enter()
        try:
            yield
        finally:
            self._leave(saved)

    def _enter(self) -> str | None:
        try:
            saved: str | None = os.getcwd()
        except OSError:  # the server's own directory was removed
            saved = None
        try:
            os.chdir(self.folder)
        except OSError as error:
            log.warning("cannot run the notebook's cells in %s: %s", self.folder, error)
        return saved

    def _leave(self, saved: str | None) -> None:
        try:
            self.folder = os.getcwd()
        except OSError:
            pass
        if saved is not None:
            os.chdir(saved)


class _InFolder:
    """Awaits a coroutine's steps, each in the folder; the loop's other work, between them, is not."""

    def __init__(self, steps: Any, folder: WorkingFolder) -> None:
        self.steps = steps
        self.folder = folder

    def __await__(self) -> Any:
        value: Any = None
        error: BaseException | None = None
        while True:
            saved = self.folder._enter()
            try:
                yielded = self.steps.send(value) if error is None else self.steps.throw(error)
            except StopIteration as stop:
                return stop.value
            finally:
                self.folder._leave(saved)
            value, error = None, None
            try:
                value = yield yielded
            except BaseException as raised:
                error = raised


def _show_tracebacks() -> bool:
    """Whether the page may show a traceback: in development mode (``--dev``), or when debugging."""
    session = comms.current_session()
    return (session is not None and session.channel.dev) or log.isEnabledFor(logging.DEBUG)


def _files_url(document: Document) -> str | None:
    """Where the page finds the notebook folder's files, relative to the page's address.

    ``/nb`` -> ``nb/files/``; ``/nb/`` -> ``files/``; None outside a page a server
    answers (``show(app)`` in a kernel, an export saved as a file next to the notebook),
    whose addresses stay as written.
    """
    context = document.session_context
    if context is None:
        return None
    request = context.request
    path = request.path
    if not path.startswith("/") or not request.host:
        return None
    if path.endswith("/autoload.js"):  # embedded in another site's page: an absolute address
        return f"{request.protocol}://{request.host}{path.removesuffix('/autoload.js')}/files/"
    last = path.rsplit("/", 1)[1]
    return f"{last}/files/" if last else "files/"


def _no_input(prompt: Any = "") -> str:
    raise RuntimeError(
        "input() cannot read from a served notebook's page; use a widget (e.g. ipywidgets.Text) instead"
    )
