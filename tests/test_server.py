"""A real server on a loopback port, driven over real HTTP and WebSockets."""

from __future__ import annotations

import asyncio
import json
import logging

import ipywidgets as w
import pytest
from conftest import EXAMPLES
from support import eventually
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect
from wsclient import CONFIG, Client, fetch_page

from jupyter_bridge.logs import short_id
from jupyter_bridge.protocol import (
    CLOSE_APP_CHANGED,
    CLOSE_BAD_TOKEN,
    CLOSE_SERVER_RESTART,
    CLOSE_SESSION_GONE,
)
from jupyter_bridge.server import Server
from jupyter_bridge.server.builds import BuildTurns
from jupyter_bridge.tokens import generate_secret_key

SLIDERS = str(EXAMPLES / "sliders.py")


async def page_answering(url: str, status: int) -> str:
    """The page at ``url`` once it answers ``status`` (an app reloading meanwhile); its HTML."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        code, html = await fetch_page(url)
        if code == status:
            return html
        assert loop.time() < deadline, f"{url} answered {code}, never {status}"
        await asyncio.sleep(0.1)


async def test_slider_change_runs_the_python_callback(serve):
    server = serve({"/sliders": SLIDERS})
    client = await Client.open(server.url, "sliders")
    hello = client.frames[0].content
    assert hello["type"] == "hello" and hello["protocol"] == 1 and hello["seq"] == 0
    assert client.doc["title"] == "Sliders"
    (root,) = client.doc["roots"]
    assert client.models[root]["_model_name"] == "VBoxModel"

    reply = await client.set_state("IntSliderModel", value=21)

    assert reply["type"] == "idle"
    assert client.model("LabelModel")["value"] == "value*2 = 42"
    await client.close()


async def test_a_client_that_reads_batches_gets_all_an_event_caused_in_one_frame_in_order(serve):
    server = serve({"/sliders": SLIDERS})
    plain = await Client.open(server.url, "sliders")
    batched = await Client.open(server.url, "sliders", query="?batch=1")
    # The hello, every widget and the document came as one batch.
    assert [m.content["type"] for m in batched.frames][:1] == ["hello"]
    assert batched.doc is not None and len(batched.raw_frames) == 1

    for client in (plain, batched):
        client.raw_frames.clear()
        reply = await client.set_state("IntSliderModel", value=21)
        assert reply["type"] == "idle"
        assert client.model("LabelModel")["value"] == "value*2 = 42"
    # Without asking, one message a frame: the slider's echo, the label's update, idle.
    assert [json.loads(frame)["type"] for frame in plain.raw_frames] == ["comm_msg", "comm_msg", "idle"]
    (frame,) = batched.raw_frames
    echo, update, idle = json.loads(frame)
    assert echo["comm_id"] == batched.model_ids("IntSliderModel")[0] and echo["data"]["method"] == "echo_update"
    assert update["comm_id"] == batched.model_ids("LabelModel")[0] and update["seq"] == echo["seq"] + 1
    assert idle == {"type": "idle", "parent": reply["parent"], "seq": 0}
    await plain.close()
    await batched.close()


MIXED_APP = """
import ipywidgets as w
from jupyter_bridge import curdoc

slider, first, second = w.IntSlider(), w.Label(), w.Label()

def changed(change):
    first.value = f"first {change['new']}"
    slider.send({"event": "bytes"}, buffers=[b"\\x00\\x01"])
    second.value = f"second {change['new']}"

slider.observe(changed, "value")
curdoc().add_root(w.VBox([slider, first, second]))
"""


async def test_a_batch_keeps_binary_frames_in_their_place(serve, tmp_path):
    app = tmp_path / "mixed.py"
    app.write_text(MIXED_APP)
    server = serve({"/mixed": str(app)})
    plain = await Client.open(server.url, "mixed")
    batched = await Client.open(server.url, "mixed", query="?batch=1")
    orders = []
    for client in (plain, batched):
        start = len(client.frames)
        await client.set_state("IntSliderModel", value=5)
        orders.append([
            (m.content["type"], m.content.get("data", {}).get("method"), [bytes(b) for b in m.buffers])
            for m in client.frames[start:]
        ])
    assert orders[0] == orders[1]
    assert [kind for kind, _, _ in orders[1]] == ["comm_msg"] * 4 + ["idle"]
    assert orders[1][2] == ("comm_msg", "custom", [b"\x00\x01"])
    assert batched.model_ids("LabelModel") and {
        batched.models[cid]["value"] for cid in batched.model_ids("LabelModel")
    } == {"first 5", "second 5"}
    # Text before the binary frame, the binary frame, text after it.
    assert [type(frame) for frame in batched.raw_frames[-3:]] == [str, bytes, str]
    await plain.close()
    await batched.close()


async def test_session_builds_take_turns_one_per_pass_of_the_loop_in_arrival_order():
    loop = asyncio.get_running_loop()
    turns = BuildTurns(loop)
    passes = 0
    ticking = True

    def tick() -> None:  # runs once in every pass of the loop
        nonlocal passes
        passes += 1
        if ticking:
            loop.call_soon(tick)

    loop.call_soon(tick)
    await asyncio.sleep(0)
    admitted: list[tuple[int, int]] = []

    async def build(number: int) -> None:
        await turns.turn()
        admitted.append((number, passes))

    first = passes
    await build(0)  # nothing else building: at once
    assert admitted == [(0, first)]
    admitted.clear()
    waiting = [asyncio.ensure_future(build(number)) for number in range(1, 7)]
    await asyncio.sleep(0)
    waiting[2].cancel()  # a request that went away gives its turn to the next
    await asyncio.gather(*waiting, return_exceptions=True)
    ticking = False

    assert [number for number, _ in admitted] == [1, 2, 4, 5, 6]
    # Never two builds in one pass: between two, the loop reads the network.
    assert len({at for _, at in admitted}) == len(admitted)
    assert turns.waiting == 0


async def test_pages_loaded_at_once_each_get_a_working_session(serve):
    server = serve({"/sliders": SLIDERS})
    open_before = await Client.open(server.url, "sliders")
    burst = asyncio.gather(*(Client.open(server.url, "sliders") for _ in range(30)))
    # A session already open keeps answering while they are built.
    assert (await open_before.set_state("IntSliderModel", value=4))["type"] == "idle"
    clients = await burst
    assert len({client.config["sessionId"] for client in clients}) == 30
    for number, client in enumerate(clients):
        await client.set_state("IntSliderModel", value=number)
        assert client.model("LabelModel")["value"] == f"value*2 = {number * 2}"
        await client.close()
    await open_before.close()


async def test_every_connection_gets_its_own_session(serve):
    server = serve({"/sliders": SLIDERS})
    first = await Client.open(server.url, "sliders")
    second = await Client.open(server.url, "sliders")
    assert first.config["sessionId"] != second.config["sessionId"]
    assert set(first.models).isdisjoint(second.models)

    await first.set_state("IntSliderModel", value=10)
    await second.set_state("IntSliderModel", value=3)

    assert first.model("LabelModel")["value"] == "value*2 = 20"
    assert second.model("LabelModel")["value"] == "value*2 = 6"
    assert len(server.bridge.apps["/sliders"].sessions) == 2
    await first.close()
    await second.close()


async def test_frames_are_numbered_in_order(serve):
    server = serve({"/sliders": SLIDERS})
    client = await Client.open(server.url, "sliders")
    await client.set_state("IntSliderModel", value=1)
    await client.set_state("IntSliderModel", value=2)
    numbers = [m.content["seq"] for m in client.frames if m.content["seq"] > 0]
    assert numbers == list(range(1, len(numbers) + 1))
    # Answers to this connection's own messages are outside the shared stream.
    assert {m.content["type"] for m in client.frames if m.content["seq"] == 0} == {"hello", "idle"}
    await client.close()


def arguments_app(doc):
    request = doc.session_context.request
    doc.add_root(w.Label(repr(request.arguments.get("N"))))
    doc.add_root(w.Label(request.headers.get("X-Test", "no header")))
    doc.add_root(w.Label(request.cookies.get("flavour", "no cookie")))
    doc.add_root(w.Label(doc.session_context.id))


async def test_request_arguments_headers_and_cookies_reach_the_app(serve):
    server = serve({"/args": arguments_app})
    client = Client(server.url, "args?N=10")
    code, html = await fetch_page(
        server.url + "args?N=10", headers={"X-Test": "hello", "Cookie": "flavour=lemon"}
    )
    assert code == 200
    from wsclient import CONFIG

    client.config = json.loads(CONFIG.search(html).group(1))
    await client.connect()
    await client.wait_for(lambda: client.doc)
    labels = [client.models[r]["value"] for r in client.doc["roots"]]
    assert labels == ["[b'10']", "hello", "lemon", client.config["sessionId"]]
    await client.close()


async def test_closed_session_is_destroyed_and_frees_its_widgets(serve, widget_count):
    baseline = widget_count()
    destroyed = []

    def app(doc):
        doc.add_root(w.VBox([w.IntSlider(), w.Button()]))
        doc.add_periodic_callback(lambda: None, 50)
        doc.on_session_destroyed(lambda ctx: destroyed.append(ctx.id))

    # Lifetime runs out only once the socket is closed: on a busy machine a page's
    # socket may come later than any short lifetime (a case of its own, tested apart).
    server = serve({"/app": app}, unused_session_lifetime=3_600_000, check_unused_sessions=50)
    client = await Client.open(server.url, "app")
    assert widget_count() > baseline
    await client.close()
    await eventually(lambda: server.bridge.connection_count == 0)
    server.settings.unused_session_lifetime = 100

    await eventually(lambda: destroyed)
    assert destroyed == [client.config["sessionId"]]
    assert widget_count() == baseline
    assert server.bridge.session_count == 0


async def test_closed_sessions_are_destroyed_together_not_one_after_another(serve, widget_count):
    # Each session's on_session_destroyed waits until every session's has begun:
    # reaping them one after another would never get past the first.
    baseline = widget_count()
    started: list[str] = []
    finished: list[str] = []
    everyone = asyncio.Event()

    def app(doc):
        async def destroyed(context):
            started.append(context.id)
            if len(started) == 5:
                everyone.set()
            await asyncio.wait_for(everyone.wait(), 20)
            finished.append(context.id)

        doc.add_root(w.IntSlider())
        doc.on_session_destroyed(destroyed)

    # The sessions must all be unused when the reaper looks: a lifetime that runs
    # out only once every socket is closed (closing five may take longer than any
    # short lifetime on a busy machine, and then the first would be reaped alone).
    server = serve({"/app": app}, unused_session_lifetime=3_600_000, check_unused_sessions=50)
    clients = [await Client.open(server.url, "app") for _ in range(5)]
    for client in clients:
        await client.close()
    sessions = list(server.bridge.apps["/app"].sessions.values())
    await eventually(lambda: all(session.channel.connections == 0 for session in sessions), timeout=30)
    server.settings.unused_session_lifetime = 0
    await eventually(lambda: server.bridge.session_count == 0, timeout=30)
    assert sorted(finished) == sorted(client.config["sessionId"] for client in clients)
    assert widget_count() == baseline


async def test_page_whose_socket_never_arrives_is_reaped(serve, widget_count):
    baseline = widget_count()
    server = serve(
        {"/sliders": SLIDERS}, unused_session_lifetime=3_600_000, check_unused_sessions=50,
        session_token_expiration=1,
    )
    code, _ = await fetch_page(server.url + "sliders")
    assert code == 200 and server.bridge.session_count == 1
    server.settings.unused_session_lifetime = 100  # from now: the page answered long ago
    await eventually(lambda: server.bridge.session_count == 0)
    assert server.bridge.session_count == 0
    assert widget_count() == baseline


def sessions_alive(server, path: str) -> set[str]:
    return set(server.bridge.apps[path].sessions)


async def test_a_slow_page_keeps_the_session_its_request_made(serve):
    """A page whose socket comes long after the unused lifetime still gets its own session."""
    destroyed = []

    def app(doc):
        doc.add_root(w.Label(doc.session_context.id))
        doc.on_session_destroyed(lambda ctx: destroyed.append(ctx.id))

    server = serve({"/app": app}, unused_session_lifetime=100, check_unused_sessions=20)
    slow = Client(server.url, "app")
    await slow.load_page()  # its scripts are still loading...
    quick = await Client.open(server.url, "app")
    await quick.close()
    # The reaper has run past the lifetime: it destroyed the page that left...
    await eventually(lambda: destroyed == [quick.config["sessionId"]])
    # ...but not the one whose socket has not come yet.
    assert slow.config["sessionId"] in sessions_alive(server, "/app")
    live = server.bridge.apps["/app"].sessions[slow.config["sessionId"]]

    await slow.connect()
    await slow.wait_for(lambda: slow.doc is not None)

    assert server.bridge.apps["/app"].sessions[slow.config["sessionId"]] is live  # not recreated
    assert destroyed == [quick.config["sessionId"]]
    await slow.close()


async def test_a_dropped_connection_keeps_its_session_for_the_page_to_come_back(serve):
    server = serve({"/sliders": SLIDERS}, unused_session_lifetime=100, check_unused_sessions=20)
    dropped = await Client.open(server.url, "sliders")
    await dropped.set_state("IntSliderModel", value=21)
    dropped.ws.protocol.stream.close()  # the network went away: no close frame
    await eventually(lambda: dropped.close_code is not None or dropped.ws is None or dropped._reader.done())
    left = await Client.open(server.url, "sliders")
    await left.close()  # a page that leaves sends a close code

    await eventually(lambda: left.config["sessionId"] not in sessions_alive(server, "/sliders"))

    assert dropped.config["sessionId"] in sessions_alive(server, "/sliders")
    back = Client(server.url, "sliders")
    back.config = dropped.config
    await back.connect()
    # Its state, not a fresh session's:
    await back.wait_for(lambda: back.doc is not None and back.model("LabelModel")["value"] == "value*2 = 42")
    await back.close()


def reaper_runs(server, path: str) -> list[float]:
    """The loop times at which the server's reaper has looked at ``path``'s sessions, from now on."""
    served = server.bridge.apps[path]
    runs: list[float] = []
    look = served.destroy_unused

    async def counted(*args):
        result = await look(*args)
        runs.append(asyncio.get_running_loop().time())
        return result

    served.destroy_unused = counted  # the reaper looks the method up on every run
    return runs


async def test_connected_session_outlives_the_unused_lifetime(serve):
    # An unconnected session would go after 50 ms, or after its page's token expires
    # (1 s) if its page may still come.
    server = serve(
        {"/sliders": SLIDERS}, unused_session_lifetime=50, check_unused_sessions=20, session_token_expiration=1
    )
    client = await Client.open(server.url, "sliders")
    runs = reaper_runs(server, "/sliders")
    opened = asyncio.get_running_loop().time()
    # The reaper has looked at the session twice after either would have ended.
    await eventually(lambda: len([at for at in runs if at - opened > 1.0]) >= 2)
    assert server.bridge.session_count == 1
    reply = await client.set_state("IntSliderModel", value=4)
    assert reply["type"] == "idle"
    await client.close()


def broken_app(doc):
    doc.add_root(w.Label("partly built"))
    raise ValueError("the data file is missing")


async def test_app_that_raises_answers_500_and_others_keep_serving(serve, widget_count, caplog):
    baseline = widget_count()
    server = serve({"/broken": broken_app, "/sliders": SLIDERS})
    with caplog.at_level(logging.ERROR):
        code, html = await fetch_page(server.url + "broken")
    assert code == 500
    assert "ValueError: the data file is missing" in html
    assert "Traceback" not in html  # only with --dev
    assert "the data file is missing" in caplog.text and "Traceback" in caplog.text
    assert widget_count() == baseline  # the half-built session was cleaned up

    client = await Client.open(server.url, "sliders")
    assert (await client.set_state("IntSliderModel", value=1))["type"] == "idle"
    await client.close()


async def test_dev_mode_shows_the_traceback(serve):
    server = serve({"/broken": broken_app}, dev=True)
    code, html = await fetch_page(server.url + "broken")
    assert code == 500 and "Traceback" in html and "raise ValueError" in html


async def test_bad_frames_get_errors_and_the_session_goes_on(serve):
    server = serve({"/sliders": SLIDERS})
    client = await Client.open(server.url, "sliders")
    other = await Client.open(server.url, "sliders")
    assert client.ws is not None

    client.ws.write_message("not json")
    client.ws.write_message(b"\x00\x00\x00\x09garbage", binary=True)
    client.ws.write_message(json.dumps({"type": "exec", "id": "x1", "code": "import os"}))
    # A page may open widgets of its own, but never under another widget's id.
    taken = other.model_ids("IntSliderModel")[0]
    state = {"_model_module": "@jupyter-widgets/controls", "_model_name": "IntSliderModel"}
    client.ws.write_message(json.dumps({"type": "comm_open", "id": "x2", "comm_id": taken, "target_name": "jupyter.widget", "data": {"state": state}}))
    reply = await client.request({"type": "comm_msg", "comm_id": other.model_ids("IntSliderModel")[0], "data": {"method": "update", "state": {"value": 99}}})
    errors = await client.wait_for(lambda: len(client.of_type("error")) >= 5 and client.of_type("error"))

    assert reply["type"] == "error" and "no comm" in reply["message"]
    messages = [e["message"] for e in errors]
    assert any("not valid JSON" in m for m in messages)
    assert any("binary frame" in m for m in messages)
    assert any("unknown message type 'exec'" in m for m in messages)
    assert any(f"the id {taken!r} is taken" in m for m in messages)
    assert all(e["where"] == "frame" for e in errors)
    # Neither session was harmed, and the other session's slider did not move.
    assert (await client.set_state("IntSliderModel", value=5))["type"] == "idle"
    assert client.model("LabelModel")["value"] == "value*2 = 10"
    assert other.model("IntSliderModel")["value"] == 0
    assert (await other.set_state("IntSliderModel", value=1))["type"] == "idle"
    await client.close()
    await other.close()


async def test_oversized_frame_closes_only_that_connection(serve):
    server = serve({"/sliders": SLIDERS}, websocket_max_message_size=10_000)
    client = await Client.open(server.url, "sliders")
    other = await Client.open(server.url, "sliders")
    client.ws.write_message("x" * 20_000)
    await client.wait_for(lambda: client.close_code is not None)
    assert client.close_code == 1009
    assert (await other.set_state("IntSliderModel", value=2))["type"] == "idle"
    await other.close()


def where_from_app(doc):
    request = doc.session_context.request
    for value in (request.protocol, request.host, request.uri, request.remote_ip):
        doc.add_root(w.Label(str(value)))


async def test_behind_a_proxy_the_request_says_what_the_browser_asked_for(serve):
    key = generate_secret_key()  # shared by the two processes, as behind a balancer
    first = serve({"/where": where_from_app}, use_xheaders=True, secret_key=key)
    second = serve(
        {"/where": where_from_app}, use_xheaders=True, allow_websocket_origin=["apps.example.org:443"], secret_key=key
    )
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9", "Host": "apps.example.org"}
    client = Client(first.url, "where", headers=proxy)
    code, html = await fetch_page(first.url + "where?N=7", headers=proxy)
    assert code == 200
    client.config = json.loads(CONFIG.search(html).group(1))
    expected = ["https", "apps.example.org", "/where?N=7", "203.0.113.9"]
    served = first.bridge.apps["/where"].sessions[client.config["sessionId"]]
    assert [root.value for root in served.document.roots] == expected

    # A socket on another process rebuilds the same request from the page's token.
    await client.connect(ws_base=f"ws://127.0.0.1:{second.port}", origin="https://apps.example.org")
    await client.wait_for(lambda: client.doc)
    assert [client.models[r]["value"] for r in client.doc["roots"]] == expected
    await client.close()


async def test_websocket_from_another_origin_is_refused_with_the_fix_in_the_log(serve, caplog):
    server = serve({"/sliders": SLIDERS})
    client = Client(server.url, "sliders")
    await client.load_page()
    with caplog.at_level(logging.WARNING), pytest.raises(HTTPClientError) as refused:
        await client.connect(origin="http://evil.example:8000")
    assert "403" in str(refused.value)
    assert "--allow-websocket-origin=evil.example:8000" in caplog.text


async def test_allowed_origin_flag_admits_that_origin(serve):
    server = serve({"/sliders": SLIDERS}, allow_websocket_origin=["apps.example.org"])
    client = Client(server.url, "sliders")
    await client.load_page()
    await client.connect(origin="http://apps.example.org")
    await client.wait_for(lambda: client.doc)
    await client.close()
    with pytest.raises(HTTPClientError, match="403"):
        await client.connect()  # localhost is no longer implied


async def test_socket_on_another_process_recreates_the_session_from_the_token(serve):
    key = generate_secret_key()
    first = serve({"/args": arguments_app}, secret_key=key)
    second = serve({"/args": arguments_app}, secret_key=key)
    client = Client(first.url, "args?N=7")
    await client.load_page()
    # The page came from the first server; the socket lands on the second.
    await client.connect(ws_base=f"ws://127.0.0.1:{second.port}", origin=f"http://localhost:{second.port}")
    await client.wait_for(lambda: client.doc)
    labels = [client.models[r]["value"] for r in client.doc["roots"]]
    assert labels[0] == "[b'7']" and labels[3] == client.config["sessionId"]
    assert client.config["sessionId"] in second.bridge.apps["/args"].sessions
    await client.close()


async def test_forged_token_is_refused(serve):
    server = serve({"/sliders": SLIDERS})
    client = Client(server.url, "sliders")
    await client.load_page()
    await client.connect(token="bm90LWEtdG9rZW4")
    await client.wait_for(lambda: client.close_code is not None)
    assert client.close_code == CLOSE_BAD_TOKEN and "does not match this server's key" in client.close_reason
    # Where anyone may make a token (unsigned, no key), a garbled one is still refused.
    unsigned = serve({"/sliders": SLIDERS}, session_ids="unsigned")
    client = Client(unsigned.url, "sliders")
    await client.load_page()
    await client.connect(token="bm90LWEtdG9rZW4")
    await client.wait_for(lambda: client.close_code is not None)
    assert client.close_code == CLOSE_BAD_TOKEN and "malformed" in client.close_reason


async def test_reconnect_resumes_without_losing_or_repeating_frames(serve):
    counters = []

    def app(doc):
        counter = w.IntText(0)
        counters.append(counter)
        doc.add_root(counter)

        def tick():
            counter.value += 1

        doc.add_periodic_callback(tick, 20)

    server = serve({"/count": app})
    client = await Client.open(server.url, "count")
    await client.wait_for(lambda: client.model("IntTextModel")["value"] >= 3)
    last = client.frames[-1].content["seq"]
    await client.close()
    missed = counters[0].value + 5
    await eventually(lambda: counters[0].value >= missed)  # updates happen while nobody listens
    frames_before = len(client.frames)
    await client.connect(query=f"?last_seq={last}")
    await client.wait_for(lambda: client.model("IntTextModel")["value"] >= 15)
    resumed = [m.content for m in client.frames[frames_before:] if m.content["seq"] > 0]
    assert resumed[0]["seq"] == last + 1
    numbers = [m["seq"] for m in resumed]
    assert numbers == list(range(last + 1, last + 1 + len(numbers)))
    values = [m["data"]["state"]["value"] for m in resumed if m["type"] == "comm_msg"]
    assert values == list(range(values[0], values[0] + len(values)))
    await client.close()


async def test_resuming_an_ended_session_says_so(serve):
    server = serve({"/sliders": SLIDERS})
    client = await Client.open(server.url, "sliders")
    await client.close()
    await server.bridge.destroy_all_sessions()
    await client.connect(query="?last_seq=3")
    await client.wait_for(lambda: client.close_code is not None)
    assert client.close_code == CLOSE_SESSION_GONE
    assert "reload the page" in client.of_type("error")[-1]["message"]


def failing_callback_app(doc):
    button = w.Button(description="fail")
    label = w.Label("ok")

    def on_click(_):
        raise RuntimeError("boom in the click handler")

    button.on_click(on_click)
    doc.add_root(w.VBox([button, label]))
    doc.add_timeout_callback(lambda: 1 / 0, 10)
    doc.add_timeout_callback(lambda: setattr(label, "value", "still running"), 100)


async def test_callback_errors_are_reported_and_the_session_goes_on(serve, caplog):
    server = serve({"/fail": failing_callback_app})
    with caplog.at_level(logging.WARNING):
        client = await Client.open(server.url, "fail")
        button = client.model_ids("ButtonModel")[0]
        reply = await client.request(
            {"type": "comm_msg", "comm_id": button, "data": {"method": "custom", "content": {"event": "click"}}}
        )
        await client.wait_for(lambda: client.model("LabelModel")["value"] == "still running")
    assert reply["type"] == "idle"
    messages = [e["message"] for e in client.of_type("error")]
    assert any("ZeroDivisionError" in m for m in messages)
    assert any("RuntimeError: boom in the click handler" in m for m in messages)
    assert all(e["where"] == "app" and "detail" not in e for e in client.of_type("error"))
    assert "ZeroDivisionError" in caplog.text and "Traceback" in caplog.text
    await client.close()


async def test_updates_of_one_widget_in_one_tick_are_coalesced_and_no_value_is_lost(serve):
    def app(doc):
        number = w.IntText(0)
        text = w.Text("")
        button = w.Button()

        def burst(_):
            number.value = 1
            number.description = "n"
            text.value = "a"
            number.disabled = True
            number.value = 2  # a value set again is sent again: a library may use it as a message

        button.on_click(burst)
        doc.add_root(w.VBox([number, text, button]))

    server = serve({"/burst": app})
    client = await Client.open(server.url, "burst")
    button = client.model_ids("ButtonModel")[0]
    start = len(client.frames)
    await client.request({"type": "comm_msg", "comm_id": button, "data": {"method": "custom", "content": {"event": "click"}}})
    updates = [m.content for m in client.frames[start:] if m.content["type"] == "comm_msg"]
    number, text = client.model_ids("IntTextModel")[0], client.model_ids("TextModel")[0]
    assert [(u["comm_id"], u["data"]["state"]) for u in updates] == [
        (number, {"value": 1, "description": "n", "disabled": True}),
        (text, {"value": "a"}),
        (number, {"value": 2}),
    ]
    await client.close()


def widget_owner_app(doc):
    doc.add_root(SHARED_LABEL)


SHARED_LABEL: w.Widget | None = None


async def test_adding_a_widget_from_outside_the_session_is_a_clear_error(serve):
    global SHARED_LABEL
    SHARED_LABEL = w.Label("made at import time")
    try:
        server = serve({"/owner": widget_owner_app})
        code, html = await fetch_page(server.url + "owner")
        assert code == 500
        assert "was not created in this session" in html
    finally:
        SHARED_LABEL.close()


async def test_index_lists_apps_or_redirects_to_the_only_one(serve):
    several = serve({"/sliders": SLIDERS, "/args": arguments_app})
    code, html = await fetch_page(several.url)
    assert code == 200 and 'href="/sliders"' in html and 'href="/args"' in html
    # Titles: read from the script before any session ran; the function app shows its name.
    assert ">Sliders<" in html and ">arguments_app<" in html

    single = serve({"/sliders": SLIDERS})
    code, _ = await fetch_page(single.url)
    assert code == 302

    listed = serve({"/sliders": SLIDERS}, disable_index_redirect=True)
    code, html = await fetch_page(listed.url)
    assert code == 200 and 'href="/sliders"' in html

    hidden = serve({"/sliders": SLIDERS}, disable_index=True)
    code, _ = await fetch_page(hidden.url)
    assert code == 404


async def test_prefix_applies_to_pages_sockets_and_assets(serve):
    server = serve({"/sliders": SLIDERS}, prefix="/apps/")
    assert server.url.endswith("/apps/")
    code, html = await fetch_page(server.url + "sliders")
    assert code == 200
    assert 'src="/apps/static/' in html
    client = await Client.open(server.url, "sliders")
    assert client.config["wsUrl"] == "/apps/sliders/ws"
    await client.close()
    code, _ = await fetch_page(f"http://127.0.0.1:{server.port}/sliders")
    assert code == 404


async def test_server_embedded_in_a_running_loop(widget_count):
    from tornado.ioloop import IOLoop

    server = Server({"/sliders": SLIDERS}, io_loop=IOLoop.current(), port=0, address="127.0.0.1")
    server.start()
    try:
        client = await Client.open(server.url, "sliders")
        assert (await client.set_state("IntSliderModel", value=8))["type"] == "idle"
        await client.close()
    finally:
        await server.shutdown()


def test_unknown_setting_is_a_clear_error():
    with pytest.raises(TypeError, match="unknown server setting.*colour"):
        Server({"/sliders": SLIDERS}, colour="blue")


async def test_echo_of_a_change_names_the_message_that_caused_it(serve):
    server = serve({"/sliders": SLIDERS})
    client = await Client.open(server.url, "sliders")
    slider = client.model_ids("IntSliderModel")[0]
    msg_id = client.send(
        {"type": "comm_msg", "comm_id": slider, "data": {"method": "update", "state": {"value": 3}, "buffer_paths": []}}
    )
    await client.wait_for(lambda: client.of_type("idle"))
    echoes = [m for m in client.of_type("comm_msg") if m["data"]["method"] == "echo_update"]
    assert [(e["comm_id"], e["parent"]) for e in echoes] == [(slider, msg_id)]
    await client.close()


async def test_a_destroyed_session_tells_its_pages_before_closing_widgets(serve):
    server = serve({"/sliders": SLIDERS})
    client = await Client.open(server.url, "sliders")
    await server.bridge.destroy_all_sessions()
    await client.wait_for(lambda: client.close_code is not None)
    assert client.close_code == CLOSE_SESSION_GONE
    assert client.of_type("error")[-1]["where"] == "session"
    assert client.of_type("comm_close") == []  # the page keeps its last state


async def test_shutdown_tells_connected_pages_to_wait_for_the_server_before_closing_widgets(serve):
    server = serve({"/sliders": SLIDERS})
    client = await Client.open(server.url, "sliders")
    await server.shutdown()
    await client.wait_for(lambda: client.close_code is not None)
    assert client.close_code == CLOSE_SERVER_RESTART  # not "session ended": the page reconnects
    assert client.of_type("error") == []
    assert client.of_type("comm_close") == []  # the page keeps its last state


async def test_dev_mode_reloads_a_changed_app_and_tells_pages(serve, tmp_path):
    script = tmp_path / "live.py"
    script.write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('first'))\n")
    server = serve({"/live": str(script)}, dev=True)
    client = await Client.open(server.url, "live")
    assert client.model("LabelModel")["value"] == "first"

    script.write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('second'))\n")
    await client.wait_for(lambda: client.close_code is not None)
    assert client.close_code == CLOSE_APP_CHANGED  # the page loads again
    fresh = await Client.open(server.url, "live")
    assert fresh.model("LabelModel")["value"] == "second"
    await fresh.close()

    script.write_text("def broken(:\n")
    html = await page_answering(server.url + "live", 500)
    assert "live.py:1" in html and "fix the script" in html

    script.write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('third'))\n")
    await page_answering(server.url + "live", 200)


async def test_without_dev_mode_changes_wait_for_a_restart(serve, tmp_path):
    script = tmp_path / "still.py"
    script.write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('first'))\n")
    server = serve({"/still": str(script)})
    script.write_text("raise SystemExit('should not run')\n")
    await asyncio.sleep(1.0)
    client = await Client.open(server.url, "still")
    assert client.model("LabelModel")["value"] == "first"
    await client.close()


async def test_origin_equal_to_host_is_still_checked(serve, caplog):
    # A DNS-rebinding page: its Origin and the Host header name the attacker's site.
    server = serve({"/sliders": SLIDERS})
    client = Client(server.url, "sliders")
    await client.load_page()
    request = HTTPRequest(
        f"ws://127.0.0.1:{server.port}/sliders/ws",
        headers={
            "Origin": f"http://rebind.example:{server.port}",
            "Host": f"rebind.example:{server.port}",
            "Sec-WebSocket-Protocol": f"jupyter-bridge.v1, {client.config['token']}",
        },
    )
    with caplog.at_level(logging.WARNING), pytest.raises(HTTPClientError, match="403"):
        await websocket_connect(request)
    assert f"--allow-websocket-origin=rebind.example:{server.port}" in caplog.text


async def stuck_socket(server, path: str):
    """A WebSocket client that reads its handshake's answer and then nothing more."""
    import socket

    client = Client(server.url, path)
    await client.load_page()
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", server.port))
    reader, writer = await asyncio.open_connection(sock=raw, limit=1024)
    writer.write(
        f"GET {client.config['wsUrl']} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Origin: http://localhost:{server.port}\r\n"
        f"Sec-WebSocket-Protocol: jupyter-bridge.v1, {client.config['token']}\r\n\r\n".encode()
    )
    assert (await reader.readline()).startswith(b"HTTP/1.1 101")
    return client.config["sessionId"], writer


async def test_a_client_that_stops_reading_is_closed_at_the_limit_and_others_go_on(serve, caplog):
    def streaming(doc):
        label = w.Label()
        doc.add_root(label)
        counter = iter(range(10**9))
        doc.add_periodic_callback(lambda: setattr(label, "value", f"{next(counter)} " + "x" * 20_000), 20)

    server = serve({"/stream": streaming, "/sliders": SLIDERS}, websocket_max_unsent=500_000)
    other = await Client.open(server.url, "sliders")
    with caplog.at_level(logging.WARNING, logger="jupyter_bridge"):
        session_id, writer = await stuck_socket(server, "stream")
        session = server.bridge.apps["/stream"].sessions[session_id]
        await eventually(lambda: session.channel.connections == 1)
        # Meanwhile another session's round trips go on.
        for value in range(1, 20):
            assert (await other.set_state("IntSliderModel", value=value))["type"] == "idle"
        # The server gives up on the stuck socket once it holds the limit unsent ...
        await eventually(lambda: "has not read" in caplog.text, timeout=60)
        await eventually(lambda: session.channel.connections == 0, timeout=60)
    (line,) = [r.getMessage() for r in caplog.records if "has not read" in r.getMessage()]
    assert short_id(session_id) in line and "--websocket-max-unsent 500000" in line
    # ... and the session lives on, for the page to resume.
    assert not session.destroyed
    resumed = await Client.open(server.url, f"stream?jb-session-id={session_id}")
    assert resumed.config["sessionId"] == session_id
    writer.close()
    await resumed.close()
    await other.close()


async def test_a_callback_that_blocks_the_loop_is_named_in_a_warning(serve, caplog):
    import time

    def app(doc):
        button = w.Button()

        def hold_the_loop(_button):
            time.sleep(1.6)  # longer than the watch's 1 s threshold

        button.on_click(hold_the_loop)
        doc.add_root(button)

    server = serve({"/app": app})
    client = await Client.open(server.url, "app")
    with caplog.at_level(logging.WARNING, logger="jupyter_bridge"):
        await client.request(
            {"type": "comm_msg", "comm_id": client.model_ids("ButtonModel")[0],
             "data": {"method": "custom", "content": {"event": "click"}}}
        )
        await eventually(lambda: "event loop was blocked" in caplog.text)
    await eventually(lambda: "hold_the_loop" in caplog.text)  # a busy machine may lag on its own first
    line = next(r.getMessage() for r in caplog.records if "hold_the_loop" in r.getMessage())
    assert client.config["sessionId"] in line and "test_server.py" in line and "blocked for 1." in line
    await client.close()


async def test_a_page_may_open_a_widget_the_server_allows_which_the_session_then_holds(serve):
    """As pythreejs's front end does: the server makes the Python widget of an allowed library class."""
    def app(doc):
        doc.add_root(w.Label("none yet"))

    server = serve({"/app": app}, page_widgets=["@jupyter-widgets/controls:IntSliderModel"])
    client = await Client.open(server.url, "app")
    session = server.bridge.apps["/app"].sessions[client.config["sessionId"]]
    state = {
        "_model_module": "@jupyter-widgets/controls", "_model_module_version": "2.0.0", "_model_name": "IntSliderModel",
        "_view_module": "@jupyter-widgets/controls", "_view_module_version": "2.0.0", "_view_name": "IntSliderView",
        "value": 7,
    }  # fmt: skip
    reply = await client.request(
        {"type": "comm_open", "comm_id": "page-made-1", "target_name": "jupyter.widget", "data": {"state": state},
         "metadata": {"version": "2.1.0"}}  # fmt: skip
    )
    assert reply["type"] == "idle"
    from ipywidgets.widgets.widget import _instances

    slider = _instances["page-made-1"]
    assert isinstance(slider, w.IntSlider) and slider.value == 7
    assert "page-made-1" in session.channel.comm_manager.comms
    # Its changes reach Python like any widget's.
    assert (await client.request({"type": "comm_msg", "comm_id": "page-made-1",
                                  "data": {"method": "update", "state": {"value": 9}}}))["type"] == "idle"  # fmt: skip
    assert slider.value == 9

    # A class nobody allowed is refused, naming it and how to allow it; nothing is left behind.
    for model_module, model_name in (("nobody-knows", "MysteryModel"), ("@jupyter-widgets/controls", "HTMLModel")):
        odd = {**state, "_model_module": model_module, "_model_name": model_name}
        refusal = await client.request(
            {"type": "comm_open", "comm_id": "page-made-2", "target_name": "jupyter.widget", "data": {"state": odd}}
        )
        assert refusal["type"] == "error" and f"{model_module} {model_name} widget" in refusal["message"]
        assert f"--page-widgets '{model_module}:{model_name}'" in refusal["message"]
        assert "page-made-2" not in _instances and "page-made-2" not in session.channel.comm_manager.comms
    # An allowed model the server has no class for says so.
    session.channel.page_widgets += ("nobody-knows:MysteryModel",)
    refusal = await client.request(
        {"type": "comm_open", "comm_id": "page-made-3", "target_name": "jupyter.widget",
         "data": {"state": {**state, "_model_module": "nobody-knows", "_model_name": "MysteryModel"}}}  # fmt: skip
    )
    assert refusal["type"] == "error" and "no widget class for nobody-knows MysteryModel" in refusal["message"]

    await client.close()
    await server.bridge.destroy_all_sessions()
    assert slider.comm is None  # closed with its session


async def test_a_callback_error_is_logged_naming_the_app_the_session_and_the_widget(serve, caplog):
    def app(doc):
        button = w.Button(description="break")
        button.on_click(lambda _b: 1 / 0)
        doc.add_root(button)
        doc.add_next_tick_callback(lambda: {}["missing"])

    server = serve({"/breaks": app})
    with caplog.at_level(logging.ERROR):
        client = await Client.open(server.url, "breaks")
        session_id = client.config["sessionId"]
        button_id = client.model_ids("ButtonModel")[0]
        await client.request({"type": "comm_msg", "comm_id": button_id, "data": {"method": "custom", "content": {"event": "click"}}})
        await eventually(lambda: len([r for r in caplog.records if r.name.startswith("jupyter_bridge")]) >= 2)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("jupyter_bridge")]
    shown = short_id(session_id)  # logs name a session by the start of its id, never the whole
    assert any(f"session {shown} of /breaks" in line and "lambda" in line for line in lines), lines
    assert any(f"Session {shown} of /breaks: a callback of Button {button_id} raised" in line for line in lines), lines
    await client.close()


async def test_a_value_its_trait_refuses_is_logged_and_not_shown_in_the_page(serve, caplog):
    # pythreejs's front end sends a rotation's order back lower-cased, which its trait refuses:
    # neither the app nor its user can act on it, so (as in JupyterLab) only the log says so.
    def app(doc):
        slider = w.IntSlider(description="refuses")
        slider.observe(lambda change: 1 / 0 if change["new"] == 13 else None, "value")
        doc.add_root(slider)

    server = serve({"/refuses": app})
    with caplog.at_level(logging.WARNING):
        client = await Client.open(server.url, "refuses")
        slider_id = client.model_ids("IntSliderModel")[0]
        assert (await client.set_state("IntSliderModel", value="not a number"))["type"] == "idle"
        # The error would have gone before the reply: both leave through the one outbox, in order.
        assert client.of_type("error") == []
        refused = [r.getMessage() for r in caplog.records if "refused a value its page sent" in r.getMessage()]
        assert refused and f"IntSlider {slider_id}" in refused[0] and "not a number" in refused[0], refused

        # An observer's error is the app's: the page shows it, as before.
        assert (await client.set_state("IntSliderModel", value=13))["type"] == "idle"
        errors = client.of_type("error")
        assert len(errors) == 1 and "ZeroDivisionError" in errors[0]["message"], errors
    await client.close()
