"""Screenshots of every example page, light and dark, into docs/images/.

    python docs/screenshots.py [--out docs/images] [--only sliders dashboard]

Serves ``examples/*`` and the widget gallery (and the admin page) with ``jupyter-bridge serve`` on a free
port, opens each page in headless Chromium with the browser's colour scheme set
to light and then dark, and writes ``<page>-light.png`` and ``<page>-dark.png``.
Run it again after changing how pages look; never edit the images by hand.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
VIEWPORT = {"width": 1000, "height": 640}
#: The example pages, as the README's gallery command serves them.
GLOBS = ("*", "widgets/*", "widgets/notebooks/*")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer at {url}") from None
            time.sleep(0.2)


def page_paths(base: str) -> list[str]:
    """The index's apps, then the index itself and the admin page."""
    html = urllib.request.urlopen(base + "/").read().decode()
    return sorted(set(re.findall(r'<a href="(/[^"]+)"', html))) + ["/", "/admin"]


def shoot(base: str, paths: list[str], out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for scheme in ("light", "dark"):
                context = browser.new_context(color_scheme=scheme, viewport=VIEWPORT, device_scale_factor=1)
                page = context.new_page()
                for path in paths:
                    page.goto(base + path)
                    if path != "/":
                        # A failing app is shot as its error page, and said so.
                        page.wait_for_selector(
                            "#jupyter-bridge-roots[data-jb-ready='1'], .jb-error-page", timeout=60_000
                        )
                        if page.locator(".jb-error-page").count():
                            print(f"warning: {path} failed; its picture shows the error", file=sys.stderr)
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(700)  # transitions of the widgets' first paint
                    name = path.strip("/").replace("/", "-") or "index"
                    target = out / f"{name}-{scheme}.png"
                    page.screenshot(path=str(target))
                    written.append(target)
                context.close()
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--only", nargs="*", metavar="PAGE", help="only these pages (e.g. sliders index admin)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_bridge.cli", "serve", "--glob", *(str(ROOT / "examples" / p) for p in GLOBS),
         "--admin", "--port", str(port), "--address", "127.0.0.1", "--log-level", "warning"],
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/healthz", server)
        paths = page_paths(base)
        if args.only:
            wanted = {"/" + name.strip("/") if name != "index" else "/" for name in args.only}
            paths = [path for path in paths if path in wanted]
        for target in shoot(base, paths, args.out):
            print(target.relative_to(ROOT) if target.is_relative_to(ROOT) else target)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
