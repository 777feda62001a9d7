"""Attacks on the server's edges, each as its attacker sends it, against a real server on loopback.

Who may open /admin, which routes the auth module guards, who may frame the
pages, what errors and logs show, how long a silent connection is kept, and
what malformed paths and origins get. The last part keeps what already held
holding: files outside the served folders, escaped markup, origin tricks.
"""

from __future__ import annotations

import asyncio
import http.server
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support import CHROMIUM, free_port, wait_for_http
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect
from wsclient import Client, fetch_page

from jupyter_bridge.protocol import SUBPROTOCOL

AUTH_MODULE = '''
login_url = "/login"

def get_user(request_handler):
    return request_handler.get_cookie("user")
'''


def sliders(doc: Any) -> None:
    import ipywidgets as w

    doc.title = "Sliders"
    doc.add_root(w.IntSlider(description="N"))


def broken(doc: Any) -> None:
    raise RuntimeError("the secret sauce is in line 42")


async def get(url: str, **headers: str) -> tuple[int, dict[str, str], str]:
    """Status, headers and body of GET ``url`` (redirects not followed)."""
    try:
        response = await AsyncHTTPClient().fetch(url, headers=headers, follow_redirects=False)
    except HTTPClientError as error:
        response = error.response
        if response is None:
            raise
    return response.code, dict(response.headers), response.body.decode(errors="replace")


@pytest.fixture
def auth_module(tmp_path: Path) -> str:
    path = tmp_path / "auth.py"
    path.write_text(AUTH_MODULE)
    return str(path)


@pytest.fixture
def directory_app(tmp_path: Path) -> Path:
    """A directory app whose static/ holds a public file, dotfiles and a link out of it."""
    app = tmp_path / "dash"
    (app / "static" / ".git").mkdir(parents=True)
    (app / "main.py").write_text(
        "import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('dash'))\n"
    )
    (app / "static" / "style.css").write_text(".dash { color: teal }")
    (app / "static" / ".env").write_text("DATABASE_PASSWORD=hunter2")
    (app / "static" / ".git" / "config").write_text("[remote] url = secret-repo")
    outside = tmp_path / "outside.txt"
    outside.write_text("outside the static folder")
    (app / "static" / "link.txt").symlink_to(outside)
    return app


# 1. /admin: operators are named, never recognised by an address the client writes


async def test_a_forged_x_real_ip_does_not_open_admin_behind_a_proxy(serve):
    """Behind a proxy (--use-xheaders) that passes X-Real-Ip through, a visitor claims to be this machine."""
    server = serve({"/sliders": sliders}, admin=True, use_xheaders=True)
    # What a proxy forwards for a visitor at 192.0.2.7 who wrote X-Real-Ip himself.
    code, _, html = await get(server.url + "admin", **{"X-Forwarded-For": "192.0.2.7", "X-Real-Ip": "127.0.0.1"})
    assert code == 403 and "--admin-users" in html
    # The page's socket is refused as well, whatever the token.
    request = HTTPRequest(
        server.url.replace("http", "ws") + "admin/ws",
        headers={"X-Forwarded-For": "192.0.2.7", "X-Real-Ip": "127.0.0.1", "Sec-WebSocket-Protocol": SUBPROTOCOL},
    )
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(request)
    assert refused.value.code == 403


async def test_admin_without_an_auth_module_is_for_direct_loopback_browsers_only(serve):
    server = serve({"/sliders": sliders}, admin=True)
    code, _, html = await get(server.url + "admin")
    assert code == 200 and "jupyter-bridge-config" in html
    # A request a local proxy passed on is not this machine's user, with or without --use-xheaders.
    code, _, _ = await get(server.url + "admin", **{"X-Forwarded-For": "192.0.2.7"})
    assert code == 403


async def test_with_an_auth_module_only_the_named_operators_open_admin(serve, auth_module):
    server = serve({"/sliders": sliders}, admin=True, auth_module=auth_module, admin_users=["alice"])
    code, headers, _ = await get(server.url + "admin")
    assert code == 302 and headers["Location"].startswith("/login")
    code, _, html = await get(server.url + "admin", Cookie="user=bob")
    assert code == 403 and "--admin-users" in html
    code, _, html = await get(server.url + "admin", Cookie="user=alice")
    assert code == 200 and "jupyter-bridge-config" in html
    # bob cannot attach to alice's admin session either.
    client = Client(server.url, "admin", headers={"Cookie": "user=alice"})
    await client.load_page()
    client.headers["Cookie"] = "user=bob"
    with pytest.raises(HTTPClientError) as refused:
        await client.connect(origin=f"http://127.0.0.1:{server.port}")
    assert refused.value.code == 403


async def test_with_an_auth_module_and_no_operators_named_nobody_opens_admin(serve, auth_module, caplog):
    with caplog.at_level(logging.WARNING, logger="jupyter_bridge"):
        server = serve({"/sliders": sliders}, admin=True, auth_module=auth_module)
    assert "--admin-users" in caplog.text
    code, _, _ = await get(server.url + "admin", Cookie="user=alice")
    assert code == 403
    anyone = serve({"/sliders": sliders}, admin=True, auth_module=auth_module, admin_users=["*"])
    assert (await get(anyone.url + "admin", Cookie="user=bob"))[0] == 200


def test_the_admin_app_declares_itself_operator_only():
    from jupyter_bridge.admin import admin_application
    from jupyter_bridge.application import Application

    assert Application.operator_only is False
    assert admin_application(object()).operator_only is True  # type: ignore[arg-type]


# 2. Every route goes through the auth module


async def test_a_directory_apps_static_files_need_a_login(serve, auth_module, directory_app):
    server = serve({"/dash": str(directory_app)}, auth_module=auth_module)
    code, headers, body = await get(server.url + "dash/static/style.css")
    assert code in (302, 403) and "teal" not in body
    code, _, body = await get(server.url + "dash/static/style.css", Cookie="user=alice")
    assert code == 200 and "teal" in body


@pytest.mark.parametrize("path", [".env", ".git/config", "%2eenv", ".git%2fconfig", "link.txt"])
async def test_dotfiles_and_links_out_of_static_are_never_served(serve, directory_app, path):
    server = serve({"/dash": str(directory_app)})
    code, _, body = await get(server.url + "dash/static/" + path)
    assert code == 404, (code, body[:200])
    assert "hunter2" not in body and "secret-repo" not in body and "outside the static" not in body


async def test_metrics_need_a_login_when_an_auth_module_is_set(serve, auth_module):
    server = serve({"/sliders": sliders}, auth_module=auth_module, metrics=True)
    code, _, body = await get(server.url + "metrics")
    assert code == 403 and "jupyter_bridge_sessions" not in body
    code, _, body = await get(server.url + "metrics", Cookie="user=prometheus")
    assert code == 200 and "jupyter_bridge_sessions" in body


async def test_health_says_ok_to_anyone_and_its_figures_only_to_users(serve, auth_module):
    server = serve({"/sliders": sliders}, auth_module=auth_module)
    code, _, body = await get(server.url + "healthz")
    assert code == 200 and '"ok"' in body and "sessions" not in body and "pid" not in body
    code, _, body = await get(server.url + "healthz", Cookie="user=alice")
    assert code == 200 and "sessions" in body


# 3. Framing


async def test_pages_tell_browsers_who_may_frame_them(serve):
    server = serve({"/sliders": sliders, "/broken": broken}, disable_index_redirect=True)
    for path in ("sliders", "", "broken", "missing"):
        _, headers, _ = await get(server.url + path)
        policy = headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'self'" in policy, (path, headers)
        assert f"localhost:{server.port}" in policy and "evil" not in policy
    assert headers.get("X-Frame-Options") == "SAMEORIGIN"
    named = serve({"/sliders": sliders}, allow_websocket_origin=["example.com", "https://apps.example.org"])
    _, headers, _ = await get(named.url + "sliders")
    assert headers["Content-Security-Policy"] == "frame-ancestors 'self' example.com https://apps.example.org"
    assert "X-Frame-Options" not in headers  # it cannot name other sites
    extra = serve({"/sliders": sliders}, frame_ancestors=["https://portal.example.net"])
    _, headers, _ = await get(extra.url + "sliders")
    assert "https://portal.example.net" in headers["Content-Security-Policy"]
    anyone = serve({"/sliders": sliders}, frame_ancestors=["*"])
    _, headers, _ = await get(anyone.url + "sliders")
    assert "Content-Security-Policy" not in headers and "X-Frame-Options" not in headers


async def test_the_login_page_is_guarded_too_and_a_handlers_own_policy_is_kept(serve, tmp_path):
    module = tmp_path / "login_auth.py"
    module.write_text(AUTH_MODULE.replace('login_url = "/login"', "") + """
from tornado.web import RequestHandler

class LoginHandler(RequestHandler):
    def get(self):
        self.set_header("Content-Security-Policy", "default-src 'self'")
        self.finish("<form method=post><input name=password type=password></form>")
""")
    server = serve({"/sliders": sliders}, auth_module=str(module))
    code, headers, _ = await get(server.url + "login")
    assert code == 200
    policy = headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'self'; frame-ancestors 'self' ") and "X-Frame-Options" in headers


# 4. Low: what errors and logs show, slow connections, malformed paths and origins


async def test_debug_logging_does_not_show_tracebacks_to_visitors(serve, caplog):
    server = serve({"/broken": broken})
    with caplog.at_level(logging.DEBUG, logger="jupyter_bridge"):
        code, _, html = await get(server.url + "broken")
    assert code == 500 and "broken failed" in html
    assert "Traceback" not in html and "test_hardening.py" not in html
    assert "Traceback" in caplog.text  # the operator still has it
    dev = serve({"/broken": broken}, dev=True)
    assert "Traceback" in (await get(dev.url + "broken"))[2]


async def test_a_chosen_session_id_cannot_forge_log_lines(serve, caplog):
    server = serve({"/sliders": sliders}, session_ids="unsigned")
    forged = "x\n2026-01-01 00:00:00 INFO jupyter_bridge: operator logged in"
    with caplog.at_level(logging.INFO, logger="jupyter_bridge"):
        await fetch_page(server.url + "sliders?jb-session-id=" + forged.replace("\n", "%0A").replace(" ", "%20"))
    assert caplog.records, "nothing was logged"
    for record in caplog.records:
        assert "\n" not in record.getMessage() and "operator logged in" not in record.getMessage()


async def test_full_session_ids_are_not_logged(serve, caplog):
    server = serve({"/sliders": sliders}, unused_session_lifetime=0, check_unused_sessions=100)
    with caplog.at_level(logging.DEBUG, logger="jupyter_bridge"):
        client = await Client.open(server.url, "sliders")
        session_id = client.config["sessionId"]
        await client.close()
        await asyncio.wait_for(_until(lambda: not server.bridge.apps["/sliders"].sessions), 30)
    assert session_id[:8] in caplog.text  # a short prefix says which session
    assert session_id not in caplog.text


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.05)


def _silent_until_closed(port: int, sent: bytes) -> bytes:
    """Send ``sent`` and then nothing; what the server says before it closes (b'' if it never does)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(sent)
        received = b""
        try:
            while chunk := connection.recv(4096):
                received += chunk
        except TimeoutError:
            return b"never closed"
        return received


@pytest.mark.parametrize("sent", [
    b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ",
    b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\nabc",
])
def test_a_slow_client_is_disconnected(tmp_path, sent):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_bridge.cli", "serve", "--port", str(port), "--log-level", "warning",
         "--idle-connection-timeout", "1", "--body-timeout", "1", str(_sliders_file(tmp_path))],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://localhost:{port}/healthz", process)
        assert _silent_until_closed(port, sent) != b"never closed"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_connection_timeouts_have_sane_defaults():
    from jupyter_bridge.settings import BridgeSettings

    settings = BridgeSettings()
    assert 0 < settings.idle_connection_timeout <= 120 and 0 < settings.body_timeout <= 300


def _sliders_file(folder: Path) -> Path:
    path = folder / "sliders.py"
    path.write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.IntSlider())\n")
    return path


@pytest.mark.parametrize("path", ["static/%00", "static/client%00.js", "static/nbextensions/%00/index.js",
                                  "dash/static/%00", "dash/static/style.css%00.txt"])
async def test_a_nul_byte_in_a_static_path_is_a_bad_request(serve, directory_app, path):
    server = serve({"/dash": str(directory_app)})
    code, _, _ = await get(server.url + path)
    assert code in (400, 404)


@pytest.mark.parametrize("origin", ["http://localhost:99999", "http://[::1", "http://localhost:-1", "http://:80"])
async def test_a_malformed_origin_is_refused_not_a_server_error(serve, origin):
    server = serve({"/sliders": sliders})
    client = Client(server.url, "sliders")
    await client.load_page()
    with pytest.raises(HTTPClientError) as refused:
        await client.connect(origin=origin)
    assert refused.value.code == 403


async def test_any_origin_is_allowed_only_with_a_loud_warning(serve, caplog):
    with caplog.at_level(logging.WARNING, logger="jupyter_bridge"):
        server = serve({"/sliders": sliders}, allow_websocket_origin=["*"])
    assert any("*" in r.getMessage() and "any site" in r.getMessage() for r in caplog.records)
    client = await Client.open(server.url, "sliders", origin="http://evil.example")
    await client.close()


async def test_an_allowed_origin_with_a_scheme_allows_that_scheme_only(serve):
    server = serve({"/sliders": sliders}, allow_websocket_origin=["https://example.com"])
    client = Client(server.url, "sliders")
    await client.load_page()
    await client.connect(origin="https://example.com")
    await client.wait_for(lambda: client.doc is not None)
    await client.close()
    for origin in ("http://example.com", "http://example.com:443", "https://example.com:8443"):
        other = Client(server.url, "sliders")
        await other.load_page()
        with pytest.raises(HTTPClientError) as refused:
            await other.connect(origin=origin)
        assert refused.value.code == 403, origin



# 5. What held, kept holding: files, markup, origins, frames, tokens, the secret

#: Markup that would run script if a page showed it unescaped.
MARK = '<img src=x onerror="alert(1)">'
ESCAPED = "&lt;img src=x onerror="


@pytest.mark.parametrize("path", [
    "static/../server/bridge.py", "static/%2e%2e/server/bridge.py", "static/..%2fserver%2fbridge.py",
    "static/%2e%2e%2f%2e%2e%2fpyproject.toml", "static//etc/passwd", "static/%2fetc%2fpasswd",
    "static/nbextensions/../../../../../../etc/passwd", "static/nbextensions/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "static/nbextensions/%2fetc%2fpasswd", "static/nbextensions/jupyter-js-widgets/..%2f..%2f..%2fetc%2fpasswd",
    "dash/static/../main.py", "dash/static/%2e%2e/main.py", "dash/static/..%2fmain.py",
    "dash/static/%2fetc%2fpasswd", "dash/static//etc/passwd", "dash/static/link.txt", "dash/static/.env",
])
async def test_no_route_serves_a_file_outside_its_folder(serve, directory_app, path):
    server = serve({"/dash": str(directory_app)})
    code, _, body = await get(server.url + path)
    assert code in (400, 403, 404), (code, body[:200])
    for secret in ("root:", "class Bridge", "[project]", "curdoc().add_root", "outside the static", "hunter2"):
        assert secret not in body


def marked(doc: Any) -> None:
    import ipywidgets as w

    doc.title = MARK
    doc.add_root(w.Label("marked"))


def raises_markup(doc: Any) -> None:
    raise RuntimeError(MARK)


async def test_markup_in_titles_and_errors_is_escaped_in_every_page(serve, tmp_path):
    described = tmp_path / "described.py"
    described.write_text(f'"""{MARK}"""\nfrom jupyter_bridge import curdoc\ncurdoc().title = {MARK!r}\n')
    server = serve({"/marked": marked, "/raises": raises_markup, "/described": str(described)}, admin=True)
    for dev in (False, True):
        where = server if not dev else serve({"/raises": raises_markup}, dev=True)
        code, _, html = await get(where.url + "raises")
        assert code == 500 and MARK not in html and ESCAPED in html
    code, _, html = await get(server.url + "marked")
    assert code == 200 and MARK not in html and f"<title>{ESCAPED}" in html.replace("\n", "")
    await get(server.url + "described")  # its title is now known to the index
    code, _, html = await get(server.url)
    assert code == 200 and MARK not in html and html.count(ESCAPED) >= 2
    # The admin page lists the apps' titles in an HTML widget.
    board = await Client.open(server.url, "admin")
    tables = [state["value"] for state in board.models.values() if state.get("_model_name") == "HTMLModel"]
    assert any(ESCAPED in value for value in tables) and not any(MARK in value for value in tables)
    await board.close()


@pytest.mark.parametrize("origin", [
    "null", "file://", "http://localhost.evil.example:{port}", "http://evil.localhost:{port}",
    "http://127.0.0.1.evil.example:{port}", "http://localhost:{port}@evil.example", "http://localhost:{port}.evil.example",
    "https://localhost:{port}0", "http://LOCALHOST.evil.example:{port}",
])
async def test_origin_tricks_are_refused(serve, origin):
    server = serve({"/sliders": sliders})
    client = Client(server.url, "sliders")
    await client.load_page()
    with pytest.raises(HTTPClientError) as refused:
        await client.connect(origin=origin.format(port=server.port))
    assert refused.value.code == 403


@pytest.mark.parametrize("origin, allowed", [
    ("http://example.com", True), ("http://EXAMPLE.COM", True), ("http://sub.example.com", False),
    ("http://example.com.evil.net", False), ("http://evilexample.com", False), ("http://example.com:8080", False),
])
async def test_a_named_origin_admits_itself_only(serve, origin, allowed):
    server = serve({"/sliders": sliders}, allow_websocket_origin=["example.com"])
    client = Client(server.url, "sliders")
    await client.load_page()
    if allowed:
        await client.connect(origin=origin)
        await client.wait_for(lambda: client.doc is not None)
        await client.close()
    else:
        with pytest.raises(HTTPClientError):
            await client.connect(origin=origin)


async def test_deeply_nested_json_gets_an_error_and_the_session_goes_on(serve):
    server = serve({"/sliders": sliders})
    client = await Client.open(server.url, "sliders")
    depth = 100_000
    client.ws.write_message('{"type": "ping", "id": "deep", "x": ' + "[" * depth + "]" * depth + "}")
    errors = await client.wait_for(lambda: client.of_type("error"))
    assert errors[0]["where"] == "frame" and "JSON" in errors[0]["message"]
    assert (await client.request({"type": "ping"}))["type"] == "pong"
    await client.close()


async def test_a_tampered_signed_token_is_refused(serve, monkeypatch):
    import base64
    import json

    from jupyter_bridge.protocol import CLOSE_BAD_TOKEN

    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", "k" * 43)
    server = serve({"/sliders": sliders}, session_ids="signed")
    victim = await Client.open(server.url, "sliders")
    attacker = Client(server.url, "sliders")
    await attacker.load_page()
    payload, signature = attacker.config["token"].split(".", 1)
    try:  # name the victim's session in the attacker's signed token
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        body = {k: victim.config["sessionId"] if v == attacker.config["sessionId"] else v for k, v in body.items()}
        payload = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    except ValueError:  # a payload that is not readable JSON: change one character of it
        payload = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    tampered = payload + "." + signature
    await attacker.connect(token=tampered)
    await attacker.wait_for(lambda: attacker.close_code is not None)
    assert attacker.close_code == CLOSE_BAD_TOKEN and attacker.doc is None
    await victim.close()


async def test_the_secret_is_never_logged_shown_or_put_in_a_page(serve, monkeypatch, caplog):
    key, cookie_secret = "s3cr3t-" + "k" * 40, "c00kie-" + "c" * 40
    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", key)
    monkeypatch.setenv("JUPYTER_BRIDGE_COOKIE_SECRET", cookie_secret)
    bodies = []
    with caplog.at_level(logging.DEBUG):
        server = serve({"/sliders": sliders, "/broken": broken}, session_ids="signed", admin=True,
                       metrics=True, dev=True, disable_index_redirect=True)
        for path in ("", "sliders", "broken", "healthz", "metrics", "admin", "sliders/autoload.js", "missing",
                     "sliders?jb-session-id=forged"):
            bodies.append((await get(server.url + path))[2])
        client = await Client.open(server.url, "sliders")
        bodies.append(client.config["token"])
        bad = Client(server.url, "sliders")
        await bad.load_page()
        await bad.connect(token="forged.token")
        await bad.wait_for(lambda: bad.close_code is not None)
        bodies.append(bad.close_reason or "")
        await client.close()
    for secret in (key, cookie_secret, key[:16], cookie_secret[:16]):
        assert secret not in caplog.text
        assert not any(secret in body for body in bodies)


# Browser tests last: Playwright's loop must not run under the async tests'.


@contextmanager
def other_site(body: str) -> Iterator[str]:
    """Another site on loopback whose page is ``body``; yields its origin."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
def test_another_site_cannot_frame_a_page_but_an_allowed_one_can(tmp_path, browser):
    app = _sliders_file(tmp_path)
    port = free_port()
    target = f"http://localhost:{port}/sliders"

    def framed(origin: str, *flags: str) -> str:
        """Where the app's frame in the page of ``origin`` ends up: the app, or Chromium's error page."""
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_bridge.cli", "serve", str(app), "--port", str(port),
             "--log-level", "warning", *flags],
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_for_http(f"http://localhost:{port}/healthz", process)
            page = browser.new_context().new_page()
            with page.expect_response(lambda r: r.url == target):
                page.goto(origin + "/")
            frame = page.frames[1]
            frame.wait_for_load_state()
            where = frame.url
            page.context.close()
            return where
        finally:
            process.terminate()
            process.wait(timeout=30)

    with other_site(f'<iframe src="{target}" width=600 height=400></iframe>') as origin:
        assert framed(origin).startswith("chrome-error:")
        assert framed(origin, "--frame-ancestors", origin) == target
