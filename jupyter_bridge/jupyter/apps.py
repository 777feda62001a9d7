"""Which files under the Jupyter root are apps, and which paths the extension may serve.

Both answers read the local file system under ``ServerApp.root_dir``; nothing here
imports or runs an app. :func:`find_apps` feeds the ``/bridge/`` listing and is
bounded (depth, entries looked at) so a huge root cannot stall the server;
:func:`resolve_app_path` guards ``/bridge/apps/<path>``, which runs what it names.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from jupyter_core.paths import is_hidden

from ..server.watch import SKIPPED_DIRS

__all__ = ["FoundApp", "file_inside_root", "find_apps", "is_app_notebook", "is_app_script", "resolve_app_path"]

#: How much of a file is read to decide whether it is an app.
HEAD_BYTES = 256 * 1024
NOTEBOOK_HEAD_BYTES = 1024 * 1024

#: Folders that never hold apps and are often huge: SKIPPED_DIRS, shared with the change watcher.

_IMPORTS_BRIDGE = re.compile(r"\b(?:from|import)\s+jupyter_bridge\b")
_IMPORTS_WIDGETS = re.compile(r"\b(?:from|import)\s+(?:jupyter_bridge|ipywidgets)\b")
_CALLS_APP = re.compile(r"\b(?:curdoc|show)\s*\(")
_TEST_FILE = re.compile(r"^(?:test_.*|.*_test|conftest)\.py$")
_IMPORTS_TESTS = re.compile(r"^\s*(?:from|import)\s+(?:pytest|unittest)\b", re.MULTILINE)


@dataclass(frozen=True)
class FoundApp:
    """An app found under the root: its path relative to the root, with '/' separators."""

    path: str
    kind: str  # "script", "directory" or "notebook"


def _head(path: str, size: int) -> str:
    try:
        with open(path, "rb") as file:
            return file.read(size).decode("utf-8", "replace")
    except OSError:
        return ""


def is_app_script(path: str) -> bool:
    """A ``.py`` file that imports jupyter_bridge and calls ``curdoc(`` or ``show(``, and is no test.

    A test module (``test_*.py``, ``*_test.py``, ``conftest.py``, or one that
    imports pytest or unittest) may build apps, but it is run by a test runner,
    not served.
    """
    name = os.path.basename(path)
    if _TEST_FILE.match(name):
        return False
    text = _head(path, HEAD_BYTES)
    return bool(_IMPORTS_BRIDGE.search(text) and _CALLS_APP.search(text) and not _IMPORTS_TESTS.search(text))


def is_app_notebook(path: str) -> bool:
    """A ``.ipynb`` file whose first MiB imports jupyter_bridge or ipywidgets."""
    # The JSON keeps each source line as a string, so the import reads the same.
    return bool(_IMPORTS_WIDGETS.search(_head(path, NOTEBOOK_HEAD_BYTES)))


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def find_apps(
    root: str,
    *,
    allow_hidden: bool = False,
    hide_globs: tuple[str, ...] | list[str] = (),
    max_depth: int = 4,
    max_entries: int = 10000,
    max_apps: int = 1000,
) -> tuple[list[FoundApp], bool]:
    """The apps under ``root``, sorted by path, and whether the scan stopped early.

    Breadth-first, so shallow apps are found first when a bound is hit. Skips hidden
    entries (unless ``allow_hidden``), names matching ``hide_globs``, the folders in
    ``SKIPPED_DIRS``, and symlinks leading outside the root; never follows a
    symlinked folder. A folder whose ``main.py`` is an app script is listed as one
    app and not looked into.
    """
    real_root = os.path.realpath(root)
    found: list[FoundApp] = []
    seen = 0
    truncated = False
    level: list[tuple[str, str]] = [(real_root, "")]
    for depth in range(max_depth + 1):
        next_level: list[tuple[str, str]] = []
        for folder, relative in level:
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > max_entries or len(found) >= max_apps:
                    return sorted(found, key=lambda a: a.path), True
                name = entry.name
                if (not allow_hidden and name.startswith(".")) or any(fnmatch(name, g) for g in hide_globs):
                    continue
                rel = f"{relative}{name}"
                try:
                    is_link = entry.is_symlink()
                    if is_link and not _inside(os.path.realpath(entry.path), real_root):
                        continue
                    is_dir = entry.is_dir()
                    is_file = entry.is_file()
                except OSError:
                    continue
                if is_dir:
                    if name in SKIPPED_DIRS or is_link:
                        continue
                    main = os.path.join(entry.path, "main.py")
                    if os.path.isfile(main) and is_app_script(main):
                        found.append(FoundApp(rel, "directory"))
                    elif depth < max_depth:
                        next_level.append((entry.path, rel + "/"))
                    else:
                        truncated = True
                elif is_file and name.endswith(".py") and is_app_script(entry.path):
                    found.append(FoundApp(rel, "script"))
                elif is_file and name.endswith(".ipynb") and is_app_notebook(entry.path):
                    found.append(FoundApp(rel, "notebook"))
        level = next_level
    return sorted(found, key=lambda a: a.path), truncated


def resolve_app_path(root: str, path: str, *, allow_hidden: bool = False) -> str | None:
    """The real file system path ``/apps/<path>`` may run, or None (-> 404).

    Refused: anything but a canonical relative path (no ``..``, ``.``, empty or
    absolute parts, no backslash or NUL), hidden parts unless ``allow_hidden``, a
    path that does not exist, and one whose real path (symlinks followed) leaves
    the root or is hidden. It does not check that the file is an app: the app
    loader says so (NotAnAppError -> 404).
    """
    if not path or "\\" in path or "\0" in path or path.startswith("/"):
        return None
    parts = path.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    if not allow_hidden and any(part.startswith(".") for part in parts):
        return None
    return file_inside_root(os.path.join(os.path.realpath(root), *parts), root, allow_hidden=allow_hidden)


def file_inside_root(path: str, root: str, *, allow_hidden: bool = False) -> str | None:
    """The real path of ``path`` if it exists, inside ``root`` (symlinks followed) and visible."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real == real_root or not _inside(real, real_root) or not os.path.exists(real):
        return None
    try:
        if not allow_hidden and is_hidden(real, real_root):
            return None
    except (OSError, ValueError):
        return None
    return str(Path(real))

