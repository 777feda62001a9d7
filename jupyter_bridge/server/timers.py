"""Periodic work on a Tornado loop (reaping, watching files, logging), stopped together."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tornado import ioloop

__all__ = ["Timers"]


class Timers:
    """Callbacks run every so many milliseconds, until :meth:`stop`."""

    def __init__(self) -> None:
        self._timers: list[ioloop.PeriodicCallback] = []

    def every(self, loop: ioloop.IOLoop, milliseconds: int, callback: Callable[[], Any]) -> None:
        """Run ``callback`` every ``milliseconds`` on ``loop``; 0 or less: never."""
        if milliseconds > 0:
            timer = ioloop.PeriodicCallback(callback, milliseconds)
            self._timers.append(timer)
            loop.add_callback(timer.start)

    def stop(self) -> None:
        for timer in self._timers:
            timer.stop()
        self._timers.clear()
