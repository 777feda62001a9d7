"""The index of apps: title, path and one line about each, for ``/`` and Jupyter's ``/bridge/``.

Both listings render the same ``index.html`` with :class:`IndexEntry` rows. The
line about an app is read from its files, never by running it: a script's module
docstring, a directory's README (or its ``main.py``'s docstring), a notebook's
first markdown heading.
"""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..application.notebook_cells import plain_text

__all__ = ["IndexEntry", "SEARCH_ABOVE", "describe", "index_entry"]

#: Lists longer than this get a search box.
SEARCH_ABOVE = 10
#: How much of a file is read for its description.
HEAD_BYTES = 256 * 1024
_TITLE = re.compile(r"""^\s*[\w.()]*\.title\s*=\s*(["'])(.+?)\1\s*$""", re.MULTILINE)
_README_NAMES = ("README.md", "README.rst", "README.txt", "README")


@dataclass(frozen=True)
class IndexEntry:
    """One app of an index page."""

    url: str
    path: str
    title: str
    description: str = ""
    kind: str = "script"


def index_entry(url: str, found: Any, root: str | os.PathLike[str]) -> IndexEntry:
    """The row of an app found under a folder (Jupyter's ``FoundApp``: ``path``, ``kind``)."""
    title, description = describe(Path(root) / found.path)
    name = Path(found.path).stem if found.kind != "directory" else Path(found.path).name
    return IndexEntry(url, found.path, title or name.replace("_", " ").capitalize(), description, found.kind)


def describe(source: str | os.PathLike[str] | None) -> tuple[str | None, str]:
    """(title, first line) of the app at ``source``, from its files; (None, "") when unknown."""
    if source is None:
        return None, ""
    path = Path(source)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None, ""
    return _describe(str(path), stamp)


@lru_cache(maxsize=1024)
def _describe(path: str, _stamp: int) -> tuple[str | None, str]:
    title, line = _described(Path(path))
    # Docstrings and headings carry markup (``show(app)``, **bold**): the words only.
    return ((plain_text(title) or None) if title else None), plain_text(line)


def _described(source: Path) -> tuple[str | None, str]:
    if source.is_dir():
        main_title, main_line = _describe_script(source / "main.py")
        for name in _README_NAMES:
            readme = source / name
            if readme.is_file():
                heading, line = _readme(_head(readme))
                return main_title or heading, line or main_line
        return main_title, main_line
    if source.suffix == ".ipynb":
        return _describe_notebook(source)
    return _describe_script(source)


def _head(path: Path) -> str:
    try:
        with open(path, "rb") as file:
            return file.read(HEAD_BYTES).decode("utf-8", "replace")
    except OSError:
        return ""


def _describe_script(path: Path) -> tuple[str | None, str]:
    text = _head(path)
    title = _TITLE.search(text)
    try:
        docstring = ast.get_docstring(ast.parse(text)) or ""
    except (SyntaxError, ValueError):
        docstring = ""
    return (title.group(2) if title else None), _first_line(docstring)


def _readme(text: str) -> tuple[str | None, str]:
    """A README's heading, and its first line of prose."""
    heading = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or set(stripped) <= set("=-#*"):
            continue
        if stripped.startswith("#"):
            heading = heading or stripped.lstrip("#").strip()
            continue
        return heading, stripped
    return heading, ""


def _describe_notebook(path: Path) -> tuple[str | None, str]:
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None, ""
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        heading, line = _readme(text)
        if heading or line:
            return heading, heading or line
    return None, ""


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""
