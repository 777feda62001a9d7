"""The wire protocol: frames between a session and its client (see docs/protocol.md).

A message is a JSON object with a ``type``; its binary buffers travel beside it in
one binary WebSocket frame. This module is the one place that spells the wire:
the version and subprotocol, the message types, the frame layout, the close
codes, the query arguments, and the ``"IPY_MODEL_<id>"`` references inside widget
states. The server, the Python client and the tests use these names; the page's
copy is labextension/src/page/protocol.ts, which a test holds equal to this one.
It knows nothing of sessions or sockets.
"""

from __future__ import annotations

import base64
import datetime
import json
import numbers
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CLIENT_TYPES",
    "CLOSE_APP_CHANGED",
    "CLOSE_APP_FAILED",
    "CLOSE_BAD_TOKEN",
    "CLOSE_NORMAL",
    "CLOSE_SERVER_RESTART",
    "CLOSE_SESSION_GONE",
    "CLOSE_TOO_SLOW",
    "BATCH_ARGUMENT",
    "CLIENT_ARGUMENT",
    "ELEMENT_ID_ARGUMENT",
    "LAST_SEQ_ARGUMENT",
    "MAX_PLACE_LENGTH",
    "MAX_RESTORE_CHANGES",
    "MODEL_REF_PREFIX",
    "NO_SUCH_APP",
    "PAGE_STATE_ARGUMENT",
    "PROTOCOL_VERSION",
    "SERVER_TYPES",
    "SESSION_ID_ARGUMENT",
    "STREAM_ARGUMENT",
    "SUBPROTOCOL",
    "Message",
    "ProtocolError",
    "batch_frame",
    "decode",
    "decode_server_frame",
    "decode_server_frames",
    "encode",
    "is_refusal",
    "model_refs",
    "rename_model_refs",
    "split_frame",
]

PROTOCOL_VERSION = 1
SUBPROTOCOL = f"jupyter-bridge.v{PROTOCOL_VERSION}"

#: Message types a client may send, and the fields each must carry.
CLIENT_TYPES: dict[str, tuple[str, ...]] = {
    "comm_open": ("id", "comm_id", "target_name", "data"),
    "comm_msg": ("id", "comm_id", "data"),
    "comm_close": ("id", "comm_id"),
    "ping": ("id",),
    "ack": ("seq",),
    "doc": ("id",),
    "push_doc": ("id", "models", "roots"),
    "restore": ("id", "changes"),
}

#: Message types a server sends.
SERVER_TYPES: tuple[str, ...] = (
    "hello",
    "doc",
    "comm_open",
    "comm_msg",
    "comm_close",
    "idle",
    "pong",
    "pushed",
    "error",
    "busy",
    "restored",
)

#: WebSocket close codes. The client closing on purpose:
CLOSE_NORMAL = 1000
#: The server is stopping (a restart, a deploy): the client waits for a server to
#: answer again and reconnects, naming its stream; it then gets a fresh session.
CLOSE_SERVER_RESTART = 1012
#: The client read too slowly ("try again later"): it reconnects and resumes.
CLOSE_TOO_SLOW = 1013
# 4000-4999 are the application's to define. Each is a refusal that reconnecting
# cannot mend; after CLOSE_APP_CHANGED the page loads again, for a new session.
#: The token is missing, malformed, expired, forged, or names another user's session.
CLOSE_BAD_TOKEN = 4001
#: The app's files changed (development mode): load the page again.
CLOSE_APP_CHANGED = 4205
#: The session has ended, cannot be resumed, or the URL names no app (reason NO_SUCH_APP).
CLOSE_SESSION_GONE = 4404
#: The app failed while building the session.
CLOSE_APP_FAILED = 4500
#: The close reason of a CLOSE_SESSION_GONE for a socket URL that names no app.
NO_SUCH_APP = "no such app"

#: Query arguments. On the socket URL: resume the stream after this ``seq``.
LAST_SEQ_ARGUMENT = "last_seq"
#: Beside it: the ``stream`` of the ``hello`` the client last had. A client that
#: names it asks for a fresh session, announced by ``hello`` ``recreated``, when
#: that stream is gone (its process died); without it the server refuses, 4404.
STREAM_ARGUMENT = "stream"
#: Beside them, on the first connection of a page that shows the widget state its
#: HTML carried (at ``last_seq``): should that position no longer be resumable
#: (other pages of the session acknowledged what followed it), the server sends
#: the session's state afresh, announced by ``hello`` ``recreated``, instead of 4404.
PAGE_STATE_ARGUMENT = "page_state"
#: On the socket URL, with the value ``python``: the connection is the Python client's
#: that pushed the session's widgets and holds their Python side (``push_session``).
CLIENT_ARGUMENT = "client"
#: On the socket URL, "1": the client reads a text frame holding a JSON array of
#: messages (a batch), applied in order, so the server may send what one
#: client message caused (updates, then ``idle``) in one frame and one write.
BATCH_ARGUMENT = "batch"
#: On a page (or autoload.js) URL: show this existing session.
SESSION_ID_ARGUMENT = "jb-session-id"
#: On an autoload.js URL: the id of the script tag to put the app at.
ELEMENT_ID_ARGUMENT = "jb-element-id"

#: A widget state refers to another widget as this prefix and its model id.
MODEL_REF_PREFIX = "IPY_MODEL_"

#: The most changes one ``restore`` message may carry, and the most steps of a place.
MAX_RESTORE_CHANGES = 1000
MAX_PLACE_LENGTH = 64

_U32 = struct.Struct(">I")


def is_refusal(code: int | None) -> bool:
    """Whether a close code is the server's refusal (4xxx), after which a client must not retry."""
    return code is not None and 4000 <= code < 5000


class ProtocolError(ValueError):
    """A frame that does not follow the protocol; the text says what is wrong."""

    def __init__(self, reason: str, parent: str | None = None) -> None:
        super().__init__(reason)
        self.parent = parent


@dataclass
class Message:
    """One protocol message: its JSON fields and its binary buffers."""

    content: dict[str, Any]
    buffers: list[bytes | memoryview] = field(default_factory=list)

    @property
    def type(self) -> str:
        return self.content["type"]


def encode(message: Message) -> str | bytes:
    """A text frame for a message without buffers, a binary frame otherwise.

    Values JSON has no type for are converted as a kernel's messages convert them
    (:func:`json_default`: numpy scalars to numbers, dates to ISO text, bytes to
    base64), so a trait holding ``numpy.float64(0.5)`` reaches the page as it would
    in JupyterLab. Anything else raises TypeError; NaN and infinities, which JSON
    cannot carry, raise ValueError.
    """
    text = json.dumps(message.content, separators=(",", ":"), allow_nan=False, default=json_default)
    if not message.buffers:
        return text
    parts = [text.encode("utf-8"), *(bytes(b) for b in message.buffers)]
    header_size = 4 * (len(parts) + 1)
    offsets = []
    position = header_size
    for part in parts:
        offsets.append(position)
        position += len(part)
    header = _U32.pack(len(parts)) + b"".join(_U32.pack(o) for o in offsets)
    return header + b"".join(parts)


def json_default(value: Any) -> Any:
    """A JSON value for what ``json`` cannot write, as a kernel's message encoding gives it.

    Times become ISO 8601 text (a naive datetime is taken as local time and written
    with its offset, UTC as ``Z``), bytes base64 text, other iterables lists, and
    numbers of other types (numpy's) Python ints and floats.
    """
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.astimezone()
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Iterable):
        return list(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"{value!r} is not JSON serializable")


def _parse(
    frame: str | bytes, *, copy_buffers: bool, max_buffers: int = 0
) -> tuple[Any, list[bytes | memoryview]]:
    """The JSON of a frame and its buffers (views into the frame, or bytes of their own)."""
    buffers: list[bytes | memoryview] = []
    if isinstance(frame, bytes):
        text, views = split_frame(frame, max_buffers=max_buffers)
        buffers = [bytes(view) for view in views] if copy_buffers else list(views)
    else:
        text = frame
    try:
        return json.loads(text), buffers
    except ValueError as error:
        raise ProtocolError(f"frame is not valid JSON ({error})") from None
    except RecursionError:
        raise ProtocolError("frame's JSON is nested too deeply") from None


def decode(frame: str | bytes, *, max_buffers: int = 0) -> Message:
    """Parse and validate one client frame; raise ProtocolError naming the fault.

    ``max_buffers`` (0: any number) bounds the buffers a binary frame may carry,
    checked from its header before anything is made per part.
    """
    content, buffers = _parse(frame, copy_buffers=False, max_buffers=max_buffers)
    if not isinstance(content, dict):
        raise ProtocolError("frame must be a JSON object")
    parent = content.get("id")
    parent = parent if isinstance(parent, str) else None
    kind = content.get("type")
    # A list or object "type" is unhashable: test for str before the dict lookup.
    if not isinstance(kind, str) or kind not in CLIENT_TYPES:
        allowed = ", ".join(sorted(CLIENT_TYPES))
        raise ProtocolError(f"unknown message type {kind!r}; a client may send {allowed}", parent)
    for name in CLIENT_TYPES[kind]:
        if name not in content:
            raise ProtocolError(f"{kind} message lacks the field {name!r}", parent)
    if "id" in CLIENT_TYPES[kind] and not isinstance(content["id"], str):
        raise ProtocolError(f"{kind} message 'id' must be a string", None)
    if "comm_id" in content and not isinstance(content["comm_id"], str):
        raise ProtocolError("'comm_id' must be a string", parent)
    if kind == "ack" and (not isinstance(content["seq"], int) or isinstance(content["seq"], bool)):
        raise ProtocolError("ack message 'seq' must be an integer")
    if kind in ("comm_msg", "comm_open"):
        _check_comm_data(content, len(buffers), parent)
    if kind == "comm_open" and (
        not isinstance(content["target_name"], str) or not isinstance(content["data"].get("state"), dict)
    ):
        raise ProtocolError("comm_open message needs a 'target_name' string and a 'data.state' object", parent)
    elif kind == "push_doc":
        _check_push(content, len(buffers), parent)
    elif kind == "doc":
        _check_doc(content, parent)
    elif kind == "restore":
        _check_restore(content, len(buffers), parent)
    if buffers and kind not in ("comm_msg", "comm_open", "push_doc", "restore"):
        raise ProtocolError(f"{kind} message cannot carry buffers", parent)
    return Message(content, buffers)


def split_frame(frame: bytes, *, max_buffers: int = 0) -> tuple[str, list[memoryview]]:
    """A binary frame's JSON text and its buffers (views into ``frame``); ProtocolError if malformed.

    The layout is docs/protocol.md's: a part count, each part's offset, then the
    parts (the JSON first). Both directions use it. A frame announcing more than
    ``max_buffers`` buffers (0: any number) is refused before any part is read:
    a 20 MiB frame can announce five million empty parts.
    """
    view = memoryview(frame)
    if len(view) < 8:
        raise ProtocolError("binary frame is shorter than its header")
    (count,) = _U32.unpack_from(view, 0)
    if max_buffers and count - 1 > max_buffers:
        raise ProtocolError(
            f"a message may carry at most {max_buffers} buffers and this frame announces {count - 1}; "
            "start the server with a higher --websocket-max-buffers to allow more"
        )
    header_size = 4 * (count + 1)
    if count < 1 or header_size > len(view):
        raise ProtocolError(f"binary frame announces {count} parts, which its length cannot hold")
    offsets = [_U32.unpack_from(view, 4 * (i + 1))[0] for i in range(count)]
    ends = offsets[1:] + [len(view)]
    if offsets[0] != header_size or any(
        start > end or end > len(view) for start, end in zip(offsets, ends)
    ):
        raise ProtocolError("binary frame offsets are out of order or out of range")
    try:
        text = bytes(view[offsets[0] : ends[0]]).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("binary frame's message part is not UTF-8") from None
    return text, [view[start:end] for start, end in zip(offsets[1:], ends[1:])]


def decode_server_frame(frame: str | bytes) -> Message:
    """Parse one server→client frame, as a client reads it; ProtocolError if it is not a message.

    Unlike :func:`decode` it checks only the shape (a JSON object with a string
    ``type``): a client trusts the server it connected to. Each buffer is bytes of
    its own, since widget libraries keep the buffers they are given.
    """
    content, buffers = _parse(frame, copy_buffers=True)
    if not isinstance(content, dict) or not isinstance(content.get("type"), str):
        raise ProtocolError("frame is not a message object with a type")
    return Message(content, buffers)


def batch_frame(frames: list[str]) -> str:
    """One text frame carrying several text frames' messages, in order (see BATCH_ARGUMENT)."""
    return frames[0] if len(frames) == 1 else "[" + ",".join(frames) + "]"


def decode_server_frames(frame: str | bytes) -> list[Message]:
    """The messages of one server→client frame: one, or a batch's (see BATCH_ARGUMENT), in order."""
    if isinstance(frame, str) and frame.startswith("["):
        try:
            batch = json.loads(frame)
        except ValueError as error:
            raise ProtocolError(f"frame is not valid JSON ({error})") from None
        if not all(isinstance(m, dict) and isinstance(m.get("type"), str) for m in batch):
            raise ProtocolError("a batch frame holds message objects with a type")
        return [Message(m) for m in batch]
    return [decode_server_frame(frame)]


def model_refs(value: Any) -> list[str]:
    """The model ids a widget state refers to (``"IPY_MODEL_<id>"`` strings, at any depth), in order."""
    found: list[str] = []
    _collect_refs(value, found)
    return found


def _collect_refs(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        if value.startswith(MODEL_REF_PREFIX):
            found.append(value[len(MODEL_REF_PREFIX) :])
    elif isinstance(value, dict):
        for item in value.values():
            _collect_refs(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect_refs(item, found)


def rename_model_refs(value: Any, rename: Callable[[str], str]) -> Any:
    """A copy of a JSON state with each ``"IPY_MODEL_<id>"`` made ``"IPY_MODEL_<rename(id)>"``.

    A client and a server name the same widget by different ids; this is how a
    state crosses between them.
    """
    if isinstance(value, str):
        if value.startswith(MODEL_REF_PREFIX):
            return MODEL_REF_PREFIX + rename(value[len(MODEL_REF_PREFIX) :])
        return value
    if isinstance(value, dict):
        return {key: rename_model_refs(item, rename) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [rename_model_refs(item, rename) for item in value]
    return value


def _check_comm_data(content: dict[str, Any], buffer_count: int, parent: str | None) -> None:
    data = content["data"]
    if not isinstance(data, dict):
        raise ProtocolError("comm_msg 'data' must be an object", parent)
    metadata = content.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ProtocolError("comm_msg 'metadata' must be an object", parent)
    paths = data.get("buffer_paths", [])
    # A state update places each buffer in its state; a custom message's buffers go
    # with its content as a list (ipywidgets' Widget.send), named by no path.
    custom = data.get("method") == "custom" and not paths
    if not isinstance(paths, list) or (len(paths) != buffer_count and not custom):
        raise ProtocolError(
            f"comm_msg names {len(paths) if isinstance(paths, list) else 'no'} buffer paths "
            f"but carries {buffer_count} buffers",
            parent,
        )
    for path in paths:
        if not isinstance(path, list) or not path or not all(
            isinstance(p, (str, int)) and not isinstance(p, bool) for p in path
        ):
            raise ProtocolError("each buffer path must be a non-empty list of keys", parent)
    if "state" in data and not isinstance(data["state"], dict):
        raise ProtocolError("comm_msg 'state' must be an object", parent)


def _check_doc(content: dict[str, Any], parent: str | None) -> None:
    if "title" in content and not isinstance(content["title"], str):
        raise ProtocolError("doc message 'title' must be a string", parent)
    roots = content.get("roots", [])
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise ProtocolError("doc message 'roots' must be a list of model ids", parent)


def _check_push(content: dict[str, Any], buffer_count: int, parent: str | None) -> None:
    _check_doc(content, parent)
    models = content["models"]
    if not isinstance(models, list):
        raise ProtocolError("push_doc message 'models' must be a list", parent)
    seen: set[str] = set()
    paths = 0
    for model in models:
        if not isinstance(model, dict) or not isinstance(model.get("model_id"), str):
            raise ProtocolError("each pushed model must be an object with a string 'model_id'", parent)
        if model["model_id"] in seen:
            raise ProtocolError(f"the push names model {model['model_id']!r} twice", parent)
        seen.add(model["model_id"])
        if not isinstance(model.get("state"), dict):
            raise ProtocolError("each pushed model's 'state' must be an object", parent)
        _check_buffer_paths(model.get("buffer_paths", []), parent)
        paths += len(model.get("buffer_paths", []))
    if paths != buffer_count:
        raise ProtocolError(f"push_doc names {paths} buffer paths but carries {buffer_count} buffers", parent)
    missing = [r for r in content["roots"] if r not in seen]
    if missing:
        raise ProtocolError(f"push_doc roots {missing} are not among its models", parent)


def _check_restore(content: dict[str, Any], buffer_count: int, parent: str | None) -> None:
    changes = content["changes"]
    if not isinstance(changes, list):
        raise ProtocolError("restore message 'changes' must be a list", parent)
    if len(changes) > MAX_RESTORE_CHANGES:
        raise ProtocolError(
            f"a restore may carry at most {MAX_RESTORE_CHANGES} changes, not {len(changes)}", parent
        )
    paths = 0
    for change in changes:
        if not isinstance(change, dict) or not isinstance(change.get("state"), dict):
            raise ProtocolError("each restored change must be an object with a 'state' object", parent)
        place = change.get("place")
        if (
            not isinstance(place, list)
            or not 0 < len(place) <= MAX_PLACE_LENGTH
            or not isinstance(place[0], int)
            or not all(isinstance(step, (str, int)) and not isinstance(step, bool) for step in place)
        ):
            raise ProtocolError(
                f"a change's 'place' must be a root index and at most {MAX_PLACE_LENGTH - 1} keys", parent
            )
        model = change.get("model")
        if not isinstance(model, list) or len(model) != 2 or not all(isinstance(m, str) for m in model):
            raise ProtocolError("a change's 'model' must be [model module, model name]", parent)
        _check_buffer_paths(change.get("buffer_paths", []), parent)
        paths += len(change.get("buffer_paths", []))
    if paths != buffer_count:
        raise ProtocolError(f"restore names {paths} buffer paths but carries {buffer_count} buffers", parent)


def _check_buffer_paths(paths: Any, parent: str | None) -> None:
    if not isinstance(paths, list):
        raise ProtocolError("'buffer_paths' must be a list", parent)
    for path in paths:
        if not isinstance(path, list) or not path or not all(
            isinstance(p, (str, int)) and not isinstance(p, bool) for p in path
        ):
            raise ProtocolError("each buffer path must be a non-empty list of keys", parent)
