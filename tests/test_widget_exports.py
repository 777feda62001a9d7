"""The widget gallery as static pages: `jupyter-bridge html`, opened from disk in Chromium, offline.

Each app of examples/widgets/ is exported and the file opened with no server:
the library's modules must come from the page itself (nothing is fetched, from
this machine or any other), its widget must draw from the saved state, and the
page must log no error. Libraries whose bundles cannot load in a page from disk
show the box naming the package instead, and the rest of the page works.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import HAVE_CHROMIUM
from test_widget_libraries import DRAWDATA_OWN_ERROR
from widget_pages import OSM_TILES, READY, WIDGET_EXAMPLES, open_widget_page

pytestmark = pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is not installed")

#: app -> (the package it needs, what its widget draws from the saved state)
DRAWN = {
    "plotly_app": ("plotly", ".js-plotly-plot .main-svg"),
    "ipyleaflet_app": ("ipyleaflet", ".leaflet-container .leaflet-tile-loaded"),
    "altair_app": ("altair", ".vega-embed svg, .vega-embed canvas"),
    "ipytree_app": ("ipytree", ".jstree-anchor"),
    "anywidget_app": ("anywidget", "#jupyter-bridge-roots button"),
    "drawdata_app": ("drawdata", "svg.dd-scatter-svg"),
    "jupyter_scatter_app": ("jscatter", "canvas"),
    "ipycanvas_app": ("ipycanvas", "canvas"),
    "ipympl_app": ("ipympl", ".jupyter-matplotlib-figure"),
    "ipyevents_app": ("ipyevents", ".widget-label"),
}

#: Bundles that find their own files (icons, fonts) from the address of an http(s)
#: script: webpack's "automatic public path" finds none in a page opened from disk.
NEEDS_AN_HTTP_PAGE = {"ipydatagrid_app": "ipydatagrid", "ipyvuetify_app": "ipyvuetify"}


def export(app: str, folder: Path) -> Path:
    target = folder / f"{app}.html"
    subprocess.run(
        [sys.executable, "-m", "jupyter_bridge.cli", "html", str(WIDGET_EXAMPLES / f"{app}.py"), "-o", str(target)],
        check=True, timeout=300,
    )  # fmt: skip
    return target


def open_from_disk(page, target: Path) -> None:
    # The watched page refuses what is not loopback; the file itself is the point here.
    page.context.route("file://**", lambda route: route.continue_())
    page.goto(target.as_uri())
    page.wait_for_selector(READY, timeout=60_000)


@pytest.mark.parametrize("app", sorted(DRAWN))
def test_a_static_export_draws_the_library_from_disk(app, tmp_path, browser):
    package, drawn = DRAWN[app]
    pytest.importorskip(package)
    target = export(app, tmp_path)
    with open_widget_page(browser, tiles=OSM_TILES) as page:
        open_from_disk(page, target)
        page.wait_for_widget(drawn)
        assert page.locator(".jb-missing-widget").count() == 0
        # Nothing but the file and the map's (locally answered) tiles was fetched.
        fetched = page.evaluate("performance.getEntriesByType('resource').map((entry) => entry.name)")
        assert [url for url in fetched if url.startswith(("http:", "https:", "ws:")) and "tile" not in url] == []
        page.assert_clean(ignore=[DRAWDATA_OWN_ERROR])


@pytest.mark.parametrize("app", sorted(NEEDS_AN_HTTP_PAGE))
def test_a_library_that_cannot_load_from_disk_is_named_in_the_page(app, tmp_path, browser):
    pytest.importorskip(NEEDS_AN_HTTP_PAGE[app])
    target = export(app, tmp_path)
    with open_widget_page(browser) as page:
        open_from_disk(page, target)
        box = page.locator(".jb-missing-widget").first
        box.wait_for()
        assert "package" in box.inner_text()
        # The rest of the page still renders: the app's ipywidgets controls.
        assert page.locator(".jupyter-widgets.widget-label, .widget-button, .widget-html").count() > 0
        assert page.page_errors == []
