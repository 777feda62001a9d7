from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from jupyter_bridge import protocol
from jupyter_bridge.protocol import (
    Message,
    ProtocolError,
    decode,
    decode_server_frame,
    encode,
    model_refs,
    rename_model_refs,
    split_frame,
)


def comm_msg(data: Any = None, **fields: Any) -> dict[str, Any]:
    return {"type": "comm_msg", "id": "m1", "comm_id": "c1", "data": {} if data is None else data, **fields}


def binary(*parts: bytes, count: int | None = None, offsets: list[int] | None = None) -> bytes:
    """A binary frame built by hand, so the decoder is not checked against itself."""
    n = len(parts) if count is None else count
    if offsets is None:
        offsets = []
        position = 4 * (len(parts) + 1)
        for part in parts:
            offsets.append(position)
            position += len(part)
    header = struct.pack(f">{1 + len(offsets)}I", n, *offsets)
    return header + b"".join(parts)


def refused(frame: str | bytes, match: str) -> ProtocolError:
    with pytest.raises(ProtocolError, match=match) as info:
        decode(frame)
    return info.value


def test_a_message_without_buffers_is_a_text_frame_that_round_trips():
    content = {"type": "ping", "id": "p1"}

    frame = encode(Message(content))

    assert isinstance(frame, str)
    assert json.loads(frame) == content
    message = decode(frame)
    assert message.content == content
    assert message.type == "ping"
    assert message.buffers == []


def test_a_comm_msg_without_buffers_round_trips_as_text():
    content = comm_msg({"method": "update", "state": {"value": 3}})

    frame = encode(Message(content))

    assert isinstance(frame, str)
    assert decode(frame).content == content


@pytest.mark.parametrize(
    "buffers",
    [
        [b"\x00\x01\x02\xff"],
        [b"first", b"", bytes(range(256)) * 40],
    ],
    ids=["one buffer", "three buffers"],
)
def test_buffers_travel_in_a_binary_frame_and_arrive_byte_identical(buffers):
    paths = [["state", f"b{i}"] for i in range(len(buffers))]
    content = comm_msg({"method": "update", "state": {}, "buffer_paths": paths})

    frame = encode(Message(content, [memoryview(b) for b in buffers]))

    assert isinstance(frame, bytes)
    assert struct.unpack_from(">I", frame)[0] == 1 + len(buffers)
    message = decode(frame)
    assert message.content == content
    assert [bytes(b) for b in message.buffers] == buffers
    assert [memoryview(b).nbytes for b in message.buffers] == [len(b) for b in buffers]


def test_a_hand_built_binary_frame_with_no_buffers_decodes():
    message = decode(binary(json.dumps({"type": "ping", "id": "p1"}).encode()))

    assert message.content == {"type": "ping", "id": "p1"}
    assert message.buffers == []


def test_a_hand_built_binary_frame_gives_each_buffer_its_own_slice():
    content = comm_msg({"buffer_paths": [["a"], ["b"], ["c"]]})
    frame = binary(json.dumps(content).encode(), b"AAA", b"B", b"CCCCC")

    message = decode(frame)

    assert [bytes(b) for b in message.buffers] == [b"AAA", b"B", b"CCCCC"]


def test_text_that_is_not_json_is_refused():
    error = refused("{not json", "not valid JSON")
    assert error.parent is None


def test_json_that_is_not_an_object_is_refused():
    refused("[1, 2]", "must be a JSON object")
    refused('"ping"', "must be a JSON object")


def test_json_nested_too_deeply_is_refused_not_crashed():
    depth = 100_000
    frame = '{"type": "ping", "id": "p1", "x": ' + "[" * depth + "]" * depth + "}"
    refused(frame, "JSON")


def test_an_unknown_type_is_refused_naming_it_and_what_is_allowed():
    error = refused(json.dumps({"type": "execute_request", "id": "o1"}), "unknown message type 'execute_request'")
    assert "comm_msg" in str(error) and "ping" in str(error)
    assert error.parent == "o1"


@pytest.mark.parametrize("kind", [None, 3, ["ping"], {"ping": 1}])
def test_a_missing_or_non_string_type_is_refused(kind):
    content = {"id": "x1"} if kind is None else {"type": kind, "id": "x1"}
    refused(json.dumps(content), "unknown message type")


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"type": "ping"}, "id"),
        ({"type": "ack"}, "seq"),
        ({"type": "comm_close", "id": "m1"}, "comm_id"),
        ({"type": "comm_msg", "id": "m1", "comm_id": "c1"}, "data"),
    ],
)
def test_a_missing_field_is_refused_naming_it(content, field):
    error = refused(json.dumps(content), f"lacks the field '{field}'")
    assert error.parent == content.get("id")


@pytest.mark.parametrize("bad_id", [5, None, ["m1"]])
def test_a_non_string_id_is_refused_without_a_parent(bad_id):
    error = refused(json.dumps({"type": "ping", "id": bad_id}), "'id' must be a string")
    assert error.parent is None


def test_a_non_string_comm_id_is_refused():
    error = refused(json.dumps(comm_msg(comm_id=7)), "'comm_id' must be a string")
    assert error.parent == "m1"


@pytest.mark.parametrize("seq", ["3", 1.5, True, None])
def test_an_ack_whose_seq_is_not_an_integer_is_refused(seq):
    refused(json.dumps({"type": "ack", "seq": seq}), "'seq' must be an integer")


def test_an_ack_with_an_integer_seq_is_accepted():
    assert decode(json.dumps({"type": "ack", "seq": 12})).content["seq"] == 12


@pytest.mark.parametrize("data", [[], "update", 3])
def test_comm_msg_data_that_is_not_an_object_is_refused(data):
    error = refused(json.dumps(comm_msg(data=data)), "'data' must be an object")
    assert error.parent == "m1"


def test_comm_msg_metadata_or_state_that_is_not_an_object_is_refused():
    refused(json.dumps(comm_msg(metadata=[])), "'metadata' must be an object")
    refused(json.dumps(comm_msg({"method": "update", "state": [1]})), "'state' must be an object")


def test_more_buffer_paths_than_buffers_is_refused():
    content = comm_msg({"state": {}, "buffer_paths": [["a"], ["b"]]})
    error = refused(binary(json.dumps(content).encode(), b"x"), "2 buffer paths but carries 1 buffers")
    assert error.parent == "m1"


def test_buffers_without_buffer_paths_are_refused():
    content = comm_msg({"state": {}})
    refused(binary(json.dumps(content).encode(), b"x"), "0 buffer paths but carries 1 buffers")


def test_buffer_paths_that_are_not_a_list_are_refused():
    content = comm_msg({"state": {}, "buffer_paths": "a"})
    refused(binary(json.dumps(content).encode(), b"x"), "buffer paths")


@pytest.mark.parametrize("path", [[], "a", [True], [1.5], [None], [["a"]]])
def test_a_malformed_buffer_path_is_refused(path):
    content = comm_msg({"state": {}, "buffer_paths": [path]})
    error = refused(binary(json.dumps(content).encode(), b"x"), "buffer path must be a non-empty list")
    assert error.parent == "m1"


def test_a_binary_frame_shorter_than_its_header_is_refused():
    refused(b"\x00\x00\x00", "shorter than its header")
    refused(b"", "shorter than its header")


@pytest.mark.parametrize("count", [0, 50, 2**32 - 1])
def test_a_binary_frame_announcing_an_impossible_part_count_is_refused(count):
    frame = binary(b'{"type":"ping","id":"p1"}', count=count)
    refused(frame, f"announces {count} parts")


def test_binary_frame_offsets_out_of_range_are_refused():
    text = b'{"type":"ping","id":"p1"}'
    refused(binary(text, b"xy", offsets=[12, 12 + len(text) + 100]), "offsets")


def test_binary_frame_offsets_out_of_order_are_refused():
    text = b'{"type":"ping","id":"p1"}'
    refused(binary(text, b"xy", b"z", offsets=[16, 30, 20]), "offsets")


def test_a_binary_frame_whose_message_does_not_start_after_the_header_is_refused():
    refused(binary(b'{"type":"ping","id":"p1"}', offsets=[12]), "offsets")


def test_a_binary_frame_whose_message_is_not_utf8_is_refused():
    refused(binary(b'{"type":"ping","id":"\xff\xfe"}'), "not UTF-8")


def test_buffers_on_a_message_that_cannot_carry_them_are_refused():
    error = refused(binary(b'{"type":"ping","id":"p1"}', b"x"), "ping message cannot carry buffers")
    assert error.parent == "p1"


def test_a_protocol_error_is_a_value_error():
    assert issubclass(ProtocolError, ValueError)


def test_a_server_frame_with_buffers_decodes_to_bytes_of_their_own():
    content = {"type": "comm_msg", "seq": 3, "comm_id": "c1", "data": {"buffer_paths": [["a"], ["b"]]}}
    frame = encode(Message(content, [b"\x00\x01", b"xyz"]))

    message = decode_server_frame(frame)

    assert message.content == content
    assert message.buffers == [b"\x00\x01", b"xyz"]
    assert all(type(b) is bytes for b in message.buffers)  # not views that pin the whole frame
    assert decode_server_frame(encode(Message({"type": "pong", "parent": "p"}))).content["type"] == "pong"


@pytest.mark.parametrize(
    "frame, match",
    [
        ("[1]", "not a message object"),
        ('{"type": 3}', "not a message object"),
        ("{", "not valid JSON"),
        (b"\x00\x00", "shorter than its header"),
        (binary(b'{"type":"pong"}', offsets=[3]), "out of order or out of range"),
    ],
)
def test_a_malformed_server_frame_is_a_protocol_error(frame, match):
    with pytest.raises(ProtocolError, match=match):
        decode_server_frame(frame)


def test_split_frame_gives_the_json_text_and_views_of_the_buffers():
    text, buffers = split_frame(binary(b'{"type":"ping","id":"p"}', b"ab", b""))

    assert text == '{"type":"ping","id":"p"}'
    assert [bytes(b) for b in buffers] == [b"ab", b""]


def test_model_refs_are_found_at_any_depth_in_order():
    state = {
        "children": ["IPY_MODEL_a", "IPY_MODEL_b"],
        "layout": "IPY_MODEL_c",
        "nested": {"deep": [("IPY_MODEL_d",)], "text": "IPY_MODEL"},
        "value": 3,
        "name": "not IPY_MODEL_x",
    }

    assert model_refs(state) == ["a", "b", "c", "d"]
    assert model_refs("IPY_MODEL_only") == ["only"]
    assert model_refs([1, None, True]) == []


def test_rename_model_refs_copies_the_state_with_every_reference_renamed():
    state = {"children": ["IPY_MODEL_a", "plain"], "layout": "IPY_MODEL_b", "n": 1.5}

    renamed = rename_model_refs(state, lambda model_id: model_id.upper())

    assert renamed == {"children": ["IPY_MODEL_A", "plain"], "layout": "IPY_MODEL_B", "n": 1.5}
    assert state["children"] == ["IPY_MODEL_a", "plain"]  # the original is untouched


@pytest.mark.parametrize("code, refused", [(1000, False), (1006, False), (None, False), (4001, True), (4999, True)])
def test_a_4xxx_close_is_a_refusal(code, refused):
    assert protocol.is_refusal(code) is refused


PROTOCOL_TS = Path(__file__).resolve().parent.parent / "labextension" / "src" / "page" / "protocol.ts"


def ts_constants() -> dict[str, Any]:
    """The page client's ``export const NAME = <number or 'string'>;`` lines."""
    constants: dict[str, Any] = {}
    for name, number, text in re.findall(
        r"^export const (\w+) = (?:(\d+)|'([^']*)');$", PROTOCOL_TS.read_text(), re.M
    ):
        constants[name] = int(number) if number else text
    return constants


def test_the_page_client_uses_the_python_sides_version_close_codes_and_arguments():
    constants = ts_constants()
    names = [
        "PROTOCOL_VERSION",
        "SUBPROTOCOL",
        "CLOSE_NORMAL",
        "CLOSE_BAD_TOKEN",
        "CLOSE_APP_CHANGED",
        "CLOSE_SESSION_GONE",
        "CLOSE_APP_FAILED",
        "LAST_SEQ_ARGUMENT",
    ]

    assert {name: constants.get(name) for name in names} == {name: getattr(protocol, name) for name in names}
    # Every number or string the page client exports is one the Python side defines the same.
    assert {name: getattr(protocol, name, None) for name in constants} == constants


def test_the_page_clients_message_types_and_fields_are_the_python_sides():
    source = PROTOCOL_TS.read_text()
    union = re.search(r"export type ServerMessage = ([^;]+);", source)
    assert union is not None
    server_types = set()
    for interface in union.group(1).split("|"):
        body = re.search(rf"export interface {interface.strip()} extends Sequenced \{{(.*?)\n\}}", source, re.S)
        assert body is not None, interface
        server_types.update(re.findall(r"^\s*type: '(\w+)';", body.group(1), re.M))
    # A page never pushes a document, so it never reads the answer to one.
    assert server_types == set(protocol.SERVER_TYPES) - {"pushed"}

    client = re.search(r"export type ClientMessage =(.*?);\n", source, re.S)
    assert client is not None
    sent = {}
    for member in re.findall(r"\{([^}]*)\}", client.group(1)):
        fields = dict(
            (name.strip(), value.strip())
            for name, _, value in (part.partition(":") for part in member.split(";") if part.strip())
        )
        kind = fields.pop("type").strip("'")
        sent[kind] = {name for name in fields if not name.endswith("?")}
    # The page sends these; `doc` and `push_doc` come only from the Python client.
    assert set(sent) == set(protocol.CLIENT_TYPES) - {"doc", "push_doc"}
    for kind, required in sent.items():
        assert set(protocol.CLIENT_TYPES[kind]) <= required, kind


def test_a_batch_frame_is_its_messages_in_order_and_a_plain_frame_is_one():
    first = protocol.encode(protocol.Message({"type": "comm_msg", "comm_id": "a", "seq": 1}))
    second = protocol.encode(protocol.Message({"type": "idle", "parent": "m1", "seq": 0}))
    assert isinstance(first, str) and isinstance(second, str)
    batch = protocol.batch_frame([first, second])
    assert [m.content for m in protocol.decode_server_frames(batch)] == [
        {"type": "comm_msg", "comm_id": "a", "seq": 1},
        {"type": "idle", "parent": "m1", "seq": 0},
    ]
    assert protocol.batch_frame([first]) == first
    assert [m.content["type"] for m in protocol.decode_server_frames(first)] == ["comm_msg"]
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_server_frames('[{"no": "type"}]')
