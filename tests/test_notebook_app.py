"""Notebooks served as apps: a real server, the protocol client, and one real Chromium page."""

from __future__ import annotations

import gc
import logging
import weakref
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import EXAMPLES
from support import CHROMIUM, CHROMIUM_ARGS, eventually, serving
from wsclient import Client

from jupyter_bridge.application import NotAnAppError
from jupyter_bridge.application.notebook import NotebookHandler
from jupyter_bridge.protocol import model_refs

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def write_notebook(folder: Path, *cells: str, name: str = "nb") -> Path:
    """A notebook of ``cells``; a source starting with ``md:`` is a markdown cell."""
    notebook = nbformat.v4.new_notebook()
    for source in cells:
        if source.startswith("md:"):
            notebook.cells.append(nbformat.v4.new_markdown_cell(source[3:]))
        else:
            notebook.cells.append(nbformat.v4.new_code_cell(source))
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def roots(client: Client) -> list[tuple[str, dict[str, Any]]]:
    return [(client.models[r]["_model_name"], client.models[r]) for r in client.doc["roots"]]


def child(client: Client, state: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return client.models[model_refs(state["children"])[index]]


async def open_notebook(server, name: str = "nb") -> Client:
    return await Client.open(server.url, name)


async def test_the_page_shows_markdown_and_widgets_in_cell_order(serve, tmp_path):
    path = write_notebook(
        tmp_path,
        "md:# A notebook app\n\nSome *emphasis* and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |",
        "import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('added as a root'))",
        "md:## Second part",
        "w.IntSlider(value=3)",
        "display(w.Button(description='displayed'))\nw.Label('not shown: not the last expression')\nNone",
    )
    server = serve({"/nb": str(path)})
    client = await open_notebook(server)
    shown = roots(client)
    assert [name for name, _ in shown] == ["HTMLModel", "LabelModel", "HTMLModel", "IntSliderModel", "ButtonModel"]
    heading = shown[0][1]
    assert "<h1>A notebook app</h1>" in heading["value"] and "<em>emphasis</em>" in heading["value"]
    assert "<table>" in heading["value"] and "jb-notebook-markdown" in heading["_dom_classes"]
    assert shown[1][1]["value"] == "added as a root"
    assert shown[2][1]["value"].strip() == "<h2>Second part</h2>"
    assert shown[3][1]["value"] == 3
    assert shown[4][1]["description"] == "displayed"
    assert client.doc["title"] == "A notebook app"
    await client.close()


RICH = (
    "from IPython.display import HTML, SVG, Image, Markdown",
    "display(HTML('<b>bold</b>'))",
    f"Image(data={PNG!r}, format='png')",
    "SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"></svg>')",
    "print('hello')\nprint('world')\nimport sys\nprint('oops', file=sys.stderr)",
    "6 * 7",
    "6 * 8;  # a trailing semicolon hides the value",
    "Markdown('*rendered*')",
    "import ipywidgets as w\nw.Label('a widget')",
)


async def test_rich_outputs_become_html_image_and_text_widgets(serve, tmp_path):
    server = serve({"/nb": str(write_notebook(tmp_path, *RICH))})
    client = await open_notebook(server)
    shown = roots(client)
    assert [name for name, _ in shown] == [
        "HTMLModel", "ImageModel", "ImageModel", "HTMLModel", "HTMLModel", "HTMLModel", "HTMLModel", "LabelModel",
    ]
    assert shown[0][1]["value"] == "<b>bold</b>"
    assert shown[1][1]["format"] == "png" and shown[2][1]["format"] == "svg+xml"
    assert ">hello\nworld\n</pre>" in shown[3][1]["value"]
    assert ">oops\n</pre>" in shown[4][1]["value"] and "jb-notebook-stderr" in shown[4][1]["_dom_classes"]
    assert ">42</pre>" in shown[5][1]["value"]
    assert "48" not in "".join(str(state.get("value")) for _, state in shown)
    assert shown[6][1]["value"].strip() == "<p><em>rendered</em></p>"
    await client.close()


async def test_roots_layout_shows_only_widgets_and_prints_go_to_stdout(serve, tmp_path, capfd):
    server = serve({"/nb": str(write_notebook(tmp_path, "md:# Heading", *RICH))}, notebook_layout="roots")
    client = await open_notebook(server)
    assert [name for name, _ in roots(client)] == ["LabelModel"]
    assert "hello\nworld\n" in capfd.readouterr().out
    await client.close()


async def test_cell_outputs_can_be_cleared_and_displays_updated(serve, tmp_path):
    path = write_notebook(
        tmp_path,
        "import ipywidgets as w\nfrom IPython.display import HTML, clear_output",
        "display(w.Label('gone'))\nprint('gone too')\nclear_output()\ndisplay(w.Label('kept'))",
        "handle = display(HTML('<p>first</p>'), display_id=True)",
        "handle.update(HTML('<p>second</p>'))",
        "button = w.Button(description='later')\nbutton.on_click(lambda _: handle.update(HTML('<p>third</p>')))\nbutton",
    )
    # The lifetime runs out once the socket is closed, not while a slow page connects.
    server = serve({"/nb": str(path)}, unused_session_lifetime=3_600_000, check_unused_sessions=50)
    client = await open_notebook(server)
    shown = roots(client)
    assert [name for name, _ in shown] == ["LabelModel", "VBoxModel", "ButtonModel"]
    assert shown[0][1]["value"] == "kept"
    assert child(client, shown[1][1])["value"] == "<p>second</p>"
    await client.request(
        {"type": "comm_msg", "comm_id": client.doc["roots"][2], "data": {"method": "custom", "content": {"event": "click"}}}
    )
    assert child(client, client.models[client.doc["roots"][1]])["value"] == "<p>third</p>"

    # Where its displays went is forgotten with the session, which memory lets go.
    (session,) = server.bridge.apps["/nb"].sessions.values()
    session = weakref.ref(session)
    await client.close()
    await eventually(lambda: server.bridge.connection_count == 0)
    server.settings.unused_session_lifetime = 100
    await eventually(lambda: server.bridge.session_count == 0)
    gc.collect()
    assert session() is None


async def test_harmless_magics_run_and_the_others_are_skipped_with_a_note(serve, tmp_path, caplog):
    path = write_notebook(
        tmp_path,
        "%matplotlib inline\nimport ipywidgets as w",
        "%time y = 21 * 2",
        "%timeit -n 10 -r 2 z = y + 1",
        "%%capture captured\nprint('captured text')\ndisplay(w.Label('captured widget'))",
        "%pip install some-package",
        "%who",
        "%%html\n<i>from a cell magic</i>",
        "w.Label(f'{y} {z} {captured.stdout.strip()}')",
    )
    server = serve({"/nb": str(path)})
    with caplog.at_level(logging.WARNING, logger="jupyter_bridge.application.notebook"):
        client = await open_notebook(server)
    shown = roots(client)
    assert [name for name, _ in shown] == ["HTMLModel", "LabelModel"]
    assert shown[0][1]["value"] == "<i>from a cell magic</i>\n"
    assert shown[1][1]["value"] == "42 43 captured text"
    notes = [r.getMessage() for r in caplog.records if r.name == "jupyter_bridge.application.notebook"]
    assert len(notes) == 2
    assert notes[0].startswith("nb.ipynb cell 5: %pip install some-package skipped: install packages")
    assert notes[1].startswith("nb.ipynb cell 6: %who skipped")
    await client.close()


INSPECTOR = (
    "import ipywidgets as w\nfrom IPython.core.magics.namespace import NamespaceMagics\n"
    "get_ipython().user_ns_hidden['w'] = w\nget_ipython().user_ns_hidden['NamespaceMagics'] = NamespaceMagics",
    "class Inspector:\n"
    "    def __init__(self, ip):\n"
    "        self.names = NamespaceMagics()\n"
    "        self.names.shell = ip.kernel.shell\n"
    "        self.label = w.Label()\n"
    "        self.ip = ip\n"
    "        ip.events.register('post_run_cell', self.fill)\n"
    "    def fill(self, result):\n"
    "        self.label.value = ' '.join(sorted(self.names.who_ls())) + f' #{result.execution_count}'\n"
    "inspector = Inspector(get_ipython())\n"
    "inspector.label",
    "a = 5\nb = 'text'",
    "print(get_ipython().ev('a + 1'), get_ipython().user_ns is globals(), type(get_ipython().config).__name__)",
)


async def test_get_ipython_has_what_a_variable_inspector_reads(serve, tmp_path):
    server = serve({"/nb": str(write_notebook(tmp_path, *INSPECTOR))})
    client = await open_notebook(server)
    shown = roots(client)
    # The shell's own names and the hidden ones are left out; post_run_cell fired after every cell.
    assert shown[0][1]["value"] == "Inspector a b inspector #4"
    assert ">6 True Config\n</pre>" in shown[1][1]["value"]
    await client.close()


async def test_shell_escapes_never_run(serve, tmp_path, caplog):
    marker = tmp_path / "marker"
    path = write_notebook(
        tmp_path,
        f"!touch {marker}",
        f"listing = !ls {tmp_path}",
        f"%%bash\ntouch {marker}",
        "import ipywidgets as w\nw.Label(repr(listing))",
    )
    server = serve({"/nb": str(path)})
    with caplog.at_level(logging.WARNING):
        client = await open_notebook(server)
    assert not marker.exists()
    assert client.model("LabelModel")["value"] == "[]"
    assert f"cell 1: !touch {marker} skipped" in caplog.text
    assert f"cell 2: !ls {tmp_path} skipped" in caplog.text
    assert "cell 3: %%bash cell skipped" in caplog.text
    await client.close()


def failing_notebook(folder: Path) -> Path:
    marker = folder / "cell-4-ran"
    return write_notebook(
        folder,
        "md:# Broken",
        "import ipywidgets as w\nw.Label('built before the failure')",
        "x = 1\nprint('printed before the failure')\nprint(undefined_name)",
        f"open({str(marker)!r}, 'w').close()\nw.Label('never reached')",
    )


@pytest.mark.parametrize("dev", [False, True])
async def test_a_failing_cell_shows_what_ran_then_its_error_and_stops(serve, tmp_path, caplog, dev):
    server = serve({"/nb": str(failing_notebook(tmp_path))}, dev=dev)
    with caplog.at_level(logging.ERROR):
        client = await open_notebook(server)  # the page is served: 200, as Voila serves it
    shown = roots(client)
    assert [name for name, _ in shown] == ["HTMLModel", "LabelModel", "HTMLModel", "HTMLModel"]
    assert shown[1][1]["value"] == "built before the failure"
    assert ">printed before the failure\n</pre>" in shown[2][1]["value"]
    error = shown[3][1]
    assert "jb-notebook-error" in error["_dom_classes"]
    assert "cell 3 raised NameError: name &#x27;undefined_name&#x27; is not defined" in error["value"]
    assert "(line 3: print(undefined_name))" in error["value"]
    assert ("Traceback (most recent call last)" in error["value"]) is dev  # only with --dev
    assert not (tmp_path / "cell-4-ran").exists()  # the cells after it never run
    assert "cell 3 raised NameError" in caplog.text and "Traceback" in caplog.text
    await client.close()


def test_a_syntax_error_is_a_clear_error_when_the_notebook_loads(tmp_path):
    path = write_notebook(tmp_path, "x = 1", "def broken(:\n    pass")
    with pytest.raises(NotAnAppError, match=r"nb\.ipynb cell 2, line 1: .*fix the cell"):
        NotebookHandler(path)
    (tmp_path / "junk.ipynb").write_text("not json")
    with pytest.raises(NotAnAppError, match="junk.ipynb is not a readable notebook"):
        NotebookHandler(tmp_path / "junk.ipynb")


async def test_every_session_runs_the_notebook_in_a_fresh_namespace(serve, tmp_path):
    (tmp_path / "nb_helper.py").write_text("VALUE = 'from the notebook folder'\n")
    path = write_notebook(
        tmp_path,
        "import sys\nimport ipywidgets as w\nimport nb_helper",
        "counter = globals().get('counter', 0) + 1",
        "w.Label(f'{counter} {nb_helper.VALUE} {sys.argv[1:]} {__file__ == sys.argv[0]} {__name__ != \"__main__\"}')",
    )
    server = serve({"/nb": str(path)}, argv=["--flag"])
    first = await open_notebook(server)
    second = await open_notebook(server)
    expected = "1 from the notebook folder ['--flag'] True True"
    assert first.model("LabelModel")["value"] == expected
    assert second.model("LabelModel")["value"] == expected
    await first.close()
    await second.close()


async def test_a_cell_may_await(serve, tmp_path):
    path = write_notebook(
        tmp_path, "import asyncio\nimport ipywidgets as w", "await asyncio.sleep(0.01)\nw.Label(await asyncio.sleep(0, 'awaited'))"
    )
    server = serve({"/nb": str(path)})
    client = await open_notebook(server)
    assert client.model("LabelModel")["value"] == "awaited"
    await client.close()


async def test_output_widgets_and_interact_in_a_notebook_are_per_session(serve, tmp_path, capfd):
    path = write_notebook(
        tmp_path,
        "import ipywidgets as w\nout = w.Output()\ndisplay(out)",
        "with out:\n    print('inside the output')\nprint('in the cell')",
        "@w.interact(x=(0, 10))\ndef f(x=2):\n    print(f'x is {x}')",
    )
    server = serve({"/nb": str(path)})
    first = await open_notebook(server)
    second = await open_notebook(server)
    for client in (first, second):
        shown = roots(client)
        assert [name for name, _ in shown] == ["OutputModel", "HTMLModel", "VBoxModel"]
        assert shown[0][1]["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "inside the output\n"}]
        assert ">in the cell\n</pre>" in shown[1][1]["value"]

    await first.set_state("IntSliderModel", value=7)
    interact_output = [cid for cid in first.model_ids("OutputModel") if cid != first.doc["roots"][0]][0]
    assert first.models[interact_output]["outputs"][0]["text"] == "x is 7\n"
    other = [cid for cid in second.model_ids("OutputModel") if cid != second.doc["roots"][0]][0]
    assert second.models[other]["outputs"][0]["text"] == "x is 2\n"
    captured = capfd.readouterr()
    assert "x is" not in captured.out and "inside the output" not in captured.out
    await first.close()
    await second.close()


def test_the_example_notebook_is_valid_and_saved_without_outputs():
    notebook = nbformat.read(EXAMPLES / "notebook_app.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


# One real page



@pytest.fixture
def example_server():
    with serving(str(EXAMPLES / "notebook_app.ipynb")) as base:
        yield base


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
def test_the_example_notebook_in_chromium(example_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(example_server + "/notebook_app")
            page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=20_000)
            assert page.title() == "Notebook app"
            assert page.locator("h1").first.inner_text() == "Notebook app"
            assert "HTML" in page.locator("b", has_text="HTML").inner_text()
            page.wait_for_selector("text=3 squared is 9")

            handle = page.locator(".widget-slider .noUi-handle").first
            handle.focus()
            for _ in range(4):
                handle.press("ArrowRight")
            page.wait_for_function(
                "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = 8')"
            )
            assert errors == []
        finally:
            browser.close()


async def test_show_in_a_served_notebook_fills_the_served_document(serve, tmp_path):
    """One notebook works in Jupyter (show opens a kernel session) and when served."""
    path = write_notebook(
        tmp_path,
        "import ipywidgets as w\nfrom jupyter_bridge import show",
        "def app(doc):\n"
        "    slider = w.IntSlider(description='N')\n"
        "    label = w.Label('value*2 = 0')\n"
        "    slider.observe(lambda ch: setattr(label, 'value', f\"value*2 = {ch['new'] * 2}\"), 'value')\n"
        "    doc.add_root(w.VBox([slider, label]))\n"
        "handle = show(app)",
    )
    server = serve({"/nb": str(path)}, notebook_layout="roots")
    client = await open_notebook(server)
    assert [name for name, _ in roots(client)] == ["VBoxModel"]
    assert (await client.set_state("IntSliderModel", value=6))["type"] == "idle"
    assert client.model("LabelModel")["value"] == "value*2 = 12"
    await client.close()


# Matplotlib: %matplotlib inline / widget per session, as in JupyterLab

PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def live_figures() -> int:
    """Figures alive in this process (the server's): what pyplot would leak."""
    from matplotlib.figure import Figure

    gc.collect()
    return sum(isinstance(o, Figure) for o in gc.get_objects())


def root_images(client: Client) -> list[bytes]:
    """The bytes of every Image root (a binary buffer of its comm_open), in page order."""
    opened = {m.content["comm_id"]: m for m in client.frames if m.content["type"] == "comm_open"}
    return [
        bytes(opened[root].buffers[0]) for root in client.doc["roots"] if client.models[root]["_model_name"] == "ImageModel"
    ]


async def test_matplotlib_inline_shows_each_cells_figures_as_images_and_closes_them(serve, tmp_path):
    pytest.importorskip("matplotlib")
    path = write_notebook(
        tmp_path,
        "%matplotlib inline",
        PLOT + ";",
        "print(plt.get_fignums())",
        "fig, ax = plt.subplots()\nax.bar([1, 2], [3, 4])\nplt.show()\nprint('after show', plt.get_fignums())",
        "with plt.ioff():\n    quiet = plt.figure()\nprint('quiet', plt.get_fignums())",
    )
    server = serve({"/nb": str(path)})
    client = await open_notebook(server)
    shown = roots(client)
    assert [name for name, _ in shown] == ["ImageModel", "HTMLModel", "ImageModel", "HTMLModel", "HTMLModel"]
    assert shown[0][1]["format"] == "png" and all(png.startswith(PNG_SIGNATURE) for png in root_images(client))
    assert ">[]\n</pre>" in shown[1][1]["value"]  # shown, then closed, as JupyterLab's inline backend does
    assert ">after show []\n</pre>" in shown[3][1]["value"]
    assert ">quiet [1]\n</pre>" in shown[4][1]["value"]  # made with interactive mode off: not shown
    await client.close()


async def test_an_interact_function_that_plots_shows_its_figure_in_its_output(serve, tmp_path):
    pytest.importorskip("matplotlib")
    path = write_notebook(
        tmp_path,
        "import matplotlib.pyplot as plt\nfrom ipywidgets import interact",
        "@interact(slope=(1, 3))\ndef line(slope=2):\n    plt.plot([0, 1], [0, slope])\n    print('open', plt.get_fignums(), slope)",
    )
    server = serve({"/nb": str(path)})
    client = await open_notebook(server)
    outputs = client.model("OutputModel")["outputs"]
    assert [o["output_type"] for o in outputs] == ["stream", "display_data"], outputs
    assert outputs[0]["text"] == "open [1] 2\n" and "image/png" in outputs[1]["data"]
    # Each call shows its own figure, and closes it: the next call starts again from Figure 1.
    assert (await client.set_state("IntSliderModel", value=3))["type"] == "idle"
    outputs = client.model("OutputModel")["outputs"]
    assert [o["output_type"] for o in outputs] == ["stream", "display_data"], outputs
    assert outputs[0]["text"] == "open [1] 3\n" and "image/png" in outputs[1]["data"]
    await client.close()


async def test_without_a_magic_pyplot_draws_inline_as_in_jupyterlab(serve, tmp_path):
    pytest.importorskip("matplotlib")
    path = write_notebook(tmp_path, PLOT + "\nplt.show()", PLOT + ";")
    server = serve({"/nb": str(path)})
    client = await open_notebook(server)
    shown = roots(client)
    assert [name for name, _ in shown] == ["ImageModel", "ImageModel"]
    images = root_images(client)
    assert len(images) == 2 and all(png.startswith(PNG_SIGNATURE) for png in images)
    await client.close()


async def test_an_unknown_matplotlib_backend_is_one_sentence_in_the_page(serve, tmp_path, caplog):
    pytest.importorskip("matplotlib")
    path = write_notebook(tmp_path, "%matplotlib qt", "import ipywidgets as w\nw.Label('still runs')")
    server = serve({"/nb": str(path)})
    with caplog.at_level(logging.WARNING, logger="jupyter_bridge.application.notebook"):
        client = await open_notebook(server)
    shown = roots(client)
    assert [name for name, _ in shown] == ["HTMLModel", "LabelModel"]
    said = shown[0][1]["value"]
    assert "jb-notebook-stderr" in shown[0][1]["_dom_classes"]
    assert "%matplotlib qt cannot run in a served notebook: use %matplotlib inline" in said
    assert "%matplotlib widget" in said and "%matplotlib ipympl" in said
    assert any("cell 1: %matplotlib qt cannot run" in r.getMessage() for r in caplog.records)
    await client.close()


async def test_matplotlib_widget_gives_each_session_its_figures_and_closes_them_with_it(serve, tmp_path):
    pytest.importorskip("ipympl")
    path = write_notebook(
        tmp_path,
        "%matplotlib widget",
        PLOT,
        "print('figures', plt.get_fignums())",
    )
    before = live_figures()
    server = serve({"/nb": str(path)}, unused_session_lifetime=100, check_unused_sessions=50)
    first, second = await open_notebook(server), await open_notebook(server)
    for client in (first, second):
        names = [name for name, _ in roots(client)]
        assert names == ["HTMLModel", "MPLCanvasModel", "HTMLModel"], names  # the plot's repr, then its figure
        assert ">figures [1]\n</pre>" in roots(client)[2][1]["value"]  # each page has its own Figure 1
    assert live_figures() == before + 2
    await first.close()
    await eventually(lambda: live_figures() == before + 1)
    await second.close()
    await eventually(lambda: live_figures() == before)


async def test_a_script_keeps_the_backend_it_chose_beside_notebooks(serve, tmp_path):
    pytest.importorskip("ipympl")
    inline = write_notebook(tmp_path, PLOT + ";", name="inline")
    widget = write_notebook(tmp_path, "%matplotlib widget", PLOT + ";", name="widget")
    script = EXAMPLES / "widgets" / "ipympl_app.py"  # matplotlib.use("widget"), plt.ioff(), its own layout
    server = serve({"/inline": str(inline), "/widget": str(widget), "/script": str(script)})
    for name, model in (("widget", "MPLCanvasModel"), ("script", "MPLCanvasModel"), ("inline", "ImageModel")):
        client = await Client.open(server.url, name)
        assert model in [state.get("_model_name") for state in client.models.values()], name
        await client.close()


async def test_a_widget_shows_what_its_display_data_names_as_in_jupyter(serve, tmp_path):
    # pythreejs shows a geometry (a model without a view) in a Preview widget it makes
    # for it; a widget without a view and without such data shows as text.
    path = write_notebook(
        tmp_path,
        "import ipywidgets as w\n"
        "class Geometry(w.Widget):\n"
        "    def _repr_mimebundle_(self, **kwargs):\n"
        "        preview = w.Label('a preview of it')\n"
        "        return {'text/plain': 'Geometry()', 'application/vnd.jupyter.widget-view+json':\n"
        "                {'version_major': 2, 'version_minor': 0, 'model_id': preview.model_id}}\n"
        "Geometry()",
        "w.Widget()",
    )
    server = serve({"/nb": str(path)})
    client = await open_notebook(server)
    shown = roots(client)
    assert [name for name, _ in shown] == ["LabelModel", "HTMLModel"], shown
    assert shown[0][1]["value"] == "a preview of it"
    assert "Widget()" in shown[1][1]["value"]
    assert all(state.get("_view_name") for _, state in shown)  # nothing the page cannot show
    await client.close()
