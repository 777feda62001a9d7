"""docs/deploy.md, nginx: the deploy/nginx/*.conf files in front of real servers, driven by Chromium.

Each test renders one of the guide's files (its ports, paths and host replaced by
the test's own) into a minimal nginx.conf and runs Debian's nginx in the
foreground on free loopback ports; every process a test starts is stopped when it
ends, pass or fail.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT
from support import CHROMIUM, free_port, wait_for_http

from jupyter_bridge.tokens import generate_secret_key, read_token

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY = ROOT / "deploy"
GUIDE = ROOT / "docs" / "deploy.md"
SLIDERS = EXAMPLES / "sliders.py"
CLI = [sys.executable, "-m", "jupyter_bridge.cli"]
#: How long a process may take to answer, or a page to show its widgets (2 slow cores).
STARTUP_S = 60
PAGE_MS = 30_000

needs_nginx = pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed")
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")

#: The servers' flags, as docs/deploy.md shows them (the test replaces port and origin).
PREFIX_FLAGS = "--address 127.0.0.1 --port 5006 --prefix /apps --use-xheaders --allow-websocket-origin example.com"
TLS_FLAGS = "--address 127.0.0.1 --port 5006 --prefix /apps --use-xheaders --allow-websocket-origin example.com:443"
BALANCED_FLAGS = (
    "--address 127.0.0.1 --port 5006 --prefix /apps --use-xheaders --allow-websocket-origin example.com "
    "--session-ids signed"
)


# Helpers shared with test_apache.py and test_supervisor.py




def render(template: Path, replacements: dict[str, str]) -> str:
    """The file's text with each key replaced; every key must occur, so the file cannot drift."""
    text = template.read_text()
    for old, new in replacements.items():
        assert old in text, f"{template.relative_to(ROOT)} no longer contains {old!r}; update the test"
        text = text.replace(old, new)
    return text


class Processes:
    """Processes a test starts; :meth:`stop_all` ends each one (and its children) by its id."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, args: list[str], output: Path | None = None, **kwargs) -> subprocess.Popen:
        """Start ``args`` in a session of its own, its stdout and stderr going to ``output``."""
        with open(output or os.devnull, "wb") as sink:
            process = subprocess.Popen(
                args, start_new_session=True, stdout=sink, stderr=subprocess.STDOUT, **kwargs
            )
        process.output = output  # type: ignore[attr-defined]
        self.started.append(process)
        return process

    @staticmethod
    def stop(process: subprocess.Popen, timeout: float = 30) -> None:
        """SIGTERM the process group this test started, then SIGKILL what is left of it."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # workers outlive a master that was killed: end the group
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        for process in reversed(self.started):
            self.stop(process)


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        started.stop_all()




#: The key the servers sign and encrypt page tokens with, unless a test gives its own:
#: so a test can read what a page's token carries (which a page cannot).
TEST_KEY = generate_secret_key()


def start_server(processes: Processes, tmp_path: Path, flags: str, port: int, origin: str,
                 env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """`jupyter-bridge serve sliders.py <flags>` with the guide's port and origin replaced."""
    flags = flags.replace("--port 5006", f"--port {port}")
    flags = re.sub(r"--allow-websocket-origin \S+", f"--allow-websocket-origin {origin}", flags)
    log_file = tmp_path / f"server-{port}.log"
    process = processes.start(
        [*CLI, "serve", str(SLIDERS), *flags.split(), *extra, "--log-file", str(log_file)],
        output=tmp_path / f"server-{port}.out",
        env={**os.environ, "JUPYTER_BRIDGE_SECRET_KEY": TEST_KEY, **(env or {})},
    )
    process.log_file = log_file  # type: ignore[attr-defined]
    wait_for_http(f"http://127.0.0.1:{port}/apps/healthz", process)
    return process


def wait_for_log(path: Path, text: str, timeout: float = 30) -> str:
    """The log's text once it holds ``text`` (a request is logged just after its answer)."""
    deadline = time.monotonic() + timeout
    while text not in (log := path.read_text()):
        assert time.monotonic() < deadline, f"{path.name} never logged {text!r}"
        time.sleep(0.1)
    return log


def link_static_dir(srv: Path) -> None:
    """The guide's step: /srv/jupyter-bridge/static links to `jupyter-bridge static-dir`."""
    srv.mkdir(exist_ok=True)
    result = subprocess.run([*CLI, "static-dir"], capture_output=True, text=True, timeout=60, check=True)
    (srv / "static").symlink_to(result.stdout.strip())


def start_nginx(processes: Processes, tmp_path: Path, site: str) -> subprocess.Popen:
    """nginx in the foreground with ``site`` in its http block; pid, logs and temp files in tmp_path."""
    run = tmp_path / "nginx"
    run.mkdir()
    (run / "site.conf").write_text(site)
    mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    # Started as root, nginx's workers would drop to `nobody`, which cannot enter tmp_path.
    user = "user root;" if os.geteuid() == 0 else ""
    (run / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
pid nginx.pid;
error_log error.log info;
events {{ worker_connections 1024; }}
http {{
    {mime}
    default_type application/octet-stream;
    access_log access.log;
    client_body_temp_path client_body;
    proxy_temp_path proxy;
    fastcgi_temp_path fastcgi;
    uwsgi_temp_path uwsgi;
    scgi_temp_path scgi;
    include site.conf;
}}
""")
    test = subprocess.run([NGINX, "-t", "-p", str(run), "-c", "nginx.conf"], capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    process = processes.start([NGINX, "-p", str(run), "-c", "nginx.conf", "-g", "daemon off;"], output=run / "out")
    process.error_log = run / "error.log"  # type: ignore[attr-defined]
    return process


def run_async(coroutine) -> object:
    """Run a coroutine to its end in a thread of its own (Playwright owns this thread's loop)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as executor:
        return executor.submit(asyncio.run, coroutine).result()


def page_token(url: str, source: str = "127.0.0.1", context: ssl.SSLContext | None = None,
               headers: dict[str, str] | None = None) -> dict:
    """Load the app page from the ``source`` loopback address; the request its token carries."""
    import http.client

    parts = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    kwargs = {"context": context} if context is not None else {}
    connection = cls(parts.hostname, parts.port, timeout=30, source_address=(source, 0), **kwargs)
    try:
        connection.request("GET", parts.path, headers=headers or {})
        response = connection.getresponse()
        html = response.read().decode()
    finally:
        connection.close()
    assert response.status == 200, html[:500]
    config = json.loads(re.search(r'id="jupyter-bridge-config">(.*?)</script>', html, re.S).group(1))
    _, request = read_token(config["token"], secret_key=TEST_KEY.encode())
    return dataclasses.asdict(request)


def quiet_socket_survives(public: str) -> bool:
    """Open a sliders session through the proxy at ``public``, stay quiet 5 s: still open?"""
    import asyncio

    from tornado.websocket import WebSocketClosedError
    from wsclient import Client

    async def main() -> bool:
        client = Client(f"http://{public}/apps", "sliders")
        await client.load_page()
        await client.connect(origin=f"http://{public}")
        await client.wait_for(lambda: client.doc is not None, timeout=30)
        await asyncio.sleep(5)  # the sliders app sends nothing meanwhile
        try:
            survived = (await client.request({"type": "ping"}))["type"] == "pong"
        except WebSocketClosedError:
            survived = False
        await client.close()
        return survived

    return bool(run_async(main()))


def new_page(browser, **context_options):
    page = browser.new_context(**context_options).new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


def open_sliders(page, url: str) -> None:
    page.goto(url, timeout=PAGE_MS)
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=PAGE_MS)
    assert page.title() == "Sliders"


def slide_and_check(page, steps: int, start: int = 0) -> None:
    """Move the slider ``steps`` to the right; Python's label must follow."""
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    for _ in range(steps):
        handle.press("ArrowRight")
    expected = f"value*2 = {(start + steps) * 2}"
    page.wait_for_function(
        f"() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === {expected!r})",
        timeout=PAGE_MS,
    )


def connection_state(page) -> str:
    return page.evaluate("document.documentElement.dataset.jbState")


# The tests


def test_guide_shows_the_tested_commands():
    guide = GUIDE.read_text()
    for flags in (PREFIX_FLAGS, TLS_FLAGS, BALANCED_FLAGS):
        assert f"jupyter-bridge serve /srv/jupyter-bridge/sliders.py {flags}" in " ".join(
            guide.replace("\\\n", " ").split()
        ), flags
    for name in ("prefix.conf", "tls.conf", "load-balancing.conf"):
        assert f"deploy/nginx/{name}" in guide


def test_guide_excerpts_are_lines_of_the_deploy_files():
    """The configuration the guide shows is the configuration the tests run."""
    lines = {line.strip() for path in DEPLOY.rglob("*") if path.is_file() for line in path.read_text().splitlines()}
    blocks = re.findall(r"```(?:nginx|apache|ini|systemd)\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(blocks) >= 6
    for block in blocks:
        for line in filter(None, map(str.strip, block.splitlines())):
            assert line in lines, f"docs/deploy.md shows {line!r}, which no file in deploy/ has"


@needs_nginx
@needs_chromium
def test_prefix_proxy_serves_pages_sockets_and_static_files(processes, tmp_path, browser):
    nginx_port, server_port = free_port(), free_port()
    public = f"127.0.0.1:{nginx_port}"
    server = start_server(processes, tmp_path, PREFIX_FLAGS, server_port, public, extra=("--log-level", "debug"))
    link_static_dir(tmp_path / "srv")
    site = render(DEPLOY / "nginx" / "prefix.conf", {
        "listen 80;": f"listen {public};",
        "127.0.0.1:5006": f"127.0.0.1:{server_port}",
        "/srv/jupyter-bridge/": f"{tmp_path}/srv/",
    })
    nginx = start_nginx(processes, tmp_path, site)
    base = f"http://{public}"
    wait_for_http(base + "/apps/healthz", nginx)

    page = new_page(browser)
    # /apps redirects to /apps/, which redirects to the only app.
    open_sliders(page, base + "/apps")
    assert page.url == base + "/apps/sliders"
    slide_and_check(page, 3)
    assert page.errors == []  # type: ignore[attr-defined]

    # The page client's files come from disk, cached a year, without reaching the server.
    client_js = page.evaluate("[...document.scripts].map(s => s.src).find(s => s.includes('/static/client-'))")
    assert client_js.startswith(base + "/apps/static/client-")
    response = urllib.request.urlopen(client_js, timeout=30)
    assert "max-age=31536000" in response.headers["Cache-Control"]
    requests = server.log_file.read_text()  # type: ignore[attr-defined]
    assert "GET /apps/sliders" in requests and "GET /apps/static/client-" not in requests
    # Widget libraries' files are not in that folder: nginx must pass them on.
    response = urllib.request.urlopen(base + "/apps/static/nbextensions/bqplot/index.js", timeout=30)
    assert response.status == 200
    wait_for_log(server.log_file, "GET /apps/static/nbextensions/bqplot/index.js")  # type: ignore[attr-defined]

    # --use-xheaders: the app sees the browser's address, not nginx's.
    token = page_token(base + "/apps/sliders", source="127.0.0.5")
    assert token["remote_ip"] == "127.0.0.5"
    assert token["headers"]["X-Forwarded-Proto"] == "http"
    page.context.close()


#: What a client writes to pass for this machine over https, behind a proxy that passed it on.
FORGED = {"X-Real-Ip": "127.0.0.1", "X-Forwarded-For": "127.0.0.1", "X-Scheme": "https", "X-Forwarded-Proto": "https"}


def admin_status(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@needs_nginx
def test_a_client_cannot_name_its_own_address_or_scheme_through_the_proxy(processes, tmp_path):
    nginx_port, server_port = free_port(), free_port()
    public = f"127.0.0.1:{nginx_port}"
    start_server(processes, tmp_path, PREFIX_FLAGS, server_port, public, extra=("--admin",))
    site = render(DEPLOY / "nginx" / "prefix.conf", {
        "listen 80;": f"listen {public};",
        "server 127.0.0.1:5006;": f"server 127.0.0.1:{server_port};",
    })
    nginx = start_nginx(processes, tmp_path, site)
    wait_for_http(f"http://{public}/apps/healthz", nginx)
    token = page_token(f"http://{public}/apps/sliders", source="127.0.0.5", headers=FORGED)
    assert token["remote_ip"] == "127.0.0.5" and token["protocol"] == "http"
    # /admin is for this machine's browsers connecting directly: never through the proxy.
    assert admin_status(f"http://{public}/apps/admin", FORGED) == 403
    assert admin_status(f"http://127.0.0.1:{server_port}/apps/admin", {}) == 200


@needs_nginx
def test_websocket_origin_not_named_is_refused_through_the_proxy(processes, tmp_path):
    """A page on another origin cannot open a session socket; the refusal names the flag to allow it."""
    from tornado.httpclient import HTTPClientError
    from wsclient import Client

    nginx_port, server_port = free_port(), free_port()
    public = f"127.0.0.1:{nginx_port}"
    server = start_server(processes, tmp_path, PREFIX_FLAGS, server_port, public)
    site = render(DEPLOY / "nginx" / "prefix.conf", {
        "listen 80;": f"listen {public};", "127.0.0.1:5006": f"127.0.0.1:{server_port}",
    })
    nginx = start_nginx(processes, tmp_path, site)
    wait_for_http(f"http://{public}/apps/healthz", nginx)

    async def connect(origin: str) -> None:
        client = Client(f"http://{public}/apps", "sliders")
        await client.load_page()
        await client.connect(origin=origin)
        await client.wait_for(lambda: client.doc is not None, timeout=30)
        await client.close()

    run_async(connect(f"http://{public}"))
    with pytest.raises(HTTPClientError, match="403"):
        run_async(connect("http://elsewhere.example:8080"))
    wait_for_log(server.log_file, "--allow-websocket-origin=elsewhere.example:8080")  # type: ignore[attr-defined]


@needs_nginx
@pytest.mark.parametrize("keep_alive, kept", [(500, True), (0, False)])
def test_keep_alive_must_come_before_the_proxy_read_timeout(processes, tmp_path, keep_alive, kept):
    """nginx cuts a socket quieter than proxy_read_timeout; the server's pings keep it busy."""
    nginx_port, server_port = free_port(), free_port()
    public = f"127.0.0.1:{nginx_port}"
    start_server(processes, tmp_path, PREFIX_FLAGS, server_port, public, extra=("--keep-alive", str(keep_alive)))
    site = render(DEPLOY / "nginx" / "prefix.conf", {
        "listen 80;": f"listen {public};",
        "127.0.0.1:5006": f"127.0.0.1:{server_port}",
        "proxy_read_timeout 120s;": "proxy_read_timeout 2s;",
    })
    nginx = start_nginx(processes, tmp_path, site)
    wait_for_http(f"http://{public}/apps/healthz", nginx)

    assert quiet_socket_survives(public) is kept
    if not kept:
        wait_for_log(nginx.error_log, "upstream timed out")  # type: ignore[attr-defined]


@needs_nginx
@needs_chromium
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_tls_page_and_wss_socket(processes, tmp_path, browser):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    https_port, http_port, server_port = free_port(), free_port(), free_port()
    public = f"127.0.0.1:{https_port}"
    start_server(processes, tmp_path, TLS_FLAGS, server_port, public)
    link_static_dir(tmp_path / "srv")
    site = render(DEPLOY / "nginx" / "tls.conf", {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen {public} ssl;",
        "/etc/ssl/certs/example.com.pem": str(cert),
        "/etc/ssl/private/example.com.key": str(key),
        "127.0.0.1:5006": f"127.0.0.1:{server_port}",
        "/srv/jupyter-bridge/": f"{tmp_path}/srv/",
    })
    nginx = start_nginx(processes, tmp_path, site)
    trusted = ssl.create_default_context(cafile=str(cert))
    wait_for_http(f"https://{public}/apps/healthz", nginx, context=trusted)

    # Plain HTTP is sent to https.
    connection = socket.create_connection(("127.0.0.1", http_port), timeout=30)
    connection.sendall(b"GET /apps/sliders HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    answer = connection.recv(4096).decode()
    connection.close()
    assert answer.startswith("HTTP/1.1 301") and "Location: https://127.0.0.1/apps/sliders" in answer

    page = new_page(browser, ignore_https_errors=True)
    open_sliders(page, f"https://{public}/apps/sliders")
    assert page.evaluate("window.jupyterBridge.connection.socket.url").startswith(f"wss://{public}/apps/sliders/ws")
    slide_and_check(page, 4)
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()
    token = page_token(f"https://{public}/apps/sliders", source="127.0.0.5", context=trusted)
    assert token["remote_ip"] == "127.0.0.5" and token["headers"]["X-Forwarded-Proto"] == "https"


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/apps/healthz", timeout=30) as response:
        return json.load(response)


@needs_nginx
@needs_chromium
def test_load_balancing_over_three_servers_without_sticky_sessions(processes, tmp_path, browser):
    from jupyter_bridge.tokens import generate_secret_key

    nginx_port = free_port()
    public = f"127.0.0.1:{nginx_port}"
    env = {"JUPYTER_BRIDGE_SECRET_KEY": generate_secret_key()}
    ports = [free_port() for _ in range(3)]
    servers = {
        port: start_server(processes, tmp_path, BALANCED_FLAGS, port, public, env=env) for port in ports
    }
    link_static_dir(tmp_path / "srv")
    site = render(DEPLOY / "nginx" / "load-balancing.conf", {
        "listen 80;": f"listen {public};",
        **{f"127.0.0.1:{5006 + i}": f"127.0.0.1:{port}" for i, port in enumerate(ports)},
        "/srv/jupyter-bridge/": f"{tmp_path}/srv/",
    })
    nginx = start_nginx(processes, tmp_path, site)
    base = f"http://{public}/apps/sliders"
    wait_for_http(base, nginx)

    started = time.monotonic()
    pages = []
    for number in range(20):
        page = new_page(browser)
        open_sliders(page, base)
        slide_and_check(page, number % 5 + 1)
        pages.append(page)
    opened_s = time.monotonic() - started

    # Every page's socket is attached somewhere, and every server holds some of them.
    connections = {port: health(port)["connections"] for port in ports}
    assert sum(connections.values()) == 20 and all(connections.values()), connections
    # No sticky sessions: a socket that reached another server than its page made
    # that server recreate the session from the page's token.
    created = Counter(
        session for server in servers.values()
        for session in set(re.findall(r"Session (\S+) created", server.log_file.read_text()))  # type: ignore[attr-defined]
    )
    recreated = sum(1 for count in created.values() if count > 1)
    assert recreated > 0

    # One server dies. Its pages lose their sessions: the state lived in that process.
    # They reconnect to another server, which builds each again from its page's token,
    # and say so (tests/test_scaleout.py looks closer).
    dead = max(ports, key=connections.get)
    os.kill(servers[dead].pid, signal.SIGKILL)
    servers[dead].wait(timeout=30)
    deadline = time.monotonic() + 60
    while True:
        noticed = [page.locator(".jb-status").get_attribute("data-notice") == "1" for page in pages]
        states = [connection_state(page) for page in pages]
        if noticed.count(True) == connections[dead] and states.count("connected") == 20:
            break
        assert time.monotonic() < deadline, (states, noticed, connections)
        time.sleep(0.5)
    orphans = [page for page, fresh in zip(pages, noticed) if fresh]
    assert all(page.locator(".jb-status").inner_text().startswith("Reconnected") for page in orphans)

    # Pages on the other servers go on; an orphan's fresh session took back its
    # user's slider (the page replays its changes), and Python's label follows it.
    for number, page in enumerate(pages):
        if page in orphans:
            kept = f"value*2 = {(number % 5 + 1) * 2}"
            page.wait_for_function(
                f"() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === {kept!r})",
                timeout=PAGE_MS,
            )
            assert page.locator(".widget-label").last.inner_text() == kept
        slide_and_check(page, 1, start=number % 5 + 1)
    # New sessions keep coming, on the two live servers only.
    for _ in range(5):
        page = new_page(browser)
        open_sliders(page, base)
        slide_and_check(page, 1)
        pages.append(page)
    live = [port for port in ports if port != dead]
    assert sum(health(port)["connections"] for port in live) == 25
    assert "Connection refused" in nginx.error_log.read_text()  # type: ignore[attr-defined]
    assert all(page.errors == [] for page in pages)  # type: ignore[attr-defined]
    for page in pages:
        page.context.close()
    print(f"20 sessions through nginx in {opened_s:.1f} s; {connections[dead]} lost with server {dead}; "
          f"{recreated} recreated from their token on another server")
