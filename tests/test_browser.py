"""End to end in headless Chromium: real pages, real widget views, real WebSockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES
from support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RECORD_FIRST_ROOT_VALUES,
    WAIT_MS,
    free_port,
    serving,
    wait_for_http,
)

from jupyter_bridge.tokens import generate_secret_key

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")


@pytest.fixture(scope="module")
def app_server() -> Iterator[str]:
    """`jupyter-bridge serve` of the examples, as a user would start it."""
    with serving(
        "--glob", str(EXAMPLES / "*"), "--unused-session-lifetime", "1000", "--check-unused-sessions", "200"
    ) as base:
        yield base


def new_tab(browser):
    """A page in a context of its own (its own cookies), waiting as long as ``page`` does."""
    tab = browser.new_context().new_page()
    tab.set_default_timeout(WAIT_MS)
    return tab


def open_app(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=WAIT_MS)


def move_slider(page, steps: int) -> None:
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    for _ in range(steps):
        handle.press("ArrowRight")


def label_text(page) -> str:
    return page.locator(".widget-label").last.inner_text()


def test_slider_runs_python_and_tabs_are_independent(app_server, browser, page):
    open_app(page, app_server + "/sliders")
    assert page.title() == "Sliders"
    assert label_text(page) == "value*2 = 0"

    move_slider(page, 3)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 6')"
    )
    # Every step reached Python, not only the first (the page waits for each "idle").
    move_slider(page, 2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 10')"
    )

    other = new_tab(browser)
    other_errors: list[str] = []
    other.on("pageerror", lambda error: other_errors.append(str(error)))
    open_app(other, app_server + "/sliders")
    assert label_text(other) == "value*2 = 0"
    move_slider(other, 1)
    other.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 2')"
    )
    assert label_text(page) == "value*2 = 10"
    assert page.errors == [] and other_errors == []  # type: ignore[attr-defined]
    other.context.close()


def test_press_me_adds_one_number_per_click(app_server, page):
    open_app(page, app_server + "/button_random")
    assert page.locator("svg text.jb-point").count() == 0
    button = page.get_by_role("button", name="Press Me")
    for clicks in range(1, 4):
        button.click()
        page.wait_for_function(f"() => document.querySelectorAll('svg text.jb-point').length === {clicks}")
    assert page.locator("svg text.jb-point").nth(2).text_content() == "2"


def test_thread_updates_arrive(app_server, page):
    open_app(page, app_server + "/thread_updates")
    page.wait_for_function(
        "() => Number(document.querySelector('.widget-text input').value) >= 3"
    )
    assert "latest first:" in page.locator(".widget-label").last.inner_text()


def test_page_shows_disconnection(app_server, page):
    open_app(page, app_server + "/sliders")
    assert page.evaluate("document.documentElement.dataset.jbState") == "connected"
    page.evaluate("window.jupyterBridge.connection.socket && window.jupyterBridge.connection.socket.close()")
    # The page reconnects to the same session and goes on working.
    page.wait_for_function("document.documentElement.dataset.jbState === 'connected'")
    move_slider(page, 1)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 2')"
    )


LINKED_APP = """
import ipywidgets as w
from jupyter_bridge import curdoc
a = w.IntSlider(description="a")
b = w.IntText(description="b")
w.jslink((a, "value"), (b, "value"))
out = w.Output()
out.append_stdout("printed before the export")
html = w.Checkbox(description="<b>bold</b>", description_allow_html=True)
curdoc().title = "Linked"
curdoc().add_root(w.VBox([a, b, w.Button(description="ok", icon="check"), out, html]))
"""


def test_static_page_works_offline_with_browser_side_links(tmp_path, page):
    app = tmp_path / "linked.py"
    app.write_text(LINKED_APP)
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_bridge.cli", "html", str(app), "-o", str(tmp_path / "linked.html")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto((tmp_path / "linked.html").as_uri())
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=WAIT_MS)
    assert page.title() == "Linked"
    # The Output widget and the HTML sanitizer are in the page's one script.
    page.wait_for_selector(".widget-output >> text=printed before the export")
    page.wait_for_selector(".widget-checkbox b")
    move_slider(page, 2)
    page.wait_for_function("document.querySelector('.widget-text input').value === '2'")
    assert [url for url in requested if not url.startswith(("file:", "data:", "blob:"))] == []
    assert page.errors == []  # type: ignore[attr-defined]


HTML_DESCRIPTIONS_APP = """
import ipywidgets as w
from jupyter_bridge import curdoc

hostile = '<b>bold</b> <img src="x" onerror="window.attacked = true"><script>window.attacked = true</script>'
curdoc().add_root(w.Checkbox(description=hostile, description_allow_html=True))
curdoc().add_root(w.IntSlider(description="<i>plain</i>"))
"""


def static_js_requests(page) -> list[str]:
    """Records the page client's scripts (under /static/) that ``page`` requests from now on."""
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url.rsplit("/", 1)[-1]) if "/static/" in r.url and r.url.endswith(".js") else None)
    return requested


def test_a_page_of_controls_loads_only_the_code_it_needs(app_server, page):
    from jupyter_bridge.server.bridge import STATIC_DIR

    manifest = json.loads((STATIC_DIR / "manifest.json").read_text())
    up_front = {manifest["client.js"], *manifest["client.imports"]}
    requested = static_js_requests(page)
    open_app(page, app_server + "/sliders")
    move_slider(page, 1)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 2')"
    )
    assert set(requested) == up_front
    # The Output widget's code comes with the first Output widget.
    open_app(page, app_server + "/interact_app")
    page.wait_for_selector(".widget-output")
    assert set(requested) > up_front
    assert page.errors == []  # type: ignore[attr-defined]


ICON_APP = """
import ipywidgets as w
from jupyter_bridge import curdoc
curdoc().add_root(w.Button(description="ok", icon="check"))
"""


def test_icons_styles_load_once_the_page_has_drawn_and_math_styles_not_at_all(tmp_path, page):
    from jupyter_bridge.server.bridge import STATIC_DIR

    manifest = json.loads((STATIC_DIR / "manifest.json").read_text())
    (tmp_path / "icon.py").write_text(ICON_APP)
    with serving(str(tmp_path / "icon.py")) as base:
        with urllib.request.urlopen(base + "/icon", timeout=WAIT_MS / 1000) as response:
            html = response.read().decode()
        # Only the page's own stylesheet blocks its first paint.
        assert f'href="/static/{manifest["client.css"]}"' in html
        assert f'href="/static/{manifest["icons.css"]}"' not in html
        styles: list[str] = []
        page.on("request", lambda r: styles.append(r.url.rsplit("/", 1)[-1]) if r.resource_type == "stylesheet" else None)
        open_app(page, base + "/icon")
        page.wait_for_function(
            "getComputedStyle(document.querySelector('.widget-button i.fa-check')).fontFamily.includes('Font Awesome')"
        )
        assert manifest["icons.css"] in styles and manifest["math.css"] not in styles, styles
        # Font Awesome's rules come before the page's: the page's win where both set a property.
        order = page.evaluate("[...document.querySelectorAll('link[rel=stylesheet]')].map((l) => l.href.split('/').pop())")
        assert order.index(manifest["icons.css"]) < order.index(manifest["client.css"]), order
        assert page.errors == []  # type: ignore[attr-defined]


def test_html_descriptions_are_sanitized_and_others_stay_text(tmp_path, page):
    script = tmp_path / "described.py"
    script.write_text(HTML_DESCRIPTIONS_APP)
    with serving(str(script)) as base:
        open_app(page, base + "/described")
        page.wait_for_selector(".widget-checkbox b")
        description = page.locator(".widget-checkbox span").first
        assert description.locator("b").inner_text() == "bold"
        assert page.locator(".widget-checkbox script, .widget-checkbox [onerror]").count() == 0
        assert page.evaluate("window.attacked") is None
        assert page.locator(".widget-slider .widget-label").inner_text() == "<i>plain</i>"
        assert page.errors == []  # type: ignore[attr-defined]


def test_dev_mode_page_loads_the_changed_app_by_itself(tmp_path, page):
    script = tmp_path / "live.py"
    script.write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('before'))\n")
    with serving(str(script), "--dev") as base:
        open_app(page, base + "/live")
        assert label_text(page) == "before"
        script.write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('after'))\n")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'after')",
        )


MISSING_MODULE_APP = """
import ipywidgets as w
from traitlets import Unicode
from jupyter_bridge import curdoc

class Gauge(w.DOMWidget):
    _model_name = Unicode("GaugeModel").tag(sync=True)
    _model_module = Unicode("not-installed-gauges").tag(sync=True)
    _model_module_version = Unicode("^1.0.0").tag(sync=True)
    _view_name = Unicode("GaugeView").tag(sync=True)
    _view_module = Unicode("not-installed-gauges").tag(sync=True)
    _view_module_version = Unicode("^1.0.0").tag(sync=True)

slider = w.IntSlider(description="N")
label = w.Label("value*2 = 0")
slider.observe(lambda ch: setattr(label, "value", f"value*2 = {ch['new'] * 2}"), "value")
curdoc().add_root(Gauge())
curdoc().add_root(w.VBox([slider, label]))
"""


def test_missing_widget_module_shows_a_placeholder_and_the_rest_works(tmp_path, page):
    script = tmp_path / "gauge.py"
    script.write_text(MISSING_MODULE_APP)
    with serving(str(script)) as base:
        open_app(page, base + "/gauge")
        assert "not-installed-gauges" in page.locator(".jb-root").first.inner_text()
        move_slider(page, 2)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 4')"
        )


def test_bqplot_press_me_adds_one_mark_per_click(app_server, page):
    open_app(page, app_server + "/press_me_bqplot")
    button = page.get_by_role("button", name="Press Me")
    for clicks in range(1, 4):
        button.click()
        page.wait_for_function(f"() => document.querySelectorAll('svg .label').length === {clicks}")
    assert page.locator("svg .label").nth(2).text_content() == "2"
    assert page.errors == []  # type: ignore[attr-defined]


def test_bqplot_streaming_from_a_thread(app_server, page):
    open_app(page, app_server + "/streaming_bqplot")
    page.wait_for_function("() => document.querySelectorAll('svg .dot').length >= 5")
    assert page.errors == []  # type: ignore[attr-defined]


def test_anywidget_from_a_file_in_the_app_folder(app_server, page):
    open_app(page, app_server + "/anywidget_counter")
    page.locator(".counter-button").click()
    page.locator(".counter-button").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'doubled: 4')"
    )
    assert page.locator(".counter-button").inner_text() == "count is 2"


def test_request_arguments_set_the_number_of_points(app_server, page):
    open_app(page, app_server + "/request_arguments?N=10")
    page.wait_for_function("() => document.querySelectorAll('svg .dot').length === 10")
    assert page.title() == "10 random points"


def test_unlocked_callback_does_not_hold_up_locked_updates(app_server, page):
    open_app(page, app_server + "/unlocked_callbacks")
    values = "[...document.querySelectorAll('.widget-text input')].map(e => Number(e.value))"
    page.wait_for_function(f"() => {values}[1] >= 2")
    ticks, slow = page.evaluate(values)
    # Each slow result took a second of work; the locked ticks went on meanwhile.
    assert ticks >= 2 * slow


def test_directory_app_page_uses_template_static_files_and_theme(app_server, page):
    open_app(page, app_server + "/dashboard")
    assert page.locator("header.stand h1").inner_text() == "Fruit stand"
    assert page.locator("header.stand img").evaluate("img => img.naturalWidth") > 0
    assert page.locator("header.stand").evaluate("e => getComputedStyle(e).display") == "flex"
    assert "mod-primary" in page.get_by_role("button", name="reset").get_attribute("class")
    page.locator("select").select_option("mango")
    page.wait_for_function("() => document.querySelector('.total').textContent.includes('mango = 1.80')")


def test_second_tab_of_the_same_session_shows_its_current_state(app_server, browser, page):
    open_app(page, app_server + "/sliders")
    move_slider(page, 4)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 8')"
    )
    # Acknowledgements go out every 200 ms; once the page has acknowledged every
    # frame it applied, the stream start is forgotten.
    page.wait_for_function(
        "() => { const c = window.jupyterBridge.connection; return c.lastSeq > 0 && c.ackedSeq === c.lastSeq; }"
    )
    session_id = page.evaluate("window.jupyterBridge.connection.sessionId")
    other = new_tab(browser)
    open_app(other, f"{app_server}/sliders?jb-session-id={session_id}")
    assert label_text(other) == "value*2 = 8"
    move_slider(other, 1)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 10')"
    )
    other.context.close()


def test_cut_connection_resumes_with_every_update_once(app_server, page):
    open_app(page, app_server + "/counter?until=160")
    # Record every value the page's model takes, in order.
    page.evaluate(RECORD_FIRST_ROOT_VALUES)
    # Every state the page goes through, so a reconnection quicker than a poll is still seen.
    page.evaluate(
        """() => {
            window.states = [];
            new MutationObserver(() => window.states.push(document.documentElement.dataset.jbState))
                .observe(document.documentElement, {attributeFilter: ['data-jb-state']});
        }"""
    )
    page.wait_for_function("window.seen.length >= 5")
    for _ in range(3):
        page.evaluate("window.states.length = 0; window.jupyterBridge.connection.socket.close()")
        page.wait_for_function(
            "window.states.includes('reconnecting') && document.documentElement.dataset.jbState === 'connected'"
        )
        before = page.evaluate("window.seen.length")
        page.wait_for_function(f"window.seen.length >= {before + 5}")
    # The server stops at 160: the page ends on the server's value, having seen each one once.
    page.wait_for_function("window.seen[window.seen.length - 1] === 160")
    seen = page.evaluate("window.seen")
    assert seen == list(range(seen[0], 161))
    assert page.errors == []  # type: ignore[attr-defined]


def test_interact_output_stays_in_its_own_tab(app_server, browser, page):
    other = new_tab(browser)
    open_app(page, app_server + "/interact_app")
    open_app(other, app_server + "/interact_app")
    for tab, steps in ((page, 2), (other, 4)):
        handle = tab.locator(".widget-slider .noUi-handle").first
        handle.focus()
        for _ in range(steps):
            handle.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('.widget-output').textContent.includes('5 squared is 25')")
    other.wait_for_function("() => document.querySelector('.widget-output').textContent.includes('7 squared is 49')")
    mine = page.locator(".widget-output").inner_text()
    theirs = other.locator(".widget-output").inner_text()
    my_tab = page.evaluate("window.jupyterBridge.connection.sessionId.slice(0, 6)")
    their_tab = other.evaluate("window.jupyterBridge.connection.sessionId.slice(0, 6)")
    assert f"tab {my_tab}" in mine and their_tab not in mine and "49" not in mine
    assert f"tab {their_tab}" in theirs and my_tab not in theirs
    other.context.close()


def test_jslink_works_in_the_browser_without_the_server(app_server, page):
    open_app(page, app_server + "/linked_sliders")
    page.evaluate("window.jupyterBridge.connection.close()")  # no more round trips
    move_slider(page, 3)
    readouts = "[...document.querySelectorAll('.widget-readout')].map(e => e.textContent.trim())"
    page.wait_for_function(f"() => JSON.stringify({readouts}) === JSON.stringify(['3', '3'])")
    assert "Python saw 0" in page.locator(".widget-label").last.inner_text()


def test_template_places_roots_of_a_session_recreated_in_another_process(browser):
    """The page comes from one server, its socket reaches another: new ids, same places."""
    first_port, second_port = free_port(), free_port()
    dashboard = str(EXAMPLES / "dashboard")
    shared = {**os.environ, "JUPYTER_BRIDGE_SECRET_KEY": generate_secret_key()}  # as servers behind one address
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "jupyter_bridge.cli", "serve", dashboard, "--port", str(port),
             "--log-level", "warning", "--allow-websocket-origin", f"localhost:{first_port}"],
            stdout=subprocess.DEVNULL, env=shared,
        )
        for port in (first_port, second_port)
    ]
    try:
        for port, process in zip((first_port, second_port), processes):
            wait_for_http(f"http://localhost:{port}/healthz", process)

        def to_second_server(route):
            html = route.fetch().text()
            html = html.replace('"wsUrl": "/dashboard/ws"', f'"wsUrl": "ws://localhost:{second_port}/dashboard/ws"')
            route.fulfill(body=html, content_type="text/html")

        # The rewritten page reaches another loopback port, which Chromium's local
        # network checks would stop; a load balancer makes that hop in real life.
        rerouting = browser.browser_type.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"]
        )
        page = rerouting.new_page()
        page.set_default_timeout(WAIT_MS)
        page.route(f"http://localhost:{first_port}/dashboard", to_second_server)
        open_app(page, f"http://localhost:{first_port}/dashboard")
        assert page.locator("section.controls select").count() == 1
        assert page.locator("section.result .total").count() == 1
        assert page.locator("#jupyter-bridge-roots .jb-root").count() == 0
        page.locator("select").select_option("pear")
        page.wait_for_function("() => document.querySelector('.total').textContent.includes('pear = 0.60')")
        rerouting.close()
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def test_a_whole_page_template_boots_the_client(page, tmp_path):
    """An app's templates/index.html that does not extend page.html still gets live widgets."""
    from test_directory_app import WHOLE_PAGE_APP, make_app

    app = make_app(tmp_path, "whole", WHOLE_PAGE_APP)
    with serving(str(app)) as base:
        open_app(page, base + "/whole")
        assert page.locator("h1").inner_text() == "My own page"
        assert page.locator("main .widget-slider").count() == 1  # placed where the template said
        assert page.locator("#jupyter-bridge-roots .widget-label").inner_text() == "not placed anywhere"
        move_slider(page, 2)
        page.wait_for_function("() => document.querySelector('main .widget-readout').textContent.trim() === '2'")
        assert page.errors == []  # type: ignore[attr-defined]


def test_a_page_works_with_xsrf_cookies(page):
    """--enable-xsrf-cookies: the page gets the cookie and its socket shows the value back."""
    with serving(str(EXAMPLES / "sliders.py"), "--enable-xsrf-cookies") as base:
        open_app(page, base + "/sliders")
        assert [c["name"] for c in page.context.cookies()] == ["_xsrf"]
        move_slider(page, 3)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 6')"
        )
        # A reconnection keeps the argument (the client adds last_seq to the same URL).
        page.evaluate("window.jupyterBridge.connection.socket.close()")
        page.wait_for_function("document.documentElement.dataset.jbState === 'connected'")
        move_slider(page, 1)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 8')"
        )
        assert page.errors == []  # type: ignore[attr-defined]
