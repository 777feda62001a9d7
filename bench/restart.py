"""What a restart costs a page that comes back with its user's changes.

Serves ``examples/kept_changes.py`` (slider, dropdown, text, password, a bqplot
figure with a brush selector, a derived label) with ``jupyter-bridge serve`` and
prints three sets of figures:

- the restore on the server: a fresh session is opened as a page opens one
  (page GET, WebSocket, until its ``doc``), then sent a ``restore`` of N
  changes (slider, dropdown and text in turn, each running the app's callback);
  the time until its ``restored`` answer, next to the time the session took to
  open, medians over ``--runs``;
- the page's own bookkeeping, in headless Chromium: the time to find a widget's
  place when the tree changed (after every update the page receives) and to keep
  one change;
- the time from the server's return (its /healthz answers again) until a page
  that was open during a ``SIGTERM`` or ``SIGKILL`` and restart is usable again
  with its changes back (its label computed again), ``--restarts`` times each.
  It includes the page's wait before it tries again (at most 1 s after a
  SIGTERM; backing off from 0.5 s to 5 s after a SIGKILL).

Figures, not pass/fail.

    python bench/restart.py [--runs 20] [--restarts 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from sessions import CHECK_MS, OURS_CONFIG, ROOT, connect, decode_ours, free_port, get_page, log, stop_process

sys.path.insert(0, str(ROOT / "tests"))
from kept_form import use_the_form  # noqa: E402  (the form as tests/test_restart.py fills it)

APP = ROOT / "examples" / "kept_changes.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
CONTROLS = "@jupyter-widgets/controls"
SIZES = (0, 10, 100, 1000)
_ids = itertools.count(1)


def start(port: int, logdir: Path) -> subprocess.Popen:
    env_path = str(ROOT)
    out = open(logdir / f"server-{port}-{time.monotonic_ns()}.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_bridge.cli", "serve", str(APP), "--address", "127.0.0.1", "--port", str(port),
         "--check-unused-sessions", str(CHECK_MS)],
        cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONPATH": env_path},
    )
    wait_until_up(port, process)
    return process


def wait_until_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server on port {port} did not start") from None
            time.sleep(0.02)


def changes(count: int) -> list[dict]:
    kinds = [
        ([0, "children", 0], "IntSliderModel", lambda i: {"value": i % 11}),
        ([0, "children", 1], "DropdownModel", lambda i: {"index": i % 3}),
        ([0, "children", 2], "TextModel", lambda i: {"value": f"name {i}"}),
    ]
    return [
        {"place": place, "model": [CONTROLS, model], "state": state(i), "buffer_paths": []}
        for i, (place, model, state) in zip(range(count), itertools.cycle(kinds))
    ]


async def restore_once(port: int, count: int) -> tuple[float, float]:
    """Seconds to open a session until its doc, and to restore ``count`` changes into it."""
    base = f"http://127.0.0.1:{port}"
    began = time.perf_counter()
    config = json.loads(OURS_CONFIG.search(await get_page(base + "/kept_changes")).group(1))
    ws = await connect(base.replace("http", "ws", 1) + config["wsUrl"], port, ["jupyter-bridge.v1", config["token"]])
    while decode_ours(await ws.read_message())["type"] != "doc":
        pass
    opened = time.perf_counter() - began
    msg_id = f"r{next(_ids)}"
    began = time.perf_counter()
    ws.write_message(json.dumps({"type": "restore", "id": msg_id, "changes": changes(count)}))
    while True:
        message = decode_ours(await ws.read_message())
        if message["type"] == "restored" and message["parent"] == msg_id:
            assert message["applied"] == count, message
            break
    restored = time.perf_counter() - began
    ws.close(1000)
    return opened, restored


def server_figures(port: int, runs: int) -> None:
    log(f"restore on the server: {runs} runs per size")
    print("\n| changes restored | session open (p50) | restore (p50) | per change |")
    print("|---:|---:|---:|---:|")
    for count in SIZES:
        results = [asyncio.run(restore_once(port, count)) for _ in range(runs)]
        opened = statistics.median(r[0] for r in results) * 1000
        restored = statistics.median(r[1] for r in results) * 1000
        per = f"{restored / count * 1000:.0f} µs" if count else "–"
        print(f"| {count} | {opened:.1f} ms | {restored:.1f} ms | {per} |")


def page_figures(page) -> None:
    timings = page.evaluate("""async () => {
        const changes = window.jupyterBridge.changes;
        const models = await Promise.all(Object.values(window.jupyterBridge.manager._models));
        const slider = models.find(m => m.get('_model_name') === 'IntSliderModel').model_id;
        const runs = 1000;
        let began = performance.now();
        for (let i = 0; i < runs; i++) { changes.places = null; changes.placeOf(slider); }
        const place = (performance.now() - began) / runs;
        const count = changes.count;
        began = performance.now();
        for (let i = 0; i < runs; i++) { changes.sent(slider, {value: i % 11}, [], []); }
        const keep = (performance.now() - began) / runs;
        return {place, keep, models: models.length, count};
    }""")
    print(f"\nIn the page ({timings['models']} models): finding a widget's place after the tree changed "
          f"{timings['place'] * 1000:.0f} µs; keeping one change {timings['keep'] * 1000:.0f} µs.")


def restart_figures(port: int, logdir: Path, restarts: int) -> None:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        server = start(port, logdir)
        pages = []
        for _ in range(2):
            page = browser.new_context().new_page()
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{port}/kept_changes")
            page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']")
            use_the_form(page)
            pages.append(page)
        # One page for the bookkeeping figures (they keep changes of their own), one for the restarts.
        page_figures(pages[0])
        pages[0].context.close()
        page = pages[1]
        summary = page.locator(".widget-label:not(.widget-description-label)").last.inner_text()
        for how in [signal.SIGTERM, signal.SIGKILL] * restarts:
            os.killpg(server.pid, how)
            server.wait(60)
            page.wait_for_function("() => document.documentElement.dataset.jbState === 'reconnecting'")
            time.sleep(1)  # the server is away a while, as in a deploy
            server = start(port, logdir)
            back = time.monotonic()
            page.wait_for_function(
                "text => document.querySelector('.jb-status').textContent.includes('your changes are back')"
                " && [...document.querySelectorAll('.widget-label')].some(e => e.textContent === text)",
                arg=summary,
            )
            rows.append((how.name, time.monotonic() - back))
            page.locator(".jb-notice-dismiss").click()
        stop_process(server)
        browser.close()
    print("\n| stopped with | server answering → page usable with its changes (each run) |")
    print("|---|---|")
    for name in ("SIGTERM", "SIGKILL"):
        print(f"| {name} | {', '.join(f'{s:.2f} s' for n, s in rows if n == name)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--restarts", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as logs:
        logdir = Path(logs)
        port = free_port()
        server = start(port, logdir)
        try:
            asyncio.run(restore_once(port, 0))  # warm: the first session imports bqplot
            server_figures(port, options.runs)
        finally:
            stop_process(server)
        restart_figures(free_port(), logdir, options.restarts)


if __name__ == "__main__":
    main()
