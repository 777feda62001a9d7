"""The figures an operator watches: ``Server.stats()``, read by the admin page and ``/metrics``.

One snapshot of the process: sessions, sessions prepared ahead and connections per app, frames and bytes
in and out, callback durations and the slowest of the last minute, the event
loop's lag, resident memory and the number of live widgets. Counters only ever
grow (rates are the difference between two snapshots); the rest are gauges.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from ..activity import DURATION_BUCKETS, recent_callbacks, traffic
from .bridge import Bridge

__all__ = ["LoopLag", "rss_bytes", "server_stats"]

#: How often (seconds) the loop's lag is measured.
LAG_EVERY = 0.25
#: The lag reported is the largest seen over this many seconds.
LAG_WINDOW = 5.0

_started = time.time()


class LoopLag:
    """How late the event loop runs a timer: the time a callback blocked everything else.

    Measured from the first snapshot on (a timer every LAG_EVERY seconds), on the
    loop that asked; the figure is the worst of the last LAG_WINDOW seconds.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._samples: list[tuple[float, float]] = []
        self._handle: asyncio.TimerHandle | None = None

    def seconds(self) -> float:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return 0.0
        if self._loop is not loop:
            if self._handle is not None:
                self._handle.cancel()
            self._loop = loop
            self._samples = []
            self._schedule()
        now = time.monotonic()
        self._samples = [(at, lag) for at, lag in self._samples if now - at <= LAG_WINDOW]
        return max((lag for _, lag in self._samples), default=0.0)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._loop = None

    def _schedule(self) -> None:
        assert self._loop is not None
        due = self._loop.time() + LAG_EVERY
        self._handle = self._loop.call_at(due, self._tick, due)

    def _tick(self, due: float) -> None:
        if self._loop is None or self._loop.is_closed():
            return
        self._samples.append((time.monotonic(), max(0.0, self._loop.time() - due)))
        del self._samples[:-64]
        self._schedule()


loop_lag = LoopLag()


def server_stats(bridge: Bridge) -> dict[str, Any]:
    """A snapshot of every figure (plain data: JSON-ready)."""
    from ipywidgets.widgets.widget import _instances

    apps = {
        path: {
            "title": served.application.title,
            "sessions": len(served.sessions),
            "prepared": len(served.prepared.ready),
            "connections": sum(s.channel.connections for s in served.sessions.values()),
        }
        for path, served in list(bridge.apps.items())
    }
    cumulative, buckets = 0, []
    for bound, count in zip((*DURATION_BUCKETS, float("inf")), traffic.duration_counts):
        cumulative += count
        buckets.append((bound, cumulative))
    now = time.monotonic()
    return {
        "pid": os.getpid(),
        "uptime_seconds": time.time() - _started,
        "apps": apps,
        "sessions": sum(app["sessions"] for app in apps.values()),
        "prepared": sum(app["prepared"] for app in apps.values()),
        "connections": sum(app["connections"] for app in apps.values()),
        "frames_in": traffic.frames_in,
        "frames_out": traffic.frames_out,
        "bytes_in": traffic.bytes_in,
        "bytes_out": traffic.bytes_out,
        "callbacks": traffic.callbacks,
        "callback_seconds": traffic.callback_seconds,
        "callback_buckets": buckets,
        "slowest_callbacks": [
            {"app": run.app, "session": run.session, "name": run.name, "seconds": run.seconds,
             "ago": now - run.ended}
            for run in recent_callbacks(10)
        ],
        "loop_lag_seconds": loop_lag.seconds(),
        "rss_bytes": rss_bytes(),
        "widgets": len(_instances),
    }


def rss_bytes() -> int:
    """The process's resident memory."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
