"""The `jupyter-bridge` command, run as a real process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import EXAMPLES
from support import free_port

CLI = [sys.executable, "-m", "jupyter_bridge.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, cwd=cwd)




def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_missing_path_is_one_line_error():
    line = one_line_error(run("serve", "no_such_app.py"))
    assert "no_such_app.py: no such file or directory" in line


def test_file_that_is_not_an_app(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    line = one_line_error(run("serve", str(notes)))
    assert "notes.txt is not an app" in line and ".py" in line


def test_script_with_a_syntax_error_names_file_and_line(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("x = 1\nif x\n")
    line = one_line_error(run("serve", str(script)))
    assert "broken.py:2" in line and "fix the script" in line


def test_bad_flag_and_bad_value(tmp_path):
    assert "--colour" in one_line_error(run("serve", str(EXAMPLES / "sliders.py"), "--colour", "red"))
    assert "--port: invalid int value" in one_line_error(run("serve", str(EXAMPLES / "sliders.py"), "--port", "many"))


def test_two_apps_with_one_name(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "sliders.py").write_text("")
    line = one_line_error(run("serve", str(EXAMPLES / "sliders.py"), str(tmp_path / "a" / "sliders.py")))
    assert "two apps would be served at /sliders" in line


def test_help_explains_every_flag():
    result = run("serve", "--help")
    assert result.returncode == 0
    for flag in [
        "--port", "--address", "--show", "--allow-websocket-origin", "--prefix", "--disable-index",
        "--disable-index-redirect", "--log-level", "--args", "--unused-session-lifetime",
        "--check-unused-sessions", "--keep-alive",
    ]:
        assert flag in result.stdout


@pytest.mark.skipif(shutil.which("jupyter-bridge") is None, reason="the package is not installed")
def test_console_script_and_jupyter_subcommand():
    assert subprocess.run(["jupyter-bridge", "--version"], capture_output=True, text=True).stdout.startswith("jupyter-bridge ")
    if shutil.which("jupyter"):
        result = subprocess.run(["jupyter", "bridge", "serve", "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "--allow-websocket-origin" in result.stdout


def get(url: str) -> tuple[int, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_serve_runs_until_sigterm_and_runs_destroy_callbacks(tmp_path):
    marker = tmp_path / "destroyed.txt"
    app = tmp_path / "counter.py"
    app.write_text(
        "import sys, ipywidgets as w\n"
        "from jupyter_bridge import curdoc\n"
        "doc = curdoc()\n"
        "doc.add_root(w.Label(' '.join(sys.argv[1:])))\n"
        f"doc.on_session_destroyed(lambda ctx: open({str(marker)!r}, 'a').write(ctx.id + '\\n'))\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", str(app), str(EXAMPLES / "sliders.py"), "--port", str(port),
         "--address", "127.0.0.1", "--args", "--size", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, index = get(f"http://127.0.0.1:{port}/")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and process.poll() is None, process.communicate()
                time.sleep(0.1)
        assert status == 200 and 'href="/counter"' in index and 'href="/sliders"' in index
        status, page = get(f"http://127.0.0.1:{port}/counter")
        assert status == 200 and "jupyter-bridge-config" in page
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert f"Serving at http://127.0.0.1:{port}/" in out
    assert len(marker.read_text().split()) == 1  # the one session was destroyed on shutdown


def test_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", str(EXAMPLES / "sliders.py"), "--port", str(port), "--address", "127.0.0.1")
    assert result.returncode == 1
    assert f"Cannot listen on port {port}" in result.stderr and "--port" in result.stderr


def test_json_prints_the_document_as_widget_state():
    result = run("json", str(EXAMPLES / "sliders.py"))
    assert result.returncode == 0, result.stderr
    import json

    state = json.loads(result.stdout)
    assert state["version_major"] == 2 and state["title"] == "Sliders"
    (root,) = state["roots"]
    assert state["state"][root]["model_name"] == "VBoxModel"
    names = sorted(model["model_name"] for model in state["state"].values())
    assert "IntSliderModel" in names and "LabelModel" in names


def test_json_of_a_failing_app_reports_the_error(tmp_path):
    app = tmp_path / "fails.py"
    app.write_text("raise KeyError('no such column')\n")
    result = run("json", str(app))
    assert result.returncode == 1
    assert "KeyError: 'no such column'" in result.stderr


def test_glob_serves_every_app_and_skips_the_rest(tmp_path):
    (tmp_path / "one.py").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "nomain").mkdir()
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--glob", str(tmp_path / "*"), "--port", str(port), "--address", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _ = get(f"http://127.0.0.1:{port}/one")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and process.poll() is None, process.communicate()
                time.sleep(0.1)
        assert status == 200
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Skipping" in err and "notes.txt" in err and "nomain" in err


def test_glob_matching_nothing_is_an_error(tmp_path):
    assert "no files match" in one_line_error(run("serve", "--glob", str(tmp_path / "*.py")))
