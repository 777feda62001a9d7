"""A session's ordered, numbered, coalescing queue of server→client messages."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from .protocol import Message, encode

__all__ = ["Outbox"]


class _Built(Message):
    """A message whose content is made when its tick's messages go (see Outbox.put_document)."""

    def __init__(self, kind: str, build: Callable[[], dict[str, Any]]) -> None:
        super().__init__({"type": kind})
        self.build = build

#: Frames kept for a client that may resume, at most this many bytes (the oldest
#: go first). A page that missed more than that while away is told to reload.
MAX_KEPT_BYTES = 16 * 2**20


class Outbox:
    """Collects one loop tick's messages, merges what can be merged, numbers and sends.

    Messages are kept after sending until the client acknowledges them, so a client
    that reconnects can be sent what it missed. Only the event-loop thread touches
    the queue; ``put`` from another thread hops to the loop first.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_kept_bytes: int = MAX_KEPT_BYTES) -> None:
        self._loop = loop
        self.max_kept_bytes = max_kept_bytes
        self._kept_bytes = 0
        self._thread = threading.get_ident() if _running_loop() is loop else None
        # None: a doc message a later one replaced (indexes into the list stay valid).
        self._pending: list[Message | None] = []
        # comm id -> index in _pending of that comm's latest mergeable update
        self._mergeable: dict[str, int] = {}
        # index in _pending of this tick's doc message
        self._doc_index: int | None = None
        self._flush_scheduled = False
        self._seq = 0
        # Sent frames kept for a reconnect: (seq, frame, whether it carries a widget's custom message).
        self._sent: deque[tuple[int, str | bytes, bool]] = deque()
        # Each attached connection, with the last seq it acknowledged.
        self._sends: dict[Callable[[str | bytes], None], int] = {}
        self.closed = False
        #: Called with a message that cannot be encoded (a value JSON cannot carry)
        #: and the error; the message is dropped, the ones after it still go.
        self.on_unsendable: Callable[[dict[str, Any], Exception], None] | None = None

    @property
    def last_seq(self) -> int:
        return self._seq

    def put(self, content: dict[str, Any], buffers: list[Any] | None = None) -> None:
        """Queue a message for the end of this tick."""
        if self.closed:
            return
        if not self._on_loop():
            self._loop.call_soon_threadsafe(self.put, content, buffers)
            return
        self._queue(Message(content, list(buffers or [])))

    def put_document(self, build: Callable[[], dict[str, Any]]) -> None:
        """Queue the document's state, made by ``build()`` when this tick's messages go.

        However often the document changes in a tick (a page setting 1,000
        roots, an app adding them one by one), one ``doc`` message is made and
        sent, after everything queued before the last change: the cost is one
        call to ``build``, not one per change.
        """
        if self.closed:
            return
        if not self._on_loop():
            self._loop.call_soon_threadsafe(self.put_document, build)
            return
        self._queue(_Built("doc", build))

    def _queue(self, message: Message) -> None:
        if not self._merge(message):
            self._pending.append(message)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def _merge(self, message: Message) -> bool:
        """Fold a state update into the same comm's pending update; True if folded."""
        content = message.content
        kind = content["type"]
        if kind == "doc":
            # Only the newest document state matters; it goes last so every root is open.
            if self._doc_index is not None:
                self._pending[self._doc_index] = None
            self._doc_index = len(self._pending)
            self._mergeable.clear()
            return False
        if kind in ("comm_open", "comm_close"):
            # Later updates may name the new model, or must not outlive the closed one:
            # nothing merges across this point.
            self._mergeable.clear()
            return False
        if kind != "comm_msg":
            return False
        comm_id = content["comm_id"]
        data = content.get("data") or {}
        if data.get("method") != "update" or "state" not in data:
            self._mergeable.pop(comm_id, None)
            return False
        index = self._mergeable.get(comm_id)
        earlier = None if index is None else self._pending[index]
        if earlier is None or _sets_a_key_again(earlier.content["data"], data):
            # A trait set twice in one tick is sent twice, in order: libraries use a
            # trait set and then reset as a message (plotly's FigureWidget sets
            # _py2js_restyle to the change, then to None), and merging would leave
            # the page only the reset.
            self._mergeable[comm_id] = len(self._pending)
            return False
        earlier.content["data"], earlier.buffers = _merge_updates(
            earlier.content["data"], earlier.buffers, data, message.buffers
        )
        return True

    def flush(self) -> None:
        """Number and send everything queued this tick."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        self._mergeable.clear()
        self._doc_index = None
        if self.closed:
            return
        for message in pending:
            if message is None:
                continue
            if isinstance(message, _Built):
                message.content = message.build()
            message.content["seq"] = self._seq + 1
            try:
                frame = encode(message)
            except (TypeError, ValueError) as error:
                del message.content["seq"]
                if self.on_unsendable is not None:
                    self.on_unsendable(message.content, error)
                continue
            self._seq += 1
            self._sent.append((self._seq, frame, _is_custom(message.content)))
            self._kept_bytes += len(frame)
            for send in list(self._sends):
                send(frame)
        # Unacknowledged frames (a client gone, or not reading) must not grow without end.
        while self._kept_bytes > self.max_kept_bytes and len(self._sent) > 1:
            self._kept_bytes -= len(self._sent.popleft()[1])

    def attach(self, send: Callable[[str | bytes], None], last_seq: int = 0) -> None:
        """Send through ``send`` from now on, starting after ``last_seq``.

        The caller checks :meth:`can_resume` first; frames the client already
        acknowledged are sent again only if they are still kept.
        """
        self.flush()
        self._sends[send] = last_seq
        for seq, frame, _ in self._sent:
            if seq > last_seq:
                send(frame)

    def detach(self, send: Callable[[str | bytes], None]) -> None:
        # Keyed by equality: each access to a bound method (handler.send_frame) is a new object.
        self._sends.pop(send, None)

    def can_resume(self, last_seq: int) -> bool:
        """Whether every message after ``last_seq`` is still kept."""
        oldest = self._sent[0][0] if self._sent else self._seq + 1
        return last_seq <= self._seq and last_seq >= oldest - 1

    def custom_frames(self) -> list[str | bytes]:
        """The frames of widgets' custom messages sent so far, in order, if all are still kept.

        What a page drawn from the widgets' current states still needs: custom
        messages (a canvas's drawing commands) are not part of any state. Empty
        once the start of the stream is forgotten, as nothing partial is better.
        """
        if not self.can_resume(0):
            return []
        return [frame for _, frame, custom in self._sent if custom]

    def ack(self, seq: int, send: Callable[[str | bytes], None] | None = None) -> None:
        """A client has applied everything up to ``seq``.

        Frames every attached connection has acknowledged are forgotten.
        """
        if send is not None and send in self._sends:
            self._sends[send] = max(self._sends[send], min(seq, self._seq))
        done = min(self._sends.values()) if self._sends else seq
        while self._sent and self._sent[0][0] <= min(done, seq):
            self._kept_bytes -= len(self._sent.popleft()[1])

    def unnumbered(self, content: dict[str, Any], buffers: list[Any] | None = None) -> str | bytes:
        """A frame outside the stream (``hello``, a snapshot): seq 0, never kept or replayed."""
        return encode(Message({**content, "seq": 0}, list(buffers or [])))

    def close(self) -> None:
        self.closed = True
        self._pending.clear()
        self._doc_index = None
        self._sent.clear()
        self._kept_bytes = 0
        self._sends.clear()

    def _on_loop(self) -> bool:
        if self._thread is None and _running_loop() is self._loop:
            self._thread = threading.get_ident()
        return self._thread == threading.get_ident()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _is_custom(content: dict[str, Any]) -> bool:
    data = content.get("data")
    return content["type"] == "comm_msg" and isinstance(data, dict) and data.get("method") == "custom"


def _keys(data: dict[str, Any]) -> set[str]:
    # ipywidgets deletes a top-level binary value from "state"; only its buffer path names it.
    return set(data["state"]) | {path[0] for path in data.get("buffer_paths", [])}


def _sets_a_key_again(first: dict[str, Any], second: dict[str, Any]) -> bool:
    return not _keys(first).isdisjoint(_keys(second))


def _merge_updates(
    first: dict[str, Any], first_buffers: list[Any], second: dict[str, Any], second_buffers: list[Any]
) -> tuple[dict[str, Any], list[Any]]:
    """One update carrying ``first`` and ``second``, which set different keys, buffers included."""
    merged = {**first, "state": {**first["state"], **second["state"]}}
    if "buffer_paths" in first or "buffer_paths" in second:
        merged["buffer_paths"] = [*first.get("buffer_paths", []), *second.get("buffer_paths", [])]
    return merged, [*first_buffers, *second_buffers]
