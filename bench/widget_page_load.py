"""Cold loads of a page of ipympl + plotly + ipyleaflet: jupyter_bridge next to JupyterLab.

One notebook, ``bench/apps/widget_trio.ipynb`` (``%matplotlib widget``, an ipympl
figure, a plotly ``FigureWidget``, an ipyleaflet ``Map``), on both sides:

- **ours**: ``jupyter-bridge serve bench/apps/widget_trio.ipynb``; every load is a
  new session, which runs the notebook's cells in the (warm) server process;
- **JupyterLab**: a real ``jupyter lab`` on a loopback port with a token; every
  load opens the notebook in Lab and runs all its cells in Lab's own kernel, as
  soon as Lab says the notebook and its kernel are ready (``window.jupyterapp``,
  ``notebook:run-all-cells``: no UI latency counted).

Why run the cells rather than show saved outputs with widget state: state saved
in a notebook is a picture of the widgets with no Python behind them (an ipympl
figure cannot redraw, a slider moves nothing), while each of our pages is live.
Running the cells makes both sides do the same work: Python builds the widgets
(in a process that has imported the libraries already: our server after one
warm-up load, Lab's kernel started and warmed the same way, so neither side pays
a cold import or a kernel start) and sends their state, and the browser fetches
and runs every script it needs and renders the three views. The Lab figure
includes Lab's own application, which a user pays for to see that output. After
each Lab load the kernel's widgets and figures are closed (through a kernel
client), so every run starts from the same kernel state.

"Interactive", the same on both sides: all three libraries' own DOM is in the
page: ipympl's ``.jupyter-matplotlib-canvas-div canvas``, plotly's
``.js-plotly-plot .main-svg`` and leaflet's ``.leaflet-container``; the clock is
``performance.now()`` at that moment (milliseconds since navigation start),
read by the page itself. Map tiles are none: Chromium resolves no host but
loopback, so no request leaves the machine and tiles fail at once on both sides.

Each side is loaded ``--runs`` times, alternating which goes first, each in a
new browser context (empty cache) with the cache disabled through the DevTools
protocol, after one uncounted warm-up load each. Printed: medians of time to
interactive, DOMContentLoaded, HTTP bytes transferred (Chromium's
``encodedDataLength``: headers plus bodies as sent) and requests, with the ratio
ours / Lab's (the goal: time to interactive <= 2x Lab's). Figures, not pass/fail.

    python bench/widget_page_load.py [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from page_load import CHROMIUM, CHROMIUM_ARGS, Traffic, median, row
from sessions import ROOT, Server, free_port, start_server, stop_process

NOTEBOOK = ROOT / "bench" / "apps" / "widget_trio.ipynb"
TOKEN = "widget-page-load-0123456789"
TARGET = 2.0
#: Only loopback resolves: a map tile (or anything else) never leaves the machine.
BROWSER_ARGS = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
VIEWPORT = {"width": 1280, "height": 2400}  # every output on screen, so Lab renders every cell

INTERACTIVE = """() => {
    const ready = document.querySelector('.jupyter-matplotlib-canvas-div canvas')
        && document.querySelector('.js-plotly-plot .main-svg')
        && document.querySelector('.leaflet-container');
    return ready ? performance.now() : false;
}"""

#: In Lab's page: run all cells of the notebook as soon as it and its kernel are ready.
RUN_ALL_WHEN_READY = """async (path) => {
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    while (!window.jupyterapp) await sleep(5);
    const app = window.jupyterapp;
    await app.restored;
    let panel;
    while (!(panel = [...app.shell.widgets('main')].find((w) => w.context && w.context.path === path))) await sleep(5);
    await panel.context.ready;
    await panel.sessionContext.ready;
    app.shell.activateById(panel.id);
    await app.commands.execute('notebook:run-all-cells');
}"""

RESET_KERNEL = (
    "import ipywidgets as _w, matplotlib.pyplot as _plt\n"
    "_plt.close('all')\n"
    "_w.Widget.close_all()\n"
)


@dataclass
class Load:
    interactive_ms: float
    dom_content_loaded_ms: float
    http_bytes: int
    requests: int


class JupyterLab:
    """``jupyter lab`` in a folder of its own, the notebook open in a warm kernel."""

    def __init__(self, workdir: Path) -> None:
        self.name = "jupyterlab"
        self.root = workdir / "root"
        self.root.mkdir()
        shutil.copy(NOTEBOOK, self.root / NOTEBOOK.name)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.runtime = workdir / "runtime"
        settings = workdir / "settings" / "@jupyterlab" / "docmanager-extension"
        settings.mkdir(parents=True)
        # No autosave: the notebook on disk never gains outputs between loads.
        (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "JUPYTER_CONFIG_DIR": str(workdir / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
        }
        args = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.user_settings_dir={workdir / 'settings'}", f"--LabApp.workspaces_dir={workdir / 'workspaces'}",
        ]  # fmt: skip
        self.log_path = workdir / "jupyterlab.log"
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
        self.kernel_id = ""

    @property
    def page_url(self) -> str:
        return f"{self.base}/lab/tree/{NOTEBOOK.name}?reset&token={TOKEN}"

    def api(self, path: str, body: dict | None = None) -> object:
        request = urllib.request.Request(
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def start(self) -> None:
        """Wait for the server, then start the notebook's kernel (Lab's pages attach to it)."""
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}; see {self.log_path}")
            try:
                self.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer within 120 s; see {self.log_path}") from None
                time.sleep(0.2)
        session = self.api(
            "/api/sessions",
            {"path": NOTEBOOK.name, "name": NOTEBOOK.name, "type": "notebook", "kernel": {"name": "python3"}},
        )
        self.kernel_id = session["kernel"]["id"]  # type: ignore[index]

    def reset_kernel(self) -> None:
        """Close the widgets and figures the last load made, so every load starts from the same kernel."""
        from jupyter_client import BlockingKernelClient

        client = BlockingKernelClient()
        client.load_connection_file(str(self.runtime / f"kernel-{self.kernel_id}.json"))
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            reply = client.execute_interactive(RESET_KERNEL, timeout=60, output_hook=lambda _msg: None)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"resetting the kernel failed: {reply['content']}")
        finally:
            client.stop_channels()

    def stop(self) -> None:
        stop_process(self.process)


def start_ours(logdir: Path) -> Server:
    """``jupyter-bridge serve bench/apps/widget_trio.ipynb``."""
    port = free_port()
    args = [
        sys.executable, "-m", "jupyter_bridge.cli", "serve", str(NOTEBOOK.relative_to(ROOT)),
        "--address", "127.0.0.1", "--port", str(port),
        "--unused-session-lifetime", "1000", "--check-unused-sessions", "250",
    ]  # fmt: skip
    return start_server("jupyter_bridge", args, f"/{NOTEBOOK.stem}", port, logdir)


async def load_once(browser, side: Server | JupyterLab) -> Load:
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        traffic = Traffic()
        requests = 0

        def on_request(_event: dict) -> None:
            nonlocal requests
            requests += 1

        cdp.on("Network.loadingFinished", traffic.on_http)
        cdp.on("Network.requestWillBeSent", on_request)
        await cdp.send("Network.enable")
        await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        if isinstance(side, JupyterLab):
            await page.goto(side.page_url, wait_until="commit")
            await page.evaluate(RUN_ALL_WHEN_READY, NOTEBOOK.name)
        else:
            await page.goto(side.base + side.page_path, wait_until="commit")
        ready = await page.wait_for_function(INTERACTIVE, polling="raf", timeout=180_000)
        interactive = float(await ready.json_value())
        await page.wait_for_load_state("load")
        dcl = await page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
        return Load(interactive, dcl, traffic.http_bytes, requests)
    finally:
        await context.close()
        if isinstance(side, JupyterLab):
            await asyncio.to_thread(side.reset_kernel)


def report(loads: dict[str, list[Load]], runs: int) -> None:
    ours, lab = loads["jupyter_bridge"], loads["jupyterlab"]
    print(f"\nipympl + plotly + ipyleaflet, cold loads in headless Chromium, median of {runs}")
    print(f"  {'':<34}{'jupyter_bridge':>14}{'JupyterLab':>14}{'ours/Lab':>10}")
    figures = [  # label, Load field, divisor, unit
        ("time to interactive", "interactive_ms", 1, "ms"),
        ("DOMContentLoaded", "dom_content_loaded_ms", 1, "ms"),
        ("HTTP bytes transferred", "http_bytes", 1024, "kB"),
        ("requests", "requests", 1, ""),
    ]
    for label, field, divisor, unit in figures:
        print(row(label, median(ours, field) / divisor, median(lab, field) / divisor, unit))
    ratio = median(ours, "interactive_ms") / median(lab, "interactive_ms")
    print(f"  goal: time to interactive <= {TARGET}x JupyterLab's; measured {ratio:.2f}x")
    for name, runs_of in loads.items():
        times = ", ".join(f"{load.interactive_ms:.0f}" for load in runs_of)
        print(f"  {name} time to interactive, each run (ms): {times}")


async def measure(sides: dict[str, Server | JupyterLab], runs: int) -> dict[str, list[Load]]:
    from playwright.async_api import async_playwright

    loads: dict[str, list[Load]] = {name: [] for name in sides}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        try:
            for side in sides.values():
                await load_once(browser, side)  # warm-up: imports in our server and in Lab's kernel
            for run in range(runs):
                order = list(sides.items())
                for name, side in order if run % 2 == 0 else reversed(order):
                    load = await load_once(browser, side)
                    loads[name].append(load)
                    print(f"  run {run + 1}: {name:<15}{load.interactive_ms:6.0f} ms", file=sys.stderr, flush=True)
        finally:
            await browser.close()
    return loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="cold loads per side (default: 10)")
    options = parser.parse_args()
    for module in ("jupyterlab", "ipympl", "plotly", "ipyleaflet", "jupyter_client"):
        try:
            __import__(module)
        except ImportError:
            sys.exit(f"bench/widget_page_load.py needs {module}: pip install '.[test]'")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        lab = JupyterLab(workdir)
        ours: Server | None = None
        try:
            ours = start_ours(workdir)
            lab.start()
            loads = asyncio.run(measure({"jupyter_bridge": ours, "jupyterlab": lab}, options.runs))
        finally:
            lab.stop()
            if ours is not None:
                ours.stop()
    report(loads, options.runs)


if __name__ == "__main__":
    main()
