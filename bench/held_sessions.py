"""Many sessions held in one process: event round trips while thousands sit idle.

For each size (default 1000, 2000, 5000 idle sessions of examples/sliders.py,
each with its page loaded and its WebSocket open), 50 active clients move their
slider in a loop for a few seconds; printed: event round trip p50/p99 (set the
slider, until the label's update arrives) and the server's RSS. Target: p99 under
50 ms at 2000 sessions.

Then the same 50-client workload against `--num-procs 1` and `--num-procs 2`,
printing round trips per second side by side.

Figures, not pass/fail. Usage: python bench/held_sessions.py [--sizes 1000,2000,5000]
[--active 50] [--seconds 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "sliders.py"
CONFIG = re.compile(r'id="jupyter-bridge-config">(.*?)</script>', re.S)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Session:
    """One page: its socket, its slider's and label's model ids."""

    def __init__(self, ws: WebSocketClientConnection, slider: str, label: str) -> None:
        self.ws, self.slider, self.label = ws, slider, label
        self.value = 0
        self.sent = 0

    @classmethod
    async def open(cls, base: str, port: int) -> Session:
        page = await AsyncHTTPClient().fetch(base + "/sliders")
        config = json.loads(CONFIG.search(page.body.decode()).group(1))
        # As the page client does: what one message causes comes back in one frame.
        query = ("&" if "?" in config["wsUrl"] else "?") + "batch=1"
        request = HTTPRequest(
            f"ws://127.0.0.1:{port}{config['wsUrl']}{query}",
            headers={"Origin": f"http://localhost:{port}", "Sec-WebSocket-Protocol": f"jupyter-bridge.v1, {config['token']}"},
        )
        ws = await websocket_connect(request)
        models: dict[str, str] = {}
        while True:
            for message in messages(await ws.read_message()):
                if message["type"] == "comm_open":
                    models[message["data"]["state"]["_model_name"]] = message["comm_id"]
                elif message["type"] == "doc":
                    return cls(ws, models["IntSliderModel"], models["LabelModel"])

    async def round_trip(self) -> float:
        """Move the slider; seconds until the label shows Python's answer."""
        self.value = (self.value + 1) % 100
        self.sent += 1
        expected = f"value*2 = {self.value * 2}"
        started = time.perf_counter()
        self.ws.write_message(json.dumps({
            "type": "comm_msg", "id": f"b{self.sent}", "comm_id": self.slider,
            "data": {"method": "update", "state": {"value": self.value}, "buffer_paths": []},
        }))
        while True:
            for message in messages(await self.ws.read_message()):
                if message["type"] == "comm_msg" and message["comm_id"] == self.label:
                    if message["data"].get("state", {}).get("value") == expected:
                        return time.perf_counter() - started


def messages(frame: str | None) -> list[dict]:
    """A text frame's message, or a batch's messages (a binary frame's too: widgets with buffers)."""
    if frame is None:
        raise ConnectionError("the server closed the socket")
    if isinstance(frame, bytes):
        from jupyter_bridge.protocol import decode_server_frames

        return [message.content for message in decode_server_frames(frame)]
    message = json.loads(frame)
    return message if isinstance(message, list) else [message]


def start_server(port: int, procs: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_bridge.cli", "serve", str(APP), "--port", str(port),
         "--address", "127.0.0.1", "--unused-session-lifetime", "3600000", "--num-procs", str(procs),
         "--stats-log-frequency", "0", "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the server did not start") from None
            time.sleep(0.1)


async def open_many(base: str, port: int, count: int, parallel: int = 20) -> list[Session]:
    sessions: list[Session] = []
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            queue.pop()
            sessions.append(await Session.open(base, port))

    await asyncio.gather(*(worker() for _ in range(parallel)))
    return sessions


async def drive(active: list[Session], seconds: float) -> list[float]:
    """Each active client moves its slider again as soon as it got the answer."""
    times: list[float] = []
    stop = time.monotonic() + seconds

    async def client(session: Session) -> None:
        while time.monotonic() < stop:
            times.append(await session.round_trip())

    await asyncio.gather(*(client(s) for s in active))
    return times


async def held(sizes: list[int], active_count: int, seconds: float) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(port, 1)
    baseline = rss_mb(server.pid)
    sessions: list[Session] = []
    rows = []
    try:
        active = await open_many(base, port, active_count)
        await drive(active, 1.0)  # warm up
        for size in sizes:
            log(f"opening idle sessions up to {size}…")
            started = time.perf_counter()
            sessions += await open_many(base, port, size - len(sessions))
            opened = time.perf_counter() - started
            log(f"  {size} idle sessions ({opened:.1f} s to open the new ones); driving {active_count} active clients")
            times = await drive(active, seconds)
            rows.append((size, len(times) / seconds, percentile(times, 0.5) * 1000, percentile(times, 0.99) * 1000,
                         rss_mb(server.pid), (rss_mb(server.pid) - baseline) / (size + active_count)))
    finally:
        for session in [*sessions]:
            session.ws.close(1000)
        server.terminate()
        server.wait(timeout=60)
    print(f"\nSessions held in one process, {active_count} active clients moving a slider:")
    print(f"{'idle sessions':>14} {'trips/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'RSS MB':>8} {'MB/session':>11}")
    for size, rate, p50, p99, rss, per in rows:
        print(f"{size:>14} {rate:>9.0f} {p50:>8.1f} {p99:>8.1f} {rss:>8.0f} {per:>11.3f}")
    at_2000 = [p99 for size, _, _, p99, _, _ in rows if size == 2000]
    if at_2000:
        print(f"target: p99 < 50 ms at 2000 sessions — measured {at_2000[0]:.1f} ms")


async def throughput(procs: int, active_count: int, seconds: float) -> tuple[float, float, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(port, procs)
    try:
        active = await open_many(base, port, active_count)
        await drive(active, 1.0)
        times = await drive(active, seconds)
        for session in active:
            session.ws.close(1000)
        return len(times) / seconds, percentile(times, 0.5) * 1000, percentile(times, 0.99) * 1000
    finally:
        server.terminate()
        server.wait(timeout=60)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,2000,5000", help="idle session counts, ascending")
    parser.add_argument("--active", type=int, default=50, help="clients moving their slider")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each measurement drives")
    parser.add_argument("--quick", action="store_true", help="sizes 100,200; 10 active; 2 s")
    options = parser.parse_args()
    if options.quick:
        options.sizes, options.active, options.seconds = "100,200", 10, 2.0
    sizes = sorted(int(s) for s in options.sizes.split(","))
    await held(sizes, options.active, options.seconds)
    log("\n--num-procs 1 vs 2…")
    one = await throughput(1, options.active, options.seconds)
    two = await throughput(2, options.active, options.seconds)
    print(f"\n{options.active} active clients, no idle sessions:")
    print(f"{'':>14} {'trips/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for label, (rate, p50, p99) in (("--num-procs 1", one), ("--num-procs 2", two)):
        print(f"{label:>14} {rate:>9.0f} {p50:>8.1f} {p99:>8.1f}")
    print(f"throughput ratio 2 procs / 1 proc: {two[0] / one[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
