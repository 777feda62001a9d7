"""Page tokens and session ids, attacked: a real server on loopback, the attacker's exact requests.

A token is read by page scripts and may be seen by other sites, so it carries no
secret; autoload.js answers only the pages the server allows; the default signs
ids and tokens, with a key of its own when none is given; a page may not fix a
session's id for someone else; ids and tokens are signed with different keys.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket

import ipywidgets as w
import pytest
from conftest import EXAMPLES
from wsclient import CONFIG, Client, fetch_page

from jupyter_bridge.contexts import Request
from jupyter_bridge.protocol import CLOSE_BAD_TOKEN
from jupyter_bridge.tokens import (
    check_session_id,
    generate_secret_key,
    generate_session_id,
    make_token,
    read_token,
)

SLIDERS = str(EXAMPLES / "sliders.py")
KEY = generate_secret_key()

#: What a victim's browser sends with every request to the server: a login that must not leak.
LOGIN = "login-7f3c9a1e5b"
BEARER = "bearer-2d8e6f0a4c"
VICTIM = {"Cookie": f"login={LOGIN}; theme=dark", "Authorization": f"Bearer {BEARER}"}


def whoami(doc):
    """An app that greets the user its request's login cookie names (as an app behind a login may)."""
    request = doc.session_context.request
    doc.add_root(w.Label(f"hello {request.cookies.get('user', 'nobody')}"))
    doc.add_root(w.Label(request.headers.get("X-Team", "no team")))


@pytest.fixture(autouse=True)
def no_shared_key(monkeypatch):
    """The defaults under test: no JUPYTER_BRIDGE_SECRET_KEY unless a test sets one."""
    monkeypatch.delenv("JUPYTER_BRIDGE_SECRET_KEY", raising=False)
    monkeypatch.delenv("JUPYTER_BRIDGE_SESSION_IDS", raising=False)


def leaked(text: str) -> list[str]:
    """The victim's secrets found in ``text``, as sent or inside base64 (a token's payload)."""
    decoded = text
    for part in text.replace('"', " ").replace(".", " ").split():
        try:
            decoded += base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8", "replace")
        except ValueError:
            pass
    return [secret for secret in (LOGIN, BEARER) if secret in decoded]


def token_of_script(script: str) -> str:
    config = json.loads(script.split("var config = ", 1)[1].split(";\n", 1)[0])
    return config["token"]


# 1 and 2. autoload.js and the token inside it.


@pytest.mark.parametrize(
    "page",
    [
        {"Sec-Fetch-Site": "cross-site", "Referer": "http://evil.example:8000/steal.html"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example:8000"},
        {"Origin": "http://evil.example:8000"},  # a browser that sends no Sec-Fetch-* headers
        {"Sec-Fetch-Site": "same-site", "Referer": "http://other.localhost:8000/"},
    ],
    ids=["script-tag", "fetch", "no-fetch-metadata", "same-site"],
)
async def test_a_page_of_another_site_gets_no_autoload_script(serve, caplog, page):
    server = serve({"/sliders": SLIDERS})
    with caplog.at_level(logging.WARNING, logger="jupyter_bridge"):
        code, body = await fetch_page(
            server.url + "sliders/autoload.js?jb-element-id=x",
            headers={**VICTIM, **page, "Sec-Fetch-Dest": "script", "Sec-Fetch-Mode": "no-cors"},
        )
    assert code == 403
    assert leaked(body) == [] and "token" not in body
    host = (page.get("Origin") or page["Referer"]).split("//")[1].split("/")[0]
    assert f"--allow-websocket-origin={host}" in body
    assert any(f"--allow-websocket-origin={host}" in r.getMessage() for r in caplog.records)
    assert server.bridge.session_count == 0


async def test_a_browser_page_that_hides_its_origin_gets_no_autoload_script(serve):
    server = serve({"/sliders": SLIDERS})
    code, body = await fetch_page(
        server.url + "sliders/autoload.js",
        headers={**VICTIM, "Sec-Fetch-Site": "cross-site", "Origin": "null"},  # a sandboxed frame
    )
    assert code == 403 and "opaque origin" in body and leaked(body) == []
    code, body = await fetch_page(
        server.url + "sliders/autoload.js",
        headers={
            **VICTIM,
            "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-Dest": "script",
        },  # referrerpolicy=no-referrer
    )
    assert code == 403 and "Referer" in body and leaked(body) == []
    assert server.bridge.session_count == 0


async def test_allowed_pages_get_the_script_and_its_token_carries_no_credentials(serve):
    server = serve({"/who": whoami}, allow_websocket_origin=["www.example.com"])
    for page in (
        {"Sec-Fetch-Site": "cross-site", "Referer": "http://www.example.com/blog/post.html"},
        {"Sec-Fetch-Site": "same-origin"},
        {},  # not a browser (a script, server_document's own tests)
    ):
        code, script = await fetch_page(
            server.url + "who/autoload.js?jb-element-id=x", headers={**VICTIM, **page, "X-Team": "blue"}
        )
        assert code == 200, script
        assert leaked(script) == []
        # The session the request made sees the request whole; the token names it.
        session_id, _ = read_token(token_of_script(script), secret_key=server.settings.signing_key)
        request = server.bridge.apps["/who"].sessions[session_id].context.request
        assert request.cookies["login"] == LOGIN and request.headers["Authorization"] == f"Bearer {BEARER}"


async def test_the_page_token_carries_no_credentials_even_unsigned(serve):
    # The unsigned mode without a key: the token is plain base64 JSON, readable by any script.
    server = serve({"/who": whoami}, session_ids="unsigned")
    code, html = await fetch_page(server.url + "who?N=1", headers={**VICTIM, "X-Team": "blue"})
    assert code == 200
    assert leaked(html) == []
    token = json.loads(CONFIG.search(html).group(1))["token"]
    _, request = read_token(token)
    assert request.cookies == {} and "Authorization" not in request.headers
    assert request.headers["X-Team"] == "blue" and request.arguments == {"N": [b"1"]}


async def test_a_process_sharing_the_key_recreates_the_session_with_its_request(serve, monkeypatch):
    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", KEY)
    first = serve({"/who": whoami})
    second = serve({"/who": whoami})
    client = Client(
        first.url, "who?N=1", headers={**VICTIM, "X-Team": "blue", "Cookie": f"user=alice; login={LOGIN}"}
    )
    await client.load_page()
    assert leaked(json.dumps(client.config)) == [] and "blue" not in client.config["token"]
    await client.connect(ws_base=f"ws://127.0.0.1:{second.port}", origin=f"http://localhost:{second.port}")
    await client.wait_for(lambda: client.doc)
    # Recreated from the token (encrypted): the request's context, without its credentials.
    recreated = second.bridge.apps["/who"].sessions[client.config["sessionId"]].context.request
    assert recreated.headers["X-Team"] == "blue" and recreated.arguments == {"N": [b"1"]}
    assert recreated.cookies == {} and "Authorization" not in recreated.headers
    assert [client.models[r]["value"] for r in client.doc["roots"]] == ["hello nobody", "blue"]
    await client.close()


async def test_the_operator_may_carry_credentials_in_the_token_encrypted(serve, monkeypatch):
    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", KEY)
    first = serve({"/who": whoami}, session_token_credentials=True)
    second = serve({"/who": whoami}, session_token_credentials=True)
    client = Client(first.url, "who", headers={"Cookie": f"user=alice; login={LOGIN}"})
    await client.load_page()
    assert leaked(json.dumps(client.config)) == []
    await client.connect(ws_base=f"ws://127.0.0.1:{second.port}", origin=f"http://localhost:{second.port}")
    await client.wait_for(lambda: client.doc)
    assert client.models[client.doc["roots"][0]]["value"] == "hello alice"
    await client.close()


# 3. Signed by default; no fixation; separate keys.


async def test_a_made_up_token_is_refused_by_default(serve):
    server = serve({"/who": whoami})
    attacker = Client(server.url, "who")
    await attacker.load_page()
    forged = Request(
        headers={"X-Team": "admins", "X-Forwarded-User": "admin"},
        cookies={"user": "admin"},
        remote_ip="10.0.0.1",
    )
    await attacker.connect(token=make_token(generate_session_id(), forged))
    await attacker.wait_for(lambda: attacker.close_code is not None or attacker.doc)
    assert attacker.close_code == CLOSE_BAD_TOKEN and "JUPYTER_BRIDGE_SECRET_KEY" in attacker.close_reason
    contexts = [s.context.request for s in server.bridge.apps["/who"].sessions.values()]
    assert all(r.cookies.get("user") != "admin" and r.remote_ip != "10.0.0.1" for r in contexts)


async def test_a_link_naming_an_id_the_attacker_chose_does_not_fix_the_victims_session(serve):
    server = serve({"/who": whoami})
    chosen = "attacker-picked-this-id"
    # The victim follows the attacker's link, with their login cookie.
    code, html = await fetch_page(
        server.url + f"who?jb-session-id={chosen}", headers={"Cookie": "user=alice"}
    )
    assert code == 403 and "not signed" in html
    assert chosen not in server.bridge.apps["/who"].sessions
    # The attacker attaches to the id they chose: nothing of the victim's is there.
    attacker = Client(server.url, "who")
    await attacker.load_page()
    await attacker.connect(token=make_token(chosen, Request()))
    await attacker.wait_for(lambda: attacker.close_code is not None or attacker.doc)
    assert attacker.close_code == CLOSE_BAD_TOKEN
    assert not any("alice" in json.dumps(m.content) for m in attacker.frames)


async def test_a_link_naming_a_signed_id_only_joins_its_live_session(serve):
    server = serve({"/who": whoami})
    # The attacker takes a real id from a page of their own, then leaves it.
    attacker = await Client.open(server.url, "who", headers={"Cookie": "user=mallory"})
    signed_id = attacker.config["sessionId"]
    # While it lives, a victim following the link joins the attacker's session, made
    # with the attacker's request: the victim's own never reaches it.
    victim = await Client.open(server.url, f"who?jb-session-id={signed_id}", headers={"Cookie": "user=alice"})
    assert victim.config["sessionId"] == signed_id
    assert attacker.models[attacker.doc["roots"][0]]["value"] == "hello mallory"
    await victim.close()
    await attacker.close()
    # Once it is gone, the link makes no session under that id.
    await server.bridge.destroy_all_sessions()
    code, _ = await fetch_page(
        server.url + f"who?jb-session-id={signed_id}", headers={"Cookie": "user=alice"}
    )
    assert code == 403
    assert server.bridge.session_count == 0
    # The attacker's own token brings back only their session, never with the victim in it.
    again = Client(server.url, "who")
    again.config = attacker.config
    await again.connect()
    await again.wait_for(lambda: again.doc)
    assert again.models[again.doc["roots"][0]]["value"] == "hello nobody"  # no cookie travels in a token
    await again.close()


async def test_a_page_token_is_not_a_session_id_nor_an_id_a_token(serve, monkeypatch):
    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", KEY)
    server = serve({"/sliders": SLIDERS}, session_ids="external-signed")
    external_id = generate_session_id(KEY.encode())  # handed out by the web app holding the key
    client = await Client.open(server.url, f"sliders?jb-session-id={external_id}")
    token = client.config["token"]
    await client.close()
    # Whoever saw the page's token cannot make a session of their own with it.
    assert not check_session_id(token, KEY.encode())
    code, _ = await fetch_page(server.url + f"sliders?jb-session-id={token}")
    assert code == 403
    assert token not in server.bridge.apps["/sliders"].sessions
    # Nor is a signed id a token.
    other = Client(server.url, f"sliders?jb-session-id={generate_session_id(KEY.encode())}")
    await other.load_page()
    await other.connect(token=generate_session_id(KEY.encode()))
    await other.wait_for(lambda: other.close_code is not None)
    assert other.close_code == CLOSE_BAD_TOKEN


class Connection:
    """One kept-alive HTTP connection: it reaches one worker process for its whole life."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buffer = b""

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            self.buffer += chunk
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken

    def _head(self) -> str:
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        return head.decode("latin-1")

    def get(self, path: str, headers: str = "") -> tuple[str, bytes]:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost:{self.port}\r\n{headers}\r\n".encode())
        head = self._head()
        length = re.search(r"(?im)^content-length:\s*(\d+)", head)
        return head, self._take(int(length.group(1))) if length else b""

    def first_frame(self) -> tuple[int, bytes]:
        """The opcode and payload of the server's first WebSocket frame."""
        first, second = self._take(2)
        size = second & 0x7F
        if size == 126:
            size = int.from_bytes(self._take(2), "big")
        elif size == 127:
            size = int.from_bytes(self._take(8), "big")
        return first & 0x0F, self._take(size)


def test_the_workers_of_num_procs_share_the_key_made_at_start():
    """A page from one worker, its socket on another: the token made by one is good for the other."""
    from support import serving

    with serving(SLIDERS, "--num-procs", "2") as base:
        port = int(base.rsplit(":", 1)[1])
        by_pid: dict[int, Connection] = {}
        for _ in range(200):
            connection = Connection(port)
            _, body = connection.get("/healthz")
            by_pid.setdefault(json.loads(body)["pid"], connection)
            if len(by_pid) == 2:
                break
        assert len(by_pid) == 2, "the two workers did not both answer"
        (page_pid, page_worker), (socket_pid, socket_worker) = by_pid.items()
        head, html = page_worker.get("/sliders")
        assert " 200 " in head.split("\r\n")[0], head
        config = json.loads(CONFIG.search(html.decode()).group(1))
        head, _ = socket_worker.get(
            config["wsUrl"],
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Sec-WebSocket-Protocol: jupyter-bridge.v1, {config['token']}\r\n",
        )
        assert " 101 " in head.split("\r\n")[0], head
        opcode, payload = socket_worker.first_frame()
        # Refused, it would be a close frame (4001: the token's signature does not match).
        assert opcode == 1 and json.loads(payload)["type"] == "hello", (opcode, payload[:200])
        assert page_pid != socket_pid


def test_several_worker_processes_and_later_starts_share_the_key_kept_in_its_file(tmp_path):
    from jupyter_bridge.server import Server

    kept = tmp_path / "runtime" / "jupyter_bridge_secret"
    server = Server({"/sliders": SLIDERS}, port=0, num_procs=2, secret_key_file=str(kept))
    key = server.settings.signing_key
    assert key is not None and len(key) == 32
    # Made before the workers fork, and asked for again by each: the same.
    assert server.settings.signing_key == key
    # Kept for its user's eyes only, and read again by the next start: open pages' tokens stay good.
    assert kept.stat().st_mode & 0o777 == 0o600
    assert Server({"/sliders": SLIDERS}, port=0, secret_key_file=str(kept)).settings.signing_key == key
    assert Server({"/sliders": SLIDERS}, port=0, secret_key_file=str(tmp_path / "other")).settings.signing_key != key
    # A key file nobody can write to: a key for this start, and the server still starts.
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert len(Server({"/sliders": SLIDERS}, port=0, secret_key_file=str(blocked / "key")).settings.signing_key) == 32
