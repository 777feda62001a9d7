"""show(app) in a real kernel (nbclient), driven the way a notebook frontend would."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ROOT = NOTEBOOKS.parent


class Kernel:
    """A notebook executed in a live kernel, with helpers to poke it afterwards."""

    def __init__(self, client: NotebookClient, notebook) -> None:
        self.client = client
        self.notebook = notebook

    def run(self, source: str) -> str:
        cell = nbformat.v4.new_code_cell(source)
        self.notebook.cells.append(cell)
        self.client.execute_cell(cell, len(self.notebook.cells) - 1)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, "\n".join(errors[0].traceback)
        return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")

    def value(self, expression: str):
        return json.loads(self.run(f"import json; print(json.dumps({expression}))").strip().splitlines()[-1])

    def send_comm_msg(self, comm_id: str, data: dict) -> None:
        """What a frontend sends when a view changes: a comm_msg on the shell channel."""
        kc = self.client.kc
        msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        kc.shell_channel.send(msg)

    def wait_until(self, expression: str, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while True:
            result = self.value(expression)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.1)


@pytest.fixture(scope="module")
def show_app():
    notebook = nbformat.read(NOTEBOOKS / "show_app.ipynb", as_version=4)
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        yield Kernel(client, notebook)


def widget_views(cell) -> list[str]:
    return [
        o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
        for o in cell.outputs
        if o.output_type == "display_data" and "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]


def test_show_displays_the_document_as_a_widget_view(show_app):
    code_cells = [c for c in show_app.notebook.cells if c.cell_type == "code"]
    assert all(len(widget_views(c)) == 1 for c in code_cells[:3])
    assert show_app.value("handle.document.roots[0].children[1].value") == "value*2 = 0"
    # No extra port: nothing in the kernel listens for the app.
    assert show_app.value("handle.session.channel.routes_comms") is False


def test_frontend_slider_change_runs_the_kernel_callback(show_app):
    slider_id = show_app.value("handle.document.roots[0].children[0].model_id")
    show_app.send_comm_msg(slider_id, {"method": "update", "state": {"value": 7}, "buffer_paths": []})
    assert show_app.wait_until("handle.document.roots[0].children[1].value == 'value*2 = 14'")


def test_periodic_callback_runs_while_the_kernel_is_idle(show_app):
    first = show_app.value("len(stream_handle.document.roots[0].children[0].marks[0].x)")
    assert show_app.wait_until(f"len(stream_handle.document.roots[0].children[0].marks[0].x) >= {first + 3}")


def test_thread_updates_arrive_through_next_tick(show_app):
    assert show_app.wait_until("thread_handle.document.roots[0].value == 20")


def test_adding_a_root_after_show_updates_the_output(show_app):
    show_app.run("handle.document.add_root(w.Label('added later'))")
    assert show_app.value("[c.value for c in handle.session.channel.container.children[1:]]") == ["added later"]
    show_app.run("handle.document.remove_root(handle.document.roots[-1])")
    assert show_app.value("len(handle.session.channel.container.children)") == 1


def test_showing_the_app_again_destroys_the_previous_session(show_app):
    show_app.run("old = stream_handle\nold_line = old.document.roots[0].children[0].marks[0]")
    show_app.run("stream_handle = show(stream)")
    assert show_app.wait_until("old.closed")
    assert show_app.value("old_line.comm is None")  # its widgets were closed
    count = show_app.value("len(old_line.x)")
    # Its periodic callback stopped: the new session's has run three more times meanwhile.
    new_line = "stream_handle.document.roots[0].children[0].marks[0].x"
    assert show_app.wait_until(f"len({new_line}) >= {show_app.value(f'len({new_line})') + 3}")
    assert show_app.value("len(old_line.x)") == count
    assert show_app.value("stream_handle.closed") is False


def test_close_ends_the_session(show_app):
    show_app.run("thread_handle.close()")
    assert show_app.wait_until("thread_handle.closed") is True
    assert show_app.value("thread_handle.session.channel.container.comm is None") is True


def test_a_directory_app_runs_its_four_lifecycle_hooks_in_order_once_each(show_app, tmp_path):
    app = tmp_path / "lifecycle"
    app.mkdir()
    log = app / "events.txt"
    (app / "server_lifecycle.py").write_text(
        f"LOG = {str(log)!r}\n"
        "def record(event):\n"
        "    with open(LOG, 'a') as f:\n"
        "        f.write(event + '\\n')\n"
        "def on_server_loaded(server_context): record('server loaded')\n"
        "def on_session_created(session_context): record('session created')\n"
        "def on_session_destroyed(session_context): record('session destroyed')\n"
        "def on_server_unloaded(server_context): record('server unloaded')\n"
    )
    (app / "main.py").write_text(
        "import ipywidgets as w\n"
        "from jupyter_bridge import curdoc\n"
        "doc = curdoc()\n"
        "n = len(doc.session_context.server_context.sessions)\n"
        "doc.add_root(w.Label(f'{n} live session'))\n"
    )
    show_app.run(f"lifecycle = show({str(app)!r})")
    assert show_app.value("lifecycle.document.roots[0].value") == "1 live session"
    assert log.read_text().splitlines() == ["server loaded", "session created"]

    show_app.run("lifecycle.close()")

    assert show_app.wait_until("lifecycle.closed") is True
    assert log.read_text().splitlines() == [
        "server loaded", "session created", "session destroyed", "server unloaded"
    ]


def test_an_app_that_fails_raises_in_the_cell_and_is_unloaded(show_app, tmp_path):
    app = tmp_path / "broken"
    app.mkdir()
    log = app / "events.txt"
    (app / "server_lifecycle.py").write_text(
        f"def on_server_unloaded(server_context):\n    open({str(log)!r}, 'w').write('unloaded')\n"
    )
    (app / "main.py").write_text("raise ValueError('no data today')\n")

    output = show_app.run(
        "try:\n"
        f"    show({str(app)!r})\n"
        "except Exception as error:\n"
        "    print('raised:', error)\n"
    )

    assert "raised:" in output and "ValueError: no data today" in output
    assert log.read_text() == "unloaded"
