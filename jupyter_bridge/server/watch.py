"""Watching app files: when an app's files change, its new version is served to fresh sessions."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..application import Application, FunctionHandler, NotAnAppError

__all__ = ["POLL_MS", "AppWatcher", "failing_app", "file_stamps"]

log = logging.getLogger(__name__)

#: Stop listing a directory app's files past this many: that is data, not sources.
MAX_FILES = 1000
#: Folders inside an app folder that hold no sources of the app.
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})
#: How often the files are looked at when the operating system cannot tell (no watchfiles).
POLL_MS = 500
#: watchfiles groups the events of one save (editors write, rename, touch) this long at most.
DEBOUNCE_MS = 200


class AppWatcher:
    """The files of the apps a Bridge serves, and whether they changed since last seen.

    Whether an app changed is decided by its files' modification times
    (:func:`file_stamps`). :meth:`start` calls back when they may have: on the
    operating system's file events, through watchfiles (inotify, FSEvents,
    ReadDirectoryChangesW); by looking every ``POLL_MS`` only when watchfiles is not
    installed or cannot watch (e.g. the system's limit of watches is reached). A
    file app is watched through its folder, not recursively (editors replace the
    file when they save); a directory app recursively. Apps given as functions or
    Application objects have no files and are not watched.
    """

    def __init__(self) -> None:
        self._watched: dict[str, tuple[Path, dict[str, int]]] = {}
        self._task: asyncio.Task[None] | None = None
        #: Set when the watched files change (or on stop): the event watchers start again.
        self._restart: asyncio.Event | None = None
        self._stopped = False
        self._uses_events: bool | None = None

    def watch(self, url_path: str, source: str | os.PathLike[str]) -> None:
        """Remember the files of the app at ``url_path`` as they are now."""
        self._watched[url_path] = (Path(source), file_stamps(source))
        self._targets_changed()

    def forget(self, url_path: str) -> None:
        if self._watched.pop(url_path, None) is not None:
            self._targets_changed()

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

    # Calling back on changes

    def start(self, loop: Any, on_change: Callable[[], Awaitable[None]]) -> None:
        """Call ``on_change`` on ``loop`` (a Tornado IOLoop) whenever watched files may have changed."""
        self._stopped = False
        loop.add_callback(self._begin, on_change)

    def stop(self) -> None:
        self._stopped = True
        if self._restart is not None:
            self._restart.set()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    @property
    def uses_events(self) -> bool | None:
        """True while the operating system's events drive it, False when polling, None before start."""
        return self._uses_events

    def _begin(self, on_change: Callable[[], Awaitable[None]]) -> None:
        if self._stopped or self._task is not None:
            return
        self._restart = asyncio.Event()
        self._task = asyncio.ensure_future(self._run(on_change))

    def _targets_changed(self) -> None:
        if self._restart is not None:
            self._restart.set()

    def _targets(self) -> tuple[dict[str, set[str]], set[str]]:
        """({folder of file apps: their file paths}, {directory apps}) to watch."""
        folders: dict[str, set[str]] = {}
        trees: set[str] = set()
        for source, _ in self._watched.values():
            if source.is_dir():
                trees.add(str(source))
            elif source.parent.is_dir():
                folders.setdefault(str(source.parent), set()).add(str(source))
        return folders, trees

    async def _run(self, on_change: Callable[[], Awaitable[None]]) -> None:
        try:
            import watchfiles
        except ImportError:
            await self._poll(on_change)
            return
        try:
            await self._watch_events(watchfiles, on_change)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # e.g. the system's limit of file watches reached
            if self._stopped:
                return
            log.warning("Cannot watch app files for changes (%s); looking at them every %d ms instead", error, POLL_MS)
            await self._poll(on_change)

    async def _poll(self, on_change: Callable[[], Awaitable[None]]) -> None:
        self._uses_events = False
        while not self._stopped:
            await asyncio.sleep(POLL_MS / 1000)
            await _call(on_change)

    async def _watch_events(self, watchfiles: Any, on_change: Callable[[], Awaitable[None]]) -> None:
        self._uses_events = True
        assert self._restart is not None
        while not self._stopped:
            self._restart.clear()
            folders, trees = self._targets()
            # Files may have changed while the watches were being replaced.
            await _call(on_change)
            streams = []
            if folders:
                wanted = set().union(*folders.values())
                streams.append(
                    self._drain(watchfiles.awatch(*folders, recursive=False, **self._options()), on_change, wanted)
                )
            if trees:
                streams.append(self._drain(watchfiles.awatch(*trees, recursive=True, **self._options()), on_change))
            if streams:
                await asyncio.gather(*streams)
            else:
                await self._restart.wait()

    def _options(self) -> dict[str, Any]:
        return {"debounce": DEBOUNCE_MS, "step": 50, "stop_event": self._restart, "ignore_permission_denied": True}

    async def _drain(self, stream: Any, on_change: Callable[[], Awaitable[None]], wanted: set[str] | None = None) -> None:
        async for changes in stream:
            if wanted is None or any(path in wanted for _, path in changes):
                await _call(on_change)


async def _call(on_change: Callable[[], Awaitable[None]]) -> None:
    try:
        await on_change()
    except Exception:
        log.exception("Error reloading changed apps")


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
