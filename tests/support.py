"""What several test files need: free ports, waiting for servers, Chromium's settings."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Debian's Chromium; Playwright never downloads a browser here.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
HAVE_CHROMIUM = Path(CHROMIUM).exists()
#: How long a browser wait may take: a bound, not a pause (every wait ends at its
#: event, and a busy machine, two cores shared with other work, may take long).
WAIT_MS = 60_000
#: For ``page.evaluate``: keep in ``window.seen`` every value the page's first root
#: widget takes, from its current one on, in order.
RECORD_FIRST_ROOT_VALUES = """async () => {
    const id = document.querySelector('.jb-root').dataset.jbModelId;
    const model = await window.jupyterBridge.manager.get_model(id);
    window.seen = [model.get('value')];
    model.on('change:value', () => window.seen.push(model.get('value')));
}"""


def free_port() -> int:
    """A TCP port nobody listens on now (on loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(
    url: str, process: subprocess.Popen | None = None, context: ssl.SSLContext | None = None, timeout: float = 60
) -> None:
    """Wait until ``url`` answers; fail early if ``process`` (the server) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=5, context=context).close()
            return
        except urllib.error.HTTPError:
            return  # it answers, even if not with 200
        except OSError:
            if process is not None and process.poll() is not None:
                # A test may keep the process's output in a file (process.output).
                output = getattr(process, "output", None)
                said = output.read_text()[-2000:] if output and output.exists() else ""
                raise AssertionError(f"{process.args[0]} exited with {process.returncode} before {url} answered:\n{said}") from None
            assert time.monotonic() < deadline, f"{url} did not answer within {timeout} s"
            time.sleep(0.1)


def wait_for_jupyter(base_url: str, token: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Wait until a ``jupyter server`` at ``base_url`` answers its API; fail with its log if it exits."""
    status = urllib.request.Request(base_url + "api/status", headers={"Authorization": f"token {token}"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"jupyter server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(status, timeout=30) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"jupyter server did not answer within {timeout} s:\n{log.read_text(errors='replace')}")


@contextmanager
def serving(*arguments: str, ready_path: str = "/healthz") -> Iterator[str]:
    """``jupyter-bridge serve ARGUMENTS`` in a process of its own; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_bridge.cli", "serve", *arguments, "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://localhost:{port}"
    try:
        wait_for_http(base + ready_path, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


async def eventually(condition, timeout: float = 30.0) -> None:
    """Wait, on the running loop, until ``condition()`` is true.

    ``timeout`` only bounds a wait that would never end: on a busy machine an
    event may come late, and the test must still see it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


async def settle() -> None:
    """Let callbacks that are already due on the running loop, and the tasks they start, finish."""
    for _ in range(5):
        await asyncio.sleep(0)


class Clock:
    """The running loop, with a time that moves only when the test says so.

    A session and its document take their timers and their time from the loop
    they are given: given this one, timeout and periodic callbacks fall due when
    :meth:`advance` passes their time, so a test sees what does *not* run
    without waiting for it.
    Everything else (call_soon, tasks) goes to the real loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.TimerHandle]] = []
        self._order = itertools.count()

    def __getattr__(self, name: str):
        return getattr(self._loop, name)

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback, *args, context=None) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(when, callback, args, self._loop, context=context)
        heapq.heappush(self._timers, (when, next(self._order), handle))
        return handle

    def call_later(self, delay: float, callback, *args, context=None) -> asyncio.TimerHandle:
        return self.call_at(self.now + delay, callback, *args, context=context)

    async def advance(self, seconds: float) -> None:
        """Move the time on by ``seconds``, running each timer due on the way in order, as a loop would:
        what is ready (and the tasks a timer starts) runs before the next timer."""
        target = self.now + seconds
        await settle()
        while self._timers and self._timers[0][0] <= target:
            when, _, handle = heapq.heappop(self._timers)
            if handle.cancelled():
                continue
            self.now = max(self.now, when)
            handle._run()
            await settle()
        self.now = target
