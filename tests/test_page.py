"""The page around an app, in headless Chromium: frame, connection state, loading, busy mark, themes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import CHROMIUM, free_port, serving, wait_for_http

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")

APPS = {
    "framed.py": '''
"""A page with the frame."""
import asyncio
import time
import ipywidgets as w
from jupyter_bridge import curdoc

label = w.Label("idle")
blocking = w.Button(description="block")
waiting = w.Button(description="wait")

def block(_):
    time.sleep(1)
    label.value = "blocked"

async def wait(_):
    await asyncio.sleep(1)
    label.value = "waited"

blocking.on_click(block)
waiting.on_click(lambda b: curdoc().add_next_tick_callback(lambda: wait(b)))
curdoc().title = "Framed app"
curdoc().add_root(w.VBox([blocking, waiting, label, w.Text(description="text")]))
''',
    "bare.py": '''
import ipywidgets as w
from jupyter_bridge import curdoc
curdoc().template_variables["page_frame"] = "none"
curdoc().template_variables["page_theme"] = "light"
curdoc().add_root(w.Label("no frame here"))
''',
    "slow.py": '''
import time
import ipywidgets as w
from jupyter_bridge import curdoc
time.sleep(3)
curdoc().title = "Slow"
curdoc().add_root(w.Label("built at last"))
''',
    "untitled.py": '''
import ipywidgets as w
from jupyter_bridge import curdoc
curdoc().add_root(w.Label("no title set"))
''',
    "empty.py": '''
import ipywidgets as w
from jupyter_bridge import curdoc
curdoc().title = "Nothing"
''',
}


@pytest.fixture(scope="module")
def app_server(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("apps")
    for name, source in APPS.items():
        (folder / name).write_text(source)
    with serving(*(str(folder / name) for name in APPS)) as base:
        yield base


def open_app(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=20_000)


def test_header_shows_the_title_and_the_connection_state(app_server, page):
    open_app(page, app_server + "/framed")
    header = page.locator(".jb-header")
    assert header.locator(".jb-header-title").inner_text() == "Framed app"
    page.wait_for_function("document.querySelector('.jb-header .jb-status').textContent === 'connected'")
    page.evaluate("window.jupyterBridge.connection.socket.close()")
    page.wait_for_function(
        "document.querySelector('.jb-header .jb-status').textContent === 'reconnecting…'", timeout=5_000
    )
    page.wait_for_function(
        "document.querySelector('.jb-header .jb-status').textContent === 'connected'", timeout=20_000
    )
    # The roots stand clear of the page's edges and the header.
    box = page.locator(".jb-root").first.bounding_box()
    header_box = header.bounding_box()
    assert box["x"] >= 12 and box["y"] >= header_box["y"] + header_box["height"] + 8
    assert page.locator(".jb-loading").is_hidden() and page.locator(".jb-no-roots").count() == 0
    # The spinner came first, but the page's script ends up in the head, as widget
    # bundles that look for their files beside "the last script" expect.
    assert page.evaluate("document.head.querySelectorAll('script[data-jb-head]').length") == 1
    assert page.errors == []  # type: ignore[attr-defined]


def test_an_untitled_app_is_named_by_its_file(app_server, page):
    open_app(page, app_server + "/untitled")
    page.wait_for_function("document.querySelector('.jb-header .jb-status').textContent === 'connected'")
    assert page.locator(".jb-header-title").inner_text() == "untitled"


def test_an_app_can_turn_the_frame_off(app_server, page):
    open_app(page, app_server + "/bare")
    assert page.locator(".jb-header").count() == 0
    # Without a header the state shows only when something is wrong.
    assert page.locator(".jb-status.jb-floating").is_hidden()
    assert page.locator(".widget-label").inner_text() == "no frame here"


def test_spinner_names_the_app_while_it_builds(app_server, page):
    page.goto(app_server + "/slow", wait_until="commit")
    spinner = page.locator(".jb-loading")
    spinner.wait_for(state="visible", timeout=5_000)
    assert "slow" in spinner.inner_text().lower()
    assert page.locator(".widget-label").count() == 0  # still building
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=20_000)
    assert spinner.is_hidden()
    assert page.locator(".widget-label").inner_text() == "built at last"
    assert page.title() == "Slow"


@pytest.mark.parametrize("button", ["block", "wait"])
def test_busy_mark_shows_while_a_callback_runs(app_server, page, button):
    open_app(page, app_server + "/framed")
    mark = page.locator(".jb-header .jb-busy")
    assert mark.get_attribute("data-busy") in (None, "0")
    page.get_by_role("button", name=button).click()
    page.wait_for_function("document.querySelector('.jb-busy').dataset.busy === '1'", timeout=5_000)
    assert mark.is_visible()
    page.wait_for_function(
        "() => ['blocked', 'waited'].includes(document.querySelector('.widget-label').textContent)", timeout=10_000
    )
    page.wait_for_function("document.querySelector('.jb-busy').dataset.busy === '0'", timeout=5_000)


def test_a_quick_callback_shows_no_busy_mark(app_server, page):
    open_app(page, app_server + "/framed")
    page.evaluate(
        """() => { window.busySeen = false;
        new MutationObserver(() => { if (document.documentElement.dataset.jbBusy === '1') window.busySeen = true; })
          .observe(document.documentElement, { attributes: true }); }"""
    )
    # An answer later than 300 ms is marked, rightly: on a loaded machine (two
    # test workers on two cores) one may be. A page that marks quick answers
    # marks every one of them, so some of five must go unmarked.
    marked = []
    for attempt in range(5):
        page.evaluate("window.busySeen = false")
        page.locator(".widget-text input").fill(f"typing is quick {attempt}")
        page.wait_for_timeout(600)  # longer than the 300 ms a callback may take unmarked
        marked.append(page.evaluate("window.busySeen"))
        if not marked[-1]:
            break
    assert marked[-1] is False, f"every quick answer showed the busy mark: {marked}"


def test_an_app_without_roots_says_so(app_server, page):
    open_app(page, app_server + "/empty")
    notice = page.locator(".jb-no-roots")
    assert notice.is_visible() and "curdoc().add_root" in notice.inner_text()


def test_dark_mode_follows_the_browser(app_server, browser):
    for scheme, light in (("dark", False), ("light", True)):
        context = browser.new_context(color_scheme=scheme)
        page = context.new_page()
        open_app(page, app_server + "/framed")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        layout = page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--jp-layout-color1').trim()"
        )
        text_input = page.evaluate("getComputedStyle(document.querySelector('.widget-text input')).backgroundColor")
        assert (background == "rgb(255, 255, 255)") is light, background
        assert (layout in ("white", "#fff", "#ffffff")) is light, layout
        assert (text_input == "rgb(255, 255, 255)") is light, text_input
        # An app that fixes its theme keeps it whatever the browser prefers.
        open_app(page, app_server + "/bare")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
        context.close()


def test_the_page_says_when_the_server_is_gone(tmp_path, page):
    (tmp_path / "gone.py").write_text(APPS["bare.py"])
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_bridge.cli", "serve", str(tmp_path / "gone.py"), "--port", str(port),
         "--log-level", "warning"],
    )
    try:
        wait_for_http(f"http://localhost:{port}/healthz", server)
        open_app(page, f"http://localhost:{port}/gone")
        # As if the bounded tries were all spent: the next loss is the last.
        page.evaluate("window.jupyterBridge.connection.retries = 1e9")
        server.kill()  # killed, not shut down: a shutdown ends the sessions and says so
        server.wait(timeout=30)
        pill = page.locator(".jb-status")
        page.wait_for_function("document.documentElement.dataset.jbState === 'disconnected'", timeout=20_000)
        assert pill.inner_text() == "the server is gone — reload"
        assert pill.get_by_role("button", name="reload").is_visible()
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)


def rewrite(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with a modification time past its last one, however coarse the file system's."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    later = max(path.stat().st_mtime_ns, before + 2_000_000_000)
    os.utime(path, ns=(later, later))


def test_dev_error_page_reloads_once_the_file_is_fixed(tmp_path, page):
    app = tmp_path / "fixme.py"
    app.write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('fine'))\n")
    with serving(str(app), "--dev") as base:
        open_app(page, base + "/fixme")
        rewrite(app, "this is not python\n")
        page.wait_for_selector(".jb-error-page", timeout=20_000)
        text = page.locator(".jb-error-page").inner_text()
        assert "start again" not in text and "reloads" in text
        rewrite(app, "import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('fixed'))\n")
        page.wait_for_selector(".widget-label >> text=fixed", timeout=20_000)


def test_a_failing_app_shows_its_error_page_with_status_500(tmp_path, page):
    app = tmp_path / "broken.py"
    app.write_text("import time\ntime.sleep(0.2)\nraise RuntimeError('no data today')\n")
    with serving(str(app)) as base:
        page.goto(base + "/broken?day=monday")  # the spinner goes out first, with a 200
        page.wait_for_url("**jb-failed=*", timeout=20_000)
        page.wait_for_selector(".jb-error-page")
        assert "RuntimeError: no data today" in page.locator(".jb-error-page").inner_text()
        assert page.evaluate("performance.getEntriesByType('navigation')[0].responseStatus") == 500
        assert "day=monday" in page.url
        assert not page.locator(".jb-loading").is_visible()
        page.reload()  # seen once: the app runs again, and fails again with its status
        page.wait_for_selector(".jb-error-page")
        assert page.evaluate("performance.getEntriesByType('navigation')[0].responseStatus") == 500
        assert page.errors == []


def test_a_page_away_longer_than_its_token_says_its_session_ended(tmp_path, page):
    (tmp_path / "brief.py").write_text(APPS["bare.py"])
    port = free_port()
    command = [sys.executable, "-m", "jupyter_bridge.cli", "serve", str(tmp_path / "brief.py"), "--port", str(port),
               "--log-level", "warning", "--session-token-expiration", "1"]
    server = subprocess.Popen(command)
    try:
        wait_for_http(f"http://localhost:{port}/healthz", server)
        open_app(page, f"http://localhost:{port}/brief")
        expired = time.time() + 1.5
        server.kill()  # the page's session dies with its process; the page keeps trying
        server.wait(timeout=30)
        time.sleep(max(0.0, expired - time.time()))  # the token is past its life before a server answers again
        server = subprocess.Popen(command)
        wait_for_http(f"http://localhost:{port}/healthz", server)
        page.wait_for_function("document.documentElement.dataset.jbState === 'disconnected'", timeout=30_000)
        pill = page.locator(".jb-status")
        assert pill.inner_text() == "the session ended: this page was cut off longer than a session waits — reload"
        assert pill.get_by_role("button", name="reload").is_visible()
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)


def test_a_dev_error_page_leads_with_the_apps_own_frames(tmp_path, page):
    (tmp_path / "loader.py").write_text("def load(name):\n    return {}[name]\n")
    (tmp_path / "report.py").write_text("from loader import load\n\ndata = load('sales')\n")
    with serving(str(tmp_path / "report.py"), "--dev") as base:
        page.goto(base + "/report")
        page.wait_for_selector(".jb-error-page")
        own = page.locator(".jb-error-detail").inner_text()
        files = [line.strip() for line in own.splitlines() if line.strip().startswith("File ")]
        assert files[0].startswith(f'File "{tmp_path / "report.py"}", line 3')
        assert files[1].startswith(f'File "{tmp_path / "loader.py"}", line 2')
        assert "jupyter_bridge" not in own and own.rstrip().endswith("KeyError: 'sales'")
        whole = page.locator(".jb-error-whole")
        assert not whole.locator("pre").is_visible()  # folded away
        whole.locator("summary").click()
        assert "session.py" in whole.locator("pre").inner_text()
