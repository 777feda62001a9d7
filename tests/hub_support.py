"""What the JupyterHub tests share: a real hub run from a config file, its API, its users' servers.

``running_hub`` starts ``jupyterhub`` (with configurable-http-proxy) in a folder
of its own, waits until its API answers through the proxy, and on leaving stops
it, the servers it spawned, its services and its proxy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT
from support import HAVE_CHROMIUM, free_port, wait_for_http

PROXY = shutil.which("configurable-http-proxy")
STARTUP_TIMEOUT = 180.0  # seconds: the hub, its proxy, then a single-user server import a lot
UI_TIMEOUT = 60_000  # ms

#: The marks of a module that needs a hub and Chromium: skipped, saying why, when one is missing.
NEEDS_HUB = [
    pytest.mark.skipif(
        importlib.util.find_spec("jupyterhub") is None,
        reason="jupyterhub is not installed (pip install 'jupyterhub>=5'; tests/run.sh does)",
    ),
    pytest.mark.skipif(
        PROXY is None,
        reason="configurable-http-proxy is not installed (npm install -g configurable-http-proxy; tests/run.sh does)",
    ),
    pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is not installed"),
]


#: The start of every test hub's jupyterhub_config.py: loopback ports, its files in
#: ``home``, the dummy authenticator and the local process spawner (format it with
#: :func:`hub_config`; the tests add their users, roles and services after it).
CONFIG_HEAD = """\
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = {home!r} + "/proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + {home!r} + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = {home!r} + "/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {home!r} + "/homes/{{username}}"
"""


def hub_config(home: Path, port: int, rest: str, **values: object) -> str:
    """A hub's config: :data:`CONFIG_HEAD` on free ports for ``home`` and ``port``, then ``rest`` formatted with ``values``."""
    head = CONFIG_HEAD.format(port=port, hub_port=free_port(), proxy_api_port=free_port(), home=str(home))
    return head + "\n" + rest.format(home=str(home), port=port, **values)


@dataclass
class Hub:
    url: str
    home: Path
    token: str
    log: Path

    def api(self, method: str, path: str, body: object = None, token: str | None = None) -> tuple[int, object]:
        request = urllib.request.Request(
            self.url + "/hub/api/" + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {token or self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def root_of(self, name: str) -> Path:
        return self.home / "homes" / name

    def start_server(self, name: str) -> None:
        """Make the user if need be (the dummy authenticator makes users on first login only), start their server."""
        code, answer = self.api("POST", f"users/{name}")
        assert code in (201, 409), answer
        code, answer = self.api("POST", f"users/{name}/server")
        assert code in (201, 202), answer
        wait_for_server(self, name)


def wait_for_api(hub: Hub, process: subprocess.Popen) -> None:
    """Until the hub answers its API through the proxy (the proxy answers 404 until its route is added)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while hub.api("GET", "")[0] != 200:
        assert process.poll() is None, f"the hub exited:\n{hub.log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"the hub's API did not answer:\n{hub.log.read_text()[-3000:]}"
        time.sleep(0.2)


def wait_for_server(hub: Hub, name: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        code, user = hub.api("GET", f"users/{name}")
        assert code == 200, user
        server = user["servers"].get("")  # type: ignore[index]
        if server and server.get("ready"):
            return
        assert time.monotonic() < deadline, f"{name}'s server did not start:\n{hub.log.read_text()[-3000:]}"
        time.sleep(0.2)


def stop_proxy(pid_file: Path) -> None:
    try:
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
    except (OSError, ValueError):
        pass  # no pid file, or the proxy is gone already


@contextmanager
def running_hub(home: Path, config: str, url: str, token: str) -> Iterator[Hub]:
    """JupyterHub run with ``config`` (its jupyterhub_config.py) in ``home``, answering at ``url``.

    ``token`` is the API token of a service the config gives the scopes the test needs.
    """
    (home / "jupyterhub_config.py").write_text(config)
    log = home / "hub.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["jupyterhub", "-f", str(home / "jupyterhub_config.py")],
            cwd=home, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    process.output = log  # type: ignore[attr-defined]  # wait_for_http shows it if the hub dies
    hub = Hub(url, home, token, log)
    try:
        wait_for_http(hub.url + "/hub/health", process, timeout=STARTUP_TIMEOUT)
        wait_for_api(hub, process)
        yield hub
    finally:
        # The hub stops the servers it spawned, its services and its proxy on SIGTERM.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # A hub that died (e.g. its service would not start) leaves its proxy running.
        stop_proxy(home / "proxy.pid")
