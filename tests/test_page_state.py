"""The widget state a page's HTML carries: drawn before the socket connects, the stream resumed after it.

Real servers, real Chromium; the page's socket is held back with Playwright's
WebSocket routing, so what the page shows meanwhile can only come from its HTML.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import EXAMPLES
from support import CHROMIUM, RECORD_FIRST_ROOT_VALUES, WAIT_MS, free_port, serving

from jupyter_bridge.server.bridge import STATIC_DIR

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")

#: Values an attacker may put into a widget: each must reach the widget as text, and nothing else.
ATTACKS = [
    "</script><script>window.pwned = 1</script>",
    "</SCRIPT ><img src=x onerror='window.pwned = 2'>",
    "<!--<script>",
    "\u2028&lt;\u2029 & </style> ]]>",
]

ESCAPE_APP = f"""
import ipywidgets as w
from jupyter_bridge import curdoc
curdoc().title = {ATTACKS[0]!r}
curdoc().add_root(w.VBox([w.Text(value=v, description=str(i)) for i, v in enumerate({ATTACKS!r})]))
"""

STATE = re.compile(r'<script type="application/json" id="jupyter-bridge-state">(.*?)</script>', re.S)
CONFIG = re.compile(r'<script type="application/json" id="jupyter-bridge-config">(.*?)</script>', re.S)


#: Controls the page client does not bundle: they come in a chunk of their own.
TABS_APP = """
import datetime
import ipywidgets as w
from jupyter_bridge import curdoc
when = w.DatePicker(value=datetime.date(2026, 12, 8), description="When")
colour = w.ColorPicker(value="#3b82f6", description="Colour")
curdoc().add_root(w.Tab(children=[when, colour], titles=("Date", "Colour")))
"""

CANVAS_APP = """
import ipywidgets as w
from ipycanvas import Canvas
from jupyter_bridge import curdoc
canvas = Canvas(width=120, height=80, layout=w.Layout(width="120px", height="80px"))
canvas.fill_style = "#3b82f6"
canvas.fill_rect(10, 10, 60, 40)
curdoc().add_root(canvas)
"""


@pytest.fixture(scope="module")
def app_server(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("apps")
    (folder / "escape.py").write_text(ESCAPE_APP)
    (folder / "canvas.py").write_text(CANVAS_APP)
    (folder / "tabs.py").write_text(TABS_APP)
    for name in ("sliders.py", "counter.py"):
        (folder / name).write_text((EXAMPLES / name).read_text())
    with serving("--glob", str(folder / "*.py")) as base:
        yield base


def hold_sockets(page) -> dict:
    """Route the page's session sockets to nowhere until ``held["on"]`` is False; ``held["sockets"]``."""
    held: dict = {"on": True, "sockets": []}

    def route(socket) -> None:
        if held["on"]:
            held["sockets"].append(socket)  # answered by nobody: the page waits for its hello
        else:
            socket.connect_to_server()

    page.route_web_socket(re.compile(r"/ws(\?|$)"), route)
    return held


def page_html(url: str) -> str:
    with urllib.request.urlopen(url, timeout=WAIT_MS / 1000) as response:
        return response.read().decode()


def preloaded(html: str) -> list[str]:
    """The names of the page client's files the page preloads."""
    return re.findall(r'<link rel="modulepreload" href="[^"]*/static/([^"/]+)">', html)


def fetched_files(page) -> list[str]:
    """The names of the files the page fetches from now on (the list grows as it does)."""
    names: list[str] = []
    page.on("request", lambda request: names.append(urllib.parse.urlsplit(request.url).path.rsplit("/", 1)[-1]))
    return names


def controls_on_demand() -> list[str]:
    """The files of the controls the page client loads only when a page needs one."""
    manifest = json.loads((STATIC_DIR / "manifest.json").read_text())
    assert {"TabModel", "DatePickerModel", "ColorPickerModel"} <= set(manifest["controls.names"])
    assert "IntSliderModel" not in manifest["controls.names"]
    return manifest["controls.imports"]


def page_state(html: str) -> dict:
    found = STATE.search(html)
    assert found is not None, "the page carries no widget state"
    return json.loads(found.group(1))


def widget_states(state: dict, model_name: str) -> list[dict]:
    """The states of the widgets of one model in a page's state, in order."""
    return [
        message["data"]["state"] for message, _ in state["messages"]
        if message["type"] == "comm_open" and message["data"]["state"].get("_model_name") == model_name
    ]


def test_a_page_whose_socket_never_connects_still_shows_its_widgets_and_values(app_server, page):
    held = hold_sockets(page)
    page.goto(app_server + "/sliders")
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-drawn='1']")
    assert held["sockets"], "the page did not try its socket"
    assert page.evaluate("document.documentElement.dataset.jbState") == "connecting"
    # Drawn, not ready: ready says the page's changes reach Python at once.
    assert page.evaluate("document.getElementById('jupyter-bridge-roots').dataset.jbReady") is None
    assert page.locator(".jb-loading").is_hidden()
    assert page.title() == "Sliders"
    assert page.locator(".widget-slider .widget-readout").first.inner_text().strip() == "0"
    assert page.locator(".widget-label").last.inner_text() == "value*2 = 0"
    assert page.errors == []  # type: ignore[attr-defined]


def test_what_an_app_drew_while_it_built_is_in_the_page_before_the_socket_connects(app_server, page):
    # A canvas's drawing commands are custom messages, in no widget's state: the
    # page's state carries them after the models, or the canvas stays blank.
    pytest.importorskip("ipycanvas")
    state = page_state(page_html(app_server + "/canvas"))
    customs = [m for m, _ in state["messages"] if m["type"] == "comm_msg" and m["data"]["method"] == "custom"]
    assert customs, "the page's state carries no drawing"
    assert all("seq" not in m for m in customs)
    held = hold_sockets(page)
    page.goto(app_server + "/canvas")
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-drawn='1'] canvas")
    assert held["sockets"], "the page did not try its socket"
    page.wait_for_function("""() => {
        const canvas = document.querySelector('#jupyter-bridge-roots canvas');
        const pixel = canvas.getContext('2d').getImageData(30, 30, 1, 1).data;
        return pixel[2] > 200 && pixel[3] > 200;  // the blue rectangle
    }""")
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_page_preloads_the_controls_it_needs_beyond_those_bundled_and_draws_them_before_connecting(app_server, page):
    on_demand = controls_on_demand()
    assert on_demand, "the build put every control in the code each page loads"
    assert set(on_demand) <= set(preloaded(page_html(app_server + "/tabs")))
    fetched = fetched_files(page)
    held = hold_sockets(page)
    page.goto(app_server + "/tabs")
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-drawn='1'] .lm-TabBar-tab")
    assert held["sockets"], "the page did not try its socket"
    assert page.locator(".lm-TabBar-tabLabel").all_inner_texts() == ["Date", "Colour"]
    assert page.locator(".widget-datepicker input").input_value() == "2026-12-08"
    assert [fetched.count(name) for name in on_demand] == [1] * len(on_demand)
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_page_of_sliders_neither_preloads_nor_loads_the_controls_it_does_not_use(app_server, page):
    on_demand = set(controls_on_demand())
    assert not on_demand & set(preloaded(page_html(app_server + "/sliders")))
    fetched = fetched_files(page)
    page.goto(app_server + "/sliders")
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']")
    assert fetched, "the page fetched nothing"
    assert not on_demand & set(fetched)
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_slider_moved_before_the_socket_connects_is_answered_once_it_does(app_server, page):
    held = hold_sockets(page)
    page.goto(app_server + "/sliders")
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-drawn='1']")
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    handle.press("ArrowRight")
    held["on"] = False
    for socket in held["sockets"]:
        socket.close()  # the page reconnects, through to the server now
    page.wait_for_function("document.documentElement.dataset.jbState === 'connected'")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 4')"
    )
    assert page.errors == []  # type: ignore[attr-defined]


def test_state_that_changed_before_the_socket_connected_arrives_exactly_once(app_server, page):
    held = hold_sockets(page)
    page.goto(app_server + "/counter?until=120")
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-drawn='1']")
    # Every value the page's model takes, from the one its HTML carried on.
    page.evaluate(RECORD_FIRST_ROOT_VALUES)
    first = page.evaluate("window.seen[0]")
    config = json.loads(CONFIG.search(page.content()).group(1))
    # The session counts on while the page has no socket: its state, as another page of it gets it.
    later = first
    while later <= first + 5:
        state = page_state(page_html(f"{app_server}/counter?until=120&jb-session-id={config['sessionId']}"))
        later = widget_states(state, "IntTextModel")[0]["value"]
    assert page.evaluate("window.seen") == [first]
    held["on"] = False
    for socket in held["sockets"]:
        socket.close()
    page.wait_for_function("window.seen[window.seen.length - 1] === 120")
    seen = page.evaluate("window.seen")
    # Each value once, in order: none missed between the page's state and its socket, none twice.
    assert seen == list(range(first, 121))
    assert page.locator(".widget-text input").input_value() == "120"
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_page_whose_position_other_pages_acknowledged_gets_the_sessions_state(app_server, browser, page):
    held = hold_sockets(page)
    page.goto(app_server + "/counter?until=80")
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-drawn='1']")
    first = int(page.locator(".widget-text input").input_value())
    session_id = json.loads(CONFIG.search(page.content()).group(1))["sessionId"]
    # Another page of the session, connected: its acknowledgements let the server forget
    # the updates that followed the first page's state.
    other = browser.new_context().new_page()
    other.set_default_timeout(WAIT_MS)
    other.goto(f"{app_server}/counter?until=80&jb-session-id={session_id}")
    other.wait_for_function("document.querySelector('.widget-text input')?.value === '80'")
    other.wait_for_function(
        "() => { const c = window.jupyterBridge.connection; return c.lastSeq > 0 && c.ackedSeq === c.lastSeq; }"
    )
    assert first < 80
    held["on"] = False
    for socket in held["sockets"]:
        socket.close()
    page.wait_for_function("document.documentElement.dataset.jbState === 'connected'")
    page.wait_for_function("document.querySelector('.widget-text input')?.value === '80'")
    assert page.locator(".widget-text").count() == 1  # the session's widget, shown once
    assert page.locator(".jb-status").inner_text() == "connected"  # no notice: nothing was lost
    assert page.errors == []  # type: ignore[attr-defined]
    other.context.close()


def test_a_widget_value_cannot_break_out_of_the_state_in_the_page(app_server, page):
    """The attack: values that would end the state's script element, or run script, if written as they are."""
    html = page_html(app_server + "/escape")
    state = page_state(html)
    assert "</script" not in STATE.search(html).group(1).lower()
    assert [text["value"] for text in widget_states(state, "TextModel")] == ATTACKS
    held = hold_sockets(page)
    page.goto(app_server + "/escape")
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-drawn='1']")
    assert held["sockets"]
    inputs = page.locator(".widget-text input")
    assert [inputs.nth(i).input_value() for i in range(len(ATTACKS))] == ATTACKS
    assert page.title() == ATTACKS[0]
    assert page.evaluate("window.pwned") is None
    assert page.locator("img").count() == 0
    # The page's own scripts and data, and nothing a value brought.
    scripts = page.evaluate("[...document.scripts].map(s => s.id || s.type || 'classic')")
    assert "classic" not in scripts
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_state_is_in_the_page_by_default(app_server):
    state = page_state(page_html(app_server + "/sliders"))
    assert widget_states(state, "LabelModel")[0]["value"] == "value*2 = 0"


@pytest.mark.parametrize("limit", ["0", "100"], ids=["off", "larger than the limit"])
def test_a_state_not_in_the_page_comes_over_the_socket(tmp_path, page, limit):
    (tmp_path / "sliders.py").write_text((EXAMPLES / "sliders.py").read_text())
    with serving(str(tmp_path / "sliders.py"), "--max-page-state", limit) as base:
        assert STATE.search(page_html(base + "/sliders")) is None
        # Nothing to draw until the socket brings the state.
        held = hold_sockets(page)
        page.goto(base + "/sliders")
        page.wait_for_function("window.jupyterBridge !== undefined")  # the widgets' code has run
        assert held["sockets"], "the page did not try its socket"
        assert page.locator(".widget-slider").count() == 0
        held["on"] = False
        for socket in held["sockets"]:
            socket.close()
        page.wait_for_selector("#jupyter-bridge-roots[data-jb-drawn='1']")
        assert page.locator(".widget-label").last.inner_text() == "value*2 = 0"
        assert page.errors == []  # type: ignore[attr-defined]


def test_controls_not_bundled_load_when_their_state_comes_over_the_socket(tmp_path, page):
    # No state in the page, so nothing to preload from: the page loads them when the models are made.
    (tmp_path / "tabs.py").write_text(TABS_APP)
    on_demand = set(controls_on_demand())
    with serving(str(tmp_path / "tabs.py"), "--max-page-state", "0") as base:
        assert not on_demand & set(preloaded(page_html(base + "/tabs")))
        fetched = fetched_files(page)
        page.goto(base + "/tabs")
        page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1'] .lm-TabBar-tab")
        assert page.locator(".lm-TabBar-tabLabel").all_inner_texts() == ["Date", "Colour"]
        assert on_demand <= set(fetched)
        assert page.errors == []  # type: ignore[attr-defined]


def test_an_app_embedded_by_autoload_js_draws_before_its_socket_connects(tmp_path, page):
    (tmp_path / "escape.py").write_text(ESCAPE_APP)
    host_port = free_port()
    with serving(str(tmp_path / "escape.py"), "--allow-websocket-origin", f"localhost:{host_port}") as base:
        # Another site's page, with the app's tag in it.
        (tmp_path / "host.html").write_text(
            f'<!DOCTYPE html><h1>Host</h1><script src="{base}/escape/autoload.js"></script>'
        )
        host = ThreadingHTTPServer(
            ("127.0.0.1", host_port), partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
        )
        threading.Thread(target=host.serve_forever, daemon=True).start()
        try:
            held = hold_sockets(page)
            page.goto(f"http://localhost:{host_port}/host.html")
            page.wait_for_selector("#jupyter-bridge-roots[data-jb-drawn='1']")
            assert held["sockets"]
            inputs = page.locator(".jupyter-bridge-embed .widget-text input")
            assert [inputs.nth(i).input_value() for i in range(len(ATTACKS))] == ATTACKS
            assert page.evaluate("window.pwned") is None
            held["on"] = False
            for socket in held["sockets"]:
                socket.close()
            page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']")
            # The stylesheets loaded when needed come from the app's server, not the host's.
            page.wait_for_function(
                "[...document.querySelectorAll('link[rel=stylesheet]')].some((l) => l.href.includes('/static/icons-') && l.sheet)"
            )
            icons = page.evaluate(
                "[...document.querySelectorAll('link[rel=stylesheet]')].map((l) => l.href).filter((h) => h.includes('/static/icons-'))"
            )
            assert icons and all(href.startswith(base + "/static/") for href in icons), icons
            assert page.errors == []  # type: ignore[attr-defined]
        finally:
            host.shutdown()
            host.server_close()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """Two servers of the sliders app sharing a key, as behind a balancer: each can rebuild the other's sessions."""
    from jupyter_bridge.tokens import generate_secret_key

    folder = tmp_path_factory.mktemp("balanced")
    (folder / "sliders.py").write_text((EXAMPLES / "sliders.py").read_text())
    flags = (str(folder / "sliders.py"), "--session-ids", "signed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_BRIDGE_SECRET_KEY", generate_secret_key())
        with serving(*flags) as first, serving(*flags) as second:
            yield first, second


def console_errors(page) -> list[str]:
    """What the page logs as errors from now on (a failed view is logged, not thrown)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def hold_widget_code(page, base: str, html: str) -> list:
    """Hold the widgets' code: the chunk the page client's entry imports once its socket is open."""
    entry = re.search(r'src="([^"]*/client-[\w-]+\.js)"', html)
    assert entry is not None, "the page names no page client entry"
    chunk = re.search(r'import\("\./([\w-]+\.js)"\)', page_html(urllib.parse.urljoin(base + "/", entry.group(1))))
    assert chunk is not None, "the page client's entry no longer imports the widgets' code as a chunk"
    held: list = []
    page.route(re.compile(re.escape("/" + chunk.group(1)) + "$"), lambda route: held.append(route))
    return held


@pytest.mark.parametrize("order", ["socket before the widgets' code", "socket after the page drew"])
def test_a_page_drawn_from_one_processs_state_takes_the_session_another_process_rebuilt(
    two_processes, page, order
):
    """No sticky sessions: the page's HTML comes from one process, its socket from another.

    The second has no such session: it builds it again from the page's token and
    sends that fresh copy (other model ids), all in one batch. The page replaces what
    its HTML drew with it, and its widgets talk to the new session.
    """
    first, second = two_processes
    # The page's address is the second process's; its HTML comes from the first, its socket from the second.
    page.route(second + "/sliders", lambda route: route.continue_(url=first + "/sliders"))
    errors = console_errors(page)
    frames: list[str] = []
    page.on("websocket", lambda socket: socket.on(
        "framereceived", lambda payload: frames.append(payload if isinstance(payload, str) else "")
    ))
    if order == "socket before the widgets' code":
        held_code = hold_widget_code(page, first, page_html(first + "/sliders"))
        with page.expect_response(lambda response: response.request.is_navigation_request()) as response:
            page.goto(second + "/sliders", wait_until="commit")
        html = response.value.text()
        # The fresh copy of the session arrives while the page has no code to draw anything.
        deadline = time.monotonic() + WAIT_MS / 1000
        while not any('"recreated":true' in frame for frame in frames):
            assert time.monotonic() < deadline, "the second process sent no fresh copy of the session"
            page.wait_for_timeout(50)  # lets Playwright deliver the page's events
        assert held_code, "the widgets' code was not asked for"
        assert page.evaluate("window.jupyterBridge") is None
        for route in held_code:
            route.continue_()
    else:
        held = hold_sockets(page)
        with page.expect_response(lambda response: response.request.is_navigation_request()) as response:
            page.goto(second + "/sliders")
        html = response.value.text()
        page.wait_for_selector("#jupyter-bridge-roots[data-jb-drawn='1']")
        held["on"] = False
        for socket in held["sockets"]:
            socket.close()
    drawn_ids = {message["comm_id"] for message, _ in page_state(html)["messages"] if message["type"] == "comm_open"}
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']")
    assert any('"recreated":true' in frame for frame in frames), "the second process did not rebuild the session"
    # The new session's widgets, once, and they work: Python's label follows the slider.
    page.wait_for_function("document.querySelectorAll('.widget-slider').length === 1")
    assert page.locator(".jb-root").first.get_attribute("data-jb-model-id") not in drawn_ids
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 2')"
    )
    assert page.locator(".widget-slider").count() == 1
    assert page.errors == []  # type: ignore[attr-defined]
    assert errors == []
