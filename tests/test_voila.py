"""Our JupyterLab extension installed next to Voila does not break Voila's pages.

Voila's page loads every installed JupyterLab extension but shares only part of
JupyterLab's packages (no file browser, for one): an extension that needs more fails
to load there, with a console error on every page. A real ``voila`` serves a notebook
with a slider, with this tree's built extension first on the labextensions path, and
headless Chromium opens it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from support import HAVE_CHROMIUM, free_port, wait_for_http

BUILT = ROOT / "jupyter_bridge" / "labextension"

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("voila") is None, reason="Voila is not installed"),
    pytest.mark.skipif(not (BUILT / "package.json").exists(), reason="the JupyterLab extension is not built"),
    pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is not installed"),
]


def with_our_extension(folder: Path) -> str:
    """A JUPYTER_PATH whose first folder holds this tree's built extension (copied: Voila serves no symlink out of its folders)."""
    shutil.copytree(BUILT, folder / "labextensions" / "jupyter-bridge")
    return os.pathsep.join([str(folder), os.environ.get("JUPYTER_PATH", "")]).rstrip(os.pathsep)


@pytest.fixture(scope="module")
def voila(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("voila")
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell("import ipywidgets\nipywidgets.IntSlider(description='in Voila')"))
    nbformat.write(notebook, home / "slider.ipynb")
    env = {
        **os.environ,
        "JUPYTER_PATH": with_our_extension(home / "data"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    port = free_port()
    log_path = home / "voila.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "voila", "slider.ipynb", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home,
        )  # fmt: skip
        process.output = log_path  # type: ignore[attr-defined]  # wait_for_http shows it if Voila exits
        try:
            wait_for_http(f"http://127.0.0.1:{port}/voila/static/voila.js", process, timeout=120)
            yield f"http://127.0.0.1:{port}/"
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def test_a_voila_page_loads_our_extension_without_an_error(voila, page):
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    loaded: list[int] = []
    page.on(
        "response",
        lambda response: loaded.append(response.status) if "/labextensions/jupyter-bridge/static/" in response.url else None,
    )
    page.goto(voila)
    page.locator(".widget-slider", has_text="in Voila").wait_for(timeout=120_000)
    # Voila has run every extension's module by the time the notebook's widgets show.
    assert loaded and all(status == 200 for status in loaded), f"Voila did not serve our extension: {loaded}"
    ours = [error for error in errors if "jupyter-bridge" in error or "@jupyterlab/filebrowser" in error]
    assert not ours, f"our extension failed in Voila's page: {ours}"
