"""Watching app files: when an app's files change, its new version is served to fresh sessions."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
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
    ReadDirectoryChangesW) in daemon threads; by looking every ``POLL_MS`` only when
    watchfiles is not installed or cannot watch (e.g. the system's limit of watches
    is reached). A file app is watched through its folder, not recursively (editors
    replace the file when they save); a directory app recursively. Apps given as
    functions or Application objects have no files and are not watched.
    """

    def __init__(self) -> None:
        self._watched: dict[str, tuple[Path, dict[str, int]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_change: Callable[[], Awaitable[None]] | None = None
        #: Tells the current watch threads to end (they look at it every 50 ms).
        self._stop_threads = threading.Event()
        self._poller: asyncio.Task[None] | None = None
        self._calling: asyncio.Task[None] | None = None
        self._call_again = False
        self._stopped = True
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
        self._stop_threads.set()
        for task in (self._poller, self._calling):
            if task is not None:
                task.cancel()
        self._poller = self._calling = None

    @property
    def uses_events(self) -> bool | None:
        """True while the operating system's events drive it, False when polling, None before start."""
        return self._uses_events

    def _begin(self, on_change: Callable[[], Awaitable[None]]) -> None:
        if self._stopped or self._on_change is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._on_change = on_change
        try:
            import watchfiles  # noqa: F401
        except ImportError:
            self._fall_back(None)
            return
        self._uses_events = True
        self._start_threads()

    def _targets_changed(self) -> None:
        if self._uses_events and not self._stopped:
            self._start_threads()

    def _start_threads(self) -> None:
        """(Re)start the watch threads on the current targets."""
        self._stop_threads.set()
        stop = self._stop_threads = threading.Event()
        folders: dict[str, set[str]] = {}
        trees: set[str] = set()
        for source, _ in self._watched.values():
            if source.is_dir():
                trees.add(str(source))
            elif source.parent.is_dir():
                folders.setdefault(str(source.parent), set()).add(str(source))
        if folders:
            self._thread(sorted(folders), False, set().union(*folders.values()), stop)
        if trees:
            self._thread(sorted(trees), True, None, stop)
        # Files may have changed while the watches were being replaced.
        self._notify()

    def _thread(self, paths: list[str], recursive: bool, wanted: set[str] | None, stop: threading.Event) -> None:
        # A daemon thread: it never holds up the process's exit.
        thread = threading.Thread(
            target=self._watch_files, args=(paths, recursive, wanted, stop), name="jupyter_bridge file watch", daemon=True
        )
        thread.start()

    def _watch_files(self, paths: list[str], recursive: bool, wanted: set[str] | None, stop: threading.Event) -> None:
        import watchfiles

        loop = self._loop
        assert loop is not None
        try:
            for changes in watchfiles.watch(
                *paths, recursive=recursive, stop_event=stop, debounce=DEBOUNCE_MS, step=50,
                ignore_permission_denied=True, raise_interrupt=False,
            ):  # fmt: skip
                if wanted is None or any(path in wanted for _, path in changes):
                    loop.call_soon_threadsafe(self._notify)
        except Exception as error:  # e.g. the system's limit of file watches reached
            if not stop.is_set():
                loop.call_soon_threadsafe(self._fall_back, error)

    def _fall_back(self, error: Exception | None) -> None:
        if self._stopped or self._poller is not None:
            return
        if error is not None:
            log.warning("Cannot watch app files for changes (%s); looking at them every %d ms instead", error, POLL_MS)
        self._stop_threads.set()
        self._uses_events = False
        self._poller = asyncio.ensure_future(self._poll())

    async def _poll(self) -> None:
        while not self._stopped:
            await asyncio.sleep(POLL_MS / 1000)
            self._notify()

    def _notify(self) -> None:
        """Run on_change, once at a time: a change seen while it runs runs it again after."""
        if self._stopped or self._on_change is None:
            return
        if self._calling is not None and not self._calling.done():
            self._call_again = True
            return
        self._calling = asyncio.ensure_future(self._call())

    async def _call(self) -> None:
        assert self._on_change is not None
        while True:
            self._call_again = False
            try:
                await self._on_change()
            except Exception:
                log.exception("Error reloading changed apps")
            if not self._call_again or self._stopped:
                return


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
