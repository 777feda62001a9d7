"""Page loads in headless Chromium: jupyter_bridge next to Bokeh server, the same sliders app.

Serves ``examples/sliders.py`` with ``jupyter-bridge serve`` and
``bench/apps/bokeh_sliders.py`` with ``bokeh serve``, then loads each page
``--runs`` times, alternating, cold (each in a fresh browser context with the
cache disabled) and then warm (one context per server, its cache filled by an
uncounted load), and prints the medians:

- first paint: from navigation start (the page's clock) until the slider is
  drawn, read in the page at the first animation frame that shows it. Ours: its
  ``.noUi-handle`` inside ``#jupyter-bridge-roots[data-jb-drawn="1"]`` (the page
  client sets it once the first roots are displayed, from the state in the page
  or from the socket). Bokeh 3: the slider's ``.noUi-handle``, which BokehJS
  renders inside the Slider's shadow root once the session's document arrived
  over its socket (the search goes into open shadow roots);
- time to interactive: until the slider is drawn *and* a change of it reaches
  Python at once. Ours: ``#jupyter-bridge-roots[data-jb-ready="1"]`` (drawn, and
  the socket's ``hello`` has come). Bokeh: the same as its first paint;
- DOMContentLoaded (navigation start until the event handlers finished);
- bytes transferred over HTTP (Chromium's encodedDataLength: headers plus the
  body as sent, compressed if the server compressed it), and the WebSocket
  payload received until interactive.

One uncounted load of each warms the servers first. Figures, not pass/fail.
Bokeh is not a jupyter_bridge dependency: ``pip install bokeh`` to compare.
``--before DIR`` measures a checkout of another version (``git archive`` of main,
its built ``jupyter_bridge/static`` beside it) in the same run, its loads
interleaved with the others', so a busy machine weighs on both alike.

    python bench/page_load.py [--runs 10] [--server-nodelay] [--before DIR [--before-flags "..."]]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sessions import Server, start_bokeh, start_ours

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
#: What each page shows when drawn, and when interactive: CSS selectors, searched into open shadow roots.
MARKS = {
    "jupyter_bridge": {
        # A page client older than data-jb-drawn draws once ready.
        "paint": '#jupyter-bridge-roots[data-jb-drawn="1"] .noUi-handle, #jupyter-bridge-roots[data-jb-ready="1"] .noUi-handle',
        "interactive": '#jupyter-bridge-roots[data-jb-ready="1"] .noUi-handle',
    },
    "bokeh": {"paint": ".noUi-handle", "interactive": ".noUi-handle"},
}
MARKS["before"] = MARKS["jupyter_bridge"]
TARGET = 0.35

#: The DevTools binding the page calls with its marks once all are seen.
REPORT = "__pageLoadReport"
#: Run in the page before its own scripts: at each animation frame, the time each mark is first visible.
WATCH = """
(() => {
  const wanted = %(wanted)s;
  const marks = (window.__pageLoadMarks = {});
  const find = (root, selector) => {
    const found = root.querySelector(selector);
    if (found) return found;
    for (const element of root.querySelectorAll('*')) {
      const inner = element.shadowRoot && find(element.shadowRoot, selector);
      if (inner) return inner;
    }
    return null;
  };
  const shown = (element) => {
    if (!element) return false;
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  const frame = () => {
    for (const [name, selector] of Object.entries(wanted)) {
      if (!(name in marks) && shown(find(document, selector))) marks[name] = performance.now();
    }
    if (Object.keys(marks).length < Object.keys(wanted).length) requestAnimationFrame(frame);
    else window.%(report)s(JSON.stringify(marks));
  };
  requestAnimationFrame(frame);
})();
"""


@dataclass
class Load:
    paint_ms: float
    interactive_ms: float
    dom_content_loaded_ms: float
    http_bytes: int
    ws_bytes: int


class Traffic:
    """Counts what Chromium receives for one page, from the DevTools protocol's Network events."""

    def __init__(self) -> None:
        self.http_bytes = 0
        self.ws_bytes = 0

    def on_http(self, event: dict) -> None:
        self.http_bytes += int(event["encodedDataLength"])

    def on_ws(self, event: dict) -> None:
        response = event["response"]
        data = response["payloadData"]
        self.ws_bytes += len(data.encode()) if response["opcode"] == 1 else len(base64.b64decode(data))


async def load_once(context, server: Server, cold: bool) -> Load:
    """One load of the server's page in a new tab of ``context``; ``cold``: with the cache disabled."""
    page = await context.new_page()
    try:
        await page.add_init_script(WATCH % {"wanted": json.dumps(MARKS[server.name]), "report": REPORT})
        cdp = await context.new_cdp_session(page)
        traffic = Traffic()
        cdp.on("Network.loadingFinished", traffic.on_http)
        cdp.on("Network.webSocketFrameReceived", traffic.on_ws)
        await cdp.send("Network.enable")
        await cdp.send("Network.setCacheDisabled", {"cacheDisabled": cold})
        # The page reports its marks through a DevTools binding: waiting with Playwright's
        # wait_for_function would first evaluate Playwright's own script in the page
        # (about 30 ms of the main thread, in the middle of the load being measured).
        reported: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        cdp.on("Runtime.bindingCalled", lambda event: take_marks(reported, event))
        await cdp.send("Runtime.addBinding", {"name": REPORT})
        await cdp.send("Runtime.enable")
        await page.goto(server.base + server.page_path, wait_until="commit")
        marks = await asyncio.wait_for(reported, 60)
        ws_bytes = traffic.ws_bytes
        await page.wait_for_load_state("load")
        await page.wait_for_load_state("networkidle")
        dcl = await page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
        return Load(marks["paint"], marks["interactive"], dcl, traffic.http_bytes, ws_bytes)
    finally:
        await page.close()


def take_marks(reported: asyncio.Future[dict], event: dict) -> None:
    if event["name"] == REPORT and not reported.done():
        reported.set_result(json.loads(event["payload"]))


def median(loads: list[Load], attr: str) -> float:
    return statistics.median(getattr(load, attr) for load in loads)


def row(label: str, ours: float, bokeh: float, unit: str, before: float | None = None) -> str:
    line = f"  {label:<34}{ours:>10.0f} {unit:<3}{bokeh:>10.0f} {unit:<3}{ours / bokeh:>9.2f}"
    if before is not None:
        line += f"{before:>10.0f} {unit:<3}{before / bokeh:>11.2f}"
    return line


def report(loads: dict[str, list[Load]], runs: int, nodelay: bool, cache: str) -> None:
    ours, bokeh = loads["jupyter_bridge"], loads["bokeh"]
    sockets = "TCP_NODELAY forced on" if nodelay else "as shipped"
    print(f"\nsliders, {cache} loads in headless Chromium, median of {runs} (server sockets {sockets})")
    before = loads.get("before")
    heading = f"  {'':<34}{'jupyter_bridge':>14}{'bokeh':>14}{'ours/bokeh':>12}"
    print(heading + (f"{'before':>14}{'before/bokeh':>14}" if before else ""))
    figures = [  # label, Load field, divisor, unit
        ("first paint", "paint_ms", 1, "ms"),
        ("time to interactive", "interactive_ms", 1, "ms"),
        ("DOMContentLoaded", "dom_content_loaded_ms", 1, "ms"),
        ("HTTP bytes transferred", "http_bytes", 1024, "kB"),
        ("WebSocket bytes until interactive", "ws_bytes", 1024, "kB"),
    ]
    for label, field, divisor, unit in figures:
        then = median(before, field) / divisor if before else None
        print(row(label, median(ours, field) / divisor, median(bokeh, field) / divisor, unit, then))
    ratio = median(ours, "interactive_ms") / median(bokeh, "interactive_ms")
    print(f"  target: time to interactive <= {TARGET}x Bokeh's; measured {ratio:.2f}x")
    if before:
        print(f"  before: {median(before, 'interactive_ms') / median(bokeh, 'interactive_ms'):.2f}x")
        # Each run loads both versions back to back: the median of those pairs' differences
        # tells a few milliseconds apart where the machine's noise moves each median by more.
        for label, field in (("first paint", "paint_ms"), ("time to interactive", "interactive_ms")):
            pairs = statistics.median(getattr(now, field) - getattr(then, field) for now, then in zip(ours, before))
            print(f"  {label}, this version minus before, median of the runs' pairs: {pairs:+.0f} ms")
    for name, runs_of in loads.items():
        paints = ", ".join(f"{load.paint_ms:.0f}" for load in runs_of)
        times = ", ".join(f"{load.interactive_ms:.0f}" for load in runs_of)
        print(f"  {name} first paint, each run (ms): {paints}")
        print(f"  {name} time to interactive, each run (ms): {times}")


async def measure(servers: dict[str, Server], runs: int) -> dict[str, dict[str, list[Load]]]:
    """{"cold": {server: loads}, "warm": {server: loads}}."""
    from playwright.async_api import async_playwright

    loads: dict[str, dict[str, list[Load]]] = {"cold": {name: [] for name in servers}, "warm": {name: [] for name in servers}}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            warm = {}
            for server in servers.values():
                context = await browser.new_context()
                await load_once(context, server, cold=True)  # warms the server: not counted
                await context.close()
                warm[server.name] = await browser.new_context()
                await load_once(warm[server.name], server, cold=False)  # fills the cache: not counted
            for cache in ("cold", "warm"):
                for run in range(runs):
                    order = list(servers.values())
                    for server in order if run % 2 == 0 else reversed(order):
                        if cache == "cold":
                            context = await browser.new_context()
                            try:
                                load = await load_once(context, server, cold=True)
                            finally:
                                await context.close()
                        else:
                            load = await load_once(warm[server.name], server, cold=False)
                        loads[cache][server.name].append(load)
                        print(
                            f"  {cache} run {run + 1}: {server.name:<15}{load.paint_ms:6.0f} ms drawn, "
                            f"{load.interactive_ms:6.0f} ms interactive",
                            file=sys.stderr,
                            flush=True,
                        )
            for context in warm.values():
                await context.close()
        finally:
            await browser.close()
    return loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="cold loads, and warm loads, per server (default: 10)")
    parser.add_argument(
        "--server-nodelay", action="store_true",
        help="force TCP_NODELAY on both servers' session sockets (Bokeh does not set it; ours does)",
    )  # fmt: skip
    parser.add_argument(
        "--before", metavar="DIR", type=Path,
        help="also load the page of a checkout of another version at DIR, in the same run",
    )  # fmt: skip
    parser.add_argument(
        "--before-flags", default="", metavar="FLAGS",
        help='flags for that version\'s server, e.g. "--max-page-state 1048576"',
    )  # fmt: skip
    options = parser.parse_args()
    try:
        import bokeh  # noqa: F401
    except ImportError:
        sys.exit("bench/page_load.py compares with Bokeh server: pip install bokeh to compare")
    with tempfile.TemporaryDirectory() as tmp:
        logdir, nodelay = Path(tmp), options.server_nodelay
        servers = {"jupyter_bridge": start_ours(logdir, nodelay), "bokeh": start_bokeh(logdir, nodelay)}
        if options.before is not None:
            flags = tuple(options.before_flags.split())
            servers["before"] = start_ours(logdir, nodelay, root=options.before.resolve(), extra=flags)
        try:
            loads = asyncio.run(measure(servers, options.runs))
        finally:
            for server in servers.values():
                server.stop()
    for cache, loads_of in loads.items():
        report(loads_of, options.runs, options.server_nodelay, cache)


if __name__ == "__main__":
    main()
