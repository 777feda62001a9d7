"""What timing each callback costs (busy mark, admin figures, /metrics): microseconds per callback.

    python bench/callback_timing.py

Runs an empty callback through Document.run_locked many times, served by a host
that does not time callbacks and by one that does, as a Session does (its
CallbackMonitor), and prints the time per callback of each.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import Any

from jupyter_bridge.activity import CallbackMonitor
from jupyter_bridge.document import Document

RUNS = 50_000


class Host:
    """The least a document needs from the session serving it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.run_context = contextvars.copy_context()
        self.context = None

    def document_changed(self, document: Document) -> None:
        pass

    def report_error(self, error: BaseException, where: str) -> None:
        pass

    def owner_problem(self, widget: Any) -> str | None:
        return None


class TimingHost(Host):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.timing = CallbackMonitor(loop, "/bench", "session", lambda busy: None)

    def callback_started(self, func: Any, label: str | None) -> Any:
        return self.timing.started(func, label)


async def per_callback(host_class: type[Host]) -> float:
    document = Document()
    document.attach(host_class(asyncio.get_running_loop()))
    started = time.perf_counter()
    for _ in range(RUNS):
        await document.run_locked(lambda: None)
    return (time.perf_counter() - started) / RUNS * 1e6


async def main() -> None:
    plain = await per_callback(Host)
    timed = await per_callback(TimingHost)
    print(f"{'':<28}{'µs per callback':>16}")
    print(f"{'run_locked, not timed':<28}{plain:>16.2f}")
    print(f"{'run_locked, timed':<28}{timed:>16.2f}")
    print(f"{'timing adds':<28}{timed - plain:>16.2f}")


if __name__ == "__main__":
    asyncio.run(main())
