"""10,000 random and malformed frames against a live server, beside a healthy session."""

from __future__ import annotations

import json
import logging
import random
import struct
from collections.abc import Iterator
from contextlib import contextmanager

from conftest import EXAMPLES
from wsclient import Client

from jupyter_bridge.logs import short_id

SLIDERS = str(EXAMPLES / "sliders.py")
FRAMES = 10_000


def binary(parts: list[bytes], count: int | None = None, offsets: list[int] | None = None) -> bytes:
    count = len(parts) if count is None else count
    header = 4 * (len(parts) + 1)
    if offsets is None:
        offsets, position = [], header
        for part in parts:
            offsets.append(position)
            position += len(part)
    return struct.pack(">I", count) + b"".join(struct.pack(">I", o) for o in offsets) + b"".join(parts)


def fuzz_frames(rng: random.Random, own: list[str], foreign: list[str]) -> list[tuple[str | bytes, str]]:
    """(frame, id) pairs; each frame deserves exactly one answer naming its id (or none, '')."""
    junk = [None, True, 1.5, -1, "", "x" * 300, [], {}, [1, [2, [3]]], {"a": {"b": None}}]
    frames: list[tuple[str | bytes, str]] = []
    for n in range(FRAMES):
        msg_id = f"f{n}"
        kind = rng.randrange(12)
        if kind == 0:
            frames.append(("{" + "".join(rng.choices('{}[]":,ab1 ', k=rng.randrange(1, 40))), ""))
        elif kind == 1:
            frames.append((json.dumps(rng.choice(junk)), ""))
        elif kind == 2:
            frames.append((json.dumps({"type": rng.choice(["exec", "comm_open", "kernel", 7, None, []]), "id": msg_id}), msg_id))
        elif kind == 3:
            content = {"type": "comm_msg", "id": msg_id, "comm_id": rng.choice(foreign), "data": {"method": "update", "state": {"value": 99}}}
            frames.append((json.dumps(content), msg_id))
        elif kind == 4:
            content = {"type": "comm_msg", "id": msg_id, "comm_id": rng.choice(own), "data": rng.choice(junk)}
            frames.append((json.dumps(content), msg_id))
        elif kind == 5:
            state = {rng.choice(["value", "min", "max", "description", "_model_name", "nope"]): rng.choice(junk)}
            content = {"type": "comm_msg", "id": msg_id, "comm_id": rng.choice(own), "data": {"method": rng.choice(["update", "custom", "request_state", "zap"]), "state": state, "content": state}}
            frames.append((json.dumps(content), msg_id))
        elif kind == 6:
            header = json.dumps({"type": "comm_msg", "id": msg_id, "comm_id": rng.choice(own), "data": {"method": "update", "state": {}, "buffer_paths": [["value"], ["x", 1]][: rng.randrange(3)]}}).encode()
            frames.append((binary([header, b"\x00" * rng.randrange(5)] * rng.randrange(1, 3)), msg_id))
        elif kind == 7:
            frames.append((binary([b"{}"], count=rng.choice([0, 2**32 - 1, 10_000])), ""))
        elif kind == 8:
            frames.append((binary([b'{"type":"ping"}', b"abc"], offsets=[8, rng.randrange(1000, 10**9)]), ""))
        elif kind == 9:
            frames.append((bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12))), ""))
        elif kind == 10:
            frames.append((json.dumps({"type": "ack", "seq": rng.choice(["1", None, 1.5, True, []])}), ""))
        else:
            frames.append((json.dumps({"type": "ping", "id": msg_id}), msg_id))
    return frames


class Refusals(logging.Handler):
    """Counts the refusals logged for one session, without formatting or keeping 10,000 records."""

    def __init__(self, session_id: str) -> None:
        super().__init__(logging.WARNING)
        self.prefix = f"Session {short_id(session_id)}: refused a frame"
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += record.getMessage().startswith(self.prefix)


@contextmanager
def counting_refusals(session_id: str) -> Iterator[Refusals]:
    """The channels' log goes to a counter only, not to pytest's log capture, meanwhile."""
    logger = logging.getLogger("jupyter_bridge.channels")
    handler = Refusals(session_id)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.propagate = True
        logger.removeHandler(handler)


async def test_random_frames_are_answered_and_harm_no_other_session(serve):
    server = serve({"/sliders": SLIDERS})
    victim = await Client.open(server.url, "sliders")
    healthy = await Client.open(server.url, "sliders")
    bystander = await Client.open(server.url, "sliders")
    rng = random.Random(20261125)
    own = list(victim.models)
    frames = fuzz_frames(rng, own, list(bystander.models))

    answers: list[dict] = []
    read = 0

    def count_answers() -> int:
        # Only the frames that came since the last look: each frame is looked at once.
        nonlocal read
        for message in victim.frames[read:]:
            content = message.content
            if content["type"] in ("idle", "pong") or (content["type"] == "error" and content["where"] == "frame"):
                answers.append(content)
        read = len(victim.frames)
        return len(answers)

    with counting_refusals(victim.config["sessionId"]) as refusals:
        sent = 0
        for index, (frame, _msg_id) in enumerate(frames):
            victim.ws.write_message(frame, binary=isinstance(frame, bytes))
            sent += 1
            if index % 500 == 499:
                # Throughout, a healthy session in the same process works as usual.
                value = index // 500
                assert (await healthy.set_state("IntSliderModel", value=value))["type"] == "idle"
                assert healthy.model("LabelModel")["value"] == f"value*2 = {value * 2}"
                await victim.request({"type": "ping"})

        # Every frame got exactly one answer (plus one pong per checkpoint ping).
        await victim.wait_for(lambda: count_answers() >= sent + FRAMES // 500, timeout=60)
    assert victim.close_code is None
    assert count_answers() == sent + FRAMES // 500
    answered = {a.get("parent") for a in answers}
    # Each refusal was logged once, naming the session.
    assert refusals.count == sum(a["type"] == "error" for a in answers) > 0
    assert {msg_id for _, msg_id in frames if msg_id} <= answered
    # The bystander's widgets never moved.
    assert bystander.model("IntSliderModel")["value"] == 0
    assert all(state.get("value") != 99 for state in bystander.models.values())
    # And the victim's session still works (the fuzz may have moved its bounds).
    assert (await victim.set_state("IntSliderModel", min=0, max=100, value=3))["type"] == "idle"
    assert victim.model("LabelModel")["value"] == "value*2 = 6"
    for client in (victim, healthy, bystander):
        await client.close()
