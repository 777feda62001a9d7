"""Development mode: when an app's files change, serve the new version to fresh sessions."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from ..application import Application, FunctionHandler, NotAnAppError, build_application
from .bridge import Bridge

__all__ = ["AppWatcher", "file_stamps"]

log = logging.getLogger(__name__)

#: Stop listing a directory app's files past this many: that is data, not sources.
MAX_FILES = 1000
#: Folders inside an app folder that hold no sources of the app.
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})


class AppWatcher:
    """Polls the files of a Bridge's apps; reloads an app whose files changed.

    Polling needs no extra dependency and works on every file system; app folders
    are small. Apps given as functions or Application objects are not watched.
    A change that breaks the app (a syntax error) is served as a page showing the
    error, until the next change fixes it.
    """

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self._sources: dict[str, Path] = {
            url_path: manager.application.source
            for url_path, manager in bridge.managers.items()
            if manager.application.source is not None
        }
        self._seen = {url_path: file_stamps(source) for url_path, source in self._sources.items()}

    async def check(self) -> None:
        for url_path, source in self._sources.items():
            stamps = file_stamps(source)
            if stamps == self._seen[url_path]:
                continue
            self._seen[url_path] = stamps
            log.info("%s changed: reloading %s", source, url_path)
            manager = self.bridge.managers[url_path]
            try:
                application = build_application(
                    source, self.bridge.argv, notebook_layout=self.bridge.settings.notebook_layout
                )
            except NotAnAppError as error:
                log.error("%s", error)
                application = _failing(manager.application.name, error)
            await manager.replace_application(application)


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


def _failing(name: str, error: NotAnAppError) -> Application:
    """An app whose every session fails with ``error``, so the page shows it.

    Its page reloads by itself once the files change again, so the message's
    advice to start the server again does not apply here.
    """
    message = re.sub(r" and start again$", "", str(error))
    shown = NotAnAppError(f"{message} (this page reloads when the file changes)")

    def app(_document: object) -> None:
        raise shown

    return Application(FunctionHandler(app), name=name)
