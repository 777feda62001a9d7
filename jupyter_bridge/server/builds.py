"""Sessions are built in turns, so a burst of page loads does not hold up open sessions."""

from __future__ import annotations

import asyncio
import weakref
from collections import deque

__all__ = ["BuildTurns", "build_turns"]


class BuildTurns:
    """Admits one session build per pass of the event loop.

    A build runs the app's code on the loop and holds it for as long as it runs.
    Pages that arrive together would otherwise be built in one pass, one after
    the other, while every open session's messages wait for all of them. Taking
    turns, the loop reads the network and answers what came between two builds;
    the builds themselves run back to back as before when nothing else waits.
    A build that awaits (an async app) lets the next one start: only the time a
    build holds the loop is shared out.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: deque[asyncio.Future[None]] = deque()
        # Whether a build was admitted in this pass of the loop.
        self._taken = False

    async def turn(self) -> None:
        """Return when this build may run: at once if no other build took this pass."""
        if not self._taken:
            self._take()
            return
        waiter = self._loop.create_future()
        self._waiting.append(waiter)
        await waiter

    def _take(self) -> None:
        self._taken = True
        self._loop.call_soon(self._next_pass)

    def _next_pass(self) -> None:
        self._taken = False
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # its request went away
                waiter.set_result(None)  # it runs in the next pass, after the network is read
                self._take()
                return

    async def spare_turn(self, every: float = 0.01, late: float = 0.002, quiet: int = 5) -> None:
        """Return in a pass of the loop that has nothing else to do, and take that pass.

        For work done ahead of need (sessions prepared for pages to come): it never
        goes before a page's build, nor into a burst that pauses between two passes.
        A timer every ``every`` seconds checks; the loop is idle when, ``quiet``
        checks in a row, no build waited or took the pass and the timer fired no
        more than ``late`` seconds late (a late timer means other work held the loop).
        """
        loop = self._loop
        calm = 0
        while True:
            due = loop.time() + every
            await asyncio.sleep(every)
            if loop.time() - due <= late and not self._taken and not self.waiting:
                calm += 1
                if calm >= quiet:
                    self._take()
                    return
            else:
                calm = 0

    @property
    def waiting(self) -> int:
        """How many builds wait for their turn."""
        return sum(not waiter.done() for waiter in self._waiting)


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, BuildTurns] = weakref.WeakKeyDictionary()


def build_turns() -> BuildTurns:
    """The running loop's turns (every app served on a loop shares them)."""
    loop = asyncio.get_running_loop()
    turns = _turns.get(loop)
    if turns is None:
        turns = _turns[loop] = BuildTurns(loop)
    return turns
