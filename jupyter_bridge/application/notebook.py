"""Notebook apps: every session runs a notebook's code cells, and its page shows what they show.

A session runs the code cells in order, in-process, in a fresh module namespace
(as :class:`ScriptHandler` runs a script: ``__file__`` is the notebook's path, its
folder is on ``sys.path`` and ``sys.argv`` is the path and the app's arguments).
Cells are transformed like IPython does (magics, ``!`` escapes) and a cell's last
expression is displayed, as in Jupyter.

The page, in cell order (``layout="cells"``): markdown cells rendered to HTML,
displayed widgets (``display(w)`` or a cell's last expression), roots added with
``curdoc().add_root``, and the rich outputs of other displays and prints, each in
an ipywidget (HTML, Image, or HTML ``<pre>`` for text). ``layout="roots"`` shows
only the widgets (displayed or added as roots); prints then go to the server's
stdout, as a script's do.

A cell that raises stops the run and the page request answers 500 naming the
cell, like a script app that raises: ``cell 3 raised NameError: … (line 2: …)``.
"""

from __future__ import annotations

import ast
import base64
import html
import inspect
import io
import linecache
import logging
import os
import re
import sys
import tokenize
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from .. import output
from .handlers import Handler, NotAnAppError, app_imports

if TYPE_CHECKING:
    from ipywidgets import Widget

    from ..document import Document

__all__ = ["CellError", "NotebookHandler", "NotebookShell"]

log = logging.getLogger(__name__)

LAYOUTS = ("cells", "roots")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
#: A cell's steps yield the awaitables of its top-level ``await``s, and get their results back.
Steps = Generator[Any, Any, None]


class CellError(Exception):
    """A notebook cell raised; the message names the cell, the exception and the line."""

    def __init__(self, cell: int, error: BaseException, line: int | None = None, excerpt: str | None = None) -> None:
        self.cell = cell
        self.error = error
        self.line = line
        self.excerpt = excerpt
        where = f" (line {line}: {excerpt})" if excerpt else ""
        super().__init__(f"cell {cell} raised {type(error).__name__}: {error}{where}")


@dataclass
class _Code:
    """A code cell (or a cell magic's body), compiled the way IPython runs it."""

    filename: str
    body: CodeType | None  # every statement but a final expression
    last: CodeType | None  # the final expression, displayed unless it ends with ";"
    quiet: bool

    @property
    def is_async(self) -> bool:
        return any(c is not None and c.co_flags & inspect.CO_COROUTINE for c in (self.body, self.last))


@dataclass
class _Cell:
    number: int  # its position in the notebook, from 1, markdown cells included
    kind: str  # "markdown" or "code"
    source: str
    html: str = ""
    code: _Code | None = None


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
        self._noted: set[tuple[int, str]] = set()
        self._bodies: dict[tuple[int, str], _Code] = {}
        import nbformat

        try:
            notebook = nbformat.reads(self.path.read_text(encoding="utf-8"), as_version=4)
        except (OSError, UnicodeDecodeError) as error:
            raise NotAnAppError(f"{self.path}: cannot read it ({error})") from None
        except Exception as error:  # not JSON, not a notebook
            raise NotAnAppError(
                f"{self.path} is not a readable notebook ({type(error).__name__}: {error}); "
                "save it again from Jupyter"
            ) from None
        self.cells: list[_Cell] = []
        self.title: str | None = notebook.metadata.get("title") or None
        for number, cell in enumerate(notebook.cells, start=1):
            source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
            if cell.cell_type == "markdown":
                rendered = render_markdown(source)
                self.title = self.title or _first_heading(source)
                self.cells.append(_Cell(number, "markdown", source, html=rendered))
            elif cell.cell_type == "code" and source.strip():
                code = self._compile(number, source)
                self.cells.append(_Cell(number, "code", source, code=code))
        self.is_async = any(c.code.is_async for c in self.cells if c.code is not None)

    def guess_title(self) -> str | None:
        return self.title

    def _compile(self, number: int, source: str) -> _Code:
        filename = f"<{self.path} cell {number}>"
        try:
            code = compile_cell(source, filename)
        except SyntaxError as error:
            raise NotAnAppError(
                f"{self.path} cell {number}, line {error.lineno}: {error.msg}; fix the cell and start again"
            ) from None
        # Tracebacks and error messages quote the cell's own lines (mtime None: never stale).
        lines = source.splitlines(keepends=True)
        linecache.cache[filename] = (len(source), None, lines, filename)
        return code

    def modify_document(self, document: Document) -> Any:
        output.install()
        steps = self._run(document)
        if self.is_async:
            return _drive(steps)
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
        if self.title:
            document.title = self.title
        page = _Page(document, self.layout)
        with app_imports(str(self.path.parent), [str(self.path), *self.argv]), output.redirect(page):
            # Findable only while it runs, as a script's module is (dataclasses, pickle).
            sys.modules[module.__name__] = module
            try:
                for cell in self.cells:
                    page.start_cell()
                    if cell.code is None:
                        page.markdown(cell.html)
                        continue
                    shell.cell = cell
                    try:
                        yield from self._execute(cell.code, namespace)
                    except (Exception, SystemExit) as error:  # a notebook's sys.exit() is a failure too
                        raise self._cell_error(cell, error) from error
            finally:
                sys.modules.pop(module.__name__, None)

    def _execute(self, code: _Code, namespace: dict[str, Any], show_last: bool = True) -> Steps:
        from IPython.display import display

        if code.body is not None:
            result = eval(code.body, namespace)
            if code.body.co_flags & inspect.CO_COROUTINE:
                yield result
        if code.last is not None:
            value = eval(code.last, namespace)
            if code.last.co_flags & inspect.CO_COROUTINE:
                value = yield value
            if value is not None and show_last and not code.quiet:
                namespace["_"] = value
                display(value)

    def _cell_error(self, cell: _Cell, error: BaseException) -> CellError:
        assert cell.code is not None
        # Drop our own frames: the traceback starts in the cell, as in Jupyter.
        tb: TracebackType | None = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
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

    def _compile_body(self, cell: _Cell, body: str) -> _Code:
        """A cell magic's body (the cell's lines after the first), compiled once."""
        key = (cell.number, body)
        code = self._bodies.get(key)
        if code is None:
            assert cell.code is not None
            code = self._bodies[key] = compile_cell(body, cell.code.filename, line_offset=1)
        return code


def compile_cell(source: str, filename: str, line_offset: int = 0) -> _Code:
    """Transform a cell as IPython does, and split off its last expression."""
    from IPython.core.inputtransformer2 import TransformerManager

    python = TransformerManager().transform_cell(source)
    tree = ast.parse(python, filename)
    if line_offset:
        ast.increment_lineno(tree, line_offset)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        expression = ast.Expression(tree.body.pop().value)
        last = compile(expression, filename, "eval", flags=_FLAGS)
    body = compile(tree, filename, "exec", flags=_FLAGS) if tree.body else None
    return _Code(filename, body, last, _ends_with_semicolon(python))


def _ends_with_semicolon(python: str) -> bool:
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT}
    last = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(python).readline):
            if token.type not in skip:
                last = token
    except (tokenize.TokenError, SyntaxError):
        return False
    return last is not None and last.type == tokenize.OP and last.string == ";"


async def _drive(steps: Steps) -> None:
    """Run a notebook whose cells await: each awaitable it yields is awaited here."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            awaitable = steps.send(value) if error is None else steps.throw(error)
        except StopIteration:
            return
        value, error = None, None
        try:
            value = await awaitable
        except BaseException as raised:  # handed back to the cell that awaited it
            error = raised


def _no_input(prompt: Any = "") -> str:
    raise RuntimeError(
        "input() cannot read from a served notebook's page; use a widget (e.g. ipywidgets.Text) instead"
    )


# The page


class _Page(output.OutputTarget):
    """Where a notebook's output goes while it runs: roots of the session's document, in order."""

    def __init__(self, document: Document, layout: str) -> None:
        self.document = document
        self.cells = layout == "cells"
        self.cell_widgets: list[Widget] = []
        self.stream: tuple[str, Any, str] | None = None  # name, its <pre> widget, its text
        self.clear_pending = False
        self.displays: dict[str, Any] = {}  # display_id -> the box showing it

    def start_cell(self) -> None:
        self.cell_widgets = []
        self.stream = None
        self.clear_pending = False

    def _add(self, widget: Widget) -> None:
        if self.clear_pending:
            self.clear()
        self.document.add_root(widget)
        self.cell_widgets.append(widget)

    def markdown(self, rendered: str) -> None:
        if self.cells:
            from ipywidgets import HTML

            widget = HTML(rendered)
            widget.add_class("jb-notebook-markdown")
            self._add(widget)

    def write(self, name: str, text: str) -> None:
        if not self.cells:
            output.write_to(None, name, text)
            return
        if not text:
            return
        if self.clear_pending:
            self.clear()
        if self.stream is not None and self.stream[0] == name:
            widget, text = self.stream[1], self.stream[2] + text
        else:
            from ipywidgets import HTML

            widget = HTML()
            widget.add_class(f"jb-notebook-{name}")
            self._add(widget)
        self.stream = (name, widget, text)
        widget.value = _pre(text, name)

    def show(self, item: output.Display) -> None:
        widget = self._widget_for(item)
        if item.update:
            box = self.displays.get(item.display_id or "")
            if box is not None and widget is not None:
                box.children = (widget,)
            return
        if widget is None:
            return
        self.stream = None
        if item.display_id:
            from ipywidgets import VBox

            widget = self.displays[item.display_id] = VBox([widget])
        self._add(widget)

    def _widget_for(self, item: output.Display) -> Widget | None:
        from ipywidgets import Widget
        from ipywidgets.widgets.widget import _instances

        if isinstance(item.obj, Widget):
            return item.obj
        view = item.data.get(WIDGET_MIME)
        if isinstance(view, dict) and view.get("model_id") in _instances:
            return _instances[view["model_id"]]
        if not self.cells:
            return None
        return rich_widget(item.data, item.metadata)

    def clear(self, wait: bool = False) -> None:
        if wait:
            self.clear_pending = True
            return
        self.clear_pending = False
        roots = self.document.roots
        for widget in self.cell_widgets:
            if widget in roots:
                self.document.remove_root(widget)
        self.cell_widgets = []
        self.stream = None


def _pre(text: str, name: str = "stdout") -> str:
    style = "margin:0;white-space:pre-wrap;font-family:monospace"
    if name == "stderr":
        style += ";background:#fdd;padding:2px 4px"
    return f'<pre class="jb-notebook-text" style="{style}">{html.escape(text)}</pre>'


def rich_widget(data: dict[str, Any], metadata: dict[str, Any] | None = None) -> Widget | None:
    """A widget that shows a display's mime bundle: HTML, an image, or text; None to skip."""
    from ipywidgets import HTML, Image

    metadata = metadata or {}
    if "application/javascript" in data:
        log.debug("a JavaScript output is not run in a served notebook; skipped")
        return None
    if "text/html" in data:
        return HTML(_text(data["text/html"]))
    if "text/markdown" in data:
        return HTML(render_markdown(_text(data["text/markdown"])))
    for mime, image_format in (("image/svg+xml", "svg+xml"), ("image/png", "png"), ("image/jpeg", "jpeg"),
                               ("image/gif", "gif")):
        if mime in data:
            value = data[mime]
            if isinstance(value, str):
                value = value.encode() if image_format == "svg+xml" else base64.b64decode(value)
            size = metadata.get(mime) if isinstance(metadata.get(mime), dict) else {}
            sizes = {k: str(size[k]) for k in ("width", "height") if k in size}
            return Image(value=value, format=image_format, **sizes)
    if "text/plain" in data:
        return HTML(_pre(_text(data["text/plain"])))
    return None


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


_markdown: Any = None


def render_markdown(source: str) -> str:
    """CommonMark with tables and strikethrough; raw HTML passes (the notebook is the app's code)."""
    global _markdown
    if _markdown is None:
        from markdown_it import MarkdownIt

        _markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    return _markdown.render(source)


def _first_heading(source: str) -> str | None:
    render_markdown("")  # makes the parser
    tokens = _markdown.parse(source)
    for index, token in enumerate(tokens[:-1]):
        if token.type == "heading_open" and token.tag == "h1":
            return tokens[index + 1].content.strip() or None
    return None


# get_ipython()

_LINE_SKIPPED = {
    "pip": "install packages on the server before serving",
    "conda": "install packages on the server before serving",
    "mamba": "install packages on the server before serving",
    "uv": "install packages on the server before serving",
}
_SHELL_CELLS = {"bash", "sh", "script", "system", "perl", "ruby", "python", "python2", "python3", "pypy"}
_TIMEIT_OPTIONS = re.compile(r"\s*(?:(?:-[nrp]\s*\d+|-[tcqo])\s+)*")


class NotebookShell:
    """What ``get_ipython()`` returns inside a served notebook.

    It runs the harmless magics (``%matplotlib`` is a no-op; ``%time``, ``%timeit``
    and their cell forms run the code once; ``%%capture``; ``%%html``,
    ``%%markdown``, ``%%svg`` display) and skips every other magic and every
    ``!`` shell escape, with a logged note naming the cell. Only the notebook's own
    code sees it: ``IPython.get_ipython()`` stays None, so libraries behave as in
    plain Python.
    """

    def __init__(self, handler: NotebookHandler, namespace: dict[str, Any]) -> None:
        self.handler = handler
        self.user_ns = namespace
        self.cell: _Cell | None = None

    def get_ipython(self) -> NotebookShell:
        return self

    def _note(self, text: str) -> None:
        self.handler.note(self.cell.number if self.cell else 0, text)

    def run_line_magic(self, magic_name: str, line: str, _stack_depth: int = 1) -> Any:
        if magic_name == "matplotlib":
            return None
        if magic_name == "time":
            return self._run_line(line)
        if magic_name == "timeit":
            self._run_line(line[_TIMEIT_OPTIONS.match(line).end():])  # type: ignore[union-attr]
            return None
        why = _LINE_SKIPPED.get(magic_name, "magics other than %matplotlib, %time and %timeit do not run "
                                              "in a served notebook")
        self._note(f"%{magic_name} {line}".strip() + f" skipped: {why}")
        return None

    def run_cell_magic(self, magic_name: str, line: str, cell: str) -> Any:
        if magic_name in ("time", "timeit"):
            self._run_body(cell, magic_name, show_last=magic_name == "time")
        elif magic_name == "capture":
            self._capture(line, cell)
        elif magic_name in ("html", "markdown", "svg"):
            from IPython import display as ipd

            kind = {"html": ipd.HTML, "markdown": ipd.Markdown, "svg": ipd.SVG}[magic_name]
            ipd.display(kind(cell))
        elif magic_name in _SHELL_CELLS:
            self._note(f"%%{magic_name} cell skipped: shell commands never run in a served notebook")
        else:
            self._note(f"%%{magic_name} cell skipped: cell magics other than %%capture, %%time, %%timeit, "
                       "%%html, %%markdown and %%svg do not run in a served notebook")
        return None

    def system(self, cmd: str) -> None:
        self._note(f"!{cmd} skipped: shell commands never run in a served notebook")

    system_raw = system_piped = system

    def getoutput(self, cmd: str, split: bool = True, depth: int = 0) -> Any:
        from IPython.utils.text import SList

        self.system(cmd)
        return SList()

    def magic(self, arg_s: str) -> Any:
        """The old spelling, ``get_ipython().magic("matplotlib inline")``."""
        name, _, line = arg_s.lstrip("%").partition(" ")
        return self.run_line_magic(name, line)

    def _run_line(self, line: str) -> Any:
        filename = self.cell.code.filename if self.cell and self.cell.code else "<magic>"
        source = line.strip()
        try:
            code = compile(source, filename, "eval")
        except SyntaxError:
            code = compile(source, filename, "exec")
        return eval(code, self.user_ns)

    def _run_body(self, body: str, magic_name: str, show_last: bool = True) -> None:
        assert self.cell is not None
        code = self.handler._compile_body(self.cell, body)
        if code.is_async:
            raise RuntimeError(f"await inside a %%{magic_name} cell cannot run in a served notebook")
        for _ in self.handler._execute(code, self.user_ns, show_last):
            pass

    def _capture(self, line: str, body: str) -> None:
        from IPython.utils.capture import CapturedIO, RichOutput

        words = line.split()
        outer = output.current_target()
        capture = _Capture(
            outer, stdout="--no-stdout" not in words, stderr="--no-stderr" not in words,
            display="--no-display" not in words,
        )
        with output.redirect(capture):
            self._run_body(body, "capture")
        names = [w for w in words if not w.startswith("-")]
        if names:
            outputs = [RichOutput(data=d.data, metadata=d.metadata) for d in capture.outputs]
            self.user_ns[names[0]] = CapturedIO(
                io.StringIO(capture.text["stdout"]), io.StringIO(capture.text["stderr"]), outputs=outputs
            )


class _Capture(output.OutputTarget):
    """``%%capture``: keeps what it captures, hands the rest to the target around it."""

    def __init__(self, outer: output.OutputTarget | None, *, stdout: bool, stderr: bool, display: bool) -> None:
        self.outer = outer
        self.captures = {"stdout": stdout, "stderr": stderr}
        self.capture_display = display
        self.text = {"stdout": "", "stderr": ""}
        self.outputs: list[output.Display] = []

    def write(self, name: str, text: str) -> None:
        if self.captures.get(name):
            self.text[name] += text
        else:
            output.write_to(self.outer, name, text)

    def show(self, item: output.Display) -> None:
        if self.capture_display:
            self.outputs.append(item)
        else:
            output.show_in(self.outer, item)

    def clear(self, wait: bool = False) -> None:
        if self.capture_display:
            self.outputs.clear()
        elif self.outer is not None:
            self.outer.clear(wait)
