"""What widget libraries' own example notebooks expect from the server and the page.

Each test is one cause found by serving those notebooks (ipyleaflet, plotly,
ipydatagrid, ipyvuetify, pythreejs) side by side with Voila, shown with a small
notebook of our own that has it.
"""

from __future__ import annotations

import pytest
from support import HAVE_CHROMIUM, eventually, serving
from test_notebook_app import open_notebook, write_notebook
from wsclient import Client

chromium = pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is not installed")

#: A widget class with a trait named ``close``, as pythreejs's TubeGeometry has.
TUBE = (
    "import ipywidgets as w\nfrom traitlets import Bool\n"
    "class Tube(w.DOMWidget):\n    close = Bool(False).tag(sync=True)\n"
)


async def test_a_widget_with_a_trait_named_close_is_closed_with_its_session(serve, tmp_path, widget_count):
    baseline = widget_count()
    path = write_notebook(tmp_path, TUBE, "tube = Tube()\nw.VBox([w.Label('a tube'), tube])")
    server = serve({"/nb": str(path)}, unused_session_lifetime=300, check_unused_sessions=100)
    client = await open_notebook(server)
    assert client.model_ids("DOMWidgetModel")
    assert widget_count() > baseline
    await client.close()
    await eventually(lambda: not server.bridge.apps["/nb"].sessions)
    await eventually(lambda: widget_count() == baseline)


async def test_use_example_model_ids_changes_nothing_in_a_served_app(tmp_path):
    pytest.importorskip("pythreejs")
    numbered = write_notebook(
        tmp_path,
        "import pythreejs\nfrom pythreejs import use_example_model_ids\nuse_example_model_ids()",
        "import ipywidgets as w\nw.IntSlider(description='after')",
        name="numbered",
    )
    other = write_notebook(tmp_path, "import ipywidgets as w\nw.IntSlider(description='another app')", name="other")
    # A server process of its own: pythreejs is imported by the notebook's cell, as in a real server.
    with serving(str(numbered), str(other)) as base:
        first, second = await Client.open(base, "numbered"), await Client.open(base, "numbered")
        third = await Client.open(base, "other")
        ids = [client.model_ids("IntSliderModel")[0] for client in (first, second, third)]
        for client in (first, second, third):
            await client.close()
    # Every session's widgets keep unique ids of their own, another app's too: no counter for the process.
    assert len(set(ids)) == 3 and not any(i.startswith("pythree_example_model") for i in ids)


async def test_a_model_id_another_session_holds_is_refused_in_one_sentence(serve, tmp_path):
    path = write_notebook(tmp_path, "import ipywidgets as w\nw.IntSlider(description='fixed', model_id='fixed')")
    server = serve({"/nb": str(path)})
    first = await open_notebook(server)
    assert first.model_ids("IntSliderModel") == ["fixed"]
    second = await open_notebook(server)
    assert not second.model_ids("IntSliderModel")
    [error] = [m for m in second.models.values() if "jb-notebook-error" in m.get("_dom_classes", ())]
    assert "a widget with model id &#x27;fixed&#x27; already exists in this server" in error["value"]
    assert "leave model_id out" in error["value"]
    # The first session's widget is still its own: its page's change reaches it.
    await first.set_state("IntSliderModel", value=7)
    from ipywidgets.widgets.widget import _instances

    await eventually(lambda: _instances["fixed"].value == 7)
    await first.close()
    await second.close()


#: A widget whose model the page cannot make: its state names a child model that does not exist.
BROKEN = (
    "import ipywidgets as w\nfrom traitlets import List, Unicode\n"
    "class Broken(w.DOMWidget):\n"
    "    _model_module = Unicode('@jupyter-widgets/controls').tag(sync=True)\n"
    "    _model_module_version = Unicode(w.__jupyter_widgets_controls_version__).tag(sync=True)\n"
    "    _model_name = Unicode('BoxModel').tag(sync=True)\n"
    "    _view_module = Unicode('@jupyter-widgets/controls').tag(sync=True)\n"
    "    _view_module_version = Unicode(w.__jupyter_widgets_controls_version__).tag(sync=True)\n"
    "    _view_name = Unicode('BoxView').tag(sync=True)\n"
    "    children = List(Unicode(), ['IPY_MODEL_gone']).tag(sync=True)\n"
)


@chromium
def test_a_widget_whose_model_cannot_be_made_shows_the_error_widget_and_the_page_goes_on(page, tmp_path):
    write_notebook(tmp_path, BROKEN, "Broken()", "w.Button(description='after it')", name="broken")
    with serving(str(tmp_path / "broken.ipynb")) as base:
        page.goto(base + "/broken")
        page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']")
        # ipywidgets' own error widget in its place, as JupyterLab and Voila show it.
        page.wait_for_selector(".jupyter-widgets-error-widget")
        page.wait_for_selector("button.jupyter-button:has-text('after it')")
    assert page.errors == []



@chromium
def test_a_widget_that_fails_on_a_message_is_logged_and_the_page_goes_on(page, tmp_path):
    pytest.importorskip("ipywebrtc")
    # ipywebrtc's recorder throws on "download" while it has recorded nothing: in
    # JupyterLab and Voila the kernel connection logs it, and so does the page.
    record = (
        "import ipywebrtc, ipywidgets as w\nrecorder = ipywebrtc.ImageRecorder("
        "stream=ipywebrtc.WidgetStream(widget=w.Label('x')))\nrecorder.download()\nrecorder"
    )
    write_notebook(tmp_path, record, "w.Button(description='after it')", name="recorder")
    logged: list[str] = []
    page.on("console", lambda message: logged.append(message.text) if message.type == "error" else None)
    with serving(str(tmp_path / "recorder.ipynb")) as base:
        page.goto(base + "/recorder")
        page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']")
        page.wait_for_selector("button.jupyter-button:has-text('after it')")
        for _ in range(600):  # until the recorder has had its message (a bound, not a pause)
            if page.errors or any("failed on a message" in text for text in logged):
                break
            page.wait_for_timeout(100)
    assert page.errors == []
    assert any("failed on a message" in text and "getTracks" in text for text in logged)
