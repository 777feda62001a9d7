"""JupyterLab end to end: a real ``jupyter lab`` subprocess driven in headless Chromium.

- ``show(app)`` in a notebook cell renders the app in the cell's output, and its
  slider reaches the kernel both ways;
- "Open as App" (the lab extension's command) shows ``sliders.py`` in a main-area
  panel, served by the server extension under ``/bridge/apps/``;
- saving the file from JupyterLab reloads that panel with a fresh session.

The server is started as a user would, with a token, in a temporary root holding
copies of ``notebooks/show_app.ipynb`` and ``examples/sliders.py``; its settings and
workspaces live in temporary folders too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from conftest import EXAMPLES, ROOT
from support import HAVE_CHROMIUM, free_port, wait_for_http

TOKEN = "lab-test-token-0123456789abcdef"
STARTUP_TIMEOUT = 180.0  # seconds: a cold 2-core machine imports JupyterLab slowly
UI_TIMEOUT = 90_000  # ms: the first kernel start and the first widget render are slow too
COMMAND = "jupyter-bridge:open-as-app"

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None, reason="JupyterLab is not installed"),
    pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is not installed"),
]


def get(url: str) -> int:
    """The HTTP status of a GET with the token (redirects not followed); 0 if nothing answers."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0  # not listening (yet)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `jupyter lab` on a free loopback port; yields its base URL (no trailing slash)."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "show_app.ipynb", root)
    shutil.copy(EXAMPLES / "sliders.py", root)
    config = home / "config"
    # No "get news?" prompt over the page.
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        **tree_extension(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    port = free_port()
    log_path = home / "jupyter.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
         # window.jupyterapp: the test runs the extension's command the way the UI does.
         "--LabApp.expose_app_in_browser=True",
         "--BridgeExtension.unused_session_lifetime=2000", "--BridgeExtension.check_unused_sessions=500"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home, start_new_session=True,
    )
    process.output = log_path  # type: ignore[attr-defined]  # wait_for_http shows it if the server exits
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + "/api/status", process, timeout=STARTUP_TIMEOUT)
        yield base
    finally:
        # The kernels are children of the server: end the whole group.
        stop(process, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop(process, signal.SIGKILL)
            process.wait(timeout=30)
        log.close()


def tree_extension(folder) -> dict[str, str]:
    """JUPYTER_PATH with this tree's built extension first (copied: Jupyter serves no symlink out of its folders), if built."""
    built = ROOT / "jupyter_bridge" / "labextension"
    if not (built / "package.json").exists():
        return {}
    shutil.copytree(built, folder / "labextensions" / "jupyter-bridge")
    return {"JUPYTER_PATH": os.pathsep.join([str(folder), os.environ.get("JUPYTER_PATH", "")]).rstrip(os.pathsep)}


def stop(process: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group the server leads (its kernels included)."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT)
    page = context.new_page()
    yield page
    context.close()


def open_lab(page, lab: str, path: str = "") -> None:
    """Open JupyterLab, showing the file at ``path`` or, without one, a fresh workspace."""
    page.goto(f"{lab}/lab/tree/{path}?token={TOKEN}" if path else f"{lab}/lab?reset&token={TOKEN}")
    page.wait_for_selector("#jp-main-dock-panel")
    page.wait_for_function("() => window.jupyterapp !== undefined && window.jupyterapp.started !== undefined")
    page.evaluate("() => window.jupyterapp.started")


def wait_for_label(scope, text: str) -> None:
    scope.locator(".widget-label", has_text=text).first.wait_for()


def test_show_in_a_notebook_cell_talks_to_the_kernel(lab, page):
    open_lab(page, lab, "show_app.ipynb")
    notebook = page.locator(".jp-NotebookPanel")
    first_code_cell = notebook.locator(".jp-CodeCell").first
    first_code_cell.wait_for()
    # The extension's toolbar button is there for notebooks (in the toolbar, or in its
    # overflow menu while the toolbar is being laid out).
    page.locator(".jp-BridgeOpenAsApp").first.wait_for(state="attached")

    # Run the cell once its kernel is ready (before, JupyterLab asks which kernel to start).
    page.wait_for_function(
        """() => {
            const kernel = window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel;
            return kernel?.connectionStatus === 'connected' && kernel.status === 'idle';
        }"""
    )
    # Select the cell (command mode, by its prompt) and run it as a user would.
    first_code_cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")

    output = first_code_cell.locator(".jp-OutputArea")
    handle = output.locator(".widget-slider .noUi-handle").first
    handle.wait_for()
    wait_for_label(output, "value*2 = 0")
    handle.focus()
    handle.press("ArrowRight")
    wait_for_label(output, "value*2 = 2")


def test_open_as_app_shows_the_app_and_reloads_it_when_saved(lab, page):
    status = get(f"{lab}/bridge/")
    if status == 404:
        pytest.skip("the jupyter_bridge server extension is not loaded (/bridge/ answers 404)")
    assert status == 200

    open_lab(page, lab)
    # From the file browser's context menu, as a user would.
    page.locator(".jp-DirListing-item", has_text="sliders.py").click(button="right")
    page.locator(".lm-Menu-item", has_text="Open as App").click()

    panel = page.locator(".jp-BridgeApp")
    panel.wait_for()
    assert page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="sliders.py").count() == 1
    iframe = panel.locator("iframe")
    assert iframe.get_attribute("src").endswith("/bridge/apps/sliders.py")  # cookies log it in: no token
    app = page.frame_locator(".jp-BridgeApp iframe")

    def use_the_app(title: str = "Sliders") -> str:
        """Wait for a new page of the app's code titled ``title`` in its first state, move the slider; its session id.

        After a save, the page whose session the reload ended may load again by
        itself (close code 4205) just before the panel reloads it: a page replaced
        while in use is used again, the one that stays must work. And the panel may
        reload before the server has seen the save: that page, of the old code, is
        closed (4205) once it has, and loads again with what was done in it, so it
        is not used before its title says it runs the saved code.
        """
        while True:
            page.wait_for_function("(frame) => frame.contentWindow.seen === undefined", arg=iframe.element_handle())
            page.wait_for_function(
                "([frame, title]) => frame.contentDocument.title === title", arg=[iframe.element_handle(), title]
            )
            app.locator("#jupyter-bridge-roots[data-jb-ready='1']").wait_for()
            wait_for_label(app, "value*2 = 0")
            iframe.element_handle().content_frame().evaluate("() => { window.pressed = true; }")
            handle = app.locator(".widget-slider .noUi-handle").first
            handle.focus()
            handle.press("ArrowRight")
            # The answer arrives in this page, or the page is replaced (its window goes).
            page.wait_for_function(
                """(frame) => !frame.contentWindow.pressed || [...frame.contentDocument.querySelectorAll('.widget-label')]
                    .some((label) => label.textContent.includes('value*2 = 2'))""",
                arg=iframe.element_handle(),
            )
            frame = iframe.element_handle().content_frame()
            if frame.evaluate("() => window.pressed === true"):
                break
        frame.evaluate("() => { window.seen = true; }")
        return frame.evaluate("() => window.jupyterBridge.connection.sessionId")

    def reloads() -> str:
        return panel.locator(".jp-BridgeApp-frame").get_attribute("data-jb-reloads") or "0"

    first = use_the_app()
    assert first and reloads() == "0"

    # Running the command again on an open app shows that same panel, loaded again.
    page.evaluate(f"() => window.jupyterapp.commands.execute({COMMAND!r}, {{path: 'sliders.py'}}).then(() => true)")
    assert page.locator(".jp-BridgeApp").count() == 1 and reloads() == "1"
    second = use_the_app()
    assert second and second != first

    # Saving the file through JupyterLab's contents manager (what an editor's save
    # does) reloads the panel: a new page, with a new session of the saved code.
    source = (EXAMPLES / "sliders.py").read_text()
    assert 'doc.title = "Sliders"' in source
    page.evaluate(
        """([path, content]) => window.jupyterapp.serviceManager.contents.save(
               path, {type: 'file', format: 'text', content}).then(() => true)""",
        ["sliders.py", source.replace('doc.title = "Sliders"', 'doc.title = "Sliders, saved"')],
    )
    third = use_the_app("Sliders, saved")
    assert third not in (first, second) and reloads() == "2"
    assert iframe.element_handle().content_frame().title() == "Sliders, saved"
