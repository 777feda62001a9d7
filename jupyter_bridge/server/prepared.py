"""Sessions prepared ahead of their pages (``--prepared-sessions``), for apps that allow it.

A page load normally builds its session: the app runs on the loop while the
request waits, and a burst of page loads is a burst of builds. An app that sets
``curdoc().prepare_ahead = True`` says its build reads nothing of the request
(it reads it in ``on_session_request``): then, once a page has shown that, the
server keeps up to N sessions of it built, each built in a pass of the loop that
had nothing else to do, one at a time, never with more than half of the loop. A page takes one (if one is ready), gets
its request and user applied and ``on_session_request`` run, and the pool is
refilled when the loop is idle again. A prepared session serves exactly one page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ..logs import short_id
from ..session import AppError
from .builds import build_turns

if TYPE_CHECKING:
    from ..channels import BrowserChannel
    from ..session import Session
    from .served_app import ServedApp

__all__ = ["PreparedSessions"]

log = logging.getLogger(__name__)

#: How often (seconds) a pool that may not grow (the process is full) looks again.
ROOM_CHECK = 1.0
#: How often (seconds) the pool looks whether the loop is calm enough to build one more.
CALM_CHECK = 0.01


class PreparedSessions:
    """One served app's sessions built ahead of their pages, and the task that builds them.

    ``size`` is the number to keep ready (0: none). Preparing starts once a session
    built for a page shows the app allows it (``curdoc().prepare_ahead``) and stops
    if a build does not, or reads the request while it waits for its page.
    """

    def __init__(self, served: ServedApp, size: int) -> None:
        self.served = served
        self.size = size
        #: Built and waiting for a page, oldest first.
        self.ready: deque[Session[BrowserChannel]] = deque()
        #: Being built now (0 or 1).
        self.building = 0
        #: Whether the app allows it (learnt from its last build).
        self.enabled = False
        #: Why no session of this app is prepared any more (until the app is reloaded), if so.
        self.refused: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._destroying: set[asyncio.Task[Any]] = set()
        # Pages came since the last build: wait for a longer calm (a burst may be going on).
        self._pages_came = True

    @property
    def held(self) -> int:
        """Sessions this pool holds against ``--max-sessions``: ready and being built."""
        return len(self.ready) + self.building

    def learn(self, session: Session[BrowserChannel]) -> None:
        """Note whether ``session``, just built for a page, allows preparing; start if so."""
        if not self.size or self.refused or self._stopping or not self.served.loaded:
            return
        self._pages_came = True
        allowed = bool(session.document.prepare_ahead)
        if allowed and not self.enabled:
            log.info("%s: keeping %d sessions prepared ahead of their pages", self.served.url_path, self.size)
        self.enabled = allowed
        if allowed:
            self._start()

    def take(self) -> Session[BrowserChannel] | None:
        """A prepared session for a page (then no other page gets it), or None if none is ready."""
        self._pages_came = True
        while self.ready:
            session = self.ready.popleft()
            self._wake_up()
            read = session.context.read_while_waiting
            if read is not None:  # a callback of its own read it while it waited
                self._refuse(read)
                self._destroy_later(session)
                continue
            if not session.destroyed:
                return session
        return None

    def evict(self) -> bool:
        """Give up one ready session so a page's session may be built instead; False if none."""
        if not self.ready:
            return False
        session = self.ready.pop()  # the newest: the oldest have waited longest for a page
        log.info("%s: prepared session %s destroyed to make room for a page", self.served.url_path,
                 short_id(session.id))
        self._destroy_later(session)
        self._wake_up()  # to build it again once there is room
        return True

    def reopen(self) -> None:
        """After :meth:`stop`, when the app is loaded again: its next page may start preparing."""
        self._stopping = False
        self.refused = None
        self._pages_came = True

    async def stop(self) -> None:
        """Stop preparing and destroy every ready session (``on_session_destroyed`` runs).

        Nothing is prepared again until :meth:`reopen` (the app is loaded again).
        """
        self._stopping = True
        self.enabled = False
        task, self._task = self._task, None
        if task is not None:
            if not self.building:
                task.cancel()  # it waits for its turn: nothing half built
            self._wake_up()
            with contextlib.suppress(asyncio.CancelledError):
                await task  # a build under way finishes, and its session is destroyed
        while self.ready:
            await self.served.destroy(self.ready.popleft())
        if self._destroying:
            await asyncio.gather(*self._destroying, return_exceptions=True)

    # The task that fills the pool

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._fill())
        else:
            self._wake_up()

    def _wake_up(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _wanted(self) -> bool:
        return (self.enabled and not self._stopping and self.refused is None
                and self.held < self.size and self.served.room_to_prepare())

    async def _fill(self) -> None:
        assert self._wake is not None
        turns = build_turns()
        took = 0.0  # how long the last build held the loop
        while not self._stopping:
            if not self._wanted():
                self._wake.clear()
                full = self.enabled and self.held < self.size  # waits for room, not for a page
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), ROOM_CHECK if full else None)
                continue
            # Only in a pass of the loop nothing else wanted, after a calm as long as the
            # last build took (so preparing never has more than half the loop), and
            # longer if pages came.
            quiet = max(5 if self._pages_came else 1, math.ceil(took / CALM_CHECK))
            self._pages_came = False
            await turns.spare_turn(every=CALM_CHECK, quiet=quiet)
            if not self._wanted():
                continue
            self.building += 1
            started = time.perf_counter()
            try:
                session = await self.served.prepare()
            except AppError as error:
                log.error("%s: a session prepared ahead failed; preparing stops until a page's build "
                          "succeeds: %s", self.served.url_path, error)
                self.enabled = False
                continue
            except Exception:
                log.exception("%s: preparing a session failed", self.served.url_path)
                self.enabled = False
                continue
            finally:
                self.building -= 1
                took = time.perf_counter() - started
            if self._stopping:
                await self.served.destroy(session)
                return
            read = session.context.read_while_waiting
            if read is not None:
                self._refuse(read)
                await self.served.destroy(session)
            elif not session.document.prepare_ahead:
                log.info("%s: the app no longer sets curdoc().prepare_ahead; sessions are built for "
                         "their pages again", self.served.url_path)
                self.enabled = False
                await self.served.destroy(session)
            else:
                self.ready.append(session)

    def _refuse(self, read: str) -> None:
        if self.refused is None:
            self.refused = f"the app read session_context.{read} before a page took its session"
            log.warning(
                "%s: %s; sessions of it are built for their pages from now on: read the request in "
                "on_session_request (curdoc().on_session_request(callback)) instead",
                self.served.url_path, self.refused,
            )
        self.enabled = False

    def _destroy_later(self, session: Session[BrowserChannel]) -> None:
        task = asyncio.get_running_loop().create_task(self.served.destroy(session))
        self._destroying.add(task)
        task.add_done_callback(self._destroying.discard)
