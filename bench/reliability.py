"""What a busy, hostile or slow world does to one server: figures for docs/reliability.md.

Each scenario starts `jupyter-bridge serve` on a loopback port, measures, and
stops it; all of them while a *prober* (a sliders session moving its slider
again as soon as Python answered) records the round trips an unaffected session
sees. Printed: figures, never pass/fail.

    python bench/reliability.py [slow] [burst] [storm] [malformed] [procs] [block] [--quick] [--before DIR]

slow       a client that stops reading while a callback streams 50 updates/s of 20 kB
unlimited  the same with --websocket-max-unsent 0: what the limit prevents (not run by default)
burst      200 pages loaded at once; --before DIR runs a checkout of another version beside this one,
           --prepared N the same with N sessions prepared ahead (--prepared-sessions; default 200),
           --app dashboard the sliders in a dashboard whose build takes ~20 ms instead of ~1 ms,
           --flags "..." one more column: this version served with those flags
storm      N WebSockets opened at once, then all dropped mid-stream and reconnected
malformed  oversized headers and bodies, slowloris, invalid UTF-8 in paths and arguments
procs      --num-procs 3: one worker SIGKILLed under load; then SIGTERM under load
block      a callback that blocks the loop for 5 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from held_sessions import CONFIG, Session, free_port, percentile, rss_mb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"
SLIDERS = ROOT / "examples" / "sliders.py"
#: The same app, allowing its sessions to be prepared ahead (curdoc().prepare_ahead).
PREPARED_SLIDERS = APPS / "prepared" / "sliders.py"
#: The sliders in a dashboard (40 more controls, two charts): a build of ~20 ms; it allows preparing.
DASHBOARD = APPS / "dashboard" / "sliders.py"


def say(text: str) -> None:
    print(text, flush=True)


class Served:
    """`jupyter-bridge serve` in a process of its own, its log in a file."""

    def __init__(self, *arguments: str, env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="bench-reliability-", suffix=".log")[1])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_bridge.cli", "serve", *arguments, "--port", str(self.port),
             "--address", "127.0.0.1", "--stats-log-frequency", "0", "--log-file", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}, cwd=cwd,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit(f"the server did not start:\n{self.log.read_text()[-2000:]}") from None
                time.sleep(0.1)

    def rss(self) -> float:
        return rss_mb(self.process.pid)

    def lines(self, text: str) -> list[str]:
        return [line for line in self.log.read_text(errors="replace").splitlines() if text in line]

    async def health(self) -> dict:
        return json.loads((await AsyncHTTPClient().fetch(self.base + "/healthz")).body)

    def stop(self) -> float:
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.unlink(missing_ok=True)
        return time.monotonic() - started


class Prober:
    """A sliders session doing round trips back to back; records each one's length."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.times: list[float] = []
        self.failures = 0
        self._task: asyncio.Task | None = None

    async def start(self) -> Prober:
        self.session = await Session.open(self.served.base, self.served.port)
        self._task = asyncio.ensure_future(self._run())
        return self

    async def _run(self) -> None:
        while True:
            try:
                self.times.append(await asyncio.wait_for(self.session.round_trip(), 30))
            except Exception:
                self.failures += 1
                await asyncio.sleep(0.5)
                try:
                    self.session = await Session.open(self.served.base, self.served.port)
                except Exception:
                    pass

    def mark(self) -> int:
        return len(self.times)

    def since(self, mark: int) -> str:
        times = self.times[mark:]
        if not times:
            return "no round trip completed"
        return (f"{len(times)} round trips, p50 {percentile(times, 0.5) * 1000:.1f} ms, "
                f"p99 {percentile(times, 0.99) * 1000:.1f} ms, longest {max(times) * 1000:.0f} ms"
                + (f", {self.failures} failed" if self.failures else ""))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.session.ws.close()


async def unlimited(quick: bool) -> None:
    say("\n== The same stuck client with --websocket-max-unsent 0 (no limit), for 25 s ==")
    served = Served(str(APPS / "stream.py"), "--websocket-max-unsent", "0")
    try:
        await asyncio.sleep(1)
        before = served.rss()
        raw = await open_stuck_socket(served, "/stream")
        samples = []
        for _ in range(25):
            await asyncio.sleep(1)
            samples.append(served.rss())
        say(f"RSS {before:.0f} MB before, then every 5 s: " + ", ".join(f"{m:.0f}" for m in samples[4::5])
            + f" MB: {(samples[-1] - samples[4]) / 20:.1f} MB/s, without end")
        raw.close()
    finally:
        served.stop()


async def open_stuck_socket(served: Served, path: str) -> socket.socket:
    """A session socket whose client reads the handshake's answer and then nothing."""
    page = await AsyncHTTPClient().fetch(served.base + path)
    config = json.loads(CONFIG.search(page.body.decode()).group(1))
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", served.port))
    raw.sendall(
        f"GET {config['wsUrl']} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Origin: http://localhost:{served.port}\r\nSec-WebSocket-Protocol: jupyter-bridge.v1, {config['token']}\r\n\r\n".encode()
    )
    assert raw.recv(12).startswith(b"HTTP/1.1 101")
    return raw


async def slow(quick: bool) -> None:
    say("\n== Slow consumer: a client stops reading while a callback streams 50 updates/s of 20 kB ==")
    served = Served(str(APPS / "stream.py"), str(SLIDERS))
    try:
        prober = await Prober(served).start()
        await asyncio.sleep(1)
        before = served.rss()
        mark = prober.mark()
        raw = await open_stuck_socket(served, "/stream")
        started = time.monotonic()
        peak = before
        while not served.lines("has not read") and time.monotonic() - started < 120:
            peak = max(peak, served.rss())
            await asyncio.sleep(0.25)
        closed_after = time.monotonic() - started
        while (await served.health())["connections"] > 1 and time.monotonic() - started < 150:
            await asyncio.sleep(0.25)
        gone_after = time.monotonic() - started
        await asyncio.sleep(1)
        say(f"RSS before {before:.0f} MB, peak while stuck {peak:.0f} MB, after the close {served.rss():.0f} MB")
        say(f"stuck socket: limit reached after {closed_after:.1f} s, socket gone after {gone_after:.1f} s "
            f"(--websocket-max-unsent 16 MiB; Tornado aborts a close the client never answers after 5 s)")
        say("log: " + (served.lines("has not read") or ["(nothing)"])[0].split(": ", 1)[-1])
        say(f"other session meanwhile: {prober.since(mark)}")
        raw.close()
        await prober.stop()
        # Throughput: readers of the streaming app, each at 50 updates/s of 1 kB.
        readers = 20 if quick else 100
        counts = [0] * readers

        async def reader(index: int) -> None:
            page = await AsyncHTTPClient().fetch(served.base + "/stream?size=1000")
            config = json.loads(CONFIG.search(page.body.decode()).group(1))
            ws = await websocket_connect(HTTPRequest(
                f"ws://127.0.0.1:{served.port}{config['wsUrl']}",
                headers={"Origin": f"http://localhost:{served.port}",
                         "Sec-WebSocket-Protocol": f"jupyter-bridge.v1, {config['token']}"}))
            while (await ws.read_message()) is not None:
                counts[index] += 1

        tasks = [asyncio.ensure_future(reader(i)) for i in range(readers)]
        await asyncio.sleep(3)
        start_count, started = sum(counts), time.monotonic()
        await asyncio.sleep(5)
        rate = (sum(counts) - start_count) / (time.monotonic() - started)
        say(f"updates/s through one process: {rate:.0f} ({readers} sessions streaming at 50/s each, "
            f"asked {readers * 50}/s)")
        for task in tasks:
            task.cancel()
    finally:
        served.stop()


PROBE = """
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[1])
from held_sessions import Session

async def main(base, port):
    session = await Session.open(base, port)
    print("ready", flush=True)
    while True:
        began = time.time()
        took = await session.round_trip()
        print(json.dumps([began, took]), flush=True)

asyncio.run(main(sys.argv[2], int(sys.argv[3])))
"""


async def burst_on(tree: str | None, count: int, prepared: int = 0, app: str = "sliders", flags: tuple[str, ...] = ()) -> dict:
    """``count`` sliders pages loaded at once (GET, socket, document) while a prober runs.

    The prober is a process of its own, so the burst's clients do not slow down its
    reading: what it sees is the server's. With ``prepared``, the server keeps that
    many sessions of the app built ahead (``--prepared-sessions``); the burst starts
    once they are ready.
    """
    if app == "dashboard":
        arguments = [str(DASHBOARD), "--prepared-sessions", str(prepared)] if prepared else [str(DASHBOARD)]
    else:
        arguments = [str(PREPARED_SLIDERS), "--prepared-sessions", str(prepared)] if prepared else [str(SLIDERS)]
    # In the checkout's own folder: ``python -m`` puts the working directory first on
    # sys.path, so from this one the other checkout's server would run this version.
    served = Served(*arguments, *flags, env={"PYTHONPATH": tree} if tree else None, cwd=tree)
    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROBE, str(Path(__file__).resolve().parent), served.base, str(served.port),
        stdout=asyncio.subprocess.PIPE)
    try:
        assert probe.stdout is not None and (await probe.stdout.readline()).strip() == b"ready"
        # Read as it writes: a full pipe would stop the prober while the pool fills.
        said: list[bytes] = []

        async def read_probe() -> None:
            assert probe.stdout is not None
            while line := await probe.stdout.readline():
                said.append(line)

        reading = asyncio.ensure_future(read_probe())
        # The prober's page showed the app allows preparing: the server builds them now.
        fill_began = time.time()
        deadline = time.monotonic() + 300
        while prepared and (await served.health()).get("prepared", 0) < prepared:
            if time.monotonic() > deadline:
                raise SystemExit(f"{prepared} sessions were not prepared within 300 s")
            await asyncio.sleep(0.2)
        fill_ended = time.time()
        await asyncio.sleep(1)
        rss = served.rss()
        began = time.time()
        started = time.monotonic()
        ready: list[float] = []

        async def page() -> None:
            session = await Session.open(served.base, served.port)
            ready.append(time.monotonic() - started)
            await session.round_trip()  # interactive: Python answers it
            session.ws.close()

        results = await asyncio.gather(*(page() for _ in range(count)), return_exceptions=True)
        took, ended = time.monotonic() - started, time.time()
        probe.kill()
        await probe.wait()
        await reading
        lines = [line for line in said if line.endswith(b"\n")]  # the last may be cut short by the kill
        probed = [tuple(json.loads(line)) for line in lines]
        times = [rtt for at, rtt in probed if began <= at <= ended]
        filling = [rtt for at, rtt in probed if fill_began <= at <= fill_ended] if prepared else []
        return {"failed": sum(isinstance(r, BaseException) for r in results), "ready": sorted(ready),
                "probe": times, "took": took, "rss": rss, "filling": filling,
                "fill": fill_ended - fill_began if prepared else None}
    finally:
        if probe.returncode is None:
            probe.kill()
            await probe.wait()
        served.stop()


async def burst(quick: bool, before: str | None = None, pages: int | None = None, prepared: int | None = None,
                app: str = "sliders", flags: str = "") -> None:
    count = pages or (50 if quick else 200)
    prepared = count if prepared is None else prepared
    say(f"\n== Burst: {count} pages of {app} loaded at once (page, socket, document) while another session "
        "does round trips ==")
    AsyncHTTPClient.configure(None, max_clients=4 * count)
    runs: dict[str, tuple[str | None, int, tuple[str, ...]]] = {"before": (before, 0, ())} if before else {}
    runs["now"] = (None, 0, ())
    if flags:  # the same with these server flags
        runs[flags] = (None, 0, tuple(flags.split()))
    if prepared:
        runs[f"{prepared} prepared"] = (None, prepared, ())
    figures = {name: await burst_on(tree, count, ahead, app, extra) for name, (tree, ahead, extra) in runs.items()}

    def row(label: str, value) -> None:
        say(f"  {label:<46}" + "".join(f"{value(f):>14}" for f in figures.values()))

    say(f"  {'':<46}" + "".join(f"{name:>14}" for name in figures))
    row("other session's round trips (a process of its own)", lambda f: f"{len(f['probe'])}")
    row("  p50", lambda f: f"{percentile(f['probe'], 0.5) * 1000:.1f} ms" if f["probe"] else "-")
    row("  p99", lambda f: f"{percentile(f['probe'], 0.99) * 1000:.1f} ms" if f["probe"] else "-")
    row("  longest", lambda f: f"{max(f['probe']) * 1000:.0f} ms" if f["probe"] else "-")
    row("burst pages with their document: p50", lambda f: f"{percentile(f['ready'], 0.5):.2f} s")
    row("  last", lambda f: f"{max(f['ready']):.2f} s")
    row("all burst pages answered a round trip", lambda f: f"{f['took']:.2f} s")
    row("failed", lambda f: f"{f['failed']}")
    row("server's memory before the burst (RSS)", lambda f: f"{f['rss']:.0f} MB")
    if prepared:
        row("before it: the sessions were prepared in", lambda f: f"{f['fill']:.2f} s" if f["fill"] else "-")
        row("  the other session's p99 meanwhile",
            lambda f: f"{percentile(f['filling'], 0.99) * 1000:.1f} ms" if f["filling"] else "-")


async def storm(quick: bool) -> None:
    count = 200 if quick else 1000
    say(f"\n== Connection storm: {count} WebSockets at once, then all dropped mid-stream and reconnected ==")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * count + 100)), hard))
    served = Served(str(APPS / "stream.py"), str(SLIDERS), "--check-unused-sessions", "1000")
    try:
        prober = await Prober(served).start()
        await asyncio.sleep(1)
        before = served.rss()
        pages = []
        queue = list(range(count))

        async def page_worker() -> None:
            while queue:
                queue.pop()
                page = await AsyncHTTPClient(max_clients=50).fetch(served.base + "/stream?period=1000&size=100",
                                                                    request_timeout=300)
                pages.append(json.loads(CONFIG.search(page.body.decode()).group(1)))

        await asyncio.gather(*(page_worker() for _ in range(20)))
        after_pages = served.rss()
        mark = prober.mark()
        last_seq: dict[int, int] = {}

        async def connect(index: int, config: dict, query: str = ""):
            ws = await websocket_connect(HTTPRequest(
                f"ws://127.0.0.1:{served.port}{config['wsUrl']}{query}", request_timeout=300, connect_timeout=300,
                headers={"Origin": f"http://localhost:{served.port}",
                         "Sec-WebSocket-Protocol": f"jupyter-bridge.v1, {config['token']}"}))
            first = None
            while True:
                frame = await ws.read_message()
                if frame is None:
                    return ws, first, None
                message = json.loads(frame) if isinstance(frame, str) else {"seq": 0}
                if message.get("seq"):
                    last_seq[index] = message["seq"]
                    first = first or message["seq"]
                if message.get("type") in ("doc", "comm_msg") and message.get("seq"):
                    return ws, first, message

        started = time.monotonic()
        sockets = await asyncio.gather(*(connect(i, c) for i, c in enumerate(pages)), return_exceptions=True)
        opened = [s for s in sockets if not isinstance(s, BaseException)]
        took = time.monotonic() - started
        await asyncio.sleep(2)
        health = await served.health()
        held_rss = served.rss()
        say(f"{len(opened)} of {count} sockets open in {took:.1f} s; server holds {health['connections'] - 1} "
            f"session sockets; RSS {before:.0f} MB before, {after_pages:.0f} MB with {count} sessions, "
            f"{held_rss:.0f} MB with their sockets")
        say(f"other session while they opened: {prober.since(mark)}")
        # Drop every socket at once, without a close handshake (a network cut).
        mark = prober.mark()
        for ws, _, _ in opened:
            ws.stream.close()
        await asyncio.sleep(1)
        started = time.monotonic()
        expected = dict(last_seq)
        again = await asyncio.gather(
            *(connect(i, c, f"?last_seq={expected.get(i, 0)}") for i, c in enumerate(pages)), return_exceptions=True)
        took = time.monotonic() - started
        resumed = refused = failed = 0
        for index, result in enumerate(again):
            if isinstance(result, BaseException):
                failed += 1
            elif result[1] is None:
                refused += 1  # the session had gone: told to reload
            else:
                resumed += result[1] == expected.get(index, 0) + 1  # no frame missed, none repeated
        await asyncio.sleep(2)
        health = await served.health()
        say(f"dropped all at once and reconnected in {took:.1f} s: {resumed} of {count} resumed with the next "
            f"frame, {refused} told their session ended, {failed} failed; sessions held {health['sessions'] - 1}, "
            f"RSS {served.rss():.0f} MB")
        say(f"other session through the drop: {prober.since(mark)}")
        for result in again:
            if not isinstance(result, BaseException):
                result[0].close()
        deadline = time.monotonic() + 90
        while (await served.health())["sessions"] > 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(1)
        errors = [line for line in served.lines(" ERROR ")]
        say(f"all closed: sessions left {(await served.health())['sessions'] - 1} after the unused lifetime, "
            f"RSS {served.rss():.0f} MB; ERROR lines in the log: {len(errors)}")
        await prober.stop()
    finally:
        served.stop()


def raw_request(port: int, data: bytes, *, trickle: float = 0.0, read: bool = True) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        if trickle:
            for byte in data:
                connection.send(bytes([byte]))
                time.sleep(trickle)
        else:
            try:
                connection.sendall(data)
            except OSError as error:
                return f"(send failed: {error.__class__.__name__})"
        if not read:
            return ""
        try:
            answer = connection.recv(200)
        except OSError as error:
            return f"(connection {error.__class__.__name__})"
    return answer.split(b"\r\n", 1)[0].decode("latin-1") or "(closed without an answer)"


async def malformed(quick: bool) -> None:
    say("\n== Malformed HTTP input, while another session does round trips ==")
    served = Served(str(SLIDERS))
    port = served.port
    try:
        prober = await Prober(served).start()
        await asyncio.sleep(1)
        cases = {
            "oversized header (100 kB)": b"GET /sliders HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
            "oversized body (Content-Length 200 MB)": b"POST /sliders HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\r\n" + b"a" * 100_000,
            "invalid UTF-8 in the path": b"GET /sliders%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n",
            "invalid UTF-8 in an argument": b"GET /sliders?N=%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n",
            "raw invalid UTF-8 bytes in the path": b"GET /sli\xff\xfeders HTTP/1.1\r\nHost: x\r\n\r\n",
            "not HTTP at all": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64 + b"\r\n\r\n",
            "invalid UTF-8 in a WebSocket path": b"GET /sliders/ws%ff HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        }
        for name, data in cases.items():
            mark, lines_before = prober.mark(), len(served.log.read_text(errors="replace").splitlines())
            answer = await asyncio.to_thread(raw_request, port, data)
            await asyncio.sleep(0.5)
            logged = served.log.read_text(errors="replace").splitlines()[lines_before:]
            say(f"{name}: answered {answer!r}; {len(logged)} log line(s)"
                + (f" ({logged[0].split(': ', 1)[-1][:100]!r})" if logged else "") + f"; other session: {prober.since(mark)}")
        # Slowloris: many connections trickling one header byte at a time.
        count = 50 if quick else 200
        mark = prober.mark()
        # /healthz: what is measured is holding the connections, not building 200 sessions at the end.
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 20 + b"\r\n\r\n"
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(count) as threads:
            answers = await asyncio.gather(*(loop.run_in_executor(threads, partial(raw_request, port, request, trickle=0.2))
                                             for _ in range(count)))
        say(f"slowloris: {count} connections trickling a byte every 200 ms ({time.monotonic() - started:.0f} s): "
            f"{sum(a.startswith('HTTP/1.1 200') for a in answers)} answered 200 at the end; "
            f"other session: {prober.since(mark)}")
        await prober.stop()
    finally:
        served.stop()


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


async def procs(quick: bool) -> None:
    say("\n== --num-procs 3: one worker SIGKILLed under load; then SIGTERM under load ==")
    marks = Path(tempfile.mkdtemp(prefix="bench-marks-"))
    served = Served(str(APPS / "lifecycle"), str(SLIDERS), "--num-procs", "3", env={"BENCH_MARKS": str(marks)})
    try:
        time.sleep(1)
        workers = children_of(served.process.pid)
        say(f"workers: {workers}")
        load = [await Session.open(served.base, served.port) for _ in range(10 if quick else 30)]
        prober = await Prober(served).start()
        stop_load = False

        async def drive(session: Session) -> None:
            while not stop_load:
                try:
                    await asyncio.wait_for(session.round_trip(), 10)
                except Exception:
                    return

        drivers = [asyncio.ensure_future(drive(s)) for s in load]
        await asyncio.sleep(2)
        mark = prober.mark()
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        await asyncio.sleep(3)
        lost = sum(d.done() for d in drivers)
        healthy = 0
        for _ in range(30):
            try:
                await served.health()
                healthy += 1
            except Exception:
                pass
        say(f"killed worker {victim}: {lost} of {len(load)} loaded sessions lost their socket; "
            f"{healthy}/30 health checks answered afterwards; workers now {children_of(served.process.pid)}")
        say("parent's log: " + ("; ".join(line.split(": ", 1)[-1] for line in served.lines(str(victim))) or "(nothing)"))
        say(f"prober (possibly on the killed worker, then reconnected): {prober.since(mark)}")
        fresh = []
        for _ in range(lost):
            fresh.append(await Session.open(served.base, served.port))
        say(f"{len(fresh)} lost pages opened again on the remaining workers (fresh sessions)")
        for _ in range(6):  # pages of the app whose hooks leave marks
            await AsyncHTTPClient().fetch(served.base + "/lifecycle", headers={"Connection": "close"})
        # SIGTERM under load.
        stop_load = False
        drivers += [asyncio.ensure_future(drive(s)) for s in fresh]
        await asyncio.sleep(1)
        open_sessions = len(load) + len(fresh) + 1
        await prober.stop()
        took = served.stop()
        stop_load = True
        destroyed = len(list(marks.glob("destroyed-*")))
        unloaded = len(list(marks.glob("unloaded-*")))
        say(f"SIGTERM with {open_sessions + 6} sessions, {open_sessions} under load: exited in {took:.1f} s, "
            f"exit code {served.process.returncode}; on_server_unloaded ran in {unloaded} of 3 workers, "
            f"on_session_destroyed for {destroyed} of the lifecycle app's 6 sessions")
        for d in drivers:
            d.cancel()
    finally:
        served.stop()


async def block(quick: bool) -> None:
    say("\n== App fault: a callback that blocks the loop for 5 s ==")
    served = Served(str(APPS / "blocking.py"), str(SLIDERS))
    try:
        prober = await Prober(served).start()
        await asyncio.sleep(1)
        mark = prober.mark()
        page = await AsyncHTTPClient().fetch(served.base + "/blocking")
        config = json.loads(CONFIG.search(page.body.decode()).group(1))
        ws = await websocket_connect(HTTPRequest(
            f"ws://127.0.0.1:{served.port}{config['wsUrl']}",
            headers={"Origin": f"http://localhost:{served.port}",
                     "Sec-WebSocket-Protocol": f"jupyter-bridge.v1, {config['token']}"}))
        button = None
        while button is None:
            message = json.loads(await ws.read_message())
            if message["type"] == "comm_open" and message["data"]["state"]["_model_name"] == "ButtonModel":
                button = message["comm_id"]
        ws.write_message(json.dumps({"type": "comm_msg", "id": "click", "comm_id": button,
                                     "data": {"method": "custom", "content": {"event": "click"}}}))
        await asyncio.sleep(8)
        say(f"other session during and after the block: {prober.since(mark)}")
        say("log: " + ("; ".join(line.split(": ", 1)[-1][:160] for line in served.lines("blocked")) or "(nothing)"))
        ws.close()
        await prober.stop()
    finally:
        served.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", default=["slow", "burst", "storm", "malformed", "procs", "block"])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--before", metavar="DIR",
                        help="burst: also run a checkout of another version at DIR, side by side")
    parser.add_argument("--pages", type=int, help="burst: pages loaded at once (default 200, 50 with --quick)")
    parser.add_argument("--flags", default="", metavar="FLAGS",
                        help="burst: one more column, this version served with these flags (e.g. '--full-gc idle')")
    parser.add_argument("--app", choices=["sliders", "dashboard"], default="sliders",
                        help="burst: the sliders app (a build of ~1 ms) or the sliders in a dashboard (~20 ms)")
    parser.add_argument("--prepared", type=int, metavar="N",
                        help="burst: also run with N sessions prepared ahead (default: as many as pages; 0: not)")
    options = parser.parse_args()
    for name in options.scenarios:
        if name == "burst":
            await burst(options.quick, options.before, options.pages, options.prepared, options.app, options.flags)
            continue
        scenarios = {"slow": slow, "unlimited": unlimited, "storm": storm, "malformed": malformed,
                     "procs": procs, "block": block}
        await scenarios[name](options.quick)


if __name__ == "__main__":
    asyncio.run(main())
