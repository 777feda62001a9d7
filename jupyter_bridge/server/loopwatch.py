"""A warning when something holds the event loop: which session's callback, for how long.

Every session of a process shares one loop, so a callback that blocks (a
``time.sleep``, a long computation) stalls every other session meanwhile. The
loop beats every ``interval``; a watcher thread looks at the loop thread's stack
while a beat is late and remembers the document callback it finds running; the
late beat then logs one warning naming the session, the callback and the delay.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import sysconfig
import threading
import time
from pathlib import Path
from types import FrameType

from ..document import Document

__all__ = ["LoopWatch"]

log = logging.getLogger(__name__)

#: A beat later than this (seconds) is logged.
DEFAULT_THRESHOLD = 1.0


class LoopWatch:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, threshold: float = DEFAULT_THRESHOLD, interval: float = 0.1
    ) -> None:
        self.loop = loop
        self.threshold = threshold
        self.interval = interval
        self._expected = 0.0
        self._culprit: str | None = None
        self._loop_thread: int | None = None
        self._stopped = threading.Event()
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> LoopWatch:
        """Start on the loop's own thread (or before its loop runs on this thread)."""
        self._loop_thread = threading.get_ident()
        self._expected = time.monotonic() + self.interval
        self._handle = self.loop.call_later(self.interval, self._beat)
        threading.Thread(target=self._watch, name="jupyter-bridge loop watch", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._handle is not None:
            self._handle.cancel()

    def _beat(self) -> None:
        now = time.monotonic()
        late = now - self._expected
        if late > self.threshold:
            log.warning(
                "The event loop was blocked for %.1f s%s; every session of this process waited "
                "meanwhile. Run slow work in a thread or an executor (see without_document_lock)",
                late, f" by {self._culprit}" if self._culprit else "",
            )
        self._culprit = None
        self._expected = now + self.interval
        if not self._stopped.is_set():
            self._handle = self.loop.call_later(self.interval, self._beat)

    def _watch(self) -> None:
        while not self._stopped.wait(self.interval):
            if time.monotonic() - self._expected > self.threshold / 2 and self._culprit is None:
                frame = sys._current_frames().get(self._loop_thread or 0)
                if frame is not None:
                    self._culprit = _callback_in(frame)


_LIBRARY = (str(Path(__file__).resolve().parent.parent), sysconfig.get_paths()["stdlib"], "site-packages")


def _callback_in(frame: FrameType | None) -> str | None:
    """'callback NAME of session ID (at FILE:LINE)' for the document callback running in ``frame``'s stack."""
    where = ""
    innermost = frame
    while innermost is not None:
        filename = innermost.f_code.co_filename
        if not filename.startswith("<") and not any(part in filename for part in _LIBRARY):
            where = f", in {innermost.f_code.co_name} at {filename}:{innermost.f_lineno}"
            break
        innermost = innermost.f_back
    while frame is not None:
        code = frame.f_code
        if code.co_name == "run_locked" and code.co_filename.endswith("document.py"):
            document = frame.f_locals.get("self")
            func = frame.f_locals.get("func")
            label = frame.f_locals.get("label") or getattr(func, "__qualname__", None) or repr(func)
            context = document.session_context if isinstance(document, Document) else None
            session = f" of session {context.id}" if context is not None else ""
            return f"callback {label}{session}{where}"
        frame = frame.f_back
    return None
