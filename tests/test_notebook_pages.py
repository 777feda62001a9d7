"""A served notebook's page in Chromium: laid out as JupyterLab and Voila lay out widget views."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import CHROMIUM, serving
from test_notebook_app import write_notebook

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")

CELLS = (
    "md:# Views",
    "import numpy as np\nimport ipywidgets as w\nimport bqplot\nimport bqplot.pyplot as bq",
    "fig = bq.figure(title='squares')\nbq.plot(np.arange(10), np.arange(10) ** 2)\n"
    "fig.layout.width = '720px'\nfig.layout.height = '500px'\ndisplay(fig)\nbqplot.Toolbar(figure=fig)",
    "slider = w.IntSlider(description='shared')\ndisplay(slider)",
    "slider",
    "display(slider)",
    "%matplotlib widget\nimport matplotlib.pyplot as plt\nplt.figure()\nplt.plot([1, 2, 3]);",
    "print('last words')\nraise ValueError('stop here')",
    "w.Label('after the failure')",
)


@pytest.fixture(scope="module")
def views_page(browser, tmp_path_factory):
    folder = tmp_path_factory.mktemp("views")
    write_notebook(folder, *CELLS, name="views")
    with serving(str(folder / "views.ipynb")) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(base + "/views")
        page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=30_000)
        page.wait_for_selector(".jupyter-matplotlib canvas", timeout=30_000)
        page.wait_for_selector(".bqplot .svg-background", timeout=30_000)
        page.errors = errors  # type: ignore[attr-defined]
        yield page
        page.close()


def test_a_widget_displayed_in_three_cells_has_three_views_in_sync(views_page):
    page = views_page
    sliders = page.locator(".widget-slider")
    assert sliders.count() == 3
    handle = sliders.nth(1).locator(".noUi-handle")
    handle.focus()
    handle.press("ArrowRight")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-slider .widget-readout')].every(e => e.textContent === '1')"
    )


def test_a_bqplot_figure_is_sized_to_itself_and_its_toolbar_can_be_clicked(views_page):
    page = views_page
    sizes = page.evaluate("""() => [...document.querySelectorAll('.bqplot svg.svg-background')]
        .map(svg => { const r = svg.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; })""")
    assert sizes == [[720, 500]]
    assert page.evaluate("getComputedStyle(document.querySelector('.bqplot')).position") == "relative"
    # Nothing widens the page sideways (bqplot's background used to take the viewport's size).
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # The toolbar's PanZoom button is on top at its own place, so a click reaches it.
    button = page.locator(".widget-toggle-button").first
    box = button.bounding_box()
    on_top = page.evaluate(
        "([x, y, el]) => el.contains(document.elementFromPoint(x, y))",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, button.element_handle()],
    )
    assert on_top


def test_the_ipympl_toolbar_stays_inside_its_figure_below_the_header(views_page):
    page = views_page
    header = page.locator(".jb-header").bounding_box()
    figure = page.locator(".jupyter-matplotlib").first.bounding_box()
    toolbar = page.locator(".jupyter-matplotlib-toolbar").first.bounding_box()
    assert toolbar["y"] >= header["y"] + header["height"]
    assert figure["y"] <= toolbar["y"] <= figure["y"] + figure["height"]


def test_a_failing_cell_shows_after_what_ran_and_nothing_after_it(views_page):
    page = views_page
    error = page.locator(".jb-notebook-error")
    assert "cell 8 raised ValueError: stop here" in error.inner_text()
    assert "Traceback" not in error.inner_text()  # only with --dev
    texts = page.locator("#jupyter-bridge-roots").inner_text()
    assert texts.index("last words") < texts.index("cell 8 raised")
    assert "after the failure" not in texts
    assert page.errors == []


MATH_CELLS = (
    "md:# Math\n\nEnergy is $E = mc^2$, and a sum: $$\\sum_{i=1}^{n} x_i$$ with `$not_math$` in code.",
    "import ipywidgets as w\nfrom IPython.display import Math\nimport sympy",
    "w.HTMLMath(value=r'Area: $\\pi r^2$')",
    "w.Label(value=r'Angle $\\alpha$')",
    "w.FloatSlider(description=r'$\\beta$')",
    "Math(r'\\frac{a}{b}')",
    "x = sympy.symbols('x')\nsympy.Eq(x ** 2, 4)",
)


def test_math_is_typeset_in_markdown_widgets_and_latex_outputs(browser, tmp_path):
    write_notebook(tmp_path, *MATH_CELLS, name="math")
    with serving(str(tmp_path / "math.ipynb")) as base:
        page = browser.new_page()
        try:
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(base + "/math")
            page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=30_000)
            # Every place with math gets KaTeX's rendering: markdown (inline and display),
            # HTMLMath, a Label, a description, IPython's Math and a sympy expression.
            page.wait_for_function("document.querySelectorAll('.katex').length >= 7", timeout=20_000)
            markdown = page.locator(".jb-notebook-markdown")
            assert markdown.locator(".katex-display").count() == 1
            assert markdown.locator(".katex").count() == 2
            assert markdown.locator("code").inner_text() == "$not_math$"  # code is left alone
            for place in (
                page.locator(".widget-htmlmath", has_text="Area"),
                page.locator("div.widget-label", has_text="Angle"),
                page.locator(".widget-slider label.widget-label"),
            ):
                assert place.locator(".katex").count() == 1, place
            # KaTeX's stylesheet came with the math: it hides the MathML copy of each formula.
            assert page.evaluate("getComputedStyle(document.querySelector('.katex-mathml')).position") == "absolute"
            text = page.locator("#jupyter-bridge-roots").inner_text()
            assert "\\pi" not in text and "\\frac" not in text and "\\displaystyle" not in text
            assert errors == []
            page.screenshot(path=str(tmp_path / "math.png"), full_page=True)
        finally:
            page.close()


def test_a_page_without_math_loads_no_math_fonts(views_page):
    assert views_page.locator(".katex").count() == 0
    assert not views_page.evaluate(
        "performance.getEntriesByType('resource').some(e => e.name.includes('KaTeX') || /[/]math-[^/]*[.]css$/.test(e.name))"
    )


@pytest.fixture
def silent_address():
    """An address that takes connections and never answers, as an unreachable CDN behaves."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/vega-embed.js"
    listener.close()


def test_a_widget_whose_code_never_arrives_is_named_after_a_bound(browser, tmp_path, silent_address):
    esm = f"import embed from '{silent_address}';\nexport default {{ render({{ el }}) {{ el.textContent = 'drawn'; }} }};"
    write_notebook(
        tmp_path,
        "import anywidget, traitlets\nimport ipywidgets as w",
        f"class Chart(anywidget.AnyWidget):\n    _esm = {esm!r}\nChart()",
        "w.Label('the rest of the page')",
        name="cdn",
    )
    with serving(str(tmp_path / "cdn.ipynb")) as base:
        page = browser.new_page()
        try:
            page.goto(base + "/cdn")
            page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=40_000)
            # Still waiting after the bound: the page says which widget waits for what.
            box = page.wait_for_selector(".jb-not-loaded", timeout=40_000)
            text = box.inner_text()
            assert text.startswith("Chart of anywidget has not loaded after 15 s.") and silent_address in text
            assert page.locator(".widget-label", has_text="the rest of the page").is_visible()
        finally:
            page.close()




LINK_CELLS = (
    "import numpy as np\nimport ipywidgets as w\nimport bqplot as bq",
    "scale = bq.LinearScale()\n"
    "bars = bq.Bars(x=np.arange(5), y=np.arange(5.0), scales={'x': bq.OrdinalScale(), 'y': scale})\n"
    "figure = bq.Figure(marks=[bars], axes=[bq.Axis(scale=scale, orientation='vertical')])",
    # Each jslink copies its source to its target when the page makes its model:
    # first the scale's unset bounds, then the other slider's bound.
    "high = w.FloatSlider(min=0, max=10, description='high')\n"
    "low = w.FloatSlider(min=-1, max=10, description='low')\n"
    "w.jslink((scale, 'max'), (high, 'value'))\n"
    "w.jslink((scale, 'min'), (low, 'value'))\n"
    "w.jslink((low, 'max'), (high, 'value'))\n"
    "w.jslink((high, 'min'), (low, 'value'))\n"
    "high.value = 1.5\n"
    "w.VBox([low, high, figure])",
)


def test_models_are_made_and_shown_in_the_order_python_made_them(browser, tmp_path):
    """As from a kernel, where a jslink's model is made before the update after it
    and before the view of what it links: the scale's code loads while the links'
    models could be made at once, and no slider is drawn from the scale's unset bound."""
    write_notebook(tmp_path, *LINK_CELLS, name="links")
    with serving(str(tmp_path / "links.ipynb")) as base:
        page = browser.new_page()
        try:
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.goto(base + "/links")
            page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=30_000)
            page.wait_for_selector(".bqplot .svg-background", timeout=30_000)
            readouts = page.locator(".widget-slider .widget-readout").all_inner_texts()
            assert len(readouts) == 2 and all(float(text) == float(text) for text in readouts), readouts
            assert errors == []
        finally:
            page.close()


def test_a_view_that_cannot_be_made_shows_the_error_box_and_the_rest_of_the_page(browser, tmp_path):
    """A link that copies a scale's unset bound into a slider leaves it no value to draw
    (as in JupyterLab and Voila): that view shows ipywidgets' error box, nothing throws."""
    write_notebook(
        tmp_path,
        "import ipywidgets as w\nfrom bqplot import LinearScale",
        "broken = w.FloatSlider(description='broken')\nw.jsdlink((LinearScale(), 'max'), (broken, 'value'))\nbroken",
        "w.Label('the rest of the page')",
        name="broken",
    )
    with serving(str(tmp_path / "broken.ipynb")) as base:
        page = browser.new_page()
        try:
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(base + "/broken")
            page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=30_000)
            page.wait_for_selector(".jupyter-widgets-error-widget", timeout=30_000)
            assert page.locator(".widget-label", has_text="the rest of the page").is_visible()
            assert errors == []
        finally:
            page.close()
