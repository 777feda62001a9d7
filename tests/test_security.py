"""Signed session ids and tokens, header and cookie filtering: real server, real sockets."""

from __future__ import annotations

import uuid

import ipywidgets as w
import pytest
from conftest import EXAMPLES
from wsclient import CONFIG, Client, fetch_page

from jupyter_bridge.contexts import Request
from jupyter_bridge.protocol import CLOSE_BAD_TOKEN, model_refs
from jupyter_bridge.server import Server
from jupyter_bridge.tokens import (
    TokenError,
    check_session_id,
    generate_secret_key,
    generate_session_id,
    make_token,
    read_token,
)

SLIDERS = str(EXAMPLES / "sliders.py")
KEY = generate_secret_key()


def test_signed_session_ids_verify_only_with_their_key():
    key = KEY.encode()
    session_id = generate_session_id(key)
    assert check_session_id(session_id, key)
    assert not check_session_id(session_id, b"another key, also at least 32 characters")
    assert not check_session_id(session_id.split(".")[0], key)
    assert not check_session_id(session_id[:-2] + "xx", key)
    assert not check_session_id("é.é", key)


def test_tokens_carry_the_request_and_refuse_tampering_and_expiry():
    key = KEY.encode()
    request = Request(arguments={"N": [b"10"]}, headers={"X-A": "1"}, cookies={"c": "v"})
    token = make_token("abc", request, secret_key=key, credentials=True)
    assert read_token(token, secret_key=key) == ("abc", request)
    # Without the opt-in, the cookies stay out of it.
    assert read_token(make_token("abc", request, secret_key=key), secret_key=key)[1].cookies == {}
    payload, signature = token.split(".")
    forged = make_token("someone-else", request)  # unsigned: made without the key
    with pytest.raises(TokenError, match="does not match this server.s key"):
        read_token(forged + "." + signature, secret_key=key)
    with pytest.raises(TokenError, match="does not match this server.s key"):
        read_token(payload, secret_key=key)
    expired = make_token("abc", request, secret_key=key, expiration=-1)
    with pytest.raises(TokenError, match="expired"):
        read_token(expired, secret_key=key)
    assert read_token(expired, secret_key=key, check_expiry=False)[0] == "abc"
    # Valid for its whole life and not a moment longer, counted on the clock given.
    timed = make_token("abc", request, secret_key=key, expiration=10, now=1000.0)
    assert read_token(timed, secret_key=key, now=1010.0)[0] == "abc"
    with pytest.raises(TokenError, match="expired 1 s ago"):
        read_token(timed, secret_key=key, now=1011.0)


def test_external_signed_needs_the_shared_key_and_keys_are_long(monkeypatch):
    monkeypatch.delenv("JUPYTER_BRIDGE_SECRET_KEY", raising=False)
    with pytest.raises(ValueError, match="set JUPYTER_BRIDGE_SECRET_KEY"):
        Server({"/sliders": SLIDERS}, session_ids="external-signed")
    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", "short")
    with pytest.raises(ValueError, match="too short"):
        Server({"/sliders": SLIDERS}, session_ids="signed")


async def test_signed_server_signs_ids_and_tokens(serve, monkeypatch):
    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", KEY)
    server = serve({"/sliders": SLIDERS}, session_ids="signed")
    client = await Client.open(server.url, "sliders")
    session_id = client.config["sessionId"]
    assert check_session_id(session_id, KEY.encode())
    assert read_token(client.config["token"], secret_key=KEY.encode())[0] == session_id
    assert (await client.set_state("IntSliderModel", value=2))["type"] == "idle"
    await client.close()

    # A token made without the key is refused, with the setting to check named.
    forged = Client(server.url, "sliders")
    await forged.load_page()
    await forged.connect(token=make_token(generate_session_id(), Request()))
    await forged.wait_for(lambda: forged.close_code is not None)
    assert forged.close_code == CLOSE_BAD_TOKEN and "JUPYTER_BRIDGE_SECRET_KEY" in forged.close_reason

    # So is a page asking for an unsigned session id.
    code, html = await fetch_page(server.url + "sliders?jb-session-id=made-up")
    assert code == 403 and "not signed" in html


async def test_processes_sharing_the_key_recreate_each_others_sessions(serve, monkeypatch):
    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", KEY)
    first = serve({"/sliders": SLIDERS}, session_ids="signed")
    second = serve({"/sliders": SLIDERS}, session_ids="signed")
    client = Client(first.url, "sliders")
    await client.load_page()
    await client.connect(ws_base=f"ws://127.0.0.1:{second.port}", origin=f"http://localhost:{second.port}")
    await client.wait_for(lambda: client.doc)
    assert client.config["sessionId"] in second.bridge.apps["/sliders"].sessions
    await client.close()


async def test_external_signed_serves_only_ids_signed_elsewhere(serve, monkeypatch):
    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", KEY)
    server = serve({"/sliders": SLIDERS}, session_ids="external-signed")
    code, html = await fetch_page(server.url + "sliders")
    assert code == 403 and "jb-session-id" in html
    external_id = generate_session_id(KEY.encode())  # e.g. made by a web app holding the key
    client = await Client.open(server.url, f"sliders?jb-session-id={external_id}")
    assert client.config["sessionId"] == external_id
    await client.close()


async def test_page_for_an_existing_session_attaches_to_it(serve):
    def app(doc):
        doc.add_root(w.IntText(0))

    server = serve({"/app": app})
    first = await Client.open(server.url, "app")
    await first.set_state("IntTextModel", value=42)
    again = await Client.open(server.url, f"app?jb-session-id={first.config['sessionId']}")
    await again.wait_for(lambda: again.model("IntTextModel")["value"] == 42)
    assert server.bridge.session_count == 1
    # Both pages stay live: a change from one reaches the other.
    await again.set_state("IntTextModel", value=7)
    await first.wait_for(lambda: first.model("IntTextModel")["value"] == 7)
    await first.close()
    await again.close()


async def test_new_page_of_an_acknowledged_session_gets_a_snapshot(serve):
    def app(doc):
        box = w.VBox()
        doc.add_root(box)
        doc.add_root(w.Button(description="grow"))
        # A child made after its parent: a snapshot must open it first.
        doc.add_next_tick_callback(lambda: setattr(box, "children", [w.IntText(5), w.Label("late")]))

    server = serve({"/app": app})
    first = await Client.open(server.url, "app")
    await first.wait_for(lambda: first.model_ids("LabelModel"))
    last = first.frames[-1].content["seq"]
    first.send({"type": "ack", "seq": last})
    await first.request({"type": "ping"})
    again = await Client.open(server.url, f"app?jb-session-id={first.config['sessionId']}")
    hello = again.frames[0].content
    assert hello["type"] == "hello" and hello["last_seq"] >= last
    opens = [m.content for m in again.frames if m.content["type"] == "comm_open"]
    assert all(m["seq"] == 0 for m in opens)
    order = [m["comm_id"] for m in opens]
    for message in opens:
        for child in model_refs(message["data"]["state"].get("children", [])):
            assert order.index(child) < order.index(message["comm_id"])
    assert again.model("IntTextModel")["value"] == 5
    assert again.doc["roots"] == first.doc["roots"]
    await again.set_state("IntTextModel", value=6)
    await first.wait_for(lambda: first.model("IntTextModel")["value"] == 6)
    await first.close()
    await again.close()


def request_echo(doc):
    request = doc.session_context.request
    doc.add_root(w.Label(",".join(sorted(k.lower() for k in request.headers))))
    doc.add_root(w.Label(",".join(sorted(request.cookies))))
    doc.add_root(w.Label(",".join(sorted(request.arguments))))


async def test_header_and_cookie_filters_apply_to_the_app_and_the_token(serve):
    server = serve(
        {"/echo": request_echo},
        session_ids="unsigned",
        session_token_credentials=True,
        include_headers=["X-Keep", "X-Drop"],
        exclude_headers=["X-Drop"],
        exclude_cookies=["secret"],
    )
    code, html = await fetch_page(
        server.url + "echo?a=1&jb-session-id=mine",
        headers={"X-Keep": "1", "X-Drop": "2", "X-Other": "3", "Cookie": "secret=s; flavour=lemon"},
    )
    assert code == 200
    import json

    config = json.loads(CONFIG.search(html).group(1))
    _, request = read_token(config["token"])
    assert set(request.headers) == {"X-Keep"}
    assert request.cookies == {"flavour": "lemon"}
    assert request.arguments == {"a": [b"1"]}
    client = Client(server.url, "echo")
    client.config = config
    await client.connect()
    await client.wait_for(lambda: client.doc)
    labels = [client.models[r]["value"] for r in client.doc["roots"]]
    assert labels == ["x-keep", "flavour", "a"]
    await client.close()


async def test_an_expired_token_still_resumes_its_live_session(serve):
    import time

    server = serve({"/sliders": SLIDERS}, session_token_expiration=1)
    client = await Client.open(server.url, "sliders")
    await client.set_state("IntSliderModel", value=4)
    last = max(m.content["seq"] for m in client.frames)
    await client.close()
    server.bridge.clock = lambda: time.time() + 1.5  # the page's token has expired; its session lives on
    await client.connect(query=f"?last_seq={last}")
    assert (await client.set_state("IntSliderModel", value=5))["type"] == "idle"
    assert client.model("LabelModel")["value"] == "value*2 = 10"
    await client.close()

    # A new session cannot be made from it, though.
    await server.bridge.destroy_all_sessions()
    await client.connect()
    await client.wait_for(lambda: client.close_code is not None)
    assert client.close_code == CLOSE_BAD_TOKEN and "expired" in client.close_reason


async def test_refused_tokens_name_the_setting_to_change(serve, monkeypatch, caplog):
    import logging

    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", KEY)
    server = serve({"/sliders": SLIDERS}, session_ids="signed", session_token_expiration=-1)
    with caplog.at_level(logging.WARNING, logger="jupyter_bridge"):
        # A token of a process with another key: the key and --session-ids are named ...
        forged = Client(server.url, "sliders")
        await forged.load_page()
        other_key = b"another key, also at least 32 characters"
        await forged.connect(token=make_token(generate_session_id(other_key), Request(), secret_key=other_key))
        await forged.wait_for(lambda: forged.close_code is not None)
        assert forged.close_code == 4001
        assert "JUPYTER_BRIDGE_SECRET_KEY" in forged.close_reason and "--session-ids" in forged.close_reason
        # ... and an expired token names --session-token-expiration, to the client and in the log.
        expired = Client(server.url, "sliders")
        await expired.load_page()
        await server.bridge.destroy_all_sessions()
        await expired.connect()
        await expired.wait_for(lambda: expired.close_code is not None)
        assert expired.close_code == 4001 and "--session-token-expiration" in expired.close_reason
    refusals = [r.getMessage() for r in caplog.records if "Refused a WebSocket" in r.getMessage()]
    assert len(refusals) == 2
    assert "--session-ids" in refusals[0] and "--session-token-expiration" in refusals[1]
    code, html = await fetch_page(server.url + "sliders?jb-session-id=made-up")
    assert code == 403 and "--session-ids signed" in html


async def test_a_socket_without_the_subprotocol_is_refused_with_the_reason_logged(serve, caplog):
    import logging

    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    server = serve({"/sliders": SLIDERS})
    request = HTTPRequest(
        f"ws://127.0.0.1:{server.port}/sliders/ws",
        headers={"Origin": f"http://localhost:{server.port}", "Sec-WebSocket-Protocol": "bokeh, some-token"},
    )
    with caplog.at_level(logging.WARNING, logger="jupyter_bridge"):
        ws = await websocket_connect(request)
        assert await ws.read_message() is None
    assert ws.close_code == 4001 and "jupyter-bridge.v1" in ws.close_reason
    (line,) = [r.getMessage() for r in caplog.records if "Refused a WebSocket" in r.getMessage()]
    assert "'bokeh'" in line and "some-token" not in line  # the token stays out of the log


def xsrf_socket_request(server, config: dict, cookie: str | None, origin: str | None = "page"):
    from tornado.httpclient import HTTPRequest

    headers = {"Sec-WebSocket-Protocol": f"jupyter-bridge.v1, {config['token']}"}
    if origin is not None:
        headers["Origin"] = f"http://localhost:{server.port}" if origin == "page" else origin
    if cookie is not None:
        headers["Cookie"] = f"_xsrf={cookie}"
    return HTTPRequest(f"ws://127.0.0.1:{server.port}{config['wsUrl']}", headers=headers)


async def test_xsrf_cookies_guard_the_session_socket_and_posts(serve, caplog):
    import json
    import logging
    from http.cookies import SimpleCookie
    from urllib.parse import parse_qs, urlsplit

    from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    server = serve({"/sliders": SLIDERS}, enable_xsrf_cookies=True)
    response = await AsyncHTTPClient().fetch(server.url + "sliders")
    cookie = SimpleCookie(response.headers["Set-Cookie"])["_xsrf"].value
    config = json.loads(CONFIG.search(response.body.decode()).group(1))
    assert parse_qs(urlsplit(config["wsUrl"]).query)["_xsrf"] == [cookie]  # the page shows it back

    # The page's own socket: cookie and argument match.
    ws = await websocket_connect(xsrf_socket_request(server, config, cookie))
    assert json.loads(await ws.read_message())["type"] == "hello"
    ws.close()
    # A page of another site knows neither the cookie's value nor a valid argument; the
    # browser still sends the cookie, and a forged URL has no or another value.
    forged = {**config, "wsUrl": "/sliders/ws"}
    with caplog.at_level(logging.WARNING, logger="jupyter_bridge"):
        for attempt in (forged, {**config, "wsUrl": "/sliders/ws?_xsrf=2|00000000|guess|1"}):
            with pytest.raises(HTTPClientError, match="403"):
                await websocket_connect(xsrf_socket_request(server, attempt, cookie))
    refusals = [r.getMessage() for r in caplog.records if "Refused a WebSocket" in r.getMessage()]
    assert len(refusals) == 2 and all("--enable-xsrf-cookies" in line for line in refusals)
    assert "missing" in refusals[0] and "does not match" in refusals[1]
    # A client that is not a browser (no Origin) cannot be made to connect by a page: let it.
    ws = await websocket_connect(xsrf_socket_request(server, forged, None, origin=None))
    assert json.loads(await ws.read_message())["type"] == "hello"
    ws.close()
    # A state-changing HTTP request without the cookie's value is refused, as Tornado does.
    with pytest.raises(HTTPClientError, match="403"):
        await AsyncHTTPClient().fetch(HTTPRequest(server.url + "sliders", method="POST", body="x=1",
                                                  headers={"Cookie": f"_xsrf={cookie}"}))


async def test_without_xsrf_cookies_a_page_sets_no_cookie(serve):
    from tornado.httpclient import AsyncHTTPClient

    server = serve({"/sliders": SLIDERS})
    response = await AsyncHTTPClient().fetch(server.url + "sliders")
    assert "_xsrf" not in response.headers.get("Set-Cookie", "")
    assert "_xsrf" not in CONFIG.search(response.body.decode()).group(1)


# A page names another session's widget by its id


def boxes(doc):
    doc.add_root(w.VBox([w.Label("mine")]))


async def test_a_page_cannot_put_another_session_s_widget_in_its_own(serve):
    """ipywidgets resolves IPY_MODEL_<id> in a state from its process-wide registry: refused at the edge."""
    from ipywidgets.widgets.widget import _instances

    server = serve({"/boxes": boxes}, page_widgets=["@jupyter-widgets/controls:VBoxModel"])
    victim = await Client.open(server.url, "boxes")
    attacker = await Client.open(server.url, "boxes")
    victim_label = victim.model_ids("LabelModel")[0]
    own_box = attacker.model_ids("VBoxModel")[0]
    before = list(_instances[own_box].children)

    # An update of the attacker's own box naming the victim's label.
    reply = await attacker.set_state("VBoxModel", children=[f"IPY_MODEL_{victim_label}"])
    assert reply["type"] == "error" and "not in this session" in reply["message"], reply
    assert list(_instances[own_box].children) == before
    # A box the page opens itself, naming the victim's label.
    state = {
        "_model_module": "@jupyter-widgets/controls", "_model_module_version": "2.0.0", "_model_name": "VBoxModel",
        "_view_module": "@jupyter-widgets/controls", "_view_module_version": "2.0.0", "_view_name": "VBoxView",
        "children": [f"IPY_MODEL_{victim_label}"],
    }  # fmt: skip
    opened = str(uuid.uuid4())
    reply = await attacker.request({"type": "comm_open", "comm_id": opened, "target_name": "jupyter.widget",
                                    "data": {"state": state, "buffer_paths": []}, "metadata": {"version": "2.1.0"}})  # fmt: skip
    assert reply["type"] == "error" and "not in this session" in reply["message"], reply
    assert opened not in _instances
    # A change a page brings back into a fresh session, naming the victim's label.
    answer = await attacker.request({"type": "restore", "changes": [{
        "place": [0], "model": ["@jupyter-widgets/controls", "VBoxModel"],
        "state": {"children": [f"IPY_MODEL_{victim_label}"]}, "buffer_paths": [],
    }]})  # fmt: skip
    restored = next(m for m in attacker.of_type("restored"))
    assert restored["applied"] == 0 and restored["skipped"] == 1, (restored, answer)
    assert list(_instances[own_box].children) == before
    # The victim's label is the victim's alone, and both sessions go on.
    assert (await victim.set_state("LabelModel", value="still mine"))["type"] == "idle"
    assert (await attacker.request({"type": "ping"}))["type"] == "pong"
    await victim.close()
    await attacker.close()
