"""The Jupyter server extension, in a real ``jupyter server`` subprocess.

One server (base_url ``/jp/``, a token, a temporary root) serves most tests; the
root holds apps, a non-app script, hidden files and symlinks leading out of the
root. Apps that must never run write a marker file when they do.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT
from support import eventually, free_port, wait_for_jupyter
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect
from traitlets.config import Config
from wsclient import CONFIG, Client

from jupyter_bridge.jupyter.apps import find_apps, resolve_app_path
from jupyter_bridge.jupyter.extension import NOT_IN_JUPYTER, BridgeExtension
from jupyter_bridge.protocol import CLOSE_APP_CHANGED, CLOSE_SESSION_GONE, SUBPROTOCOL
from jupyter_bridge.settings import BridgeSettings

TOKEN = "bridge-test-token-0123456789"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
AUTH = {"Authorization": f"token {TOKEN}"}
STARTUP_TIMEOUT = 120.0  # seconds; a cold 2-core machine imports Jupyter slowly

WHOAMI = """\
import ipywidgets as w
from jupyter_bridge import curdoc

doc = curdoc()
context = doc.session_context
user = context.user
doc.add_root(w.Label(getattr(user, "username", repr(user))))
doc.add_root(w.Label(repr(sorted(context.request.arguments))))
doc.add_root(w.Label(repr(sorted(context.request.cookies))))
doc.add_root(w.Label(repr(sorted(k.lower() for k in context.request.headers))))
"""

# Must never run: writes MARKER when it does.
TRAP = """\
import pathlib
from jupyter_bridge import curdoc

pathlib.Path({marker!r}).write_text("ran")
curdoc()
"""

REAPED = """\
import pathlib
import ipywidgets as w
from jupyter_bridge import curdoc

doc = curdoc()
doc.add_root(w.Label("bye"))
doc.on_session_destroyed(lambda ctx: (pathlib.Path({markers!r}) / ctx.id).write_text("destroyed"))
"""

EDITED = """\
import ipywidgets as w
from jupyter_bridge import curdoc

curdoc().add_root(w.Label("version {version}"))
"""

DENY_AUTHORIZER = """\
from jupyter_server.auth import Authorizer


class DenyWhenAsked(Authorizer):
    # Denies the action named by the X-Deny-Bridge header on the bridge resource.
    def is_authorized(self, handler, user, action, resource):
        return not (resource == "bridge" and handler.request.headers.get("X-Deny-Bridge") == action)
"""


def _notebook(source: str) -> str:
    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@dataclass
class Layout:
    root: Path
    outside: Path
    markers: Path
    pylib: Path

    @property
    def trap_marker(self) -> Path:
        return self.markers / "trap-ran"


def make_layout(base: Path) -> Layout:
    layout = Layout(base / "root", base / "outside", base / "markers", base / "pylib")
    for folder in (layout.root, layout.outside, layout.markers, layout.pylib):
        folder.mkdir()
    root = layout.root
    trap = TRAP.format(marker=str(layout.trap_marker))
    shutil.copy(EXAMPLES / "sliders.py", root / "sliders.py")
    shutil.copytree(EXAMPLES / "dashboard", root / "sub" / "dashboard")
    (root / "whoami.py").write_text(WHOAMI)
    (root / "edited.py").write_text(EDITED.format(version=1))
    (root / "reaped.py").write_text(REAPED.format(markers=str(layout.markers)))
    (root / "helper.py").write_text("def double(x):\n    return 2 * x\n")
    (root / "shown.ipynb").write_text(_notebook("from jupyter_bridge import show\nshow(lambda doc: None)"))
    (root / "widgets.ipynb").write_text(_notebook("import ipywidgets as w\nw.IntSlider()"))
    (root / "plain.ipynb").write_text(_notebook("print('hello')"))
    (root / "img").mkdir()
    (root / "img" / "logo.png").write_bytes(PNG)
    (root / "tests").mkdir()  # test modules build apps too, but are not apps
    (root / "tests" / "test_app.py").write_text("from jupyter_bridge import curdoc\ndef test_it():\n    curdoc()\n")
    (root / "tests" / "checks.py").write_text("import unittest\nfrom jupyter_bridge import show\nshow(None)\n")
    (root / ".secret.py").write_text(trap)
    (root / ".hidden_dir").mkdir()
    (root / ".hidden_dir" / "app.py").write_text(trap)
    (root / "node_modules").mkdir()
    (root / "node_modules" / "app.py").write_text(trap)
    (layout.outside / "outside.py").write_text(trap)
    (root / "escape.py").symlink_to(layout.outside / "outside.py")
    (root / "linked_dir").symlink_to(layout.outside, target_is_directory=True)
    (layout.outside / "secret.txt").write_text("TOP-SECRET-CONTENT")
    (root / "sub" / "dashboard" / "static" / ".hidden.css").write_text("secret")
    (root / "sub" / "dashboard" / "static" / "leak.txt").symlink_to(layout.outside / "secret.txt")
    (layout.pylib / "deny_auth.py").write_text(DENY_AUTHORIZER)
    return layout




class JupyterServer:
    """``jupyter server`` with the extension enabled, on a free loopback port."""

    def __init__(self, layout: Layout, workdir: Path, *extra_args: str) -> None:
        self.layout = layout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/jp/"
        self.log_path = workdir / f"jupyter-{self.port}.log"
        env = dict(os.environ)
        env["JUPYTER_CONFIG_DIR"] = str(workdir / "config")  # no user config
        env["JUPYTER_RUNTIME_DIR"] = str(workdir / "runtime")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(layout.pylib), env.get("PYTHONPATH", "")])
        args = [
            sys.executable, "-m", "jupyter_server",
            "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={layout.root}",
            "--ServerApp.base_url=/jp/",
            "--ServerApp.jpserver_extensions=jupyter_bridge=True",
            "--ServerApp.authorizer_class=deny_auth.DenyWhenAsked",
            *extra_args,
        ]  # fmt: skip
        self.log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, env=env, stdout=self.log_file, stderr=subprocess.STDOUT, cwd=workdir)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_up(self) -> None:
        wait_for_jupyter(self.url, TOKEN, self.process, self.log_path, STARTUP_TIMEOUT)

    def warm_up(self) -> None:
        """Open one app, so the server has imported ipywidgets before the tests time anything."""
        page = urllib.request.Request(self.url + "bridge/apps/sliders.py", headers=AUTH)
        with urllib.request.urlopen(page, timeout=STARTUP_TIMEOUT) as response:
            assert response.status == 200

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log_file.close()
        return self.process.returncode


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    return make_layout(tmp_path_factory.mktemp("bridge-root"))


@pytest.fixture(scope="module")
def jupyter(layout: Layout, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    server = JupyterServer(
        layout,
        tmp_path_factory.mktemp("jupyter"),
        # Also checks that settings work on the command line, by their name and
        # by their older one (c.BridgeExtension.<setting>).
        "--BridgeSettings.unused_session_lifetime=1000",
        "--BridgeExtension.check_unused_sessions=200",
        # A page that never connects keeps its session while its token lives.
        "--BridgeExtension.session_token_expiration=5",
    )
    try:
        server.wait_until_up()
        server.warm_up()
        yield server
    finally:
        server.stop()



def bridge_url(server: JupyterServer, path: str = "") -> str:
    return server.url + "bridge/" + path


def origin(server: JupyterServer) -> str:
    return f"http://127.0.0.1:{server.port}"


async def fetch(url: str, **kwargs) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) without following redirects."""
    try:
        response = await AsyncHTTPClient().fetch(url, follow_redirects=False, request_timeout=60, **kwargs)
    except HTTPClientError as error:
        response = error.response
        if response is None:
            raise
    return response.code, dict(response.headers.get_all()), response.body.decode(errors="replace")


def assert_refused(server: JupyterServer, code: int, headers: dict[str, str]) -> None:
    """Jupyter's answer to an unauthenticated page: 403, or a redirect to its login page."""
    assert code in (302, 403), code
    if code == 302:
        assert headers["Location"].startswith("/jp/login?next=%2Fjp%2Fbridge"), headers["Location"]


# The listing


async def test_listing_shows_the_apps_under_the_root_and_nothing_else(jupyter):
    code, _, html = await fetch(bridge_url(jupyter), headers=AUTH)
    assert code == 200, html
    links = set(re.findall(r'<a href="([^"]+)"', html))
    assert links == {
        "/jp/bridge/apps/sliders.py",
        "/jp/bridge/apps/whoami.py",
        "/jp/bridge/apps/edited.py",
        "/jp/bridge/apps/reaped.py",
        "/jp/bridge/apps/shown.ipynb",
        "/jp/bridge/apps/widgets.ipynb",
        "/jp/bridge/apps/sub/dashboard",
    }
    assert "still opens at <code>/jp/bridge/apps/&lt;path&gt;</code>" in html  # how to open what is not listed


async def test_a_notebooks_page_loads_media_of_its_folder_behind_the_login(jupyter):
    url = bridge_url(jupyter, "apps/widgets.ipynb/files/img/logo.png")
    code, headers, _ = await fetch(url)
    assert_refused(jupyter, code, headers)
    response = await AsyncHTTPClient().fetch(url, headers=AUTH, raise_error=False)
    assert response.code == 200 and response.body == PNG
    for refused in ("helper.py", "widgets.ipynb", "../outside/secret.txt", "%2e%2e/outside/secret.txt"):
        code, _, body = await fetch(bridge_url(jupyter, "apps/widgets.ipynb/files/" + refused), headers=AUTH)
        assert code == 404 and "double" not in body and "TOP-SECRET" not in body, refused


async def test_an_unknown_bridge_address_answers_our_404_page(jupyter):
    code, _, html = await fetch(bridge_url(jupyter, "no/such/page"), headers=AUTH)
    assert code == 404 and "jb-not-found" in html and "/jp/bridge/" in html


def test_find_apps_is_bounded_and_says_so(tmp_path):
    for i in range(30):
        (tmp_path / f"app{i:02}.py").write_text("from jupyter_bridge import curdoc\ncurdoc()\n")
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "deep.py").write_text("from jupyter_bridge import curdoc\ncurdoc()\n")

    apps, truncated = find_apps(str(tmp_path), max_entries=10)
    assert truncated and 0 < len(apps) < 10

    apps, truncated = find_apps(str(tmp_path), max_depth=1)
    assert truncated and "a/b/c/deep.py" not in {app.path for app in apps}

    apps, truncated = find_apps(str(tmp_path))
    assert not truncated and len(apps) == 31 and "a/b/c/deep.py" in {app.path for app in apps}


# Serving apps


async def test_slider_moves_the_label_through_the_extension(jupyter):
    client = await Client.open(bridge_url(jupyter), "apps/sliders.py", headers=AUTH, origin=origin(jupyter))
    try:
        assert client.config["wsUrl"] == "/jp/bridge/apps/sliders.py/ws"
        assert client.doc["title"] == "Sliders"
        reply = await client.set_state("IntSliderModel", value=21)
        assert reply["type"] == "idle"
        assert client.model("LabelModel")["value"] == "value*2 = 42"
    finally:
        await client.close()


async def test_a_page_in_use_is_activity_of_the_jupyter_server(jupyter):
    """What /api/status says (JupyterHub's activity reports and idle cullers read it) moves with a page's use."""

    async def last_activity() -> str:
        code, _, body = await fetch(jupyter.url + "api/status", headers=AUTH)
        assert code == 200, body
        return json.loads(body)["last_activity"]

    client = await Client.open(bridge_url(jupyter), "apps/sliders.py", headers=AUTH, origin=origin(jupyter))
    try:
        before = await last_activity()
        await asyncio.sleep(0.05)  # a later timestamp than `before`, even on a coarse clock
        await client.set_state("IntSliderModel", value=5)
        after = await last_activity()
        assert after > before, (before, after)  # ISO 8601 in UTC: text order is time order
    finally:
        await client.close()


async def test_a_session_is_its_browsers_while_the_token_alone_opens_any(jupyter):
    """Two browsers logged in by cookie are two Jupyter users: neither joins the other's session.

    A request with the token and no cookie is a new anonymous user each time (a script's
    page request and its socket are two): it names nobody, and holds the whole server's key.
    """

    async def log_in() -> dict[str, str]:
        code, headers, body = await fetch(jupyter.url + "api/me", headers=AUTH)
        assert code == 200, body
        return {"Cookie": headers["Set-Cookie"].split(";", 1)[0]}

    first, second = await log_in(), await log_in()
    assert first != second
    owner = await Client.open(bridge_url(jupyter), "apps/sliders.py", headers=first, origin=origin(jupyter))
    others: list[Client] = []
    try:
        session_id = owner.config["sessionId"]
        code, _, body = await fetch(bridge_url(jupyter, f"apps/sliders.py?jb-session-id={session_id}"), headers=second)
        assert code == 403 and "this session belongs to another user" in body, (code, body[:300])

        for headers in (second, AUTH):
            other = Client(bridge_url(jupyter), "apps/sliders.py", headers=headers)
            others.append(other)
            other.config = owner.config  # the owner's page: its socket's address and its token
            await other.connect(origin=origin(jupyter))
        refused, script = others
        await refused.wait_for(lambda: refused.close_code is not None)
        assert (refused.close_code, refused.close_reason) == (4001, "this session belongs to another user")
        await script.wait_for(lambda: script.doc is not None)
        assert script.close_code is None

        reply = await owner.set_state("IntSliderModel", value=21)
        assert reply["type"] == "idle" and owner.model("LabelModel")["value"] == "value*2 = 42"
    finally:
        for client in (owner, *others):
            await client.close()


async def test_a_browser_logged_in_by_cookie_gets_a_session_of_its_jupyter_user(jupyter):
    code, headers, body = await fetch(jupyter.url + "api/me", headers=AUTH)
    assert code == 200, body
    username = json.loads(body)["identity"]["username"]
    login_cookie = headers["Set-Cookie"].split(";", 1)[0]
    # The browser also holds the login of another Jupyter server on this host (cookies
    # ignore ports), and sends it here too.
    other_login = "username-localhost-8889=2|1:0|10:1700000000|23:username-localhost-8889|44:b3RoZXI="
    cookies = {"Cookie": f"{login_cookie}; {other_login}; flavour=lemon"}

    # Like a browser: the token is in the first URL only, the cookie does the rest.
    client = Client(bridge_url(jupyter), f"apps/whoami.py?token={TOKEN}&N=3", headers=cookies)
    await client.load_page()
    await client.connect(origin=origin(jupyter))
    try:
        await client.wait_for(lambda: client.doc, timeout=30)
        user, arguments, request_cookies, request_headers = [
            client.models[root]["value"] for root in client.doc["roots"]
        ]
        assert user == username
        # Jupyter's credentials never reach the app (nor the page's session token).
        assert arguments == "['N']"
        assert request_cookies == "['flavour']"
        assert "authorization" not in request_headers
        assert TOKEN not in json.dumps(client.config)
    finally:
        await client.close()


async def test_an_apps_autoload_script_answers_only_the_origins_jupyter_allows(jupyter):
    url = bridge_url(jupyter, "apps/whoami.py/autoload.js?jb-element-id=x")
    # A page of another site, in a browser logged in to Jupyter: no session, no token.
    code, _, body = await fetch(
        url, headers={**AUTH, "Sec-Fetch-Site": "cross-site", "Referer": "http://evil.example:8000/steal.html"}
    )
    assert code == 403 and "ServerApp.allow_origin" in body and "token" not in body
    assert "ServerApp.allow_origin" in jupyter.log()
    # Jupyter's own pages (its host) may embed an app.
    for page in ({"Sec-Fetch-Site": "same-origin"}, {"Referer": origin(jupyter) + "/jp/lab"}):
        code, _, body = await fetch(url, headers={**AUTH, **page})
        assert code == 200 and '"token"' in body


async def test_a_directory_app_serves_its_static_files_but_nothing_hidden_or_outside(jupyter):
    code, _, html = await fetch(bridge_url(jupyter, "apps/sub/dashboard"), headers=AUTH)
    assert code == 200, html
    assert 'href="/jp/bridge/apps/sub/dashboard/static/style.css"' in html
    code, _, css = await fetch(bridge_url(jupyter, "apps/sub/dashboard/static/style.css"), headers=AUTH)
    assert code == 200 and css == (EXAMPLES / "dashboard" / "static" / "style.css").read_text()
    code, headers, _ = await fetch(bridge_url(jupyter, "apps/sub/dashboard/static/style.css"))
    assert_refused(jupyter, code, headers)
    for name in (".hidden.css", "leak.txt", "missing.css"):
        code, _, body = await fetch(bridge_url(jupyter, f"apps/sub/dashboard/static/{name}"), headers=AUTH)
        assert code == 404, (name, body[:200])
    # Tornado's own check refuses a written-out escape with 403.
    escape = bridge_url(jupyter, "apps/sub/dashboard/static/..%2f..%2f..%2foutside%2fsecret.txt")
    code, _, body = await fetch(escape, headers=AUTH)
    assert code in (403, 404) and "TOP-SECRET-CONTENT" not in body


async def test_unused_sessions_are_reaped_on_the_jupyter_loop(jupyter, layout):
    code, _, html = await fetch(bridge_url(jupyter, "apps/reaped.py"), headers=AUTH)
    assert code == 200, html
    session_id = json.loads(CONFIG.search(html).group(1))["sessionId"]
    marker = layout.markers / session_id
    # Kept while its token lives (5 s), checked every 0.2 s (set on the command line).
    # The app writes the marker when its session is destroyed: wait for the whole word.
    await eventually(lambda: marker.exists() and marker.read_text() != "", timeout=30)
    assert marker.read_text() == "destroyed"


async def test_an_edited_app_is_served_in_its_new_version(jupyter, layout):
    # Inside Jupyter this needs no --dev: apps are written there.
    client = await Client.open(bridge_url(jupyter), "apps/edited.py", headers=AUTH, origin=origin(jupyter))
    try:
        assert client.model("LabelModel")["value"] == "version 1"
        path = layout.root / "edited.py"
        path.write_text(EDITED.format(version=2))
        later = time.time() + 2
        os.utime(path, (later, later))
        # The open page is told to load again ...
        await client.wait_for(lambda: client.close_code is not None, timeout=30)
        assert client.close_code == CLOSE_APP_CHANGED
    finally:
        await client.close()
    # ... and gets the new version.
    again = await Client.open(bridge_url(jupyter), "apps/edited.py", headers=AUTH, origin=origin(jupyter))
    try:
        assert again.model("LabelModel")["value"] == "version 2"
    finally:
        await again.close()


# Authentication and authorization


@pytest.mark.parametrize("query", ["", "?token=wrong"])
async def test_pages_need_jupyter_authentication_and_client_assets_do_not(jupyter, query):
    code, _, html = await fetch(bridge_url(jupyter, "apps/sliders.py"), headers=AUTH)
    assert code == 200, html
    asset = f"http://127.0.0.1:{jupyter.port}" + re.search(r'src="(/jp/bridge/static/[^"]+)"', html).group(1)
    assert (await fetch(bridge_url(jupyter, "healthz"), headers=AUTH))[0] == 200

    for url in (bridge_url(jupyter), bridge_url(jupyter, "apps/sliders.py"), bridge_url(jupyter, "healthz")):
        code, headers, _ = await fetch(url + query)
        assert_refused(jupyter, code, headers)
    # The page client's content-hashed files are public, as Jupyter's own /static/:
    # module scripts are fetched in CORS mode, which JupyterHub's cookie login refuses.
    code, headers, body = await fetch(asset + query)
    assert code == 200 and "immutable" in headers["Cache-Control"] and body
    # ... and nothing else under static/ is (installed widget modules still need the login).
    code, headers, _ = await fetch(bridge_url(jupyter, "static/nbextensions/bqplot/index.js") + query)
    assert_refused(jupyter, code, headers)


@pytest.mark.parametrize("credentials", [{}, {"query": "?token=wrong"}, {"cookie": "username-x=forged"}])
async def test_session_sockets_need_jupyter_authentication(jupyter, credentials):
    code, _, html = await fetch(bridge_url(jupyter, "apps/sliders.py"), headers=AUTH)
    assert code == 200
    config = json.loads(CONFIG.search(html).group(1))
    headers = {"Origin": origin(jupyter), "Sec-WebSocket-Protocol": f"{SUBPROTOCOL}, {config['token']}"}
    if "cookie" in credentials:
        headers["Cookie"] = credentials["cookie"]
    url = f"ws://127.0.0.1:{jupyter.port}{config['wsUrl']}{credentials.get('query', '')}"
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(HTTPRequest(url, headers=headers))
    assert refused.value.code == 403

    # The same socket with the token is accepted (so the refusal was about credentials).
    ws = await websocket_connect(HTTPRequest(url.split("?")[0] + f"?token={TOKEN}", headers=headers))
    assert await asyncio.wait_for(ws.read_message(), 30) is not None
    ws.close()


async def test_the_authorizer_decides_read_and_execute_on_the_bridge_resource(jupyter):
    listing = bridge_url(jupyter)
    page = bridge_url(jupyter, "apps/sliders.py")
    assert (await fetch(listing, headers={**AUTH, "X-Deny-Bridge": "read"}))[0] == 403
    assert (await fetch(listing, headers={**AUTH, "X-Deny-Bridge": "execute"}))[0] == 200
    assert (await fetch(page, headers={**AUTH, "X-Deny-Bridge": "execute"}))[0] == 403

    code, _, html = await fetch(page, headers=AUTH)
    config = json.loads(CONFIG.search(html).group(1))
    headers = {
        **AUTH,
        "X-Deny-Bridge": "execute",
        "Origin": origin(jupyter),
        "Sec-WebSocket-Protocol": f"{SUBPROTOCOL}, {config['token']}",
    }
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(HTTPRequest(f"ws://127.0.0.1:{jupyter.port}{config['wsUrl']}", headers=headers))
    assert refused.value.code == 403


# Paths that must not run


@pytest.mark.parametrize(
    "path",
    [
        "apps/../outside/outside.py",
        "apps/%2e%2e/outside/outside.py",
        "apps/..%2foutside%2foutside.py",
        "apps/sub/../../outside/outside.py",
        "apps/.secret.py",
        "apps/.hidden_dir/app.py",
        "apps/escape.py",
        "apps/linked_dir/outside.py",
        "apps/./sliders.py",
        "apps//sliders.py",
        "apps/%2Fetc%2Fpasswd",
        "apps/no_such_app.py",
    ],
)
async def test_paths_outside_hidden_or_escaping_the_root_are_404_and_never_run(jupyter, layout, path):
    code, _, body = await fetch(bridge_url(jupyter, path), headers=AUTH)
    assert code == 404, body[:300]
    assert not layout.trap_marker.exists()


async def test_sockets_of_paths_that_must_not_run_are_closed(jupyter, layout):
    code, _, html = await fetch(bridge_url(jupyter, "apps/sliders.py"), headers=AUTH)
    token = json.loads(CONFIG.search(html).group(1))["token"]
    for path in ("apps/escape.py", "apps/.secret.py", "apps/%2e%2e/outside/outside.py"):
        request = HTTPRequest(
            bridge_url(jupyter, path + "/ws").replace("http://", "ws://"),
            headers={**AUTH, "Origin": origin(jupyter), "Sec-WebSocket-Protocol": f"{SUBPROTOCOL}, {token}"},
        )
        ws = await websocket_connect(request)
        assert await asyncio.wait_for(ws.read_message(), 30) is None
        assert ws.close_code == CLOSE_SESSION_GONE
    assert not layout.trap_marker.exists()


def test_resolver_refuses_non_canonical_hidden_and_escaping_paths(layout):
    root = str(layout.root)
    assert resolve_app_path(root, "sliders.py") == str((layout.root / "sliders.py").resolve())
    assert resolve_app_path(root, "sub/dashboard") == str((layout.root / "sub" / "dashboard").resolve())
    for path in ("", "/etc/passwd", "../outside/outside.py", "sub/../sliders.py", "./sliders.py",
                 "sub//dashboard", ".secret.py", ".hidden_dir/app.py", "escape.py",
                 "linked_dir/outside.py", "sub\\dashboard", "missing.py"):  # fmt: skip
        assert resolve_app_path(root, path) is None, path
    assert resolve_app_path(root, ".secret.py", allow_hidden=True) is not None


# Shutdown, start-up, installation


async def test_server_shutdown_destroys_the_sessions(layout, tmp_path):
    server = JupyterServer(layout, tmp_path)
    try:
        server.wait_until_up()
        code, _, html = await fetch(bridge_url(server, "apps/reaped.py"), headers=AUTH)
        assert code == 200, html
        session_id = json.loads(CONFIG.search(html).group(1))["sessionId"]
    finally:
        returncode = server.stop(signal.SIGTERM)
    assert returncode == 0, server.log()
    assert (layout.markers / session_id).read_text() == "destroyed", server.log()


def test_loading_the_extension_imports_no_bridge_server_code():
    probe = (
        "import sys, jupyter_bridge as j\n"
        "(point,) = j._jupyter_server_extension_points()\n"
        "point['app']()\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('jupyter_bridge.server', 'ipywidgets')))\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_every_shared_setting_is_an_extension_option(monkeypatch, caplog):
    assert BridgeSettings in BridgeExtension.classes  # in --help-all and generated config files
    assert set(NOT_IN_JUPYTER) <= set(BridgeSettings.class_trait_names(config=True))

    from_file = BridgeExtension(config=Config({"BridgeSettings": {"dev": True, "notebook_layout": "roots"}}))
    settings = from_file.bridge_settings()
    assert settings.dev is True and settings.notebook_layout == "roots"

    # Every shared setting, by its older name too; a value set under both names keeps BridgeSettings'.
    shared = set(BridgeSettings.class_trait_names(config=True)) - set(NOT_IN_JUPYTER)
    for name in sorted(shared):
        older = BridgeExtension(config=Config({"BridgeExtension": {name: "set by its older name"}}))
        assert older.config["BridgeSettings"][name] == "set by its older name", name
        assert name not in older.config["BridgeExtension"]
    both = BridgeExtension(config=Config({"BridgeSettings": {"keep_alive": 7}, "BridgeExtension": {"keep_alive": 8}}))
    assert both.bridge_settings().keep_alive == 7

    from_cli = BridgeExtension()
    from_cli.parse_command_line(
        ["--BridgeSettings.keep_alive=5000", "--BridgeExtension.dev=True", "--BridgeExtension.scan_depth=2"]
    )
    assert from_cli.bridge_settings().keep_alive == 5000 and from_cli.bridge_settings().dev is True
    assert from_cli.scan_depth == 2

    # A setting the Jupyter server decides is named in the log, with what applies instead.
    BridgeExtension(config=Config({"BridgeSettings": {"port": 9999}})).bridge_settings()
    assert "c.BridgeSettings.port does not apply inside Jupyter: the Jupyter server's port" in caplog.text

    # Options left unset keep BridgeSettings' own defaults, environment included.
    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", "k" * 40)
    assert BridgeExtension().bridge_settings().secret_key == "k" * 40
    # A config value wins over the environment.
    configured = BridgeExtension(config=Config({"BridgeSettings": {"secret_key": "c" * 40}}))
    assert configured.bridge_settings().secret_key == "c" * 40


def _installed() -> bool:
    try:
        importlib.metadata.distribution("jupyter_bridge")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed(), reason="jupyter_bridge is not pip-installed")
def test_jupyter_lists_the_extension_enabled_and_ok(tmp_path):
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path), "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_server", "extension", "list"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    assert re.search(r"jupyter_bridge\s+enabled", output), output
    assert re.search(r"jupyter_bridge \S+ OK", output), output
