"""Many active users on one server process: jupyter_bridge, Bokeh, Panel, Solara and Voila.

The same small app on each (a slider 0..100 and a text that Python sets to
value*2 when the slider moves): ``examples/sliders.py``, ``apps/bokeh_sliders.py``,
``apps/panel_sliders.py``, ``apps/solara_sliders.py``, ``apps/voila_sliders.ipynb``.
For each framework and each N, a fresh server process; N simulated users open a
page each (page GET and WebSocket, ``--parallel`` opening at a time) and then,
for ``--seconds``, every user moves its slider once a second and waits for the
text's update (if an answer takes longer than a second, the next move follows
it at once). Printed per framework and N: the round trip's p50/p99, the moves
answered, errors (a page that did not open, a move not answered within
``--timeout`` seconds, a closed socket) and the server's RSS with the N users on
(Voila: the server and its kernels, one per user).

The clients speak each wire protocol directly over Tornado WebSockets (no
browser), from one asyncio loop in this process, which shares the machine's
cores with the server: at high N the client's own work shows in the figures.
Voila starts a kernel per user, so it runs only at N up to ``--voila-max``.

    python bench/load.py [--users 10,100,1000] [--seconds 30] [--frameworks jupyter_bridge,bokeh,panel,solara,voila]

Bokeh, Panel, Solara and Voila are not jupyter_bridge dependencies; a framework
whose package is missing is skipped with a note (``pip install bokeh panel
solara voila`` to compare all five).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sessions import (  # noqa: E402
    BokehSession,
    OursSession,
    Server,
    decode_ours,
    free_port,
    get_page,
    pct,
    python_module,
    rss_mb,
    start_server,
)

FRAMEWORKS = ("jupyter_bridge", "bokeh", "panel", "solara", "voila")
PACKAGES = {"jupyter_bridge": "jupyter_bridge", "bokeh": "bokeh", "panel": "panel", "solara": "solara", "voila": "voila"}
LIFETIME = ["--unused-session-lifetime", "1000", "--check-unused-sessions", "250"]


def start(name: str, logdir: Path) -> Server:
    """A fresh server process of ``name`` serving its sliders app on a free loopback port."""
    port = free_port()
    address = ["--address", "127.0.0.1", "--port", str(port)]
    if name == "jupyter_bridge":
        args = [*python_module("jupyter_bridge.cli", False), "serve", "examples/sliders.py", *address, *LIFETIME]
        return start_server(name, args, "/sliders", port, logdir)
    if name == "bokeh":
        args = [*python_module("bokeh", False), "serve", "bench/apps/bokeh_sliders.py", *address, *LIFETIME]
        return start_server(name, args, "/bokeh_sliders", port, logdir)
    if name == "panel":
        args = [*python_module("panel", False), "serve", "bench/apps/panel_sliders.py", *address, *LIFETIME]
        return start_server(name, args, "/panel_sliders", port, logdir)
    if name == "solara":
        args = [sys.executable, "-m", "solara", "run", "bench/apps/solara_sliders.py",
                "--host", "127.0.0.1", "--port", str(port), "--production", "--no-open"]  # fmt: skip
        return start_server(name, args, "/", port, logdir)
    if name == "voila":
        # Its templates extend nbconvert's, which a venv made --system-site-packages finds
        # only under the base prefix.
        shares = [os.path.join(prefix, "share", "jupyter") for prefix in (sys.prefix, sys.base_prefix)]
        os.environ["JUPYTER_PATH"] = os.pathsep.join([*shares, os.environ.get("JUPYTER_PATH", "")])
        args = [sys.executable, "-m", "voila", "bench/apps/voila_sliders.ipynb", "--no-browser",
                f"--port={port}", "--Voila.ip=127.0.0.1"]  # fmt: skip
        return start_server(name, args, "/", port, logdir)
    raise ValueError(name)


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants (Voila's kernels), in MB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += rss_mb(current)
        except (OSError, RuntimeError):
            continue
        todo.extend(children.get(current, []))
    return total


class PanelSession(BokehSession):
    """Panel speaks Bokeh's protocol: its IntSlider is a Bokeh Slider, its StaticText a Div."""


class KernelProtocolSession:
    """Jupyter's kernel messages over a WebSocket, as Solara's and Voila's pages speak them."""

    slider_model = "IntSliderModel"
    label_model = "LabelModel"

    def __init__(self, server: Server) -> None:
        self.server = server
        self.ws: WebSocketClientConnection | None = None
        self.session = uuid.uuid4().hex
        self.models: dict[str, str] = {}  # comm id -> model name
        self.value = 0

    def message(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> dict[str, Any]:
        return {
            "header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": self.session,
                       "username": "", "date": "", "version": "5.3"},  # fmt: skip
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": channel,
            "buffers": [],
        }

    def send(self, msg_type: str, content: dict[str, Any]) -> str:
        message = self.message(msg_type, content)
        self.ws.write_message(json.dumps(message))
        return message["header"]["msg_id"]

    async def read_until(self, done: Any) -> dict[str, Any]:
        while True:
            frame = await self.ws.read_message()
            if frame is None:
                raise ConnectionError(f"socket closed ({self.ws.close_code})")
            message = decode_ours(frame) if isinstance(frame, bytes) else json.loads(frame)
            if message.get("msg_type", message["header"]["msg_type"]) == "comm_open":
                state = message["content"]["data"].get("state", {})
                self.models[message["content"]["comm_id"]] = state.get("_model_name")
            if done(message):
                return message

    async def connect(self, url: str, cookie: str) -> WebSocketClientConnection:
        """A socket from the server's own origin (Jupyter's and Solara's check it) with the page's cookie."""
        headers = {"Origin": self.server.base, "Cookie": cookie}
        request = HTTPRequest(url, headers=headers, connect_timeout=120, request_timeout=120)
        ws = await websocket_connect(request)
        ws.protocol.stream.set_nodelay(True)
        return ws

    def comm(self, model_name: str) -> str:
        return next(cid for cid, name in self.models.items() if name == model_name)

    async def move(self) -> float:
        """Set the slider; seconds until the label's update arrives."""
        self.value = self.value % 100 + 1
        data = {"method": "update", "state": {"value": self.value}, "buffer_paths": []}
        began = time.perf_counter()
        msg_id = self.send("comm_msg", {"comm_id": self.slider, "data": data})

        def label_updated(message: dict[str, Any]) -> bool:
            content = message["content"]
            return (
                message["header"]["msg_type"] == "comm_msg"
                and content.get("comm_id") == self.label
                and "value" in content.get("data", {}).get("state", {})
            )

        await self.read_until(label_updated)
        elapsed = time.perf_counter() - began
        await self.read_until(
            lambda m: m["header"]["msg_type"] == "status"
            and m["parent_header"].get("msg_id") == msg_id
            and m["content"].get("execution_state") == "idle"
        )
        return elapsed

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close(1000)


class SolaraSession(KernelProtocolSession):
    """A Solara page: a virtual kernel per connection; the ``solara.control`` comm runs the app."""

    async def open(self) -> None:
        await get_page(self.server.base + "/")
        kernel_id, page_id = str(uuid.uuid4()), str(uuid.uuid4())
        url = (f"{self.server.base.replace('http', 'ws', 1)}/jupyter/api/kernels/{kernel_id}/channels"
               f"?session_id={page_id}")  # fmt: skip
        self.ws = await self.connect(url, f"solara-session-id={uuid.uuid4()}")
        control = uuid.uuid4().hex
        self.send("comm_open", {"comm_id": control, "target_name": "solara.control", "data": {}})
        self.send("comm_msg", {"comm_id": control, "data": {"method": "run", "args": {"path": "", "appName": "__default__"}}})
        await self.read_until(
            lambda m: m["header"]["msg_type"] == "comm_msg"
            and m["content"].get("comm_id") == control
            and m["content"]["data"].get("method") == "finished"
        )
        self.slider, self.label = self.comm(self.slider_model), self.comm(self.label_model)


class VoilaSession(KernelProtocolSession):
    """A Voila page: the notebook ran in a kernel of its own; its widgets' states are asked for."""

    async def open(self) -> None:
        response = await AsyncHTTPClient().fetch(self.server.base + "/", connect_timeout=120, request_timeout=120)
        kernel_id = re.search(r'"kernelId":\s*"([0-9a-f-]+)"', response.body.decode())
        if kernel_id is None:
            raise RuntimeError("no kernel id in Voila's page")
        cookie = "; ".join(c.split(";", 1)[0] for c in response.headers.get_list("Set-Cookie"))
        url = (f"{self.server.base.replace('http', 'ws', 1)}/api/kernels/{kernel_id.group(1)}/channels"
               f"?session_id={self.session}")  # fmt: skip
        self.ws = await self.connect(url, cookie)
        control = uuid.uuid4().hex
        message = self.message("comm_open", {"comm_id": control, "target_name": "jupyter.widget.control", "data": {}})
        message["metadata"] = {"version": "1.0.0"}  # the widget control protocol's
        self.ws.write_message(json.dumps(message))
        self.send("comm_msg", {"comm_id": control, "data": {"method": "request_states"}})
        reply = await self.read_until(
            lambda m: m["header"]["msg_type"] == "comm_msg"
            and m["content"].get("comm_id") == control
            and m["content"]["data"].get("method") == "update_states"
        )
        for comm_id, state in reply["content"]["data"]["states"].items():
            self.models[comm_id] = state["state"].get("_model_name")
        self.slider, self.label = self.comm(self.slider_model), self.comm(self.label_model)


CLIENTS: dict[str, type] = {
    "jupyter_bridge": OursSession,
    "bokeh": BokehSession,
    "panel": PanelSession,
    "solara": SolaraSession,
    "voila": VoilaSession,
}


@dataclass
class LoadResult:
    framework: str
    users: int
    opened: int = 0
    rtts: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    rss: float = 0.0

    def error(self, problem: BaseException) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = f"{type(problem).__name__}: {problem}"[:160]


async def open_users(server: Server, name: str, n: int, parallel: int, result: LoadResult) -> list[Any]:
    gate = asyncio.Semaphore(parallel)

    async def one() -> Any:
        async with gate:
            session = CLIENTS[name](server)
            try:
                await asyncio.wait_for(session.open(), 120)
            except Exception as problem:  # noqa: BLE001 - counted as an error, the run goes on
                result.error(problem)
                session.close()
                return None
            return session

    sessions = await asyncio.gather(*(one() for _ in range(n)))
    opened = [s for s in sessions if s is not None]
    result.opened = len(opened)
    return opened


async def active_user(session: Any, until: float, timeout: float, result: LoadResult) -> None:
    """Move the slider once a second (after a random start within the first second) until ``until``."""
    await asyncio.sleep(random.random())
    while time.monotonic() < until:
        began = time.monotonic()
        try:
            result.rtts.append(await asyncio.wait_for(session.move(), timeout))
        except Exception as problem:  # noqa: BLE001
            result.error(problem)
            return
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))


async def measure(name: str, n: int, options: argparse.Namespace, logdir: Path) -> LoadResult:
    result = LoadResult(name, n)
    server = start(name, logdir)
    try:
        await asyncio.sleep(1)
        log(f"{name}: {n} users opening")
        sessions = await open_users(server, name, n, options.parallel, result)
        log(f"{name}: {len(sessions)} open, {n - len(sessions)} failed; {options.seconds} s of moves")
        until = time.monotonic() + options.seconds
        await asyncio.gather(*(active_user(s, until, options.timeout, result) for s in sessions))
        result.rss = tree_rss_mb(server.process.pid)
        for session in sessions:
            session.close()
    finally:
        server.stop()
    return result


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def print_table(results: list[LoadResult], options: argparse.Namespace) -> None:
    print(f"\n{options.seconds} s of one move per user per second; round trip = slider change until the text's update")
    print(f"{'framework':<16}{'users':>7}{'opened':>8}{'moves':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'RSS MB':>9}")
    for r in results:
        p50 = f"{pct(r.rtts, 50):9.1f}" if r.rtts else f"{'-':>9}"
        p99 = f"{pct(r.rtts, 99):9.1f}" if r.rtts else f"{'-':>9}"
        print(f"{r.framework:<16}{r.users:>7}{r.opened:>8}{len(r.rtts):>8}{p50}{p99}{r.errors:>8}{r.rss:>9.0f}")
    for r in results:
        if r.first_error:
            print(f"  {r.framework} at {r.users}: first error: {r.first_error}")


async def run(options: argparse.Namespace, logdir: Path) -> list[LoadResult]:
    AsyncHTTPClient.configure(None, max_clients=max(10, options.parallel))
    results = []
    for name in options.frameworks:
        for n in options.users:
            if name == "voila" and n > options.voila_max:
                log(f"voila: skipping {n} users (one kernel each; --voila-max {options.voila_max})")
                continue
            results.append(await measure(name, n, options, logdir))
    return results


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="10,100,1000", help="concurrent active users (default: 10,100,1000)")
    parser.add_argument("--seconds", type=float, default=30, help="seconds of moves per run (default: 30)")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS), help=f"which to run (default: {','.join(FRAMEWORKS)})")
    parser.add_argument("--parallel", type=int, default=10, help="pages opening at a time (default: 10)")
    parser.add_argument("--timeout", type=float, default=10, help="seconds before a move counts as an error (default: 10)")
    parser.add_argument("--voila-max", type=int, default=20, help="most users Voila runs at (a kernel each; default: 20)")
    options = parser.parse_args()
    options.users = [int(n) for n in options.users.split(",")]
    options.frameworks = [name.strip() for name in options.frameworks.split(",") if name.strip()]
    unknown = [name for name in options.frameworks if name not in FRAMEWORKS]
    if unknown:
        parser.error(f"unknown framework {unknown[0]!r}; choose among {', '.join(FRAMEWORKS)}")
    return options


def main() -> None:
    options = parse_options()
    available = []
    for name in options.frameworks:
        if importlib.util.find_spec(PACKAGES[name]) is None:
            log(f"{name}: not installed, skipped (pip install {name} to compare)")
        else:
            available.append(name)
    options.frameworks = available
    versions = []
    for name in available:
        module = __import__(PACKAGES[name])
        versions.append(f"{name} {getattr(module, '__version__', '?')}")
    print(f"{', '.join(versions)}; {os.cpu_count()} cores; one server process each (Voila: plus a kernel per user)")
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(run(options, Path(tmp)))
    print_table(results, options)


if __name__ == "__main__":
    main()
