"""Watching app files: when an app's files change, its new version is served to fresh sessions."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from ..application import Application, FunctionHandler, NotAnAppError

__all__ = ["AppWatcher", "failing_app", "file_stamps"]

log = logging.getLogger(__name__)

#: Stop listing a directory app's files past this many: that is data, not sources.
MAX_FILES = 1000
#: Folders inside an app folder that hold no sources of the app.
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})


class AppWatcher:
    """The files of the apps a Bridge serves, and whether they changed since last seen.

    Polling needs no extra dependency and works on every file system; app folders
    are small. Apps given as functions or Application objects have no files and
    are not watched.
    """

    def __init__(self) -> None:
        self._watched: dict[str, tuple[Path, dict[str, int]]] = {}

    def watch(self, url_path: str, source: str | os.PathLike[str]) -> None:
        """Remember the files of the app at ``url_path`` as they are now."""
        self._watched[url_path] = (Path(source), file_stamps(source))

    def forget(self, url_path: str) -> None:
        self._watched.pop(url_path, None)

    def changed(self, url_path: str) -> Path | None:
        """The app's source if its files changed since last seen (now seen), else None."""
        entry = self._watched.get(url_path)
        if entry is None:
            return None
        source, seen = entry
        stamps = file_stamps(source)
        if stamps == seen:
            return None
        self._watched[url_path] = (source, stamps)
        return source

    def changed_apps(self) -> list[tuple[str, Path]]:
        """(url_path, source) of every watched app whose files changed since last seen."""
        found = []
        for url_path in list(self._watched):
            source = self.changed(url_path)
            if source is not None:
                found.append((url_path, source))
        return found


def file_stamps(source: str | os.PathLike[str]) -> dict[str, int]:
    """Modification times of an app's files: the file itself, or a folder's visible files."""
    source = Path(source)
    files = [source] if source.is_file() else []
    if source.is_dir():
        for folder, dirs, names in os.walk(source):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")) and d not in SKIPPED_DIRS)
            files.extend(Path(folder) / name for name in sorted(names) if not name.startswith("."))
            if len(files) > MAX_FILES:
                break
    stamps = {}
    for path in files[:MAX_FILES]:
        try:
            stamps[str(path)] = path.stat().st_mtime_ns
        except OSError:
            pass
    return stamps


def failing_app(name: str, error: NotAnAppError) -> Application:
    """An app whose every session fails with ``error``, so the page shows it.

    What a watched app becomes when a change breaks it (a syntax error), until
    the next change fixes it. Its page reloads by itself then, so the message's
    advice to start the server again does not apply here.
    """
    message = re.sub(r" and start again$", "", str(error))
    shown = NotAnAppError(f"{message} (this page reloads when the file changes)")

    def app(_document: object) -> None:
        raise shown

    return Application(FunctionHandler(app), name=name)
