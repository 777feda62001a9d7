"""What browser tests of widget libraries share: one server, a watched page, waits.

A test module starts one server for all its tests and opens each page through
:func:`open_widget_page`, which watches everything a user would be hurt by::

    @pytest.fixture(scope="module")
    def server():
        with widget_server() as base:      # examples/widgets/ (+ any paths passed)
            yield base

    def test_map(server, browser):
        with open_widget_page(browser, server + "/ipyleaflet", tiles=OSM_TILES) as page:
            page.wait_for_widget(".leaflet-container")
            page.locator(".widget-button").click()
            page.wait_for_text("zoom 5")
            page.assert_clean()            # no console/page error, nothing left the machine

Requests to any host other than loopback are recorded and aborted, so a page
that would fetch from a CDN fails its test instead of working only online. A
map's tile server is the one exception a test may name (``tiles=``): those
requests are answered with a small local PNG and counted in ``tiles_served``.
"""

from __future__ import annotations

import fnmatch
import re
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from conftest import EXAMPLES
from support import serving

#: The widget gallery: one app per library, and the notebooks under notebooks/.
WIDGET_EXAMPLES = EXAMPLES / "widgets"

#: Tile servers of the maps in the gallery (ipyleaflet's default basemap is OpenStreetMap's).
OSM_TILES = ("*.tile.openstreetmap.org", "tile.openstreetmap.org")

#: The page client marks its roots container once the first document is displayed.
READY = "#jupyter-bridge-roots[data-jb-ready='1']"

_LOOPBACK = re.compile(r"^(localhost|127(\.\d+){3}|\[?::1\]?)$")


@contextmanager
def widget_server(*paths: str | Path) -> Iterator[str]:
    """``jupyter-bridge serve`` of every widget example (and ``paths``); yields its base URL.

    Sessions of closed tabs are dropped within seconds, so a module of many
    tests does not keep every library's widgets alive; a page that takes long to
    load its libraries' code still connects before its session would expire.
    """
    patterns = [str(WIDGET_EXAMPLES / "*.py"), str(WIDGET_EXAMPLES / "notebooks" / "*.ipynb"), *map(str, paths)]
    with serving(
        "--glob", *patterns, "--unused-session-lifetime", "15000", "--check-unused-sessions", "1000"
    ) as base:  # fmt: skip
        yield base


def is_loopback(url: str) -> bool:
    """Whether ``url`` stays on this machine (data:, blob: and about: URLs always do)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "chrome-extension", "devtools"):
        return True
    return bool(_LOOPBACK.match(parts.hostname or ""))


def tile_png(size: int = 256, rgb: tuple[int, int, int] = (170, 211, 223)) -> bytes:
    """A plain ``size``×``size`` PNG: what a local tile server would answer."""
    row = b"\x00" + bytes(rgb) * size
    body = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


class WidgetPage:
    """A Playwright page plus what it said and fetched: use it as the page itself."""

    def __init__(self, page, tiles: Iterable[str] = ()) -> None:
        self.page = page
        self.tile_hosts = tuple(tiles)
        #: Console messages of type "error", as "text (url:line)".
        self.console_errors: list[str] = []
        #: Uncaught exceptions and unhandled rejections in the page.
        self.page_errors: list[str] = []
        #: Every request (HTTP or WebSocket) addressed off this machine; none was sent.
        self.external: list[str] = []
        #: Tile requests answered with :func:`tile_png`.
        self.tiles_served: list[str] = []
        self._tile = tile_png()
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(f"{error.name}: {error.message}"))
        page.on("websocket", self._on_websocket)
        page.context.route("**/*", self._route)

    def __getattr__(self, name: str):
        return getattr(self.page, name)

    def _on_console(self, message) -> None:
        if message.type == "error":
            where = message.location or {}
            self.console_errors.append(f"{message.text} ({where.get('url', '')}:{where.get('lineNumber', '')})")

    def _on_websocket(self, socket) -> None:
        if not is_loopback(socket.url):
            self.external.append(socket.url)

    def _route(self, route) -> None:
        url = route.request.url
        if is_loopback(url):
            route.continue_()
        elif any(fnmatch.fnmatch(urlsplit(url).hostname or "", host) for host in self.tile_hosts):
            self.tiles_served.append(url)
            route.fulfill(status=200, body=self._tile, content_type="image/png")
        else:
            self.external.append(url)
            route.abort("blockedbyclient")

    def open(self, url: str, timeout: float = 90_000) -> WidgetPage:
        """Load ``url`` and wait until the page client has displayed the document.

        Generous, because the first session of some libraries is slow to build
        (altair's offline mode bundles Vega once per process, up to ~25 s here).
        """
        response = self.page.goto(url, timeout=timeout)
        if response is not None and response.status >= 400:
            said = (self.page.text_content("body") or "").strip()
            raise AssertionError(f"{url} answered {response.status}: {said[:500]}")
        self.page.wait_for_selector(READY, timeout=timeout)
        return self

    def wait_for_widget(self, selector: str, count: int = 1, timeout: float = 30_000) -> None:
        """Wait until ``count`` elements match ``selector`` and each is shown with a size.

        A view that attached its DOM but measured zero (a library that renders
        into an unsized box) does not count as rendered.
        """
        self.page.wait_for_function(
            """([selector, count]) => {
                const found = [...document.querySelectorAll(selector)];
                return found.length >= count && found.slice(0, count).every((element) => {
                    const box = element.getBoundingClientRect();
                    return box.width > 0 && box.height > 0 && getComputedStyle(element).visibility !== 'hidden';
                });
            }""",
            arg=[selector, count],
            timeout=timeout,
        )

    def wait_for_text(self, text: str, selector: str = "#jupyter-bridge-roots", timeout: float = 30_000) -> None:
        """Wait until an element matching ``selector`` shows ``text`` (a Python-side effect).

        Looks at text content and at the values of inputs, so a Label, an HTML
        widget or a Text box set by a Python callback all work.
        """
        self.page.wait_for_function(
            """([selector, text]) => [...document.querySelectorAll(selector)].some((element) =>
                (element.textContent || '').includes(text) ||
                [...element.querySelectorAll('input, textarea')].some((input) => input.value.includes(text)) ||
                (('value' in element) && String(element.value).includes(text)))""",
            arg=[selector, text],
            timeout=timeout,
        )

    def look_of(self, selector: str) -> bytes:
        """A screenshot of the first element matching ``selector``: what it shows now."""
        return self.page.locator(selector).first.screenshot(animations="disabled")

    def wait_for_new_look(self, selector: str, before: bytes, timeout: float = 30.0) -> bytes:
        """Wait until ``selector`` shows something else than ``before``; the new look.

        For views that draw on a canvas (WebGL, a data grid), where no DOM
        attribute says that an update from Python arrived.
        """
        deadline = time.monotonic() + timeout
        while (now := self.look_of(selector)) == before:
            assert time.monotonic() < deadline, f"{selector} still looks the same after {timeout} s"
            self.page.wait_for_timeout(100)
        return now

    def wait_for_still_look(self, selector: str, pause: float = 0.3, timeout: float = 30.0) -> bytes:
        """Wait until ``selector`` looks the same twice ``pause`` seconds apart (its animations are over)."""
        deadline = time.monotonic() + timeout
        before = self.look_of(selector)
        while True:
            self.page.wait_for_timeout(pause * 1000)
            if (now := self.look_of(selector)) == before:
                return now
            assert time.monotonic() < deadline, f"{selector} is still changing after {timeout} s"
            before = now

    def text_of(self, selector: str) -> str:
        """The text content of the first element matching ``selector``."""
        return self.page.locator(selector).first.text_content() or ""

    def problems(self, ignore: Iterable[str] = ()) -> list[str]:
        """Everything that went wrong, less console errors containing one of ``ignore``."""
        ignored = tuple(ignore)
        console = [error for error in self.console_errors if not any(part in error for part in ignored)]
        return (
            [f"console error: {error}" for error in console]
            + [f"page error: {error}" for error in self.page_errors]
            + [f"request left the machine: {url}" for url in self.external]
        )

    def assert_clean(self, ignore: Iterable[str] = ()) -> None:
        """No console error (bar ``ignore``), no page error, no request off this machine."""
        problems = self.problems(ignore)
        assert not problems, "\n".join(problems)


@contextmanager
def open_widget_page(browser, url: str | None = None, *, tiles: Iterable[str] = (), **context_options) -> Iterator[WidgetPage]:
    """A fresh browser context with one watched page (opened at ``url`` if given); closed after."""
    context = browser.new_context(**context_options)
    try:
        page = WidgetPage(context.new_page(), tiles)
        if url is not None:
            page.open(url)
        yield page
    finally:
        context.close()
