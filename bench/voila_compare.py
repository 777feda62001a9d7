"""Every notebook of a folder served by jupyter_bridge and by Voila, side by side in headless Chromium.

    python bench/voila_compare.py FOLDER [--timeout 60] [--voila-python PATH] [--only TEXT] [--json FILE]

For each ``.ipynb`` under FOLDER (checkpoints left out), one page on each side:

- **ours**: ``jupyter-bridge serve NOTEBOOK`` on a free loopback port (one server
  per notebook; its ``/`` leads to the notebook's page), a fresh session per page;
- **Voila**: one ``voila FOLDER`` for the whole folder, each page at
  ``/voila/render/<path>`` with a kernel of its own (Voila runs it in the
  notebook's folder, as we run the cells).

Chromium resolves no host but loopback (``--host-resolver-rules``): nothing
leaves the machine, so a notebook that needs the network fails alike on both
sides. Voila is run with ``--voila-python`` (default: this Python) and must be
installed there; JUPYTER_PATH and the rest of the environment are passed on.

Per page, the same checks on both sides:

- **renders**: the page answered 200, no cell failed (our ``jb-notebook-error``,
  Voila's error output), no error in our page's error panel, no widget shows the
  error box of a view that could not be made, no uncaught page error;
- **views**: the widget views in the page, by kind (a view's first specific CSS
  class, e.g. ``widget-slider``, ``bqplot``, else its tag): the Lumino widgets
  inside our roots (our markdown and output wrappers left out) and inside Voila's
  outputs;
- **first widget**: seconds from navigation start to the first widget view shown
  with a size, read by the page itself (``performance.now()``);
- **control**: the page's first control a user can use (shown and enabled: slider,
  button, checkbox, dropdown, toggle buttons, text box) used as a user would; "changed" when, within 5 s,
  anything else in the notebook's part of the page changes (the DOM outside that
  control, or what the page shows with the control masked).

A notebook passes when ours renders wherever Voila's does, shows at least Voila's
views of each kind, and its first control changes the page wherever Voila's does.
Figures and verdicts, printed; never an exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Only loopback resolves: nothing a notebook asks for leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]  # fmt: skip
VIEWPORT = {"width": 1280, "height": 1000}
QUIET_MS = 3000  # a page is done when nothing in it changed for this long (bounded by --timeout)
CHANGE_WAIT_MS = 5000

#: Where each side's widget views are, and which of their elements are not views of the notebook's widgets.
SIDES = {
    "ours": {"area": "#jupyter-bridge-roots", "views": "#jupyter-bridge-roots .lm-Widget", "skip": "jb-notebook-"},
    "voila": {
        "area": "body",
        "views": ".jp-OutputArea-output .lm-Widget",
        "skip": "\0",
    },
}

#: Before any of the page's scripts: note the first widget view shown with a size, and the last DOM change.
WATCH = """(side) => {
    window.__bench = { seen: new Map(), lastChange: performance.now() };
    const generic = new Set(['lm-Widget', 'lm-Panel', 'jupyter-widgets', 'widget-container', 'widget-box',
        'widget-inline-hbox', 'widget-inline-vbox', 'p-Widget', 'p-Panel']);
    // A view's kind: its first specific class (else its tag); null for what is not a widget's view
    // (our markdown and output wrappers, JupyterLab's rendered outputs inside an Output widget).
    window.__benchKind = (element, side) => {
        const classes = [...element.classList];
        if (classes.some((name) => name.startsWith(side.skip) || name.startsWith('jp-'))) return null;
        // The error box of a view that could not be made is an error (see ERRORS), not a view.
        if (element.querySelector(':scope > .jupyter-widgets-error-widget')) return null;
        return classes.find((name) => !generic.has(name) && !name.startsWith('jb-') && !name.startsWith('mod-'))
            || element.tagName.toLowerCase();
    };
    const shown = (element) => {
        const box = element.getBoundingClientRect();
        return box.width > 0 && box.height > 0;
    };
    const look = () => {
        window.__bench.lastChange = performance.now();
        // When each element was first shown; which of them are views is decided at the end,
        // once a view's classes are all set (ours get theirs just after they appear).
        for (const element of document.querySelectorAll(side.views)) {
            if (!window.__bench.seen.has(element) && shown(element)) {
                window.__bench.seen.set(element, performance.now());
            }
        }
    };
    new MutationObserver(look).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
}"""

#: The views in the page by kind.
VIEWS = """(side) => {
    const kinds = {};
    for (const element of document.querySelectorAll(side.views)) {
        const kind = window.__benchKind(element, side);
        if (kind !== null) kinds[kind] = (kinds[kind] || 0) + 1;
    }
    return kinds;
}"""

#: When the first view still in the page was shown, and its kind.
FIRST_VIEW = """(side) => {
    let first = null, kind = null;
    for (const [element, at] of window.__bench.seen) {
        const its = element.isConnected ? window.__benchKind(element, side) : null;
        if (its !== null && (first === null || at < first)) [first, kind] = [at, its];
    }
    return [first, kind];
}"""

#: The errors the page shows.
ERRORS = """(side) => {
    const found = [];
    for (const element of document.querySelectorAll('.jb-notebook-error, .jb-errors .jb-error, '
            + '[data-mime-type="application/vnd.jupyter.error"]')) {
        found.push(element.textContent.trim().slice(0, 160));
    }
    for (const element of document.querySelectorAll('.jupyter-widgets-error-widget')) {
        found.push(`a widget's view could not be made: ${(element.title || element.textContent).trim().slice(0, 120)}`);
    }
    for (const element of document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')) {
        if (element.textContent.includes('There was an error when executing cell')) {
            found.push(element.textContent.trim().slice(0, 160));
        }
    }
    return found;
}"""

CONTROLS = (
    ".widget-slider .noUi-handle, .widget-hslider .noUi-handle, .widget-vslider .noUi-handle, button.jupyter-button, "
    ".widget-checkbox input, .widget-dropdown select, .widget-toggle-buttons button, .widget-text input"
)

#: Mark the first control, and start noting changes outside its view.
ARM = """([side, controls]) => {
    const area = document.querySelector(side.area);
    // The first control a user can use: shown and enabled (bqplot's figures carry hidden buttons).
    const usable = (element) => {
        const box = element.getBoundingClientRect();
        const style = getComputedStyle(element);
        return box.width > 0 && box.height > 0 && !element.disabled && style.visibility !== 'hidden';
    };
    const control = area && [...area.querySelectorAll(controls)].find(usable);
    if (!control) return null;
    const view = control.closest('.lm-Widget') || control;
    view.setAttribute('data-bench-control', '');
    window.__bench.changed = false;
    new MutationObserver((records) => {
        if (records.some((record) => !view.contains(record.target) && !record.target.contains?.(view))) {
            window.__bench.changed = true;
        }
    }).observe(area, { subtree: true, childList: true, attributes: true, characterData: true });
    const kind = control.matches('.noUi-handle') ? 'slider' : control.matches('select') ? 'dropdown'
        : control.matches('input[type=checkbox]') ? 'checkbox' : control.matches('input') ? 'text' : 'button';
    return kind;
}"""


@dataclass
class Page:
    status: int = 0
    errors: list[str] = field(default_factory=list)
    views: dict[str, int] = field(default_factory=dict)
    first_view: float | None = None  # seconds from navigation start
    first_kind: str | None = None
    control: str | None = None  # the kind of control used, if any
    changed: bool | None = None

    @property
    def renders(self) -> bool:
        return self.status == 200 and not self.errors


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}") from None
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=20)


def start(command: list[str], cwd: Path, ready: str, log: Path) -> subprocess.Popen:
    output = log.open("ab")
    process = subprocess.Popen(command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    output.close()
    try:
        wait_for_http(ready, process, timeout=120)
    except Exception:
        stop(process)
        raise
    return process


def visit(browser, url: str, side: str, timeout: float) -> Page:
    """Open ``url`` in a fresh context, wait until it is done, check it and use its first control."""
    result = Page()
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(timeout * 1000)
    page.on("pageerror", lambda error: result.errors.append(f"page error: {str(error)[:160]}"))
    settings = SIDES[side]
    page.add_init_script(f"({WATCH})({json.dumps(settings)})")
    try:
        response = page.goto(url, wait_until="load", timeout=timeout * 1000)
        result.status = response.status if response is not None else 0
        if side == "ours":
            page.wait_for_function(
                "() => document.querySelector('#jupyter-bridge-roots[data-jb-ready=\"1\"]') !== null", timeout=timeout * 1000
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if page.evaluate(f"() => performance.now() - window.__bench.lastChange > {QUIET_MS}"):
                break
            page.wait_for_timeout(200)
        result.errors += page.evaluate(f"({ERRORS})", settings)
        result.views = page.evaluate(f"({VIEWS})", settings)
        first, result.first_kind = page.evaluate(f"({FIRST_VIEW})", settings)
        result.first_view = None if first is None else round(first / 1000, 2)
        result.control = page.evaluate(f"({ARM})", [settings, CONTROLS])
        if result.control is not None:
            result.changed = use_control(page, result.control)
    except Exception as error:  # a page that never gets done is a failure of that page, not of the run
        result.errors.append(f"{type(error).__name__}: {str(error).splitlines()[0][:160]}")
    finally:
        context.close()
    return result


def use_control(page, kind: str) -> bool:
    control = page.locator(f"[data-bench-control] {CONTROL_PART[kind]}").first
    if page.locator("[data-bench-control]").first.evaluate(f"(e) => e.matches({json.dumps(CONTROL_PART[kind])})"):
        control = page.locator("[data-bench-control]").first
    masked = page.locator("[data-bench-control]")
    before = page.screenshot(full_page=True, mask=[masked], animations="disabled")
    if kind == "slider":
        control.focus()
        control.press("ArrowRight")
    elif kind == "dropdown":
        count = control.evaluate("(select) => select.options.length")
        index = control.evaluate("(select) => select.selectedIndex")
        if count > 1:
            control.select_option(index=(index + 1) % count)
    elif kind == "text":
        control.fill("42")
        control.press("Enter")
    else:
        control.click()
    deadline = time.monotonic() + CHANGE_WAIT_MS / 1000
    while time.monotonic() < deadline:
        if page.evaluate("() => window.__bench.changed"):
            return True
        page.wait_for_timeout(100)
    return page.screenshot(full_page=True, mask=[masked], animations="disabled") != before


CONTROL_PART = {
    "slider": ".noUi-handle",
    "dropdown": "select",
    "checkbox": "input",
    "text": "input",
    "button": "button",
}


def notebooks(folder: Path, only: str | None) -> list[Path]:
    found = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    return [p for p in found if only is None or only in str(p.relative_to(folder))]


def verdict(ours: Page, voila: Page) -> tuple[bool, list[str]]:
    why = []
    if voila.renders and not ours.renders:
        why.append("error: " + "; ".join(ours.errors or [f"HTTP {ours.status}"])[:200])
    fewer = {kind: (ours.views.get(kind, 0), count) for kind, count in voila.views.items() if ours.views.get(kind, 0) < count}
    if fewer:
        why.append("fewer views: " + ", ".join(f"{kind} {mine}<{theirs}" for kind, (mine, theirs) in sorted(fewer.items())))
    if voila.changed and not ours.changed:
        why.append(f"the first control ({ours.control or 'none'}) changed nothing")
    return not why, why


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a page may take to be done (each side)")
    parser.add_argument("--voila-python", default=sys.executable, help="the Python that has Voila installed")
    parser.add_argument("--only", help="only the notebooks whose path (under FOLDER) contains this")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    folder = args.folder.resolve()
    found = notebooks(folder, args.only)
    if not found:
        raise SystemExit(f"no notebook under {folder}")
    check = subprocess.run([args.voila_python, "-c", "import voila"], capture_output=True)
    if check.returncode != 0:
        raise SystemExit(f"Voila is not installed for {args.voila_python}: pip install voila, or pass --voila-python")

    logs = Path(tempfile.mkdtemp(prefix="voila-compare-"))
    env_python = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env_python]))
    voila_port = free_port()
    voila = start(
        [args.voila_python, "-m", "voila", str(folder), "--no-browser", f"--port={voila_port}", "--Voila.ip=127.0.0.1"],
        folder, f"http://127.0.0.1:{voila_port}/voila/static/voila.js", logs / "voila.log",
    )  # fmt: skip
    rows: list[dict] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for notebook in found:
                name = str(notebook.relative_to(folder))
                print(f"… {name}", file=sys.stderr, flush=True)
                port = free_port()
                try:
                    server = start(
                        [sys.executable, "-m", "jupyter_bridge.cli", "serve", str(notebook), "--port", str(port),
                         "--address", "127.0.0.1", "--log-level", "warning"],
                        notebook.parent, f"http://127.0.0.1:{port}/healthz", logs / "ours.log",
                    )  # fmt: skip
                except RuntimeError as error:
                    ours = Page(errors=[f"server: {error}"])
                else:
                    try:
                        ours = visit(browser, f"http://127.0.0.1:{port}/", "ours", args.timeout)
                    finally:
                        stop(server)
                path = urllib.parse.quote(name)
                theirs = visit(browser, f"http://127.0.0.1:{voila_port}/voila/render/{path}", "voila", args.timeout)
                passed, why = verdict(ours, theirs)
                rows.append({"notebook": name, "ours": asdict(ours), "voila": asdict(theirs), "passes": passed, "why": why})
                print(f"  {'pass' if passed else 'FAIL'} {'; '.join(why)}", file=sys.stderr, flush=True)
            browser.close()
    finally:
        stop(voila)

    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(f"\nServer logs: {logs}")


def print_table(rows: list[dict]) -> None:
    def views(page: dict) -> str:
        return str(sum(page["views"].values()))

    def control(page: dict) -> str:
        if page["control"] is None:
            return "none"
        return f"{page['control']}: {'changed' if page['changed'] else 'no change'}"

    header = ["notebook", "renders ours/Voila", "views ours/Voila", "first widget s ours/Voila", "control ours", "control Voila", "verdict"]
    lines = [header]
    for row in rows:
        ours, theirs = row["ours"], row["voila"]
        renders = lambda page: "yes" if page["status"] == 200 and not page["errors"] else "NO"  # noqa: E731
        lines.append([
            row["notebook"], f"{renders(ours)}/{renders(theirs)}", f"{views(ours)}/{views(theirs)}",
            f"{seconds(ours['first_view'])}/{seconds(theirs['first_view'])}", control(ours), control(theirs),
            "pass" if row["passes"] else "FAIL: " + "; ".join(row["why"]),
        ])  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for line in lines[1:]:
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |")
    checkable = [row for row in rows if row["voila"]["status"] == 200 and not row["voila"]["errors"]]
    print(f"\n{sum(row['passes'] for row in rows)} of {len(rows)} pass; "
          f"{sum(row['passes'] for row in checkable)} of the {len(checkable)} that Voila renders without error.")  # fmt: skip


if __name__ == "__main__":
    main()
