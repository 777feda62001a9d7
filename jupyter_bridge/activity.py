"""What the process is doing: running callbacks, their durations, frames in and out.

Sessions report each document callback here (see :class:`CallbackMonitor`); the
server's WebSockets count frames. ``Server.stats()`` reads these figures for the
admin page and ``/metrics``. Everything is process-wide, like the sessions of one
process, and cheap: a counter bump per frame, two clock reads per callback.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BUSY_AFTER",
    "DURATION_BUCKETS",
    "CallbackMonitor",
    "CallbackRun",
    "Traffic",
    "recent_callbacks",
    "traffic",
]

#: A callback running longer than this (seconds) shows the page's busy indicator.
BUSY_AFTER = 0.3
#: Upper bounds (seconds) of the callback duration histogram (the last bucket is +Inf).
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Runs shorter than this are counted in the histogram but not kept one by one.
KEPT_ABOVE = 0.002
#: How long (seconds) a run is kept for "the slowest callbacks of the last minute".
KEPT_FOR = 60.0


@dataclass(frozen=True)
class CallbackRun:
    """One finished callback: when it ended (time.monotonic()), its app's URL path,
    session id, name, and how long it took."""

    ended: float
    app: str
    session: str
    name: str
    seconds: float


class Traffic:
    """Counters of the process: frames and bytes in and out, callbacks and their durations."""

    def __init__(self) -> None:
        self.frames_in = 0
        self.frames_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.callbacks = 0
        self.callback_seconds = 0.0
        #: Cumulative counts per DURATION_BUCKETS bound, plus one for +Inf.
        self.duration_counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.runs: deque[CallbackRun] = deque(maxlen=5000)

    def received(self, frame: str | bytes) -> None:
        self.frames_in += 1
        self.bytes_in += len(frame)

    def sent(self, frame: str | bytes) -> None:
        self.frames_out += 1
        self.bytes_out += len(frame)

    def ran(self, app: str, session: str, name: str, seconds: float) -> None:
        self.callbacks += 1
        self.callback_seconds += seconds
        self.duration_counts[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        if seconds >= KEPT_ABOVE:
            self.runs.append(CallbackRun(time.monotonic(), app, session, name, seconds))

    def slowest(self, count: int = 10, within: float = KEPT_FOR) -> list[CallbackRun]:
        """The ``count`` longest runs that ended in the last ``within`` seconds."""
        now = time.monotonic()
        while self.runs and self.runs[0].ended < now - KEPT_FOR:
            self.runs.popleft()
        since = now - within
        return sorted((r for r in self.runs if r.ended >= since), key=lambda r: -r.seconds)[:count]


#: The process's counters.
traffic = Traffic()


def recent_callbacks(count: int = 10) -> list[CallbackRun]:
    """The slowest callbacks of the last minute, slowest first."""
    return traffic.slowest(count)


class CallbackMonitor:
    """Times a session's document callbacks and tells its pages when it is busy.

    ``send(busy)`` is called with True once callbacks have been running for
    BUSY_AFTER without a pause, and with False when the last one ends. A callback
    that blocks the loop delays that timer too: the page's own wait for its
    answer covers those (see status.ts).
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, app: str, session: str, send: Callable[[bool], None]
    ) -> None:
        self.loop = loop
        self.app = app
        self.session = session
        self.send = send
        self.running = 0
        self.busy = False
        #: When the current stretch of running callbacks began (loop time); None while idle.
        self._since: float | None = None
        # One timer at a time, left running past a callback's end: callbacks that come
        # and go quickly then cost no timer each.
        self._timer: asyncio.TimerHandle | None = None

    def started(self, func: Callable[..., Any], label: str | None) -> Callable[[], None]:
        """Call when a callback starts; call what it returns when it ends."""
        begun = time.perf_counter()
        self.running += 1
        if self.running == 1:
            self._since = self.loop.time()
            if self._timer is None:
                self._timer = self._later(self._since + BUSY_AFTER)

        def ended() -> None:
            traffic.ran(self.app, self.session, callback_name(func, label), time.perf_counter() - begun)
            self.running -= 1
            if self.running == 0:
                self._since = None
                if self.busy:
                    self.busy = False
                    self.send(False)

        return ended

    def _later(self, when: float) -> asyncio.TimerHandle:
        # Neither the monitor nor the session's context (where the callback that
        # arms it runs): a timer still pending must not keep a destroyed session,
        # and all its widgets, alive.
        return self.loop.call_at(when, _check, weakref.ref(self), context=contextvars.Context())

    def _check(self) -> None:
        self._timer = None
        if self._since is None or self.busy:
            return
        due = self._since + BUSY_AFTER
        if self.loop.time() >= due:
            self.busy = True
            self.send(True)
        else:  # the stretch that armed the timer ended; this one began later
            self._timer = self._later(due)


def _check(monitor: weakref.ref[CallbackMonitor]) -> None:
    found = monitor()
    if found is not None:
        found._check()


def callback_name(func: Callable[..., Any], label: str | None) -> str:
    """What an operator reads: the function's name, or what the browser asked for."""
    if label:
        return label
    func = getattr(func, "func", func)  # functools.partial
    return getattr(func, "__qualname__", None) or repr(func)
