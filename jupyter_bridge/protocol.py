"""The wire protocol: frames between a session and its client (see docs/protocol.md).

A message is a JSON object with a ``type``; its binary buffers travel beside it in
one binary WebSocket frame. This module only encodes, decodes and validates; it
knows nothing of sessions or sockets.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PROTOCOL_VERSION",
    "SUBPROTOCOL",
    "CLIENT_TYPES",
    "Message",
    "ProtocolError",
    "decode",
    "encode",
]

PROTOCOL_VERSION = 1
SUBPROTOCOL = f"jupyter-bridge.v{PROTOCOL_VERSION}"

#: Message types a client may send, and the fields each must carry.
CLIENT_TYPES: dict[str, tuple[str, ...]] = {
    "comm_msg": ("id", "comm_id", "data"),
    "comm_close": ("id", "comm_id"),
    "ping": ("id",),
    "ack": ("seq",),
    "doc": ("id",),
    "push_doc": ("id", "models", "roots"),
}

_U32 = struct.Struct(">I")


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
    """A text frame for a message without buffers, a binary frame otherwise."""
    text = json.dumps(message.content, separators=(",", ":"), allow_nan=False)
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


def decode(frame: str | bytes) -> Message:
    """Parse and validate one client frame; raise ProtocolError naming the fault."""
    buffers: list[bytes | memoryview] = []
    if isinstance(frame, bytes):
        text, buffers = _split_binary(frame)
    else:
        text = frame
    try:
        content = json.loads(text)
    except ValueError as error:
        raise ProtocolError(f"frame is not valid JSON ({error})") from None
    except RecursionError:
        raise ProtocolError("frame's JSON is nested too deeply") from None
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
    if kind == "comm_msg":
        _check_comm_data(content, len(buffers), parent)
    elif kind == "push_doc":
        _check_push(content, len(buffers), parent)
    elif kind == "doc":
        _check_doc(content, parent)
    if buffers and kind not in ("comm_msg", "push_doc"):
        raise ProtocolError(f"{kind} message cannot carry buffers", parent)
    return Message(content, buffers)


def _split_binary(frame: bytes) -> tuple[str, list[bytes | memoryview]]:
    view = memoryview(frame)
    if len(view) < 8:
        raise ProtocolError("binary frame is shorter than its header")
    (count,) = _U32.unpack_from(view, 0)
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


def _check_comm_data(content: dict[str, Any], buffer_count: int, parent: str | None) -> None:
    data = content["data"]
    if not isinstance(data, dict):
        raise ProtocolError("comm_msg 'data' must be an object", parent)
    metadata = content.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ProtocolError("comm_msg 'metadata' must be an object", parent)
    paths = data.get("buffer_paths", [])
    if not isinstance(paths, list) or len(paths) != buffer_count:
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


def _check_buffer_paths(paths: Any, parent: str | None) -> None:
    if not isinstance(paths, list):
        raise ProtocolError("'buffer_paths' must be a list", parent)
    for path in paths:
        if not isinstance(path, list) or not path or not all(
            isinstance(p, (str, int)) and not isinstance(p, bool) for p in path
        ):
            raise ProtocolError("each buffer path must be a non-empty list of keys", parent)
