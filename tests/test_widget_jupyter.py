"""The widget gallery inside a Jupyter server: the standalone Chromium tests, through the extension.

A real ``jupyter server`` (token login, base URL ``/jp/``) serves
examples/widgets/ as its root, and the extension serves each app at
``/jp/bridge/apps/<file>``. The tests are the standalone ones, imported from the
gallery's modules and run again here with this module's ``server``: the same
checks (the library's own DOM, a Python change reaching the page, a page event
reaching Python, no error, nothing fetched off the machine), with the modules,
federated containers, sockets and static files all found under Jupyter's base
URL and behind its login. One library of each way of loading and talking:
AMD modules with their own dependencies (bqplot, ipyleaflet), a JupyterLab-only
federated container (ipyevents), anywidget ES modules (plotly, drawdata),
custom messages with binary buffers (ipympl, ipycanvas), Vue (ipyvuetify), a
canvas grid (ipydatagrid), and a notebook app's Output widget.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import ROOT
from support import HAVE_CHROMIUM, free_port, wait_for_jupyter
from test_widget_gallery import (  # noqa: F401 - collected again, with this module's server
    test_bqplot_moves_points_from_python_and_reports_the_clicked_point,
    test_ipydatagrid_grows_from_python_and_reports_the_picked_cell,
    test_ipyleaflet_map_zooms_from_python_and_reports_clicks,
    test_ipyvuetify_components_follow_python_and_report_clicks,
)
from test_widget_libraries import (  # noqa: F401 - collected again, with this module's server
    test_drawdata_points_drawn_reach_python_and_python_adds_one,
    test_ipycanvas_draws_from_python_in_each_tab_and_hears_clicks,
    test_ipyevents_from_its_jupyterlab_extension_hears_what_python_asks_for,
    test_ipympl_figure_has_its_size_redraws_from_python_and_hears_clicks,
    test_plotly_figure_widget_changes_from_python_and_reports_clicked_points,
)
from test_widget_notebooks import (  # noqa: F401 - collected again, with this module's server
    test_output_widget_captures_prints_displays_callbacks_and_errors,
)
from widget_pages import WIDGET_EXAMPLES

pytestmark = pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is not installed")

TOKEN = "widget-gallery-token"
STARTUP_TIMEOUT = 120


class JupyterApps(str):
    """The Jupyter server's base URL, which addresses the gallery's apps as the standalone tests do.

    Those tests open ``server + "/ipympl_app"``; here that is the extension's
    ``<base>bridge/apps/ipympl_app.py`` (or ``notebooks/<name>.ipynb``), with the
    token that logs the browser in (Jupyter then sets its login cookie, which the
    page's module requests and WebSocket carry).
    """

    def __add__(self, path: str) -> str:
        name = path.lstrip("/")
        for candidate in (f"{name}.py", f"notebooks/{name}.ipynb"):
            if (WIDGET_EXAMPLES / candidate).is_file():
                return f"{str(self)}bridge/apps/{candidate}?token={TOKEN}"
        raise AssertionError(f"no app {name!r} in {WIDGET_EXAMPLES}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterApps]:
    workdir = tmp_path_factory.mktemp("jupyter-widgets")
    port = free_port()
    base = f"http://127.0.0.1:{port}/jp/"
    environment = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(workdir / "config"),  # no user config
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    log_path = workdir / "jupyter.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ip=127.0.0.1",
             f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
             f"--ServerApp.root_dir={WIDGET_EXAMPLES}", "--ServerApp.base_url=/jp/",
             "--ServerApp.jpserver_extensions=jupyter_bridge=True",
             # Closed tabs' sessions go within seconds, as in the standalone gallery's server.
             "--BridgeExtension.unused_session_lifetime=15000", "--BridgeExtension.check_unused_sessions=1000"],
            env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
        )  # fmt: skip
        try:
            wait_for_jupyter(base, TOKEN, process, log_path, STARTUP_TIMEOUT)
            yield JupyterApps(base)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

