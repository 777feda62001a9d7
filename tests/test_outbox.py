from __future__ import annotations

import asyncio
import threading
from typing import Any

from ipywidgets.widgets.widget import _remove_buffers
from support import eventually

from jupyter_bridge.outbox import Outbox
from jupyter_bridge.protocol import decode_server_frame


def parse(frame: str | bytes) -> tuple[dict[str, Any], list[bytes]]:
    """A sent frame's message and buffers, read as a client reads them."""
    message = decode_server_frame(frame)
    return message.content, [bytes(b) for b in message.buffers]


def messages(sent: list[str | bytes]) -> list[dict[str, Any]]:
    return [parse(frame)[0] for frame in sent]


def update(comm_id: str, **state: Any) -> dict[str, Any]:
    return {"type": "comm_msg", "comm_id": comm_id, "data": {"method": "update", "state": state}}


def binary_update(comm_id: str, **state: Any) -> tuple[dict[str, Any], list[Any]]:
    """An update split into state and buffers the way ipywidgets sends it."""
    state, paths, buffers = _remove_buffers(state)
    data = {"method": "update", "state": state, "buffer_paths": paths}
    return {"type": "comm_msg", "comm_id": comm_id, "data": data}, buffers


def custom(comm_id: str, content: Any) -> dict[str, Any]:
    return {"type": "comm_msg", "comm_id": comm_id, "data": {"method": "custom", "content": content}}


def comm_open(comm_id: str) -> dict[str, Any]:
    return {"type": "comm_open", "comm_id": comm_id, "target_name": "jupyter.widget", "data": {}}


def doc(title: str, roots: list[str]) -> dict[str, Any]:
    return {"type": "doc", "title": title, "roots": roots}


async def next_tick() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def attached_outbox() -> tuple[Outbox, list[str | bytes]]:
    outbox = Outbox(asyncio.get_running_loop())
    sent: list[str | bytes] = []
    outbox.attach(sent.append)
    return outbox, sent


async def test_sequence_numbers_start_at_one_and_increase_by_one():
    outbox, sent = await attached_outbox()
    for i in range(3):
        outbox.put({"type": "pong", "parent": f"p{i}"})
    await next_tick()
    outbox.put({"type": "pong", "parent": "p3"})
    await next_tick()

    assert [m["seq"] for m in messages(sent)] == [1, 2, 3, 4]
    assert outbox.last_seq == 4


async def test_messages_of_one_tick_are_sent_together_at_its_end_in_order():
    outbox, sent = await attached_outbox()

    outbox.put(comm_open("a"))
    outbox.put(custom("a", "hi"))
    outbox.put({"type": "idle", "parent": "m1"})
    assert sent == []
    await next_tick()

    assert [m["type"] for m in messages(sent)] == ["comm_open", "comm_msg", "idle"]


async def test_updates_of_one_widget_in_a_tick_that_set_different_keys_merge():
    outbox, sent = await attached_outbox()

    outbox.put(update("a", x=1))
    outbox.put(update("b", z=1))
    outbox.put(update("a", y=2))
    outbox.put(update("b", w=0))
    await next_tick()

    sent_messages = messages(sent)
    assert [m["comm_id"] for m in sent_messages] == ["a", "b"]
    assert sent_messages[0]["data"] == {"method": "update", "state": {"x": 1, "y": 2}}
    assert sent_messages[1]["data"]["state"] == {"z": 1, "w": 0}
    assert [m["seq"] for m in sent_messages] == [1, 2]


async def test_a_key_set_twice_in_a_tick_is_sent_twice_in_order():
    # plotly's FigureWidget sends a change as a trait set and then reset to None.
    outbox, sent = await attached_outbox()

    outbox.put(update("a", restyle={"y": [1]}, n=1))
    outbox.put(update("a", restyle=None))
    outbox.put(update("a", n=2))
    outbox.put(update("a", other=0))
    await next_tick()

    assert [m["data"]["state"] for m in messages(sent)] == [
        {"restyle": {"y": [1]}, "n": 1},
        {"restyle": None, "n": 2, "other": 0},
    ]


async def test_updates_in_different_ticks_are_not_merged():
    outbox, sent = await attached_outbox()

    outbox.put(update("a", x=1))
    await next_tick()
    outbox.put(update("a", x=2))
    await next_tick()

    assert [m["data"]["state"] for m in messages(sent)] == [{"x": 1}, {"x": 2}]


async def test_merging_keeps_every_buffer_and_a_key_set_again_keeps_its_own():
    outbox, sent = await attached_outbox()

    outbox.put(*binary_update("a", n=1, image=b"old image"))
    outbox.put(*binary_update("a", table={"column": [b"column bytes"]}))
    outbox.put(*binary_update("a", image=memoryview(b"new image")))
    await next_tick()

    assert len(sent) == 2
    first, first_buffers = parse(sent[0])
    assert first["data"]["state"] == {"n": 1, "table": {"column": [None]}}
    assert sorted(zip(map(tuple, first["data"]["buffer_paths"]), first_buffers)) == [
        (("image",), b"old image"),
        (("table", "column", 0), b"column bytes"),
    ]
    second, second_buffers = parse(sent[1])
    assert (second["data"]["buffer_paths"], second_buffers) == ([["image"]], [b"new image"])


async def test_merging_an_update_without_buffers_into_one_with_buffers_keeps_them():
    outbox, sent = await attached_outbox()
    first = update("a")
    first["data"]["buffer_paths"] = [["data"]]

    outbox.put(first, [b"\x00\x01"])
    outbox.put(update("a", label="x"))
    await next_tick()

    message, buffers = parse(sent[0])
    assert message["data"]["state"] == {"label": "x"}
    assert message["data"]["buffer_paths"] == [["data"]]
    assert buffers == [b"\x00\x01"]


async def test_no_update_is_merged_across_a_comm_open():
    outbox, sent = await attached_outbox()

    outbox.put(update("a", children=[]))
    outbox.put(comm_open("b"))
    outbox.put(update("a", children=["IPY_MODEL_b"]))
    await next_tick()

    assert [(m["type"], m["comm_id"]) for m in messages(sent)] == [
        ("comm_msg", "a"),
        ("comm_open", "b"),
        ("comm_msg", "a"),
    ]
    assert messages(sent)[2]["data"]["state"] == {"children": ["IPY_MODEL_b"]}


async def test_no_update_is_merged_across_a_comm_close():
    outbox, sent = await attached_outbox()

    outbox.put(update("a", value=1))
    outbox.put({"type": "comm_close", "comm_id": "b", "data": {}})
    outbox.put(update("a", value=2))
    await next_tick()

    assert [m["type"] for m in messages(sent)] == ["comm_msg", "comm_close", "comm_msg"]


async def test_custom_messages_are_never_merged_nor_jumped_over():
    outbox, sent = await attached_outbox()

    outbox.put(update("a", value=1))
    outbox.put(custom("a", "first"))
    outbox.put(custom("a", "second"))
    outbox.put(update("a", value=2))
    await next_tick()

    methods = [(m["data"]["method"], m["data"].get("content", m["data"].get("state"))) for m in messages(sent)]
    assert methods == [("update", {"value": 1}), ("custom", "first"), ("custom", "second"), ("update", {"value": 2})]


async def test_echo_updates_are_never_merged():
    outbox, sent = await attached_outbox()
    for value in (1, 2):
        outbox.put({"type": "comm_msg", "comm_id": "a", "data": {"method": "echo_update", "state": {"v": value}}})
    outbox.put(update("a", v=3))
    await next_tick()

    assert [(m["data"]["method"], m["data"]["state"]) for m in messages(sent)] == [
        ("echo_update", {"v": 1}),
        ("echo_update", {"v": 2}),
        ("update", {"v": 3}),
    ]


async def test_only_the_last_doc_of_a_tick_is_sent_after_what_was_queued_before_it():
    outbox, sent = await attached_outbox()

    outbox.put(doc("one", []))
    outbox.put(comm_open("a"))
    outbox.put(doc("two", ["a"]))
    outbox.put(update("b", value=1))
    outbox.put(doc("three", ["a"]))
    outbox.put({"type": "idle", "parent": "m1"})
    await next_tick()

    sent_messages = messages(sent)
    assert [m["type"] for m in sent_messages] == ["comm_open", "comm_msg", "doc", "idle"]
    assert sent_messages[2]["title"] == "three"
    assert [m["seq"] for m in sent_messages] == [1, 2, 3, 4]


async def test_a_document_changed_many_times_in_a_tick_is_made_once_and_sent_last():
    outbox, sent = await attached_outbox()
    built = []

    def build():
        built.append(1)
        return doc(f"state {len(built)}", ["a"])

    for i in range(1000):
        outbox.put(comm_open(f"w{i}"))
        outbox.put_document(build)
    outbox.put(update("w0", value=1))
    await next_tick()

    sent_messages = messages(sent)
    assert len(built) == 1  # not once per change
    assert [m["type"] for m in sent_messages[-3:]] == ["comm_open", "doc", "comm_msg"]
    assert [m["type"] for m in sent_messages].count("doc") == 1
    assert [m["seq"] for m in sent_messages] == list(range(1, 1003))


async def test_attach_replays_only_the_frames_above_last_seq():
    outbox = Outbox(asyncio.get_running_loop())
    for i in range(1, 4):
        outbox.put({"type": "pong", "parent": f"p{i}"})
    await next_tick()

    sent: list[str | bytes] = []
    outbox.attach(sent.append, last_seq=1)
    outbox.put({"type": "pong", "parent": "p4"})
    await next_tick()

    assert [(m["seq"], m["parent"]) for m in messages(sent)] == [(2, "p2"), (3, "p3"), (4, "p4")]


async def test_attach_sends_what_was_queued_in_this_tick_too():
    outbox = Outbox(asyncio.get_running_loop())
    outbox.put({"type": "pong", "parent": "p1"})
    sent: list[str | bytes] = []

    outbox.attach(sent.append)
    await next_tick()

    assert [m["seq"] for m in messages(sent)] == [1]


async def test_a_detached_connection_receives_nothing_more():
    outbox, sent = await attached_outbox()
    outbox.detach(sent.append)

    outbox.put({"type": "pong", "parent": "p1"})
    await next_tick()

    assert sent == []
    assert outbox.last_seq == 1


async def test_acknowledged_frames_are_forgotten():
    outbox = Outbox(asyncio.get_running_loop())
    for i in range(4):
        outbox.put({"type": "pong", "parent": f"p{i}"})
    await next_tick()

    outbox.ack(2)
    sent: list[str | bytes] = []
    outbox.attach(sent.append, last_seq=0)

    assert [m["seq"] for m in messages(sent)] == [3, 4]


async def test_can_resume_only_when_every_later_frame_is_kept():
    outbox = Outbox(asyncio.get_running_loop())
    assert outbox.can_resume(0)
    for i in range(4):
        outbox.put({"type": "pong", "parent": f"p{i}"})
    await next_tick()
    outbox.ack(2)

    assert not outbox.can_resume(0)
    assert not outbox.can_resume(1)
    assert outbox.can_resume(2)
    assert outbox.can_resume(4)
    assert not outbox.can_resume(5)
    assert not outbox.can_resume(-1)


async def test_unnumbered_frames_carry_seq_zero_and_are_never_replayed():
    outbox = Outbox(asyncio.get_running_loop())

    hello = parse(outbox.unnumbered({"type": "hello", "protocol": 1}))[0]
    await next_tick()
    sent: list[str | bytes] = []
    outbox.attach(sent.append)

    assert hello == {"type": "hello", "protocol": 1, "seq": 0}
    assert sent == []
    assert outbox.last_seq == 0


async def test_put_from_another_thread_is_sent_from_the_loop_thread():
    outbox = Outbox(asyncio.get_running_loop())
    senders: list[int] = []
    sent: list[str | bytes] = []

    def send(frame: str | bytes) -> None:
        senders.append(threading.get_ident())
        sent.append(frame)

    outbox.attach(send)

    def worker() -> None:
        for i in range(50):
            outbox.put({"type": "pong", "parent": f"t{i}"})

    thread = threading.Thread(target=worker)
    thread.start()
    await eventually(lambda: len(sent) == 50)
    thread.join()

    assert [m["parent"] for m in messages(sent)] == [f"t{i}" for i in range(50)]
    assert [m["seq"] for m in messages(sent)] == list(range(1, 51))
    assert set(senders) == {threading.get_ident()}


async def test_nothing_is_sent_after_close():
    outbox, sent = await attached_outbox()
    outbox.put({"type": "pong", "parent": "queued before close"})

    outbox.close()
    outbox.put({"type": "pong", "parent": "after close"})
    await next_tick()
    outbox.attach(sent.append)
    outbox.flush()

    assert sent == []
    assert outbox.closed


async def test_frames_nobody_acknowledges_are_kept_up_to_a_bound_oldest_first():
    # A client that stops reading (or leaves) acknowledges nothing: the kept frames
    # must not grow without end; resuming from a dropped frame is refused.
    outbox = Outbox(asyncio.get_running_loop(), max_kept_bytes=10_000)
    sent: list[str | bytes] = []
    outbox.attach(sent.append)
    for i in range(100):
        outbox.put({"type": "pong", "parent": "x" * 500 + str(i)})
        await next_tick()
    assert len(sent) == 100  # everything was still sent
    kept = sum(len(entry[1]) for entry in outbox._sent)
    assert kept <= 10_000 and len(outbox._sent) >= 10_000 // len(sent[0]) - 1
    assert outbox.can_resume(100) and outbox.can_resume(outbox._sent[0][0] - 1)
    assert not outbox.can_resume(1)


async def test_values_a_kernel_would_convert_are_converted_as_it_does():
    import datetime

    import numpy as np

    outbox, sent = await attached_outbox()
    outbox.put(update("a", size=np.float64(0.5), count=np.int64(3), when=datetime.date(2026, 12, 3)))
    await next_tick()

    assert messages(sent)[0]["data"]["state"] == {"size": 0.5, "count": 3, "when": "2026-12-03"}


async def test_a_message_that_cannot_be_encoded_is_dropped_and_the_rest_of_the_tick_still_goes():
    outbox, sent = await attached_outbox()
    refused: list[tuple[dict[str, Any], Exception]] = []
    outbox.on_unsendable = lambda content, error: refused.append((content, error))

    outbox.put(update("a", value=1))
    outbox.put(update("b", value=object()))
    outbox.put(update("c", value=float("nan")))
    outbox.put(update("d", value=4))
    await next_tick()

    assert [(m["comm_id"], m["seq"]) for m in messages(sent)] == [("a", 1), ("d", 2)]
    assert [content["comm_id"] for content, _ in refused] == ["b", "c"]
    assert isinstance(refused[0][1], TypeError) and isinstance(refused[1][1], ValueError)
    assert outbox.last_seq == 2
