"""A notebook's cells, read and compiled the way IPython runs them.

A code cell is transformed as IPython does (magics, ``!`` escapes), and its last
expression is split off so that it can be displayed, as in Jupyter. Running a
cell is a generator of steps: it yields the awaitables of its top-level
``await``s and gets their results back, so a notebook without any runs as plain
synchronous code and one with some is driven by a coroutine.
"""

from __future__ import annotations

import ast
import html as _html
import inspect
import io
import linecache
import re
import tokenize
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any
from urllib.parse import unquote

from .handlers import NotAnAppError

__all__ = [
    "Cell",
    "CellError",
    "Code",
    "Steps",
    "compile_cell",
    "drive",
    "execute",
    "first_heading",
    "has_math",
    "plain_text",
    "read_notebook",
    "rebase_url",
    "render_markdown",
]

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
class Code:
    """A code cell (or a cell magic's body), compiled the way IPython runs it."""

    filename: str
    body: CodeType | None  # every statement but a final expression
    last: CodeType | None  # the final expression, displayed unless it ends with ";"
    quiet: bool

    @property
    def is_async(self) -> bool:
        return any(c is not None and c.co_flags & inspect.CO_COROUTINE for c in (self.body, self.last))


@dataclass
class Cell:
    """A markdown cell (rendered to ``html``) or a non-empty code cell (compiled to ``code``)."""

    number: int  # its position in the notebook, from 1, markdown cells included
    kind: str  # "markdown" or "code"
    source: str
    html: str = ""
    code: Code | None = None
    #: A markdown cell's attachments (``![](attachment:name.png)``) as data URLs, by name.
    attachments: dict[str, str] | None = None
    #: Whether a markdown cell holds math (``$…$``, ``\\(…\\)``, ...) for the page to typeset.
    math: bool = False


def read_notebook(path: Path) -> tuple[list[Cell], str | None]:
    """The cells of the notebook at ``path`` and its title; NotAnAppError naming what is wrong.

    The title is the notebook's ``title`` metadata, or else its first ``#`` heading.
    """
    import nbformat

    try:
        notebook = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except (OSError, UnicodeDecodeError) as error:
        raise NotAnAppError(f"{path}: cannot read it ({error})") from None
    except Exception as error:  # not JSON, not a notebook
        raise NotAnAppError(
            f"{path} is not a readable notebook ({type(error).__name__}: {error}); save it again from Jupyter"
        ) from None
    cells: list[Cell] = []
    title: str | None = notebook.metadata.get("title") or None
    for number, cell in enumerate(notebook.cells, start=1):
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if cell.cell_type == "markdown":
            title = title or first_heading(source)
            attachments = _data_urls(cell.get("attachments"))
            cells.append(Cell(number, "markdown", source, html=render_markdown(source, attachments=attachments),
                              attachments=attachments, math=has_math(source)))
        elif cell.cell_type == "code" and source.strip():
            cells.append(Cell(number, "code", source, code=_compile_code_cell(path, number, source)))
    return cells, title


def _data_urls(attachments: Any) -> dict[str, str] | None:
    """A markdown cell's attachments as ``data:`` URLs (the first image kind of each)."""
    if not isinstance(attachments, dict):
        return None
    urls = {}
    for name, bundle in attachments.items():
        if not isinstance(bundle, dict):
            continue
        for mime, data in bundle.items():
            if isinstance(mime, str) and mime.startswith("image/") and isinstance(data, (str, list)):
                text = "".join(data) if isinstance(data, list) else data
                urls[name] = f"data:{mime};base64," + "".join(text.split())
                break
    return urls or None


def _compile_code_cell(path: Path, number: int, source: str) -> Code:
    filename = f"<{path} cell {number}>"
    try:
        code = compile_cell(source, filename)
    except SyntaxError as error:
        raise NotAnAppError(
            f"{path} cell {number}, line {error.lineno}: {error.msg}; fix the cell and start again"
        ) from None
    # Tracebacks and error messages quote the cell's own lines (mtime None: never stale).
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    return code


def compile_cell(source: str, filename: str, line_offset: int = 0) -> Code:
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
    return Code(filename, body, last, _ends_with_semicolon(python))


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


def execute(code: Code, namespace: dict[str, Any], show_last: bool = True) -> Steps:
    """Run ``code`` in ``namespace``, displaying its last expression's value as Jupyter does."""
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


async def drive(steps: Steps) -> None:
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


_markdown: Any = None


def render_markdown(
    source: str, files_url: str | None = None, attachments: dict[str, str] | None = None
) -> str:
    """CommonMark with tables and strikethrough; raw HTML passes (the notebook is the app's code).

    With ``files_url``, a relative image address (``![](images/x.png)``, or the
    ``src`` of raw ``<img>``, ``<video>``, ``<audio>``, ``<source>`` tags) is
    rewritten to start with it, so that it names the file in the notebook's folder.
    ``attachment:name`` addresses become the cell's ``attachments`` (data URLs).
    """
    parser = _parser()
    source, formulas = _set_math_aside(source)
    if files_url is None and not attachments:
        return _put_math_back(parser.render(source), formulas)
    tokens = parser.parse(source)
    for token in tokens:
        for part in (token, *(token.children or ())):
            if part.type == "image":
                part.attrSet("src", _image_url(str(part.attrGet("src") or ""), files_url, attachments))
            elif part.type in ("html_block", "html_inline"):
                part.content = _HTML_SRC.sub(
                    lambda m: m.group(1) + m.group(2) + _image_url(m.group(3), files_url, attachments), part.content
                )
    return _put_math_back(parser.renderer.render(tokens, parser.options, {}), formulas)


#: Math as JupyterLab finds it in markdown: $$…$$, \[…\], \(…\), \begin{env}…\end{env}, $…$.
_MATH = re.compile(
    r"\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\\begin\{([a-zA-Z*]+)\}.+?\\end\{\1\}"
    r"|(?<![\\$])\$(?=\S)[^$\n]+?(?<=[^\s\\])\$",
    re.DOTALL,
)
_MATH_MARK = "@@jbmath{}@@"
_MATH_MARKED = re.compile(r"@@jbmath(\d+)@@")


def has_math(text: str) -> bool:
    """Whether markdown ``text`` holds math for the page to typeset."""
    return _MATH.search(text) is not None


def _set_math_aside(source: str) -> tuple[str, list[str]]:
    """``source`` with its formulas replaced by marks, so that markdown leaves ``_`` and ``\\`` alone."""
    formulas: list[str] = []

    def mark(match: re.Match[str]) -> str:
        formulas.append(match.group(0))
        return _MATH_MARK.format(len(formulas) - 1)

    if "$" not in source and "\\" not in source:
        return source, formulas
    return _MATH.sub(mark, source), formulas


def _put_math_back(html: str, formulas: list[str]) -> str:
    if not formulas:
        return html
    return _MATH_MARKED.sub(lambda m: _html.escape(formulas[int(m.group(1))], quote=False), html)


def _image_url(url: str, files_url: str | None, attachments: dict[str, str] | None) -> str:
    if url.startswith("attachment:"):
        name = url.removeprefix("attachment:")
        found = attachments or {}
        return found.get(name) or found.get(unquote(name)) or url
    return rebase_url(url, files_url) if files_url is not None else url


#: An address with a scheme (``https:``, ``data:``), absolute, protocol-relative or a fragment.
_NOT_RELATIVE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|/|#|\?)")
_HTML_SRC = re.compile(r"""(<(?:img|video|audio|source)\b[^>]*?\bsrc\s*=\s*)(["']?)([^"'\s>]*)""", re.IGNORECASE)


def rebase_url(url: str, files_url: str) -> str:
    """``url`` under ``files_url`` if it is relative (``images/x.png``, ``./x.png``); else unchanged."""
    if not url or _NOT_RELATIVE.match(url):
        return url
    return files_url + url.removeprefix("./")



def first_heading(source: str) -> str | None:
    """The text of the first ``#`` heading of a markdown source (markup dropped), or None."""
    tokens = _parser().parse(source)
    for index, token in enumerate(tokens[:-1]):
        if token.type == "heading_open" and token.tag == "h1":
            return _inline_text(tokens[index + 1].children or []).strip() or None
    return None


#: A reStructuredText role before a backquoted name (``:func:`show```).
_ROLE = re.compile(r":[\w.-]+:(?=`)")


def plain_text(text: str) -> str:
    """One line of markdown or reStructuredText as the words a reader sees.

    ```show(app)``` -> ``show(app)``, ``**bold**`` -> ``bold``, ``[docs](url)``
    -> ``docs``, ``:func:`show``` -> ``show``; for titles and descriptions taken
    from docstrings and headings.
    """
    tokens = _parser().parseInline(_ROLE.sub("", text))
    words = _inline_text(tokens[0].children or []) if tokens else text
    return " ".join(words.split())


def _inline_text(tokens: list[Any]) -> str:
    parts = []
    for token in tokens:
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif token.type == "image":
            parts.append(_inline_text(token.children or []))
    return "".join(parts)


def _parser() -> Any:
    global _markdown
    if _markdown is None:
        from markdown_it import MarkdownIt

        _markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    return _markdown
