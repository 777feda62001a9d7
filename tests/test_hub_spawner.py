"""docs/hub.md, "Where each user's server runs": the spawner's settings reach the bridge.

A real JupyterHub (dummy authenticator, the simple local-process spawner,
configurable-http-proxy) whose admin sets the bridge's keep-alive for every
user's server in ``c.Spawner.args``, as they would for KubeSpawner or
DockerSpawner; a ``pre_spawn_hook`` turns it off for bob. In front of the hub,
an nginx "ingress" that cuts a socket quiet for 2 s, as ingresses and cloud
load balancers cut idle connections (after 60 s, most of them). Through both
proxies, the session socket of alice's app, quiet for longer than that, stays
open because her server pings it; bob's, without pings, is cut.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from hub_support import NEEDS_HUB, Hub, hub_config, running_hub
from support import free_port, wait_for_http
from test_nginx import (
    needs_nginx,
    processes,  # noqa: F401 (a fixture)
    run_async,
    start_nginx,
    wait_for_log,
)

pytestmark = [*NEEDS_HUB, needs_nginx]

#: The bridge's keep-alive the admin gives every user's server (ms), and the ingress's idle timeout.
KEEP_ALIVE_MS = 500
INGRESS_IDLE_S = 2
QUIET_S = 5

# An app that sends nothing by itself: only pings can keep its socket busy.
QUIET_APP = """\
import ipywidgets as w
from jupyter_bridge import curdoc

slider = w.IntSlider(description="N", min=0, max=100)
label = w.Label("value*2 = 0")
slider.observe(lambda ch: setattr(label, "value", f"value*2 = {ch['new'] * 2}"), "value")
curdoc().title = "Quiet"
curdoc().add_root(w.VBox([slider, label]))
"""

#: After hub_support.CONFIG_HEAD: two users, the spawner's bridge settings, the tests' service.
HUB_CONFIG = """\

c.Authenticator.allowed_users = {{"alice", "bob"}}

# What an admin sets for every user's server, whichever spawner starts it: the
# bridge pings each session socket more often than the ingress's idle timeout.
c.Spawner.args = ["--BridgeExtension.keep_alive={keep_alive}", *{more_args!r}]


def no_pings_for_bob(spawner):
    # A per-user setting, as a hook or a profile would give it: bob's server never pings.
    if spawner.user.name == "bob":
        spawner.args = [*spawner.args, "--BridgeExtension.keep_alive=0"]


c.Spawner.pre_spawn_hook = no_pings_for_bob
# The hub reads the proxy's activity figures every second, not every 5 minutes.
c.JupyterHub.last_activity_interval = 1

c.JupyterHub.load_roles = [
    {{"name": "tests", "services": ["tests"], "scopes": ["admin:users", "admin:servers", "tokens"]}},
]
c.JupyterHub.services = [{{"name": "tests", "api_token": {token!r}}}]
"""

#: The ingress in front of the hub: it passes WebSockets and cuts any quiet for INGRESS_IDLE_S.
INGRESS = """\
server {{
    listen {public};
    location / {{
        proxy_pass http://127.0.0.1:{hub_port};
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_read_timeout {idle}s;
    }}
}}
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    home = tmp_path_factory.mktemp("hub")
    for name in ("alice", "bob"):
        (home / "homes" / name).mkdir(parents=True)
        (home / "homes" / name / "quiet.py").write_text(QUIET_APP)
    port = free_port()
    token = secrets.token_hex(32)
    config = hub_config(
        home, port, HUB_CONFIG, token=token,
        keep_alive=KEEP_ALIVE_MS, more_args=["--allow-root"] if os.getuid() == 0 else [],
    )  # fmt: skip
    with running_hub(home, config, f"http://127.0.0.1:{port}", token) as the_hub:
        yield the_hub


def user_token(hub: Hub, name: str) -> str:
    """An API token of ``name``'s, as a program of theirs (or a JupyterHub API client) would hold."""
    code, answer = hub.api("POST", f"users/{name}/tokens", {"note": "test_hub_spawner"})
    assert code == 201, answer
    return answer["token"]  # type: ignore[index]


async def quiet_session(public: str, name: str, token: str, hub: Hub) -> dict:
    """Open ``name``'s quiet app through the ingress, stay quiet QUIET_S, then use it: what happened.

    Before it is used, the hub's record of the server's last activity is read:
    what the hub (and an idle culler) learnt of the quiet time.
    """
    from tornado.websocket import WebSocketClosedError
    from wsclient import Client

    client = Client(f"http://{public}/user/{name}/bridge/apps", "quiet.py", headers={"Authorization": f"token {token}"})
    await client.load_page()
    await client.connect(origin=f"http://{public}")
    await client.wait_for(lambda: client.doc is not None, timeout=60)
    pings: list[bytes] = []
    client.ws.on_ping = pings.append  # type: ignore[union-attr,method-assign]  # tornado answers them itself
    quiet_from = datetime.now(UTC)
    await asyncio.sleep(QUIET_S)  # nothing but pings, if any, for longer than the ingress allows
    seen = {
        "config": client.config, "pings": len(pings), "socket_url": client.ws.request.url,  # type: ignore[union-attr]
        "quiet_from": quiet_from,
        "activity": await asyncio.get_running_loop().run_in_executor(
            None, hub_saw_activity, hub, name, quiet_from + timedelta(seconds=QUIET_S / 2)
        ),
    }  # fmt: skip
    try:
        answer = await client.set_state("IntSliderModel", value=21)
        seen["answer"] = answer["type"] == "idle" and client.model("LabelModel")["value"]
    except WebSocketClosedError:
        seen["answer"] = None
    await client.close()
    return seen


def hub_saw_activity(hub: Hub, name: str, after: datetime, timeout: float = 30) -> bool:
    """Whether the hub's record of ``name``'s server shows activity later than ``after``.

    The hub reads the proxy's figures every second (last_activity_interval): a
    server active since then shows it within a few seconds; one that stays
    idle is read for a few seconds more, then reported idle.
    """
    deadline = time.monotonic() + timeout
    readings = 0
    while True:
        code, user = hub.api("GET", f"users/{name}")
        assert code == 200, user
        last = datetime.fromisoformat(user["servers"][""]["last_activity"].replace("Z", "+00:00"))  # type: ignore[index]
        if last > after:
            return True
        readings += 1
        if readings >= 6 or time.monotonic() > deadline:
            return False
        time.sleep(0.5)


@pytest.mark.parametrize("name, pinged", [("alice", True), ("bob", False)])
def test_the_spawners_keep_alive_keeps_a_quiet_socket_open_through_the_proxies(hub, processes, tmp_path, name, pinged):  # noqa: F811
    public = f"127.0.0.1:{free_port()}"
    hub_port = hub.url.rsplit(":", 1)[1]
    ingress = start_nginx(processes, tmp_path, INGRESS.format(public=public, hub_port=hub_port, idle=INGRESS_IDLE_S))
    wait_for_http(f"http://{public}/hub/health", ingress)
    hub.start_server(name)

    seen = run_async(quiet_session(public, name, user_token(hub, name), hub))

    # Every address of the app is under the user's prefix, which the spawner gave
    # the server (JUPYTERHUB_SERVICE_PREFIX, its base URL).
    assert seen["config"]["wsUrl"].startswith(f"/user/{name}/bridge/apps/quiet.py/"), seen["config"]
    assert seen["config"]["modulesUrl"].startswith(f"/user/{name}/bridge/"), seen["config"]
    socket = urlsplit(seen["socket_url"])
    assert socket.netloc == public and socket.path == f"/user/{name}/bridge/apps/quiet.py/ws", socket
    print(f"{name}'s server: {seen['pings']} pings in {QUIET_S} s of quiet, through nginx and the hub's proxy")
    if pinged:
        # About one ping per KEEP_ALIVE_MS reached the client through nginx and the hub's proxy.
        assert seen["pings"] >= QUIET_S * 1000 // KEEP_ALIVE_MS // 2, seen
        assert seen["answer"] == "value*2 = 42", seen
        # The pings and their answers pass the hub's proxy, which counts that as the
        # server's activity: the hub (and an idle culler) sees it in use while quiet.
        assert seen["activity"], seen
    else:
        assert seen["pings"] == 0 and seen["answer"] is None, seen
        # Nothing passed the proxy: the hub saw the server idle since the page opened.
        assert not seen["activity"], seen
        wait_for_log(ingress.error_log, "upstream timed out")  # type: ignore[attr-defined]
