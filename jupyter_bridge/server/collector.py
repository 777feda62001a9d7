"""Full garbage collections in the server's idle moments (``--full-gc idle``).

Python's cyclic garbage collector looks at young objects often and cheaply, and
now and then at every object of the process (a full collection). With many
sessions in one process a full collection takes 100 ms and more (100 sessions of
a dashboard: 25 to 260 ms each), during which no session is answered. Python
runs one when enough objects have survived since the last: while pages arrive
in a burst, as each new session adds its objects, which it then stalls for
everyone, to find almost nothing: the new objects are live.

With this collector the young generations still run whenever Python decides.
The full collection, once it is due by Python's own rule (a number of younger
collections, and the heap grown by a quarter since the last full one), waits
for a pass of the loop that has nothing else to do (``BuildTurns.spare_turn``,
as sessions prepared ahead do), at most ``max_delay`` seconds. It does not wait,
or stops waiting, once sessions were destroyed since the last full collection:
the heap then holds their garbage, and holding it would let a server that opens
and closes sessions without pause grow by seconds' worth of them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Callable

from .builds import build_turns

__all__ = ["IdleCollector"]

log = logging.getLogger(__name__)

#: A threshold of younger collections that Python never reaches: it runs no full collection on its own.
NEVER = 1 << 30
#: Python's rule: a full collection only once the objects that survived since the last grew by a quarter.
GROWTH = 1.25


class IdleCollector:
    """Holds the process's full garbage collections for the loop's idle moments while started.

    Every server of a process shares the one collector state of the interpreter:
    the first to start takes over the schedule, the last to stop gives it back.
    """

    _started = 0
    #: Python's thresholds before the first start, given back at the last stop.
    _thresholds: tuple[int, int, int] = (0, 0, 0)

    def __init__(self, sessions: Callable[[], int] = lambda: 0, check: float = 0.1, max_delay: float = 10.0) -> None:
        """``sessions()``: how many sessions the server holds now."""
        self.sessions = sessions
        self.check = check
        self.max_delay = max_delay
        self.collections = 0
        #: Allocated memory blocks after the last full collection: how much the heap has grown since.
        self._blocks = 0
        #: sessions() when last looked at, and whether it went down since the last full collection.
        self._sessions = 0
        self._destroyed = False
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def supported() -> bool:
        """Whether this Python has the generational collector this schedules (CPython before 3.14)."""
        return sys.implementation.name == "cpython" and sys.version_info < (3, 14)

    def start(self) -> IdleCollector:
        """Start on the running loop: from now on a full collection waits for an idle moment."""
        if not self.supported() or self._task is not None:
            return self
        if IdleCollector._started == 0:
            IdleCollector._thresholds = gc.get_threshold()
            young, middle, _ = IdleCollector._thresholds
            gc.set_threshold(young, middle, NEVER)
        IdleCollector._started += 1
        self._blocks = sys.getallocatedblocks()
        self._sessions = self.sessions()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        self._task = None
        IdleCollector._started -= 1
        if IdleCollector._started == 0 and gc.get_threshold()[2] == NEVER:
            gc.set_threshold(*IdleCollector._thresholds)

    def due(self) -> bool:
        """Whether Python would have run a full collection by now."""
        enough = gc.get_count()[2] >= IdleCollector._thresholds[2]
        return enough and sys.getallocatedblocks() > self._blocks * GROWTH

    def _look(self) -> bool:
        """Whether sessions were destroyed since the last full collection."""
        sessions = self.sessions()
        self._destroyed |= sessions < self._sessions
        self._sessions = sessions
        return self._destroyed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check)
            destroyed = self._look()
            if self.due():
                if not destroyed:
                    await self._idle_moment()
                self.collect()

    async def _idle_moment(self) -> None:
        """Return in a pass of the loop with nothing else to do, once sessions are destroyed, or after ``max_delay``."""
        waits = (asyncio.ensure_future(build_turns().spare_turn()), asyncio.ensure_future(self._destroying()))
        try:
            done, _ = await asyncio.wait(waits, timeout=self.max_delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        if not done:
            log.debug("No idle moment in %g s: the full garbage collection runs now", self.max_delay)

    async def _destroying(self) -> None:
        while not self._look():
            await asyncio.sleep(self.check)

    def collect(self) -> None:
        started = time.perf_counter()
        found = gc.collect()
        self.collections += 1
        self._blocks = sys.getallocatedblocks()
        self._destroyed = False
        log.debug("Full garbage collection: %d objects freed in %.0f ms", found, (time.perf_counter() - started) * 1000)
