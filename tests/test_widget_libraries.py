"""Widget libraries that needed something of the page: ipympl, plotly, ipyevents, drawdata, exports.

Each test opens one app of examples/widgets/ in headless Chromium and checks
what a user would see: the library drew its widget, a Python callback's change
reached the page, a user event in the page reached Python (the app shows what
arrived), and the page logged no error and fetched nothing off this machine.
What each library needed is in docs/widgets.md.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import pytest
from conftest import EXAMPLES
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from support import HAVE_CHROMIUM
from widget_pages import open_widget_page

from jupyter_bridge.server.bridge import STATIC_DIR

pytestmark = pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is not installed")

#: A hash of what a canvas shows, to see it change.
CANVAS_HASH = """(selector) => {
    const canvas = document.querySelector(selector);
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let hash = 0;
    for (let i = 0; i < pixels.length; i += 4) hash = (hash * 31 + pixels[i] + pixels[i + 1] * 7 + pixels[i + 2] * 13) | 0;
    return hash;
}"""


@pytest.fixture(scope="module")
def server(widget_gallery: str) -> str:
    """The gallery's server, shared with the other gallery modules (test_widget_jupyter has its own)."""
    return widget_gallery


def test_ipympl_figure_has_its_size_redraws_from_python_and_hears_clicks(server, browser):
    pytest.importorskip("ipympl")
    with open_widget_page(browser, server + "/ipympl_app") as page:
        image = ".jupyter-matplotlib-canvas-div canvas"
        page.wait_for_widget(image)
        size = page.evaluate(f"() => [document.querySelector('{image}').width, document.querySelector('{image}').height]")
        assert size[0] >= 400 and size[1] >= 280, f"the figure's canvas is {size}"
        # The figure's image arrives after the canvas is sized: wait until the blue curve is on it.
        page.wait_for_function(
            f"""() => {{ const c = document.querySelector('{image}');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                for (let i = 0; i < d.length; i += 4) if (d[i] < 100 && d[i + 2] > 150) return true;
                return false; }}"""
        )
        before = page.evaluate(f"({CANVAS_HASH})", image)

        # Python -> page: the slider's callback redraws the curve.
        handle = page.locator(".widget-slider .noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
        page.wait_for_function(f"(before) => ({CANVAS_HASH})('{image}') !== before", arg=before)

        # page -> Python: a click in the axes reaches the matplotlib handler.
        box = page.locator(image).last.bounding_box()  # the top canvas, which listens for the mouse
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_text("click at x=")
        page.assert_clean()


def test_plotly_figure_widget_changes_from_python_and_reports_clicked_points(server, browser):
    pytest.importorskip("plotly")
    with open_widget_page(browser, server + "/plotly_app") as page:
        page.wait_for_widget(".js-plotly-plot .scatterlayer .trace .point", count=10)
        assert page.text_of(".js-plotly-plot .gtitle") == "y = x ** 2"

        # Python -> page: the slider's batch_update changes the trace and the title.
        handle = page.locator(".widget-slider .noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
        page.wait_for_function("() => document.querySelector('.js-plotly-plot .gtitle')?.textContent === 'y = x ** 3'")
        assert page.evaluate("() => document.querySelector('.js-plotly-plot').data[0].y[9]") == 729

        # page -> Python: a click on a point runs the trace's on_click handler.
        point = page.locator(".js-plotly-plot .scatterlayer .trace .point").nth(4).bounding_box()
        page.mouse.move(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)
        page.mouse.click(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)
        page.wait_for_text("clicked point 4: (4, 64)")
        page.assert_clean()


def test_ipyevents_from_its_jupyterlab_extension_hears_what_python_asks_for(server, browser):
    pytest.importorskip("ipyevents")
    with open_widget_page(browser, server + "/ipyevents_app") as page:
        page.wait_for_widget(".widget-html")
        area = page.locator(".widget-html")

        # page -> Python: a click is heard by the Python handler. The Event's module
        # loads after the HTML widget shows, so click until it listens.
        for _attempt in range(30):
            area.click(position={"x": 20, "y": 10})
            try:
                page.wait_for_text("heard click", timeout=1_000)
                break
            except PlaywrightTimeout:
                continue
        else:
            pytest.fail("no click reached the Python handler")
        # The module came from the package's JupyterLab extension (it has no nbextension).
        assert page.evaluate("() => typeof window._JUPYTERLAB?.ipyevents?.get") == "function"

        # Python -> page: the dropdown's callback has the page listen for double clicks
        # instead; one is heard as soon as the page has the change.
        page.locator(".widget-dropdown select").select_option("dblclick")
        page.wait_for_function(
            """() => { const area = document.querySelector('.widget-html');
                area.dispatchEvent(new MouseEvent('dblclick', { bubbles: true, clientX: 30, clientY: 30 }));
                return document.querySelector('#jupyter-bridge-roots').textContent.includes('heard dblclick'); }""",
            polling=200,
        )
        page.assert_clean()


#: drawdata sets its <svg>'s height attribute to "auto", which Chromium reports
#: as an error wherever the widget is shown (JupyterLab too); the SVG is sized by CSS.
DRAWDATA_OWN_ERROR = 'attribute height: Expected length, "auto"'


def test_drawdata_points_drawn_reach_python_and_python_adds_one(server, browser):
    pytest.importorskip("drawdata")
    with open_widget_page(browser, server + "/drawdata_app") as page:
        page.wait_for_widget("svg.dd-scatter-svg")

        # page -> Python: a click draws points, and Python counts them.
        box = page.locator("svg.dd-scatter-svg").bounding_box()
        page.mouse.move(box["x"] + 100, box["y"] + 100)
        page.mouse.click(box["x"] + 100, box["y"] + 100)
        page.wait_for_text("1 points: a 1")
        # A drag draws a batch of points.
        page.mouse.move(box["x"] + 200, box["y"] + 100)
        page.mouse.down()
        for step in range(1, 6):
            page.mouse.move(box["x"] + 200 + 20 * step, box["y"] + 100)
        page.mouse.up()
        page.wait_for_function(
            "() => /^([2-9]|\\d\\d+) points/.test(document.querySelectorAll('.widget-label')[0].textContent)"
        )
        drawn = page.evaluate("() => document.querySelectorAll('svg.dd-scatter-svg circle.drawn').length")

        # Python -> page: the button's callback adds a point of class c.
        page.get_by_role("button", name="Add a point").click()
        page.wait_for_function(
            "(drawn) => document.querySelectorAll('svg.dd-scatter-svg circle.drawn').length === drawn + 1", arg=drawn
        )
        page.wait_for_text("c 1")
        page.assert_clean(ignore=[DRAWDATA_OWN_ERROR])


def test_static_export_of_a_bqplot_app_shows_the_figure_from_disk(tmp_path, browser):
    pytest.importorskip("bqplot")
    target = tmp_path / "bq.html"
    subprocess.run(
        [sys.executable, "-m", "jupyter_bridge.cli", "html", str(EXAMPLES / "press_me_bqplot.py"), "-o", str(target)],
        check=True,
    )
    html = target.read_text()
    assert "static/nbextensions" not in html.split('id="jupyter-bridge-config"')[0]
    with open_widget_page(browser) as page:
        # The watched page refuses what is not loopback; the page on disk is the point here.
        page.context.route("file://**", lambda route: route.continue_())
        page.goto(target.as_uri())
        page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']")
        page.wait_for_widget(".bqplot.figure svg.svg-figure")
        # bqplot drew the figure: its black plot area, from the app's background_style.
        assert page.evaluate("() => getComputedStyle(document.querySelector('.bqplot .plotarea_background')).fill") == "rgb(0, 0, 0)"
        assert page.get_by_role("button", name="Press Me").is_visible()
        page.assert_clean()


def test_ipycanvas_draws_from_python_in_each_tab_and_hears_clicks(server, browser):
    pytest.importorskip("ipycanvas")
    canvas = "canvas.ipycanvas-canvas, .jupyter-widgets canvas"
    with open_widget_page(browser, server + "/ipycanvas_app") as first:
        first.wait_for_widget(canvas)
        # Shown at its own size, pixel for pixel (its layout says so), not stretched across the page.
        box = first.locator(canvas).first.bounding_box()
        assert (box["width"], box["height"]) == (320, 200), box
        first.wait_for_function(f"() => ({CANVAS_HASH})('{canvas}') !== 0")
    # The first tab has gone (its session too): the canvas manager ipycanvas made
    # when it was imported lives on for the next tabs.
    with open_widget_page(browser, server + "/ipycanvas_app") as page, open_widget_page(
        browser, server + "/ipycanvas_app"
    ) as other:
        for tab in (page, other):
            tab.wait_for_widget(canvas)
            tab.wait_for_function(f"() => ({CANVAS_HASH})('{canvas}') !== 0")
        before = page.evaluate(f"({CANVAS_HASH})", canvas)
        untouched = other.evaluate(f"({CANVAS_HASH})", canvas)

        # Python -> page: the slider's callback redraws this tab's canvas only.
        handle = page.locator(".widget-slider .noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
        page.wait_for_function(f"(before) => ({CANVAS_HASH})('{canvas}') !== before", arg=before)

        # page -> Python: a click reaches the canvas's Python handler.
        box = page.locator(canvas).first.bounding_box()
        page.mouse.click(box["x"] + 20, box["y"] + 20)
        page.wait_for_text("click at ")
        assert other.evaluate(f"({CANVAS_HASH})", canvas) == untouched
        assert "click at" not in other.text_of("#jupyter-bridge-roots")
        page.assert_clean()
        other.assert_clean()


#: The front-end packages of the libraries of the speed goal, as pages request them.
LIBRARY_MODULES = ("jupyter-matplotlib", "anywidget", "jupyter-leaflet")


def fetched_modules(browser, url: str, ready: str) -> tuple[set[str], list[str]]:
    """The widget packages a page fetched from /static/nbextensions/, and every script URL it loaded."""
    with open_widget_page(browser, tiles=("*.tile.openstreetmap.org", "tile.openstreetmap.org")) as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.open(url)
        page.wait_for_widget(ready)
        page.wait_for_load_state("networkidle")
        page.assert_clean()
    packages = {url.split("/static/nbextensions/", 1)[1].split("/index.js")[0] for url in requested if "/static/nbextensions/" in url}
    scripts = [url for url in requested if url.endswith(".js")]
    return packages, scripts


def loads_requirejs(url: str) -> bool:
    return url.rsplit("/", 1)[-1].startswith("require")


@functools.cache
def jquery_chunk() -> str:
    """The page client's file that holds jQuery (loaded on demand); the chunks are read once."""
    found = [path.name for path in STATIC_DIR.glob("chunk-*.js") if "jQuery requires a window with a document" in path.read_text()]
    assert len(found) == 1, found
    return found[0]


def loads_jquery(url: str) -> bool:
    return url.rsplit("/", 1)[-1] == jquery_chunk()


def test_a_page_fetches_only_the_widget_modules_its_own_widgets_name(server, browser):
    """A library's module is loaded only by pages that use it (the speed goal of the widget libraries)."""
    for library in ("ipympl", "plotly", "ipyleaflet"):
        pytest.importorskip(library)
    for app, ready, used in (
        ("ipympl_app", ".jupyter-matplotlib-canvas-div canvas", "jupyter-matplotlib"),
        ("plotly_app", ".js-plotly-plot .main-svg", "anywidget"),
        ("ipyleaflet_app", ".leaflet-container", "jupyter-leaflet"),
    ):
        packages, scripts = fetched_modules(browser, f"{server}/{app}", ready)
        assert used in packages, (app, packages)
        assert any(loads_requirejs(url) for url in scripts), scripts
        assert any(loads_jquery(url) for url in scripts), scripts  # a library's views may use $el
        assert not packages & (set(LIBRARY_MODULES) - {used}), f"{app} fetched {sorted(packages)}"

    # A page of core widgets only fetches no widget package at all, nor the AMD loader.
    packages, scripts = fetched_modules(browser, f"{server}/using_interact", ".widget-interact")
    assert packages == set(), packages
    assert not any(loads_requirejs(url) for url in scripts), scripts
    assert not any(loads_jquery(url) for url in scripts), scripts


#: Each DOM widget view of the page (a layout's or style's view has no element): its model's `_view_name`, whether its `$el` is a jQuery object, and whether it wraps the view's element.
VIEW_ELEMENTS = """async () => {
    const models = await Promise.all(Object.values(window.jupyterBridge.manager._models));
    const views = await Promise.all(models.flatMap((model) => Object.values(model.views)));
    return views.filter((view) => view.luminoWidget).map((view) => [view.model.get('_view_name'), typeof view.$el.jquery === 'string', view.$el[0] === view.el]);
}"""
#: How many canvases the figure's view finds with jQuery under its `$el`.
FIGURE_CANVASES = """async () => {
    const models = await Promise.all(Object.values(window.jupyterBridge.manager._models));
    const views = await Promise.all(models.flatMap((model) => Object.values(model.views)));
    return views.find((view) => view.model.get('_view_name') === 'MPLCanvasView').$el.find('canvas').length;
}"""


def test_every_view_s_el_is_jquery_once_a_widget_library_loaded(server, browser):
    """Libraries may use a view's `$el` (pythreejs: `this.$el.empty().append(...)`): jQuery comes with them."""
    pytest.importorskip("ipympl")
    with open_widget_page(browser, server + "/ipympl_app") as page:
        page.wait_for_widget(".jupyter-matplotlib-canvas-div canvas")
        views = page.evaluate(VIEW_ELEMENTS)
        # The slider's view is one of the page's own, made before jQuery came; the figure's is the library's.
        assert {"FloatSliderView", "MPLCanvasView"} <= {name for name, _, _ in views}, views
        assert all(is_jquery and wraps for _, is_jquery, wraps in views), views
        assert page.evaluate(FIGURE_CANVASES) > 0
        page.assert_clean()


def test_a_page_of_standard_controls_wraps_each_view_s_element_without_jquery(server, browser):
    with open_widget_page(browser, server + "/using_interact") as page:
        page.wait_for_widget(".widget-interact")
        views = page.evaluate(VIEW_ELEMENTS)
        assert views and all(not is_jquery and wraps for _, is_jquery, wraps in views), views
        page.assert_clean()
