"""``get_ipython()`` inside a served notebook: the magics that make sense there, and notes for the rest."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

from .. import output
from . import notebook_figures
from .notebook_cells import execute

if TYPE_CHECKING:
    from .notebook import NotebookHandler
    from .notebook_cells import Cell

__all__ = ["NotebookShell"]

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

    It has what notebooks and widget examples read of IPython's shell:
    ``user_ns`` (and ``user_global_ns``), ``user_ns_hidden``, ``events`` (the
    ``pre_execute`` / ``pre_run_cell`` / ``post_execute`` / ``post_run_cell``
    callbacks fire around every cell), ``execution_count``, ``config``,
    ``kernel.shell``, ``ev``, ``ex``, ``push``, ``showtraceback`` and
    ``enable_matplotlib``. It runs the harmless magics (``%matplotlib inline`` / ``widget`` / ``ipympl``
    choose the session's figures, see :mod:`.notebook_figures`; ``%time``, ``%timeit``
    and their cell forms run the code once; ``%%capture``; ``%%html``,
    ``%%markdown``, ``%%svg`` display) and skips every other magic and every
    ``!`` shell escape, with a logged note naming the cell. Only the notebook's own
    code sees it: ``IPython.get_ipython()`` stays None, so libraries behave as in
    plain Python.
    """

    def __init__(self, handler: NotebookHandler, namespace: dict[str, Any]) -> None:
        from IPython.core.events import EventManager, available_events
        from traitlets.config import Config

        self.handler = handler
        self.user_ns = self.user_global_ns = namespace
        #: Names the shell put in the namespace, which ``%who``-like code leaves out (as IPython's).
        self.user_ns_hidden: dict[str, Any] = {}
        #: ``pre_run_cell``, ``post_run_cell``, ... fire around every cell, as in IPython.
        self.events = EventManager(self, available_events)
        self.execution_count = 0
        self.config = Config()
        self.kernel = _Kernel(self)
        #: The cell running now (the handler sets it before each cell).
        self.cell: Cell | None = None

    def get_ipython(self) -> NotebookShell:
        return self

    def hide(self, *names: str) -> None:
        """Mark the namespace's ``names`` as the shell's own (``user_ns_hidden``)."""
        self.user_ns_hidden.update({name: self.user_ns[name] for name in names if name in self.user_ns})

    def cell_starts(self, cell: Cell) -> Any:
        """Count the cell and fire ``pre_execute`` and ``pre_run_cell``; the ExecutionResult to finish with."""
        from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult

        self.cell = cell
        self.execution_count += 1
        info = ExecutionInfo(cell.source, store_history=True, silent=False, shell_futures=True, cell_id=None)
        self.events.trigger("pre_execute")
        self.events.trigger("pre_run_cell", info)
        result = ExecutionResult(info)
        result.execution_count = self.execution_count
        return result

    def cell_ended(self, result: Any, error: BaseException | None = None) -> None:
        """Fire ``post_execute`` and ``post_run_cell``, as IPython does after a cell, even one that raised."""
        result.error_in_exec = error
        self.events.trigger("post_execute")
        self.events.trigger("post_run_cell", result)

    def showtraceback(self, exc_tuple: Any = None, *args: Any, **kwargs: Any) -> None:
        """Print the exception being handled (or ``exc_tuple``'s) to the cell's stderr."""
        import sys
        import traceback

        error = exc_tuple[1] if exc_tuple else sys.exc_info()[1]
        if error is not None:
            output.write_to(output.current_target(), "stderr", "".join(traceback.format_exception(error)))

    def ev(self, expr: str) -> Any:
        """Evaluate ``expr`` in the notebook's namespace."""
        return eval(expr, self.user_ns)

    def ex(self, cmd: str) -> None:
        """Execute ``cmd`` in the notebook's namespace."""
        exec(cmd, self.user_ns)

    def push(self, variables: dict[str, Any] | str | list[str], interactive: bool = True) -> None:
        """Put ``variables`` (a dict) into the notebook's namespace."""
        if not isinstance(variables, dict):
            raise TypeError("push() of a served notebook takes a dict of names and values")
        self.user_ns.update(variables)

    def enable_matplotlib(self, gui: str | None = None) -> tuple[str, str]:
        """As ``%matplotlib gui``."""
        self.run_line_magic("matplotlib", gui or "inline")
        return gui or "inline", "module://matplotlib_inline.backend_inline"

    def _note(self, text: str) -> None:
        self.handler.note(self.cell.number if self.cell else 0, text)

    def run_line_magic(self, magic_name: str, line: str, _stack_depth: int = 1) -> Any:
        if magic_name == "matplotlib":
            problem = notebook_figures.select(line)
            if problem is not None:
                self._note(problem)
                output.write_to(output.current_target(), "stderr", problem + "\n")
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
        code = self.handler.compile_body(self.cell, body)
        if code.is_async:
            raise RuntimeError(f"await inside a %%{magic_name} cell cannot run in a served notebook")
        for _ in execute(code, self.user_ns, show_last):
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


class _Kernel:
    """``get_ipython().kernel``: only its ``shell``, which code written for a kernel reaches through it."""

    def __init__(self, shell: NotebookShell) -> None:
        self.shell = shell


def _register_as_shell() -> None:
    # IPython's own helpers (NamespaceMagics, for %who-like listings) accept only shells.
    from IPython.core.interactiveshell import InteractiveShellABC

    InteractiveShellABC.register(NotebookShell)


_register_as_shell()


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
