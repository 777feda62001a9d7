"""What timing each callback costs (busy mark, admin figures, /metrics): microseconds per callback.

    python bench/callback_timing.py

Runs an empty callback through Document.run_locked many times, without and with
the session's CallbackMonitor, and prints the time per callback of each.
"""

from __future__ import annotations

import asyncio
import time

from jupyter_bridge.activity import CallbackMonitor
from jupyter_bridge.document import Document

RUNS = 50_000


async def per_callback(monitored: bool) -> float:
    document = Document()
    if monitored:
        document._monitor = CallbackMonitor(asyncio.get_running_loop(), "/bench", "s", lambda busy: None).started
    started = time.perf_counter()
    for _ in range(RUNS):
        await document.run_locked(lambda: None)
    return (time.perf_counter() - started) / RUNS * 1e6


async def main() -> None:
    plain = await per_callback(False)
    timed = await per_callback(True)
    print(f"{'':<28}{'µs per callback':>16}")
    print(f"{'run_locked, not timed':<28}{plain:>16.2f}")
    print(f"{'run_locked, timed':<28}{timed:>16.2f}")
    print(f"{'timing adds':<28}{timed - plain:>16.2f}")


if __name__ == "__main__":
    asyncio.run(main())
