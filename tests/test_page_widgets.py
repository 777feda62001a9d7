"""Widgets a page makes of its own (pythreejs makes a light's shadow and its camera in the page)."""

from __future__ import annotations

import sys
import uuid

import ipywidgets as w
import pytest
from ipywidgets.widgets.widget import _instances
from traitlets import Float, Unicode
from wsclient import Client

from jupyter_bridge.application.handlers import app_imports
from jupyter_bridge.widget_states import importable


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
    doc.allow_page_widgets(Shadow)
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


# The attack: one viewer's page opens a widget class that the app script defines.
# ipywidgets' registry is one per process and holds the class of the session that
# ran the script last, whose methods close over *that* session's variables.

VAULT_APP = '''
import uuid

import ipywidgets as w
from traitlets import Unicode

from jupyter_bridge import curdoc

secret = uuid.uuid4().hex
label = w.Label("untouched")
html = w.HTML("untouched")


@w.register
class Vault(w.DOMWidget):
    """Answers its page: hands out this session's secret, sets its label and its HTML."""

    _model_name = Unicode("VaultModel").tag(sync=True)
    _model_module = Unicode("vault").tag(sync=True)
    _model_module_version = Unicode("1.0.0").tag(sync=True)
    _view_name = Unicode("VaultView").tag(sync=True)
    _view_module = Unicode("vault").tag(sync=True)
    _view_module_version = Unicode("1.0.0").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.on_msg(self._answer)

    def _answer(self, widget, content, buffers):
        if content.get("ask") == "secret":
            self.send({"secret": secret})
        if "label" in content:
            label.value = content["label"]
        if "html" in content:
            html.value = content["html"]

ALLOW
curdoc().add_root(w.VBox([label, html, w.Label(secret, description="secret")]))
'''

VAULT_STATE = {
    "_model_module": "vault", "_model_module_version": "1.0.0", "_model_name": "VaultModel",
    "_view_module": "vault", "_view_module_version": "1.0.0", "_view_name": "VaultView",
}  # fmt: skip


def vault_app(tmp_path, allow: str = "") -> str:
    script = tmp_path / "vault.py"
    script.write_text(VAULT_APP.replace("ALLOW", allow))
    return str(script)


def secret_of(client: Client) -> str:
    return next(s["value"] for s in client.models.values() if s.get("description") == "secret")


def values_of(client: Client, model_name: str) -> list[str]:
    return [client.models[i]["value"] for i in client.model_ids(model_name)]


async def open_vault_and_ask(client: Client, comm_id: str) -> dict:
    """What the attacker's page sends: open a Vault, then ask it for data and to change things."""
    opened = await client.request(
        {"type": "comm_open", "comm_id": comm_id, "target_name": "jupyter.widget",
         "data": {"state": VAULT_STATE, "buffer_paths": []}, "metadata": {"version": "2.1.0"}}  # fmt: skip
    )
    for content in ({"ask": "secret"}, {"label": "changed by a page"}, {"html": "<img src=x onerror=alert(1)>"}):
        await client.request({"type": "comm_msg", "comm_id": comm_id, "data": {"method": "custom", "content": content}})
    return opened


@pytest.mark.parametrize("page_widgets", [[], ["*"], ["vault:VaultModel"]])
async def test_a_page_cannot_open_a_widget_class_that_an_app_script_defines(serve, tmp_path, page_widgets):
    # Whatever the server allows: a class app code defines is that one session's.
    server = serve({"/vault": vault_app(tmp_path)}, page_widgets=page_widgets)
    attacker = await Client.open(server.url, "vault")
    victim = await Client.open(server.url, "vault")  # ran the script last: the registry holds its Vault
    victims_secret = secret_of(victim)

    opened = await open_vault_and_ask(attacker, "attacker-vault")

    received = [m.content for m in attacker.frames if m.content.get("comm_id") == "attacker-vault"]
    assert not any(victims_secret in repr(content) for content in received), "the victim's secret reached the attacker"
    assert values_of(victim, "LabelModel")[0] == "untouched"
    assert values_of(victim, "HTMLModel") == ["untouched"]
    assert values_of(attacker, "LabelModel")[0] == "untouched"
    # Refused in one sentence naming the class and how to allow it; nothing is left behind.
    assert opened["type"] == "error"
    assert "vault VaultModel" in opened["message"], opened
    assert "curdoc().allow_page_widgets(TheClass)" in opened["message"], opened
    assert "attacker-vault" not in _instances
    # Both sessions go on.
    assert (await attacker.request({"type": "ping"}))["type"] == "pong"
    assert (await victim.request({"type": "ping"}))["type"] == "pong"
    await attacker.close()
    await victim.close()


async def test_an_app_that_allows_its_class_gets_its_own_session_s_class(serve, tmp_path):
    server = serve({"/vault": vault_app(tmp_path, allow="curdoc().allow_page_widgets(Vault)")})
    first = await Client.open(server.url, "vault")
    second = await Client.open(server.url, "vault")  # ran the script last

    opened = await open_vault_and_ask(first, "first-vault")

    assert opened["type"] == "idle", opened
    answers = [
        m.content["data"]["content"] for m in first.frames
        if m.content.get("comm_id") == "first-vault" and m.content["data"].get("method") == "custom"
    ]  # fmt: skip
    assert answers == [{"secret": secret_of(first)}]
    assert values_of(first, "LabelModel")[0] == "changed by a page"
    assert values_of(second, "LabelModel")[0] == "untouched" and values_of(second, "HTMLModel") == ["untouched"]
    await first.close()
    await second.close()


async def test_a_push_cannot_make_a_widget_class_that_an_app_script_defines(serve, tmp_path):
    server = serve({"/vault": vault_app(tmp_path)}, allow_push=True)
    attacker = await Client.open(server.url, "vault")
    victim = await Client.open(server.url, "vault")  # ran the script last: the registry holds its Vault

    reply = await attacker.request(
        {"type": "push_doc", "title": "mine", "roots": ["v"],
         "models": [{"model_id": "v", "state": VAULT_STATE, "buffer_paths": []}]}  # fmt: skip
    )
    pushed = next((m.content for m in attacker.frames if m.content["type"] == "pushed"), None)
    if pushed is not None:  # the push took the victim's class: ask the widget made from it
        await attacker.request({"type": "comm_msg", "comm_id": pushed["models"]["v"],
                                "data": {"method": "custom", "content": {"ask": "secret"}}})  # fmt: skip
    assert not any(secret_of(victim) in repr(m.content) for m in attacker.frames), "the victim's secret reached the attacker"
    assert pushed is None and reply["type"] == "error" and "no widget class for vault VaultModel" in reply["message"], reply
    assert (await victim.request({"type": "ping"}))["type"] == "pong"
    await attacker.close()
    await victim.close()


def test_an_app_s_own_module_is_never_importable_even_while_its_code_runs(tmp_path):
    (tmp_path / "app_widgets.py").write_text(
        "import ipywidgets as w\n\nclass Mine(w.Widget):\n    pass\n"
    )
    with app_imports(str(tmp_path), ["main.py"]):
        import app_widgets  # as a directory app's main.py imports its helpers

        assert sys.modules["app_widgets"] is app_widgets
        assert not importable(app_widgets.Mine)
    assert not importable(app_widgets.Mine)
    assert importable(w.IntSlider) and importable(Shadow)
