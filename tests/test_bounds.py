"""What one page can make the server do or hold, tested as the attacks: real servers, real sockets.

Each test sends what an attacker's page would send and checks that the server
refuses it in one sentence naming the limit and its flag, or that the work it
causes stays proportional to the message, while the session (and every other)
goes on.
"""

from __future__ import annotations

import asyncio
import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ipywidgets as w
import pytest
from conftest import EXAMPLES
from support import eventually, free_port, wait_for_http
from wsclient import Client, fetch_page

from jupyter_bridge.protocol import CLOSE_TOO_SLOW
from jupyter_bridge.settings import BridgeSettings
from jupyter_bridge.tokens import generate_secret_key

SLIDERS = str(EXAMPLES / "sliders.py")
ROOT = Path(__file__).resolve().parent.parent
#: The limits' defaults, as docs/security.md states them (a test below holds the settings to them).
DEFAULTS = {
    "websocket_max_message_size": 20 * 2**20,
    "websocket_max_buffers": 10_000,
    "max_document_roots": 1000,
    "max_title_length": 1000,
    "max_session_state": 64 * 2**20,
    "max_session_widgets": 20_000,
    "max_sessions": 10_000,
    "unconnected_session_lifetime": 30_000,
    "session_token_expiration": 300,
}


def default(name: str) -> int:
    return DEFAULTS[name]


def test_every_limit_has_its_documented_default_and_flag():
    traits = BridgeSettings.class_traits()
    security = (ROOT / "docs" / "security.md").read_text()
    section = security.split("## Bounds on what one page can cause", 1)[1].split("\n## ", 1)[0]
    for name, value in DEFAULTS.items():
        assert traits[name].default_value == value, name
        assert "--" + name.replace("_", "-") in section, f"docs/security.md does not name --{name}"


@contextmanager
def server_process(*arguments: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """``jupyter-bridge serve`` in a process of its own, to read its memory; yields its URL and process."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_bridge.cli", "serve", *arguments, "--port", str(port),
         "--address", "127.0.0.1", "--log-level", "error"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://localhost:{port}"
    try:
        wait_for_http(base + "/healthz", process)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def peak_memory_mb(pid: int) -> float:
    """The most memory the process has had resident (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def many_labels(count: int):
    """An app whose page has ``count`` widgets of its own (a box of labels), none of them a root but the box."""

    def app(doc):
        doc.add_root(w.VBox([w.Label(str(i)) for i in range(count)]))

    return app


def only_session(server, path: str):
    (session,) = server.bridge.apps[path].sessions.values()
    return session


# One message, one document change


async def test_a_page_naming_hundreds_of_roots_changes_the_document_once(serve):
    # The attack: a doc message naming many of the page's own widgets as roots.
    # Each root used to be one document change, each change rebuilding the whole
    # doc message: quadratic in roots, on the loop every session shares.
    server = serve({"/app": many_labels(400)})
    client = await Client.open(server.url, "app")
    session = only_session(server, "/app")
    changes = []
    changed = session.channel.document_changed
    session.channel.document_changed = lambda document: (changes.append(len(document.roots)), changed(document))
    labels = client.model_ids("LabelModel")
    assert len(labels) == 400
    docs_before = len(client.of_type("doc"))

    reply = await client.request({"type": "doc", "roots": labels})

    assert reply["type"] == "idle"
    assert changes == [400]  # one change, with every root in it
    assert len(client.of_type("doc")) == docs_before + 1 and client.doc["roots"] == labels
    assert [widget.model_id for widget in session.document.roots] == labels
    await client.close()


async def test_a_doc_message_naming_more_roots_than_the_limit_is_refused(serve):
    limit = default("max_document_roots")
    server = serve({"/app": many_labels(limit + 1)})
    client = await Client.open(server.url, "app")
    session = only_session(server, "/app")
    roots_before = session.document.roots
    labels = client.model_ids("LabelModel")

    reply = await client.request({"type": "doc", "roots": labels})

    assert reply["type"] == "error"
    assert f"at most {limit} roots" in reply["message"] and "--max-document-roots" in reply["message"]
    assert session.document.roots == roots_before
    # The session goes on: the limit is per message, a page may still show some.
    assert (await client.request({"type": "doc", "roots": labels[:limit]}))["type"] == "idle"
    assert len(session.document.roots) == limit
    await client.close()


async def test_a_title_longer_than_the_limit_is_refused(serve):
    limit = default("max_title_length")
    server = serve({"/sliders": SLIDERS})
    client = await Client.open(server.url, "sliders")

    reply = await client.request({"type": "doc", "title": "x" * (limit + 1)})

    assert reply["type"] == "error" and "--max-title-length" in reply["message"]
    assert only_session(server, "/sliders").document.title == "Sliders"
    assert (await client.request({"type": "doc", "title": "y" * limit}))["type"] == "idle"
    await client.close()


async def test_another_session_is_answered_while_a_page_names_5000_roots(tmp_path):
    # The attack as reported: 5,000 roots froze every session of the process for 8.6 s.
    app = tmp_path / "labels.py"
    app.write_text(
        "import ipywidgets as w\nfrom jupyter_bridge import curdoc\n"
        "curdoc().add_root(w.VBox([w.Label(str(i)) for i in range(5000)]))\n"
    )
    with server_process(str(app), SLIDERS) as (base, _process):
        attacker = await Client.open(base, "labels")
        victim = await Client.open(base, "sliders")
        labels = attacker.model_ids("LabelModel")
        assert len(labels) == 5000

        attack = attacker.send({"type": "doc", "roots": labels})
        pong = await asyncio.wait_for(victim.request({"type": "ping"}), 5)  # generous: the loop is free

        assert pong["type"] == "pong"
        reply = await attacker.wait_for(lambda: next((m.content for m in attacker.frames if m.content.get("parent") == attack), None))
        assert reply["type"] == "error" and "--max-document-roots" in reply["message"]
        await attacker.close()
        await victim.close()


# A frame's buffers are counted before it is split


def frame_of_empty_buffers(content: dict, count: int) -> bytes:
    """A binary frame: ``content`` followed by ``count`` empty buffers (docs/protocol.md's layout)."""
    text = json.dumps(content).encode()
    header_size = 4 * (count + 2)
    offsets = [header_size] + [header_size + len(text)] * count
    return struct.pack(f">{count + 2}I", count + 1, *offsets) + text


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc")
async def test_a_frame_announcing_millions_of_empty_buffers_is_refused_from_its_header():
    # 20 MiB (the largest message) of offsets: five million buffers, each made a
    # memory view and a number before any check, took the server from 45 MB to 1.5 GB.
    with server_process(SLIDERS) as (base, process):
        client = await Client.open(base, "sliders")
        slider = client.model_ids("IntSliderModel")[0]
        count = (default("websocket_max_message_size") - 4096) // 4
        attack = frame_of_empty_buffers(
            {"type": "comm_msg", "id": "attack", "comm_id": slider,
             "data": {"method": "update", "state": {}, "buffer_paths": []}},
            count,
        )  # fmt: skip
        assert len(attack) <= default("websocket_max_message_size")
        before = peak_memory_mb(process.pid)

        client.ws.write_message(attack, binary=True)
        # Refused from the header, before the JSON that names the message is read: no parent.
        reply = await client.wait_for(lambda: next(iter(client.of_type("error")), None))

        limit = default("websocket_max_buffers")
        assert reply["type"] == "error"
        assert f"at most {limit} buffers" in reply["message"] and "--websocket-max-buffers" in reply["message"]
        # The frame itself (20 MiB, received and unmasked) is all it costs.
        assert peak_memory_mb(process.pid) - before < 250
        assert (await client.set_state("IntSliderModel", value=3))["type"] == "idle"
        await client.close()


# Widget state a page makes a session hold


async def test_widget_state_a_page_sends_is_bounded_per_session(serve):
    limit = default("max_session_state")
    size = 8 * 2**20 - 1024  # its echo is under the test client's largest message (10 MiB)
    count = limit // size + 1  # the last one is too many

    def app(doc):
        doc.add_root(w.VBox([w.Textarea() for _ in range(count)]))

    server = serve({"/app": app})
    client = await Client.open(server.url, "app")
    session = only_session(server, "/app")
    areas = client.model_ids("TextareaModel")
    value = "x" * size

    def fill(comm_id: str, text: str):
        state = {"value": text}
        return client.request({"type": "comm_msg", "comm_id": comm_id, "data": {"method": "update", "state": state, "buffer_paths": []}})

    for comm_id in areas[:-1]:
        assert (await fill(comm_id, value))["type"] == "idle", client.of_type("error")
    reply = await fill(areas[-1], value)

    assert reply["type"] == "error"
    assert "--max-session-state" in reply["message"] and f"{limit / 2**20:.1f} MiB" in reply["message"]
    by_id = {widget.model_id: widget for widget in session.document.roots[0].children}
    assert by_id[areas[-1]].value == ""

    # A value replaces what the page sent before: emptying one area makes room.
    assert (await fill(areas[0], ""))["type"] == "idle"
    assert (await fill(areas[-1], value))["type"] == "idle"
    assert by_id[areas[-1]].value == value

    # A widget the page opens counts too, from the state it opens with.
    opened = await client.request({
        "type": "comm_open", "comm_id": "page-made", "target_name": "jupyter.widget",
        "data": {"state": {"_model_module": "@jupyter-widgets/controls", "_model_module_version": "2.0.0",
                           "_model_name": "TextareaModel", "_view_module": "@jupyter-widgets/controls",
                           "_view_module_version": "2.0.0", "_view_name": "TextareaView", "value": value},
                 "buffer_paths": []},
        "metadata": {"version": "2.1.0"},
    })  # fmt: skip
    assert opened["type"] == "error" and "--max-session-state" in opened["message"]
    assert session.channel.comm_manager.get_comm("page-made") is None
    # ...and buffers count as their bytes: a small update still goes through.
    assert (await fill(areas[0], "small"))["type"] == "idle"
    await client.close()


async def test_a_page_may_open_widgets_only_while_its_session_holds_fewer_than_the_limit(serve):
    server = serve({"/app": lambda doc: doc.add_root(w.Label("x"))}, max_session_widgets=3)
    client = await Client.open(server.url, "app")
    session = only_session(server, "/app")
    assert len(session.channel.comm_manager.comms) == 3  # the label, its layout and its style

    reply = await client.request({
        "type": "comm_open", "comm_id": "one-too-many", "target_name": "jupyter.widget",
        "data": {"state": {"_model_module": "@jupyter-widgets/controls", "_model_module_version": "2.0.0",
                           "_model_name": "LabelModel", "_view_module": "@jupyter-widgets/controls",
                           "_view_module_version": "2.0.0", "_view_name": "LabelView"},
                 "buffer_paths": []},
        "metadata": {"version": "2.1.0"},
    })  # fmt: skip

    assert reply["type"] == "error" and "fewer than 3" in reply["message"] and "--max-session-widgets" in reply["message"]
    assert session.channel.comm_manager.get_comm("one-too-many") is None
    await client.close()


# Sessions per process, and the life of a session whose page never came


async def test_page_loads_beyond_the_session_limit_answer_503_and_sockets_are_told_to_retry(serve, monkeypatch):
    # Tokens signed with one key, so the second server's page can ask this one to recreate its session.
    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", generate_secret_key())
    server = serve({"/sliders": SLIDERS}, max_sessions=3)
    elsewhere = serve({"/sliders": SLIDERS})
    for _ in range(3):
        code, _ = await fetch_page(server.url + "sliders")
        assert code == 200

    code, html = await fetch_page(server.url + "sliders")

    assert code == 503 and "--max-sessions" in html
    # A browser, which is sent the loading spinner before the app runs, gets the status too.
    code, html = await fetch_page(server.url + "sliders", headers={"Sec-Fetch-Dest": "document"})
    assert code == 503 and "--max-sessions" in html
    assert server.bridge.session_count == 3
    # A page whose session lives in another process may not have it rebuilt here.
    late = Client(elsewhere.url, "sliders")
    await late.load_page()
    await late.connect(ws_base=f"ws://127.0.0.1:{server.port}", origin=f"http://localhost:{server.port}")
    await late.wait_for(lambda: late.close_code is not None)
    assert late.close_code == CLOSE_TOO_SLOW and "--max-sessions" in late.close_reason
    assert server.bridge.session_count == 3
    # Once a session goes there is room again.
    served = server.bridge.apps["/sliders"]
    await served.destroy(next(iter(served.sessions.values())))
    code, _ = await fetch_page(server.url + "sliders")
    assert code == 200


async def test_sessions_whose_page_never_connects_are_reaped_after_a_short_life(serve):
    assert default("unconnected_session_lifetime") <= 60_000 < default("session_token_expiration") * 1000
    destroyed = []

    def app(doc):
        doc.add_root(w.IntText(0))
        doc.on_session_destroyed(lambda context: destroyed.append(context.id))

    server = serve(
        {"/app": app}, unconnected_session_lifetime=1000, check_unused_sessions=100,
        unused_session_lifetime=3_600_000,
    )  # fmt: skip
    connected = await Client.open(server.url, "app")
    never = [Client(server.url, "app") for _ in range(10)]
    for page in never:
        await page.load_page()
    assert server.bridge.session_count == 11

    await eventually(lambda: server.bridge.session_count == 1)

    assert sorted(destroyed) == sorted(page.config["sessionId"] for page in never)
    assert set(server.bridge.apps["/app"].sessions) == {connected.config["sessionId"]}
    assert (await connected.set_state("IntTextModel", value=5))["type"] == "idle"
    # A page that comes after all gets its session rebuilt from its token.
    late = never[0]
    await late.connect()
    await late.wait_for(lambda: late.doc is not None)
    assert late.config["sessionId"] in server.bridge.apps["/app"].sessions
    await late.close()
    await connected.close()


async def test_a_session_whose_socket_dropped_still_waits_for_its_page(serve):
    # The short life is for pages that never came: one whose connection dropped keeps its token's grace.
    server = serve(
        {"/sliders": SLIDERS}, unconnected_session_lifetime=100, check_unused_sessions=50,
        unused_session_lifetime=100,
    )  # fmt: skip
    client = await Client.open(server.url, "sliders")
    session = only_session(server, "/sliders")
    client.ws.close(None)  # no close code: as a dropped connection looks
    await eventually(lambda: session.channel.connections == 0)
    session.channel.last_seen -= 5  # well past both short lifetimes
    await server.bridge.destroy_unused_sessions()
    assert not session.destroyed
