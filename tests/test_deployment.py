"""Deployment options: auth modules, proxies, TLS, Unix sockets, several processes, operability."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time

import ipywidgets as w
import pytest
from conftest import EXAMPLES
from support import eventually, free_port, wait_for_http
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from wsclient import Client, fetch_page

from jupyter_bridge.protocol import CLOSE_BAD_TOKEN

SLIDERS = str(EXAMPLES / "sliders.py")
CLI = [sys.executable, "-m", "jupyter_bridge.cli"]

AUTH_MODULE = """
from tornado.web import RequestHandler

def get_user(request_handler):
    return request_handler.get_cookie("user")

login_url = "/login"

class LoginHandler(RequestHandler):
    def get(self):
        self.write("please log in")

    def post(self):
        self.set_cookie("user", self.get_argument("name"))
        self.redirect(self.get_argument("next", "/"))
"""


def user_app(doc):
    doc.add_root(w.Label(f"hello {doc.session_context.user}"))


@pytest.fixture
def auth_file(tmp_path):
    path = tmp_path / "auth.py"
    path.write_text(textwrap.dedent(AUTH_MODULE))
    return str(path)


async def test_auth_module_guards_pages_and_sockets(serve, auth_file):
    server = serve({"/hello": user_app}, auth_module=auth_file)
    code, _ = await fetch_page(server.url + "hello")
    assert code == 302
    try:
        await AsyncHTTPClient().fetch(server.url + "hello", follow_redirects=False)
    except HTTPClientError as error:
        assert error.response.headers["Location"] == "/login?next=%2Fhello"
    code, body = await fetch_page(server.url + "login")
    assert code == 200 and "please log in" in body

    client = await Client.open(server.url, "hello", headers={"Cookie": "user=ada"})
    assert client.model("LabelModel")["value"] == "hello ada"
    await client.close()

    # A page loaded while logged in cannot open its socket without the cookie.
    stranger = Client(server.url, "hello", headers={"Cookie": "user=ada"})
    await stranger.load_page()
    stranger.headers = {}
    with pytest.raises(HTTPClientError, match="403"):
        await stranger.connect()


def test_auth_module_that_breaks_the_contract_is_a_startup_error(tmp_path):
    bad = tmp_path / "auth.py"
    bad.write_text("login_url = '/login'\n")
    result = subprocess.run([*CLI, "serve", SLIDERS, "--auth-module", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "must define exactly one of get_user" in result.stderr
    result = subprocess.run([*CLI, "serve", SLIDERS, "--auth-module", str(tmp_path / "none.py")], capture_output=True, text=True)
    assert result.returncode == 2 and "no such file" in result.stderr


async def test_healthz_reports_sessions(serve):
    server = serve({"/sliders": SLIDERS})
    client = await Client.open(server.url, "sliders")
    code, body = await fetch_page(server.url + "healthz")
    health = json.loads(body)
    assert code == 200 and health["status"] == "ok"
    assert health["sessions"] == 1 and health["connections"] == 1 and health["pid"] == os.getpid()
    await client.close()


def remote_ip_app(doc):
    doc.add_root(w.Label(str(doc.session_context.request.remote_ip)))


async def test_xheaders_give_the_client_address_behind_a_proxy(serve):
    proxied = serve({"/ip": remote_ip_app}, use_xheaders=True)
    direct = serve({"/ip": remote_ip_app})
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    for server, expected in ((proxied, "203.0.113.7"), (direct, "127.0.0.1")):
        client = Client(server.url, "ip", headers=headers)
        await client.load_page()
        await client.connect()
        await client.wait_for(lambda c=client: c.doc)
        assert client.model("LabelModel")["value"] == expected
        await client.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_tls_with_a_certificate(serve, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )
    server = serve({"/sliders": SLIDERS}, ssl_certfile=str(cert), ssl_keyfile=str(key))
    assert server.url.startswith("https://")
    context = ssl.create_default_context(cafile=str(cert))
    response = await AsyncHTTPClient().fetch(server.url.replace("127.0.0.1", "localhost") + "sliders", ssl_options=context)
    assert response.code == 200 and b"jupyter-bridge-config" in response.body


def test_unix_socket(tmp_path):
    path = tmp_path / "bridge.sock"
    process = subprocess.Popen([*CLI, "serve", SLIDERS, "--unix-socket", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not path.exists():
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.1)
        with socket.socket(socket.AF_UNIX) as connection:
            connection.connect(str(path))
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200") and b'"status": "ok"' in answer
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0






async def test_several_processes_serve_one_port_and_stop_together(tmp_path):
    port = free_port()
    log_file = tmp_path / "server.log"
    process = subprocess.Popen(
        [*CLI, "serve", SLIDERS, "--num-procs", "2", "--port", str(port), "--address", "127.0.0.1",
         "--log-file", str(log_file), "--stats-log-frequency", "200", "--mem-log-frequency", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        await asyncio.get_running_loop().run_in_executor(None, wait_for_http, f"http://127.0.0.1:{port}/healthz", process)
        base = f"http://127.0.0.1:{port}/"
        clients = [await Client.open(base, "sliders") for _ in range(10)]
        for number, client in enumerate(clients):
            await client.set_state("IntSliderModel", value=number)
            assert client.model("LabelModel")["value"] == f"value*2 = {number * 2}"
        for client in clients:
            await client.close()
        # Both kinds of periodic log line have been written (every 200 ms, once the loop gets to it).
        await eventually(lambda: "connections" in log_file.read_text() and "memory: RSS" in log_file.read_text(), timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(None, process.wait, 30)
    assert process.returncode == 0
    text = log_file.read_text()
    assert "Started 2 worker processes" in text
    assert text.count("shutting down") == 2
    assert "sessions," in text and "connections" in text and "memory: RSS" in text


async def test_a_users_session_cannot_be_joined_by_another_user(serve, auth_file):
    server = serve({"/hello": user_app}, auth_module=auth_file)
    ada = await Client.open(server.url, "hello", headers={"Cookie": "user=ada"})
    session_id = ada.config["sessionId"]
    code, _ = await fetch_page(server.url + f"hello?jb-session-id={session_id}", headers={"Cookie": "user=bob"})
    assert code == 403
    # Bob replays Ada's page token on his own socket: refused.
    bob = Client(server.url, "hello", headers={"Cookie": "user=bob"})
    bob.config = ada.config
    await bob.connect()
    await bob.wait_for(lambda: bob.close_code is not None)
    assert bob.close_code == CLOSE_BAD_TOKEN and "another user" in bob.close_reason
    # Ada herself may open a second page of it.
    again = await Client.open(server.url, f"hello?jb-session-id={session_id}", headers={"Cookie": "user=ada"})
    assert again.model("LabelModel")["value"] == "hello ada"
    await ada.close()
    await again.close()


SECURE_COOKIE_AUTH = """
from tornado.web import RequestHandler

def get_user(request_handler):
    name = request_handler.get_secure_cookie("user")
    return name.decode() if name else None

class LoginHandler(RequestHandler):
    def get(self):
        self.set_secure_cookie("user", self.get_argument("name"))
        self.write("logged in")
"""


@pytest.mark.parametrize("given_as", ["flag", "environment"])
async def test_cookie_secret_signs_an_auth_modules_secure_cookies(tmp_path, monkeypatch, given_as):
    from support import serving

    auth = tmp_path / "auth.py"
    auth.write_text(textwrap.dedent(SECURE_COOKIE_AUTH))
    secret = "a cookie secret of at least some length"
    arguments = [SLIDERS, "--auth-module", str(auth)]
    if given_as == "flag":
        arguments += ["--cookie-secret", secret]
    else:
        monkeypatch.setenv("JUPYTER_BRIDGE_COOKIE_SECRET", secret)
    with serving(*arguments) as base:
        login = await AsyncHTTPClient().fetch(base + "/login?name=ada")
        cookie = login.headers["Set-Cookie"].split(";")[0]
        assert cookie.startswith("user=") and cookie != "user=ada"  # signed with the secret
        code, html = await fetch_page(base + "/sliders", headers={"Cookie": cookie})
        assert code == 200 and "jupyter-bridge-config" in html
        # A cookie not signed with the secret is nobody's.
        code, _ = await fetch_page(base + "/sliders", headers={"Cookie": "user=ada"})
        assert code == 302


async def test_a_killed_worker_is_reported_and_replaced(tmp_path):
    port = free_port()
    log_file = tmp_path / "server.log"
    process = subprocess.Popen(
        [*CLI, "serve", SLIDERS, "--num-procs", "2", "--port", str(port), "--address", "127.0.0.1",
         "--log-file", str(log_file), "--stats-log-frequency", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        await asyncio.get_running_loop().run_in_executor(None, wait_for_http, f"http://127.0.0.1:{port}/healthz", process)
        await eventually(lambda: "Started 2 worker processes" in log_file.read_text(), timeout=60)
        workers = [int(pid) for pid in log_file.read_text().split("worker processes: ")[1].splitlines()[0].split(", ")]
        os.kill(workers[1], signal.SIGKILL)
        await eventually(lambda: f"Worker {workers[1]} died (signal SIGKILL)" in log_file.read_text(), timeout=60)
        replacement = int(log_file.read_text().split("started worker ")[1].split()[0])
        assert replacement not in workers
        # The replacement serves: every new connection is answered, whichever worker takes it.
        await asyncio.get_running_loop().run_in_executor(None, wait_for_http, f"http://127.0.0.1:{port}/healthz", process)
        pids = set()
        for _ in range(20):
            response = await AsyncHTTPClient().fetch(f"http://127.0.0.1:{port}/healthz", headers={"Connection": "close"})
            pids.add(json.loads(response.body)["pid"])
        assert pids <= {workers[0], replacement}
        client = await Client.open(f"http://127.0.0.1:{port}/", "sliders")
        assert (await client.set_state("IntSliderModel", value=3))["type"] == "idle"
        await client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(None, process.wait, 30)
    assert process.returncode == 0  # stopped when asked; the killed one was replaced
    assert log_file.read_text().count("shutting down") == 2
