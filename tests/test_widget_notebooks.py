"""The ipywidgets documentation's notebooks, as notebook apps in headless Chromium.

examples/widgets/notebooks/ holds notebooks of our own after the documentation's
Widget List, Using Interact, Output Widget and Widget Events. Served as apps,
every widget class of ipywidgets 8 must render, and interact, Output and the
event cells must behave as they do in JupyterLab.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import ipywidgets
import pytest
from playwright.sync_api import expect
from support import HAVE_CHROMIUM, serving
from widget_pages import open_widget_page

pytestmark = pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is not installed")


@pytest.fixture(scope="module")
def server(widget_gallery: str) -> str:
    """The gallery's server, shared with the other gallery modules (test_widget_jupyter has its own)."""
    return widget_gallery


def widget_classes() -> list[str]:
    """Every widget class ipywidgets exports that has a view (``interactive`` has its own notebook)."""
    return sorted(
        name
        for name, value in vars(ipywidgets).items()
        if inspect.isclass(value)
        and issubclass(value, ipywidgets.DOMWidget)
        and value.class_traits()["_view_name"].default_value
        and name != "interactive"
    )


def slider(page, description: str):
    """The last slider whose description is exactly ``description``."""
    return page.locator(".widget-slider").filter(has=page.get_by_text(description, exact=True)).last


def readout(page, description: str):
    return slider(page, description).locator(".widget-readout")


def press_right(locator, times: int = 1) -> None:
    handle = locator.locator(".noUi-handle").first
    handle.focus()
    for _ in range(times):
        handle.press("ArrowRight")


def test_widget_list_renders_every_widget_class(server, browser):
    names = widget_classes()
    assert len(names) >= 50, names  # ipywidgets 8 has 55; a smaller list means the lookup broke
    with open_widget_page(browser, server + "/widget_list") as page:
        page.wait_for_widget(".jb-wl-GridspecLayout")
        not_shown = page.evaluate(
            """names => names.filter((name) => {
                const element = document.querySelector('.jb-wl-' + name);
                if (!element) return true;
                const box = element.getBoundingClientRect();
                return !(box.width > 0 && box.height > 0);
            })""",
            names,
        )
        assert not_shown == [], f"not rendered with a size: {not_shown}"

        # Each view is the library's own, with its own state.
        assert page.locator(".jb-wl-IntSlider .noUi-handle").count() == 1
        assert page.locator(".jb-wl-IntRangeSlider .noUi-handle").count() == 2
        assert page.locator(".jb-wl-Dropdown select").input_value() == "2"
        assert page.locator(".jb-wl-DatePicker input[type=date]").input_value() == "2026-12-03"
        assert page.locator(".jb-wl-ColorPicker input[type=color]").input_value() == "#0000ff"
        assert "Upload" in page.locator(".jb-wl-FileUpload").inner_text()
        tags = page.locator(".jb-wl-TagsInput").inner_text()
        assert "pizza" in tags and "fries" in tags
        assert page.locator(".jb-wl-Tab .lm-TabBar-tab").all_inner_texts() == ["Name", "Age"]
        # Lumino's TabBar (the page bundles only the Lumino widgets the controls use) switches tabs.
        page.locator(".jb-wl-Tab .lm-TabBar-tab", has_text="Age").click()
        page.wait_for_text("Age", ".jb-wl-Tab .lm-TabBar-tab.lm-mod-current")
        page.wait_for_function("() => document.querySelector('img.jb-wl-Image').naturalWidth === 48")
        assert page.locator(".jb-wl-Output").inner_text().strip() == "Printed into an Output widget."
        page.wait_for_function("() => document.querySelector('.jb-wl-Audio').duration > 0.4")

        # Browser-side links work: the Stack follows the Dropdown, b follows a.
        page.locator(".widget-dropdown select").nth(1).select_option("slider")
        page.wait_for_widget(".jb-wl-Stack .widget-slider")
        page.locator(".widget-text", has_text="a").last.locator("input").fill("3.5")
        page.locator(".widget-text", has_text="a").last.locator("input").press("Enter")
        page.wait_for_text("3.50", ".widget-slider .widget-readout")
        page.assert_clean()


def test_using_interact_runs_the_function_on_every_change(server, browser):
    with open_widget_page(browser, server + "/using_interact") as page:
        page.wait_for_widget(".widget-interact", count=9)
        interacts = page.locator(".widget-interact")
        first = interacts.nth(0)
        assert first.locator(".widget-output").inner_text().strip() == "10"
        press_right(first)
        page.wait_for_function(
            "() => document.querySelectorAll('.widget-interact')[0].querySelector('.widget-output').innerText.trim() === '11'"
        )

        interacts.nth(1).locator("input[type=checkbox]").click()
        page.wait_for_text("False", ".widget-interact:nth-of-type(1) .widget-output, .widget-output")

        text = interacts.nth(2).locator("input")
        text.fill("Bonjour")
        page.wait_for_text("Bonjour", ".widget-output")

        # fixed() arguments get no control; the decorator form works like the call.
        assert interacts.nth(4).locator(".widget-slider").count() == 1
        assert "(5, 20)" in interacts.nth(4).locator(".widget-output").inner_text()
        assert "(True, 1.0)" in interacts.nth(3).locator(".widget-output").inner_text()

        # interactive: prints and the return value land in its output.
        summed = interacts.nth(7)
        press_right(summed.locator(".widget-slider").first)
        page.wait_for_text("the sum is 31", ".widget-output")

        # interact_manual runs only on the button.
        manual = interacts.nth(8)
        press_right(manual.locator(".widget-slider").first, 2)
        assert "ran with" not in manual.inner_text()
        manual.get_by_role("button", name="Run Interact").click()
        page.wait_for_text("ran with 3", ".widget-output")

        # interactive_output with a layout of the notebook's own.
        press_right(slider(page, "a"), 2)
        press_right(slider(page, "b"), 3)
        press_right(slider(page, "c"), 4)
        page.wait_for_text("2 * 3 * 4 = 24", ".widget-output")
        page.assert_clean()


def test_output_widget_captures_prints_displays_callbacks_and_errors(server, browser):
    with open_widget_page(browser, server + "/output_widget") as page:
        page.wait_for_widget(".jb-out-cell")
        cell = page.locator(".jb-out-cell")
        assert "2 Hello world!" in cell.inner_text()
        assert cell.locator("i").inner_text() == "an HTML display inside"
        appended = page.locator(".jb-out-appended")
        assert "Output appended with append_stdout" in appended.inner_text()
        assert appended.locator("b").inner_text() == "appended display data"

        page.get_by_role("button", name="Print").click()
        page.wait_for_text("Button pressed 1 times", ".jb-out-log")
        page.get_by_role("button", name="Print").click()
        page.wait_for_text("Button pressed 2 times", ".jb-out-log")
        assert "Button pressed 1 times" in page.locator(".jb-out-log").inner_text()
        page.get_by_role("button", name="Clear").click()
        page.wait_for_function("() => document.querySelector('.jb-out-log').innerText.trim() === ''")

        # An exception inside capture() shows as a traceback in the Output, as in JupyterLab.
        page.get_by_role("button", name="Fail").click()
        page.wait_for_text("ValueError", ".jb-out-log")
        assert "a callback raised inside capture()" in page.locator(".jb-out-log").inner_text()

        # clear_output(wait=True) replaces the old value when the new one comes.
        page.get_by_role("button", name="Next").click()
        page.wait_for_text("value 1", ".jb-out-wait")
        page.get_by_role("button", name="Next").click()
        page.wait_for_text("value 2", ".jb-out-wait")
        assert "value 1" not in page.locator(".jb-out-wait").inner_text()
        page.assert_clean()


def test_widget_events_clicks_observers_and_links(server, browser):
    with open_widget_page(browser, server + "/widget_events") as page:
        page.wait_for_widget(".jb-ev-seen")
        page.get_by_role("button", name="Click Me!").click()
        page.wait_for_text("Button clicked.", ".jb-ev-clicks")
        page.get_by_role("button", name="Click Me!").click()
        page.wait_for_function(
            "() => document.querySelector('.jb-ev-clicks').innerText.trim().split('\\n').length === 2"
        )

        press_right(slider(page, "observed"))
        page.wait_for_text("value went from 0 to 1", ".jb-ev-seen")

        # link: both ways, through Python.
        press_right(slider(page, "link x"), 2)
        expect(readout(page, "link y")).to_have_text("2")
        press_right(slider(page, "link y"))
        expect(readout(page, "link x")).to_have_text("3")

        # dlink: one way, transformed.
        press_right(slider(page, "dlink from"), 3)
        expect(readout(page, "dlink to")).to_have_text("6")
        press_right(slider(page, "dlink to"))
        expect(readout(page, "dlink to")).to_have_text("7")
        assert readout(page, "dlink from").inner_text() == "3"

        # unlink() stops a link.
        a_input, b_input = page.locator(".widget-text input[type=number]").nth(0), page.locator(".widget-text input[type=number]").nth(1)
        a_input.fill("4")
        a_input.press("Enter")
        page.wait_for_function("() => document.querySelectorAll('.widget-text input[type=number]')[1].value === '4'")
        page.get_by_role("button", name="Unlink").click()
        a_input.fill("5")
        a_input.press("Enter")
        press_right(slider(page, "on release"))
        page.wait_for_text("released at 1", ".jb-ev-late")  # Python has handled everything sent before
        assert b_input.input_value() == "4"
        page.assert_clean()


FIGURES_NOTEBOOK = [
    "%matplotlib widget",
    "import ipywidgets as w\n"
    "import matplotlib.pyplot as plt\n"
    "import numpy as np\n"
    "from ipympl.backend_nbagg import Canvas\n"
    "from ipywidgets.widgets.widget import _instances\n"
    "from jupyter_bridge import curdoc\n"
    "x = np.linspace(0, 2 * np.pi, 200)\n"
    "plt.figure(figsize=(5, 3.5))\n"
    "(line,) = plt.plot(x, np.sin(x))",
    "frequency = w.FloatSlider(description='Frequency', min=1, max=5, step=0.5, value=1)\n"
    "def redraw(change):\n"
    "    line.set_ydata(np.sin(change['new'] * x))\n"
    "    plt.gcf().canvas.draw_idle()  # pyplot's current figure is this page's own\n"
    "frequency.observe(redraw, 'value')\n"
    "frequency",
    "alive = w.Label()\n"
    "alive.add_class('jb-alive')\n"
    "def count():  # the figure canvases alive in the whole process (every page's)\n"
    "    figures = sum(isinstance(widget, Canvas) for widget in list(_instances.values()))\n"
    "    alive.value = f'figures alive: {figures}; this page: {plt.get_fignums()}'\n"
    "count()\n"
    "curdoc().add_periodic_callback(count, 300)\n"
    "alive",
]


def write_figures_notebook(path: Path) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in FIGURES_NOTEBOOK]
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def figures_server(tmp_path_factory) -> Iterator[str]:
    pytest.importorskip("ipympl")
    folder = tmp_path_factory.mktemp("figures")
    write_figures_notebook(folder / "figures.ipynb")
    with serving(str(folder / "figures.ipynb"), "--unused-session-lifetime", "500", "--check-unused-sessions", "200") as base:
        yield base


CANVAS = ".jupyter-matplotlib-canvas-div canvas"
HAS_BLUE_CURVE = f"""() => {{ const c = document.querySelector('{CANVAS}');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 100 && d[i + 2] > 150) return true;
    return false; }}"""


def test_matplotlib_widget_in_a_notebook_app_draws_redraws_and_closes_per_page(figures_server, browser):
    url = figures_server + "/figures"
    with open_widget_page(browser, url) as first:
        first.wait_for_widget(CANVAS)
        first.wait_for_function(HAS_BLUE_CURVE)  # the figure shown after its cell, as with %matplotlib widget in JupyterLab
        first.wait_for_text("this page: [1]", ".jb-alive")
        look = first.look_of(".jupyter-matplotlib-figure")
        press_right(first.locator(".widget-slider"))
        first_look = first.wait_for_new_look(".jupyter-matplotlib-figure", look)  # the slider's callback redrew it

        with open_widget_page(browser, url) as second:
            second.wait_for_widget(CANVAS)
            second.wait_for_function(HAS_BLUE_CURVE)
            second.wait_for_text("this page: [1]", ".jb-alive")  # its own Figure 1, not the first page's
            second.wait_for_text("figures alive: 2", ".jb-alive")
            look = second.look_of(".jupyter-matplotlib-figure")
            press_right(second.locator(".widget-slider"), 2)
            second.wait_for_new_look(".jupyter-matplotlib-figure", look)
            assert first.locator(".jupyter-matplotlib-figure").count() == 1
            assert first.look_of(".jupyter-matplotlib-figure") == first_look  # the other page's figure is untouched
            second.assert_clean()
        first.wait_for_text("figures alive: 1", ".jb-alive")  # the closed page's figure went with its session
        first.assert_clean()


def test_matplotlib_widget_in_a_notebook_app_inside_jupyter_server(browser, tmp_path):
    """The same notebook, served by the Jupyter server extension at /bridge/apps/<path>."""
    pytest.importorskip("ipympl")
    from test_extension import TOKEN, JupyterServer, make_layout

    layout = make_layout(tmp_path)
    write_figures_notebook(layout.root / "figures.ipynb")
    jupyter = JupyterServer(layout, tmp_path, "--BridgeExtension.unused_session_lifetime=500")
    try:
        jupyter.wait_until_up()
        with open_widget_page(browser, f"{jupyter.url}bridge/apps/figures.ipynb?token={TOKEN}") as page:
            page.wait_for_widget(CANVAS)
            page.wait_for_function(HAS_BLUE_CURVE)
            page.wait_for_text("this page: [1]", ".jb-alive")
            look = page.look_of(".jupyter-matplotlib-figure")
            press_right(page.locator(".widget-slider"))
            page.wait_for_new_look(".jupyter-matplotlib-figure", look)
            page.assert_clean()
    finally:
        jupyter.stop()
