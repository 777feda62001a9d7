"""Widgets a page makes of its own (pythreejs makes a light's shadow and its camera in the page)."""

from __future__ import annotations

import uuid

import ipywidgets as w
from ipywidgets.widgets.widget import _instances
from traitlets import Float, Unicode
from wsclient import Client


@w.register
class Shadow(w.Widget):
    """Like pythreejs's LightShadow: its constructor sets traits before the page's state is applied."""

    _model_name = Unicode("ShadowModel").tag(sync=True)
    _model_module = Unicode("test-shadows").tag(sync=True)
    _model_module_version = Unicode("^1.0.0").tag(sync=True)
    camera = Unicode("").tag(sync=True)
    bias = Float(0.0).tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**{"camera": "uninitialized", "bias": 0.5, **kwargs})


def light(doc):
    doc.add_root(w.Label("a light"))


async def test_a_widget_the_page_makes_keeps_the_page_s_values(serve):
    server = serve({"/light": light})
    client = await Client.open(server.url, "light")
    comm_id = str(uuid.uuid4())
    state = {
        "_model_module": "test-shadows", "_model_module_version": "^1.0.0", "_model_name": "ShadowModel",
        "_view_module": None, "_view_module_version": "", "_view_name": None, "camera": "IPY_MODEL_page-camera",
    }  # fmt: skip
    opening = {"type": "comm_open", "comm_id": comm_id, "target_name": "jupyter.widget"}
    reply = await client.request({**opening, "data": {"state": state, "buffer_paths": []}, "metadata": {"version": "2.1.0"}})
    assert reply["type"] == "idle", reply

    widget = _instances[comm_id]
    assert isinstance(widget, Shadow) and widget.camera == "IPY_MODEL_page-camera"
    sent = [m.content["data"] for m in client.frames if m.content.get("comm_id") == comm_id]
    # The constructor's camera never reaches the page, which made its own; the echo confirms the page's.
    assert not any("camera" in data.get("state", {}) for data in sent if data.get("method") == "update")
    assert {"method": "echo_update", "camera": "IPY_MODEL_page-camera"}.items() <= {
        "method": sent[-1]["method"], **sent[-1]["state"]
    }.items()
    # What the page did not send is the server's to say, as from a kernel.
    assert {"method": "update", "state": {"bias": 0.5}, "buffer_paths": []} in sent
    await client.close()
