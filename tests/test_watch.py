"""--dev's file watcher: the operating system's events call back, polling only without watchfiles."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from support import eventually
from tornado import ioloop

from jupyter_bridge.server import watch
from jupyter_bridge.server.watch import AppWatcher


@pytest.fixture
def apps(tmp_path):
    single = tmp_path / "single.py"
    single.write_text("x = 1\n")
    folder = tmp_path / "folder_app"
    (folder / "lib").mkdir(parents=True)
    (folder / "main.py").write_text("y = 1\n")
    (folder / "lib" / "helpers.py").write_text("z = 1\n")
    return tmp_path, single, folder


async def _started(watcher: AppWatcher, changed: list) -> None:
    async def on_change() -> None:
        changed.extend(watcher.changed_apps())

    watcher.start(ioloop.IOLoop.current(), on_change)
    await eventually(lambda: watcher.uses_events is not None)


async def _save_until_seen(path, text: str, seen) -> None:
    """Save ``path`` until ``seen()``: the watches are set up on a worker thread, some time after start."""
    for attempt in range(200):
        path.write_text(f"{text}  # {attempt}\n")
        for _ in range(20):
            if seen():
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"no change of {path} was noticed")


async def test_saving_an_app_file_calls_back_on_the_file_event(apps, monkeypatch):
    root, single, folder = apps
    monkeypatch.setattr(watch, "POLL_MS", 10**9)  # only events can tell it
    watcher = AppWatcher()
    watcher.watch("/single", single)
    watcher.watch("/folder_app", folder)
    changed: list = []
    await _started(watcher, changed)
    try:
        assert watcher.uses_events is True
        (root / "unrelated.txt").write_text("not an app\n")
        await _save_until_seen(single, "x = 2", lambda: changed)
        assert {path for path, _ in changed} == {"/single"}
        # Deep inside a directory app.
        await _save_until_seen(folder / "lib" / "helpers.py", "z = 2", lambda: ("/folder_app", folder) in changed)

        # An app watched later (the Jupyter extension resolves apps on request) is watched too.
        later = root / "later.py"
        later.write_text("w = 1\n")
        watcher.watch("/later", later)
        await _save_until_seen(later, "w = 2", lambda: ("/later", later) in changed)
    finally:
        watcher.stop()


async def test_without_watchfiles_it_looks_at_the_files_every_poll(apps, monkeypatch):
    _, single, _ = apps
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # import fails as if not installed
    monkeypatch.setattr(watch, "POLL_MS", 50)
    watcher = AppWatcher()
    watcher.watch("/single", single)
    changed: list = []
    await _started(watcher, changed)
    try:
        assert watcher.uses_events is False
        single.write_text("x = 3\n")
        await eventually(lambda: changed == [("/single", single)])
    finally:
        watcher.stop()


def test_a_process_watching_files_ends_when_its_loop_does(tmp_path):
    """The watch threads never hold up the process's exit (a Jupyter server's shutdown)."""
    app = tmp_path / "app.py"
    app.write_text("x = 1\n")
    script = f"""
import asyncio
from tornado import ioloop
from jupyter_bridge.server.watch import AppWatcher

async def main():
    watcher = AppWatcher()
    watcher.watch("/app", {str(app)!r})
    seen = asyncio.Event()

    async def on_change():
        if watcher.changed_apps():
            seen.set()

    watcher.start(ioloop.IOLoop.current(), on_change)
    for attempt in range(400):
        open({str(app)!r}, "w").write(f"x = {{attempt}}\\n")
        try:
            await asyncio.wait_for(seen.wait(), 0.25)
            break
        except asyncio.TimeoutError:
            pass
    assert watcher.uses_events is True and seen.is_set()
    print("noticed")  # and ends without stopping the watcher
    loop.stop()

# As a Jupyter server runs: its loop started and stopped, no asyncio.run.
loop = ioloop.IOLoop.current()
loop.add_callback(main)
loop.start()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "noticed"
