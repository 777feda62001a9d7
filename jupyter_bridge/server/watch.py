"""Development mode: when an app's files change, serve the new version to fresh sessions."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..application import Application, FunctionHandler, NotAnAppError, build_application
from .bridge import Bridge

__all__ = ["AppWatcher"]

log = logging.getLogger(__name__)

#: Stop listing a directory app's files past this many: that is data, not sources.
MAX_FILES = 1000


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
        self._seen = {url_path: _stamps(source) for url_path, source in self._sources.items()}

    async def check(self) -> None:
        for url_path, source in self._sources.items():
            stamps = _stamps(source)
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


def _stamps(source: Path) -> dict[str, float]:
    files = [source] if source.is_file() else []
    if source.is_dir():
        for folder, dirs, names in os.walk(source):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
            files.extend(Path(folder) / name for name in names if not name.startswith("."))
            if len(files) > MAX_FILES:
                break
    stamps = {}
    for path in files:
        try:
            stamps[str(path)] = path.stat().st_mtime_ns
        except OSError:
            pass
    return stamps


def _failing(name: str, error: NotAnAppError) -> Application:
    """An app whose every session fails with ``error``, so the page shows it."""

    def app(_document: object) -> None:
        raise error

    return Application(FunctionHandler(app), name=name)
