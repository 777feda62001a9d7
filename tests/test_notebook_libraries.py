"""What widget libraries' own example notebooks expect from the server and the page.

Each test is one cause found by serving those notebooks (ipyleaflet, plotly,
ipydatagrid, ipyvuetify, pythreejs) side by side with Voila, shown with a small
notebook of our own that has it.
"""

from __future__ import annotations

import pytest
from support import HAVE_CHROMIUM, eventually
from test_notebook_app import open_notebook, write_notebook

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
