"""Every library of the widget gallery in headless Chromium: its own DOM, both directions, offline.

Each test opens one app of examples/widgets/ and checks what a user would see:
the library drew its widget, a Python callback's change reached the page, a
user event in the page reached Python (the app shows what arrived), and the
page logged no error and fetched nothing from off this machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import HAVE_CHROMIUM
from widget_pages import OSM_TILES, open_widget_page, widget_server

pytestmark = pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is not installed")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with widget_server() as base:
        yield base


def test_ipyleaflet_map_zooms_from_python_and_reports_clicks(server, browser):
    pytest.importorskip("ipyleaflet")
    with open_widget_page(browser, server + "/ipyleaflet_app", tiles=OSM_TILES) as page:
        page.wait_for_widget(".leaflet-container .leaflet-tile-loaded")
        assert page.tiles_served, "the map asked for no tile"

        # Python -> page: the slider's callback sets the map's zoom.
        slider = page.locator(".widget-slider .noUi-handle").first
        slider.focus()
        slider.press("ArrowRight")
        page.wait_for_function("() => document.querySelector('.leaflet-container .leaflet-tile-container img[src*=\"/5/\"]')")

        # page -> Python: a click on the map reaches the handler, which draws a circle there.
        box = page.locator(".leaflet-container").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_text("click at 52.")
        page.wait_for_widget(".leaflet-overlay-pane path.leaflet-interactive")
        page.assert_clean()
