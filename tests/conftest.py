from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from jupyter_bridge.server import Server

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The packaging tests first: their minutes mostly wait on builds and installs,
    so with workers (``-n 2``) the other tests run beside them instead of after them."""
    items.sort(key=lambda item: item.get_closest_marker("packaging") is None)


@pytest.fixture
async def serve():
    """Start a real server on a free loopback port: ``server = serve(apps, **settings)``."""
    servers: list[Server] = []

    def start(apps: Any, **settings: Any) -> Server:
        settings.setdefault("port", 0)
        settings.setdefault("address", "127.0.0.1")
        server = Server(apps, **settings)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.shutdown()


@pytest.fixture
def widget_count():
    from ipywidgets.widgets.widget import _instances

    return lambda: len(_instances)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for one test module (Debian's; Playwright downloads none).

    Not for the whole run: Playwright's sync API keeps an event loop running in
    this thread while it lives, and the next module's asyncio tests could not start theirs.
    """
    from playwright.sync_api import sync_playwright
    from support import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A page in a fresh browser context; ``page.errors`` collects its uncaught errors."""
    from support import WAIT_MS

    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


@pytest.fixture(scope="session")
def widget_gallery():
    """One ``jupyter-bridge serve`` of the widget gallery for every module that opens it; its base URL."""
    from widget_pages import widget_server

    with widget_server() as base:
        yield base
