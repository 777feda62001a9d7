"""Sessions under load: jupyter_bridge next to Bokeh server, the same sliders app on each.

Starts ``jupyter-bridge serve examples/sliders.py`` and ``bokeh serve
bench/apps/bokeh_sliders.py`` on free loopback ports and, for each size N, opens N
sessions at once (``--parallel`` opening at a time) and measures, on a fresh
server process for each size, one server after the other:

- session open: page GET + WebSocket connect until the document is complete
  (ours: the ``doc`` message; Bokeh: the PULL-DOC-REPLY after the server's ACK,
  as BokehJS does), p50/p99 over the N opens;
- event round trip: the client sets the slider until the label's new text arrives
  (ours: a comm_msg ``update`` of the IntSlider until the Label's ``update``;
  Bokeh: a PATCH-DOC ModelChanged of Slider.value until the PATCH-DOC of Div.text),
  one at a time over the sessions ("rtt") and from all N sessions at once ("burst");
- server RSS per session: (VmRSS with N open - VmRSS before) / N, and VmRSS once
  the N sessions are closed and reaped (the server idle again; how long that
  took is printed too).

Then, on fresh processes again, it opens and closes sessions ``--cycles`` times
(after up to 1000 priming ones) and prints VmRSS before and after, once
every session is reaped. Both clients speak the wire protocols
directly over Tornado WebSockets (no browser). Figures, not pass/fail.
Bokeh is not a jupyter_bridge dependency: ``pip install bokeh`` to compare.

    python bench/sessions.py [--sizes 1,100,1000] [--cycles 10000] [--server-nodelay] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

ROOT = Path(__file__).resolve().parent.parent
LIFETIME_MS = 1000  # unused-session lifetime: only closed sessions are unused, so short keeps reaping quick
CHECK_MS = 250
REAP_WAIT_S = (LIFETIME_MS + 2 * CHECK_MS) / 1000 + 1  # + 1 s: our memory log's period
REAP_CAP_S = 120  # stop waiting for a server to finish reaping after this long
OURS_CONFIG = re.compile(r'<script type="application/json" id="jupyter-bridge-config">(.*?)</script>', re.S)
BOKEH_TOKEN = re.compile(r'"token":"([^"]+)"')
_ids = itertools.count(1)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """The process's resident set size (VmRSS) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values, in ms."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] * 1000


def stop_process(process: subprocess.Popen) -> None:
    """Terminate ``process``, killing it if it has not exited after 30 s."""
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Server:
    """A server subprocess serving one app; its log goes to a file."""

    name: str
    port: int
    page_path: str
    process: subprocess.Popen[bytes]
    log_path: Path
    #: Whether its clients ask for batches (a server of an older version ignores it).
    batches: bool = True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rss(self) -> float:
        return rss_mb(self.process.pid)

    def stop(self) -> None:
        stop_process(self.process)

    def logged_memory(self) -> str:
        """Our server's last memory log line (RSS, live widgets, sessions), or '?'."""
        found = re.findall(r"memory: (RSS .*? sessions)", self.log_path.read_text(errors="replace"))
        return found[-1] if found else "?"


def start_server(name: str, args: list[str], page_path: str, port: int, logdir: Path, root: Path = ROOT) -> Server:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    log_path = logdir / f"{name}.log"
    with open(log_path, "wb") as out:
        # In the checkout's own folder: ``python -m`` puts the working directory before
        # PYTHONPATH, so from this one a ``--before`` server would run this version.
        process = subprocess.Popen(args, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, port, page_path, process, log_path)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}; see {log_path}:\n{log_path.read_text()}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not listen within 60 s") from None
            time.sleep(0.05)


NODELAY_PATCH = """\
import runpy, sys
import tornado.websocket as ws
_detach = ws.WebSocketHandler._detach_stream
def _detach_nodelay(self):
    stream = _detach(self)
    stream.set_nodelay(True)
    return stream
ws.WebSocketHandler._detach_stream = _detach_nodelay
module = sys.argv.pop(1)
sys.argv[0] = module
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def python_module(module: str, nodelay: bool) -> list[str]:
    """Run ``python -m module`` (its pid is the server's), optionally with TCP_NODELAY on every session socket."""
    if nodelay:
        return [sys.executable, "-c", NODELAY_PATCH, module]
    return [sys.executable, "-m", module]


def start_ours(logdir: Path, nodelay: bool, root: Path | None = None, extra: tuple[str, ...] = ()) -> Server:
    """``jupyter-bridge serve examples/sliders.py`` (of the checkout at ``root``: ``--before``), with ``extra`` flags."""
    port = free_port()
    args = [
        *python_module("jupyter_bridge.cli", nodelay), "serve", "examples/sliders.py",
        "--address", "127.0.0.1", "--port", str(port),
        "--unused-session-lifetime", str(LIFETIME_MS), "--check-unused-sessions", str(CHECK_MS),
        "--mem-log-frequency", "1000", *extra,
    ]  # fmt: skip
    if root is not None:
        return start_server("before", args, "/sliders", port, logdir, root)
    return start_server("jupyter_bridge", args, "/sliders", port, logdir)


def start_bokeh(logdir: Path, nodelay: bool) -> Server:
    """``bokeh serve bench/apps/bokeh_sliders.py``."""
    port = free_port()
    args = [
        *python_module("bokeh", nodelay), "serve", "bench/apps/bokeh_sliders.py",
        "--address", "127.0.0.1", "--port", str(port),
        "--unused-session-lifetime", str(LIFETIME_MS), "--check-unused-sessions", str(CHECK_MS),
    ]  # fmt: skip
    return start_server("bokeh", args, "/bokeh_sliders", port, logdir)


async def get_page(url: str) -> str:
    response = await AsyncHTTPClient().fetch(url, connect_timeout=120, request_timeout=120)
    return response.body.decode()


async def connect(url: str, port: int, subprotocols: list[str]) -> WebSocketClientConnection:
    request = HTTPRequest(
        url, headers={"Origin": f"http://localhost:{port}"}, connect_timeout=120, request_timeout=120
    )
    ws = await websocket_connect(request, subprotocols=subprotocols)
    ws.protocol.stream.set_nodelay(True)  # as browsers do; Nagle would add 40 ms delayed-ACK stalls
    return ws


class OursSession:
    """A session of examples/sliders.py on our server, spoken to like the page client does."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.ws: WebSocketClientConnection | None = None
        self.models: dict[str, str] = {}  # comm id -> model name
        self.last_seq = 0
        self.value = 0
        self._unread: list[dict[str, Any]] = []  # messages of a batch not read yet

    async def open(self) -> None:
        html = await get_page(self.server.base + self.server.page_path)
        config = json.loads(OURS_CONFIG.search(html).group(1))
        url = self.server.base.replace("http", "ws", 1) + config["wsUrl"]
        if self.server.batches:  # as the page client does: several messages to a frame
            url += ("&" if "?" in url else "?") + "batch=1"
        self.ws = await connect(url, self.server.port, ["jupyter-bridge.v1", config["token"]])
        await self._read_until(lambda m: m["type"] == "doc")
        self.slider = self._comm("IntSliderModel")
        self.label = self._comm("LabelModel")
        self._ack()

    def _comm(self, model_name: str) -> str:
        return next(cid for cid, name in self.models.items() if name == model_name)

    async def _read_until(self, done: Any) -> dict[str, Any]:
        while True:
            if not self._unread:
                frame = await self.ws.read_message()
                if frame is None:
                    raise ConnectionError(f"socket closed ({self.ws.close_code})")
                self._unread.extend(decode_ours(frame))
            while self._unread:
                message = self._unread.pop(0)
                self.last_seq = max(self.last_seq, message.get("seq", 0))
                if message["type"] == "comm_open":
                    self.models[message["comm_id"]] = message["data"]["state"].get("_model_name")
                if done(message):
                    return message

    def _ack(self) -> None:
        self.ws.write_message(json.dumps({"type": "ack", "seq": self.last_seq}))

    async def move(self) -> float:
        """Set the slider; seconds until the label's update arrives."""
        self.value = self.value % 100 + 1
        msg_id = f"b{next(_ids)}"
        state = {"method": "update", "state": {"value": self.value}, "buffer_paths": []}
        began = time.perf_counter()
        self.ws.write_message(
            json.dumps({"type": "comm_msg", "id": msg_id, "comm_id": self.slider, "data": state})
        )
        await self._read_until(lambda m: m["type"] == "comm_msg" and m["comm_id"] == self.label)
        elapsed = time.perf_counter() - began
        await self._read_until(lambda m: m["type"] == "idle" and m.get("parent") == msg_id)
        self._ack()
        return elapsed

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close(1000)


def decode_ours(frame: str | bytes) -> list[dict[str, Any]]:
    """A server frame's messages: a text frame's one or batch of them, a binary frame's JSON part
    (uint32 count, offsets, then the parts)."""
    if isinstance(frame, str):
        message = json.loads(frame)
        return message if isinstance(message, list) else [message]
    count = int.from_bytes(frame[:4], "big")
    start = int.from_bytes(frame[4:8], "big")
    end = int.from_bytes(frame[8:12], "big") if count > 1 else len(frame)
    return [json.loads(frame[start:end])]


class BokehSession:
    """A session of bench/apps/bokeh_sliders.py, spoken to like BokehJS does (raw Bokeh protocol)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.ws: WebSocketClientConnection | None = None
        self.value = 0

    async def open(self) -> None:
        html = await get_page(self.server.base + self.server.page_path)
        token = BOKEH_TOKEN.search(html).group(1)
        url = self.server.base.replace("http", "ws", 1) + self.server.page_path + "/ws"
        self.ws = await connect(url, self.server.port, ["bokeh", token])
        await self._read_until(lambda h, c: h["msgtype"] == "ACK")
        self._send("PULL-DOC-REQ", {})
        _, content = await self._read_until(lambda h, c: h["msgtype"] == "PULL-DOC-REPLY")
        models = dict(find_models(content["doc"]["roots"]))
        self.slider, self.label = models["Slider"], models["Div"]

    def _send(self, msgtype: str, content: dict[str, Any]) -> str:
        msgid = f"b{next(_ids)}"
        for part in ({"msgid": msgid, "msgtype": msgtype}, {}, content):
            self.ws.write_message(json.dumps(part))
        return msgid

    async def _read_until(self, done: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        while True:
            header = json.loads(await self._frame())
            await self._frame()  # metadata
            content = json.loads(await self._frame())
            for _ in range(2 * header.get("num_buffers", 0)):
                await self._frame()
            if done(header, content):
                return header, content

    async def _frame(self) -> str | bytes:
        frame = await self.ws.read_message()
        if frame is None:
            raise ConnectionError(f"socket closed ({self.ws.close_code})")
        return frame

    async def move(self) -> float:
        """Set the slider; seconds until the div's new text arrives."""
        self.value = self.value % 100 + 1
        event = {"kind": "ModelChanged", "model": {"id": self.slider}, "attr": "value", "new": self.value}
        began = time.perf_counter()
        msgid = self._send("PATCH-DOC", {"events": [event]})
        seen_ok = False

        def text_changed(header: dict[str, Any], content: dict[str, Any]) -> bool:
            nonlocal seen_ok
            seen_ok = seen_ok or header.get("reqid") == msgid
            return header["msgtype"] == "PATCH-DOC" and any(
                e.get("attr") == "text" for e in content["events"]
            )

        await self._read_until(text_changed)
        elapsed = time.perf_counter() - began
        if not seen_ok:
            await self._read_until(lambda h, c: h.get("reqid") == msgid)
        return elapsed

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close(1000)


def find_models(value: Any) -> Any:
    """(name, id) of every model in a serialized Bokeh document fragment."""
    if isinstance(value, dict):
        if value.get("type") == "object" and "id" in value:
            yield value["name"], value["id"]
        for item in value.values():
            yield from find_models(item)
    elif isinstance(value, list):
        for item in value:
            yield from find_models(item)


CLIENTS = {"jupyter_bridge": OursSession, "before": OursSession, "bokeh": BokehSession}


@dataclass
class SizeResult:
    n: int
    open_times: list[float] = field(default_factory=list)
    rtts: list[float] = field(default_factory=list)
    bursts: list[float] = field(default_factory=list)
    cpu_per_event: float = 0.0  # server CPU seconds per one-at-a-time round trip
    rss_before: float = 0.0
    rss_open: float = 0.0
    rss_after: float = 0.0
    reap_s: float | None = None  # None: still busy when we stopped waiting
    memory_log: str = "?"

    @property
    def per_session_kb(self) -> float:
        return (self.rss_open - self.rss_before) * 1024 / self.n


@dataclass
class CycleResult:
    count: int
    primed: int
    rss_fresh: float  # after one warm-up session
    rss_before: float = 0.0  # the baseline: after the priming cycles were reaped
    rss_peak: float = 0.0
    rss_after: float = 0.0
    rate: float = 0.0
    reap_s: float | None = None
    memory_log: str = "?"


async def open_sessions(server: Server, n: int, parallel: int, times: list[float] | None = None) -> list[Any]:
    """Open n sessions, at most ``parallel`` opening at a time; record each open's seconds."""
    gate = asyncio.Semaphore(parallel)

    async def one() -> Any:
        async with gate:
            session = CLIENTS[server.name](server)
            began = time.perf_counter()
            await session.open()
            if times is not None:
                times.append(time.perf_counter() - began)
            return session

    return await asyncio.gather(*(one() for _ in range(n)))


async def settle(server: Server) -> float | None:
    """Wait for closed sessions to be reaped: past the unused lifetime, then until the server idles.

    Returns the seconds until the server idled (used < 5% CPU for half a second), or None
    if it was still busy after REAP_CAP_S. Bokeh runs gc.collect() as it destroys
    each session, so reaping many takes it a while.
    """
    began = time.monotonic()
    await asyncio.sleep(REAP_WAIT_S)
    while time.monotonic() - began < REAP_CAP_S:
        used = cpu_seconds(server.process.pid)
        await asyncio.sleep(0.5)
        if cpu_seconds(server.process.pid) - used < 0.025:
            return time.monotonic() - began - 0.5
    log(f"  {server.name} still busy {REAP_CAP_S} s after the sessions closed; reading RSS anyway")
    return None


async def measure_size(server: Server, n: int, parallel: int, samples: int) -> SizeResult:
    result = SizeResult(n, rss_before=server.rss)
    sessions = await open_sessions(server, n, parallel, result.open_times)
    used = cpu_seconds(server.process.pid)
    for i in range(max(samples, n)):
        result.rtts.append(await sessions[i % n].move())
    result.cpu_per_event = (cpu_seconds(server.process.pid) - used) / len(result.rtts)
    result.bursts = list(await asyncio.gather(*(s.move() for s in sessions)))
    await asyncio.sleep(1)  # let the allocator settle before reading RSS
    result.rss_open = server.rss
    for session in sessions:
        session.close()
    del sessions
    result.reap_s = await settle(server)
    result.rss_after, result.memory_log = server.rss, server.logged_memory()
    return result


async def open_close(server: Server, count: int, parallel: int, result: CycleResult) -> None:
    """Open and close ``count`` sessions, ``parallel`` at a time; note the rate and the peak RSS."""
    done = 0
    began = time.perf_counter()
    while done < count:
        batch = min(parallel * 10, count - done)
        for session in await open_sessions(server, batch, parallel):
            session.close()
        done += batch
        result.rss_peak = max(result.rss_peak, server.rss)
        result.rate = done / (time.perf_counter() - began)
        if done % 1000 < batch or done == count:
            log(f"  {server.name}: {done}/{count} cycles, {result.rate:.0f}/s, RSS {server.rss:.1f} MB")


async def cycle(server: Server, count: int, parallel: int) -> CycleResult:
    """Prime with up to 1000 cycles (the heap grows to its working size), then ``count`` cycles.

    Without priming, "after - baseline" would mostly be the allocator keeping the
    pages it needed for the sessions alive at once while cycling.
    """
    result = CycleResult(count, primed=min(count, 1000), rss_fresh=server.rss)
    await open_close(server, result.primed, parallel, result)
    await settle(server)
    result.rss_before = result.rss_peak = server.rss
    await open_close(server, count, parallel, result)
    result.reap_s = await settle(server)
    result.rss_after, result.memory_log = server.rss, server.logged_memory()
    return result


async def warm_up(server: Server) -> float:
    """One session and one event, so imports and caches are in before any baseline; RSS after."""
    (session,) = await open_sessions(server, 1, 1)
    await session.move()
    session.close()
    await settle(server)
    return server.rss


@contextmanager
def running(start: Callable[[], Server]) -> Iterator[Server]:
    server = start()
    try:
        yield server
    finally:
        server.stop()


async def measure_server(
    start: Callable[[], Server], options: argparse.Namespace, cycles: int
) -> dict[Any, Any]:
    """Everything for one server, a fresh process for each size and for the cycles."""
    figures: dict[Any, Any] = {}
    for n in options.sizes:
        with running(start) as server:
            await warm_up(server)
            log(f"{server.name}: {n} sessions")
            figures[n] = await measure_size(server, n, options.parallel, options.samples)
    if not cycles:
        return figures
    with running(start) as server:
        await warm_up(server)
        log(f"{server.name}: {cycles} open/close cycles, after {min(cycles, 1000)} priming ones")
        figures["cycles"] = await cycle(server, cycles, options.parallel)
    return figures


def row(label: str, ours: float | None, bokeh: float | None, unit: str, digits: int = 1) -> str:
    def cell(value: float | None) -> str:
        return (
            f"{value:>11.{digits}f} {unit:<3}"
            if value is not None
            else f"{'> ' + str(REAP_CAP_S):>11} {unit:<3}"
        )

    ratio = f"{ours / bokeh:6.2f}" if ours is not None and bokeh else "     -"
    return f"  {label:<32}{cell(ours)}{cell(bokeh)}  {ratio}"


def print_size(ours: SizeResult, bokeh: SizeResult) -> None:
    n = ours.n
    print(
        f"\nN = {n} concurrent sessions{'':<{8 - len(str(n))}}{'jupyter_bridge':>15}{'bokeh':>15}   ours/bokeh"
    )
    for label, attr in (("session open", "open_times"), ("event rtt, one at a time", "rtts"),
                        (f"event rtt, all {n} at once", "bursts")):  # fmt: skip
        a, b = getattr(ours, attr), getattr(bokeh, attr)
        print(row(f"{label} p50", pct(a, 50), pct(b, 50), "ms", 2))
        print(row(f"{label} p99", pct(a, 99), pct(b, 99), "ms", 2))
    print(row("server CPU per event, one at a time", ours.cpu_per_event * 1e6, bokeh.cpu_per_event * 1e6, "us", 0))
    print(row("RSS before", ours.rss_before, bokeh.rss_before, "MB"))
    print(row(f"RSS with {n} open", ours.rss_open, bokeh.rss_open, "MB"))
    print(row("RSS per session", ours.per_session_kb, bokeh.per_session_kb, "kB"))
    print(row("closed until reaped and idle", ours.reap_s, bokeh.reap_s, "s"))
    print(row("RSS after close + reap", ours.rss_after, bokeh.rss_after, "MB"))
    print(f"  (jupyter_bridge's memory log then: {ours.memory_log})")


def print_cycles(ours: CycleResult, bokeh: CycleResult) -> None:
    print(f"\nopen/close cycles{'':<17}{'jupyter_bridge':>15}{'bokeh':>15}   ours/bokeh")
    print(
        f"  {'priming cycles, then cycles':<32}{ours.primed:>5d} + {ours.count:<5d}    {bokeh.primed:>5d} + {bokeh.count:<5d}"
    )
    if bokeh.count < ours.count:
        print("  (fewer for Bokeh: it runs gc.collect() as it reaps each session, which takes long)")
    print(row("cycles per second", ours.rate, bokeh.rate, "/s", 0))
    print(row("RSS fresh (one warm-up session)", ours.rss_fresh, bokeh.rss_fresh, "MB"))
    print(row("RSS primed, reaped (baseline)", ours.rss_before, bokeh.rss_before, "MB"))
    print(row("RSS peak while cycling", ours.rss_peak, bokeh.rss_peak, "MB"))
    print(row("closed until reaped and idle", ours.reap_s, bokeh.reap_s, "s"))
    print(row("RSS after, reaped", ours.rss_after, bokeh.rss_after, "MB"))
    print(row("after - baseline", ours.rss_after - ours.rss_before, bokeh.rss_after - bokeh.rss_before, "MB"))
    print(row("after - fresh", ours.rss_after - ours.rss_fresh, bokeh.rss_after - bokeh.rss_fresh, "MB"))
    delta = ours.rss_after - ours.rss_before
    print(f"  target: jupyter_bridge back within 5 MB of baseline after {ours.count} cycles: {delta:+.1f} MB")
    print(f"  (jupyter_bridge's memory log then: {ours.memory_log})")


async def run(options: argparse.Namespace, logdir: Path) -> None:
    AsyncHTTPClient.configure(None, max_clients=max(10, options.parallel))
    nodelay = options.server_nodelay
    before = None
    if options.before:
        start = partial(start_ours, logdir, nodelay, Path(options.before).resolve())
        before = await measure_server(start, options, 0)
    ours = await measure_server(partial(start_ours, logdir, nodelay), options, options.cycles)
    bokeh = await measure_server(partial(start_bokeh, logdir, nodelay), options, options.bokeh_cycles)
    print(
        f"session open = page GET + WebSocket until the document is complete, {options.parallel} opening at a time"
    )
    nodelay = (
        "TCP_NODELAY forced on"
        if options.server_nodelay
        else "as shipped (ours sets TCP_NODELAY, Bokeh does not)"
    )
    print(f"server session sockets: {nodelay}")
    for n in options.sizes:
        print_size(ours[n], bokeh[n])
        if before is not None:
            print_before(before[n], ours[n], bokeh[n], options.before)
    if "cycles" in ours and "cycles" in bokeh:  # --cycles 0 (or --bokeh-cycles 0) measures sizes only
        print_cycles(ours["cycles"], bokeh["cycles"])


def print_before(before: SizeResult, ours: SizeResult, bokeh: SizeResult, where: str) -> None:
    """The events' figures of another checkout (``--before``), this one and Bokeh's, from the same run."""
    print(f"\n  N = {before.n}, before = {where}{'':<4}{'before':>12}{'now':>12}{'bokeh':>12}")
    for label, attr in (("event rtt, one at a time", "rtts"), (f"event rtt, all {before.n} at once", "bursts")):
        for q in (50, 99):
            cells = "".join(f"{pct(getattr(r, attr), q):>9.2f} ms" for r in (before, ours, bokeh))
            print(f"  {label + f' p{q}':<38}{cells}")
    cells = "".join(f"{r.cpu_per_event * 1e6:>9.0f} us" for r in (before, ours, bokeh))
    print(f"  {'server CPU per event, one at a time':<38}{cells}")


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="1,100,1000", help="concurrent session counts (default: 1,100,1000)"
    )
    parser.add_argument("--cycles", type=int, default=10_000, help="open/close cycles (default: 10000)")
    parser.add_argument(
        "--bokeh-cycles",
        type=int,
        help="open/close cycles for Bokeh (default: --cycles, at most 500: Bokeh reaps slowly)",
    )
    parser.add_argument("--parallel", type=int, default=10, help="sessions opening at a time (default: 10)")
    parser.add_argument(
        "--samples", type=int, default=200, help="one-at-a-time round trips per size (default: 200)"
    )
    parser.add_argument(
        "--server-nodelay",
        action="store_true",
        help="force TCP_NODELAY on both servers' session sockets (Bokeh does not set it; ours does)",
    )
    parser.add_argument(
        "--before", metavar="DIR",
        help="also measure the events of a checkout of another version at DIR (e.g. git archive of main)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="sizes 1,10 and 500 cycles (100 for Bokeh): about a minute"
    )
    options = parser.parse_args()
    if options.quick:
        options.sizes, options.cycles, options.bokeh_cycles, options.samples = "1,10", 500, 100, 100
    options.sizes = [int(n) for n in options.sizes.split(",")]
    if options.bokeh_cycles is None:
        options.bokeh_cycles = min(options.cycles, 500)
    return options


def main() -> None:
    options = parse_options()
    try:
        import bokeh
    except ImportError:
        sys.exit("bench/sessions.py compares with Bokeh server: pip install bokeh to compare")
    import jupyter_bridge

    print(f"jupyter_bridge {jupyter_bridge.__version__}, bokeh {bokeh.__version__}, "
          f"{os.cpu_count()} cores; RSS is the server process's VmRSS")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(options, Path(tmp)))


if __name__ == "__main__":
    main()
