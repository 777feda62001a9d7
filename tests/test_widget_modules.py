"""Finding widget front ends: nbextension AMD modules, labextension-only packages, exports."""

from __future__ import annotations

import json
from pathlib import Path

import ipywidgets as w
import pytest
from wsclient import fetch_page

from jupyter_bridge.export import widget_modules
from jupyter_bridge.widget_modules import (
    amd_dependencies,
    federated_module,
    labextension_entry,
    widget_module_file,
)


@pytest.fixture
def share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Jupyter data folder holding one AMD package, one labextension-only package and one with both."""
    root = tmp_path / "share"
    amd = root / "nbextensions" / "amd-widgets"
    amd.mkdir(parents=True)
    (amd / "index.js").write_text('define(["@jupyter-widgets/base", "amd-helpers"], function (base) { return {}; });')
    (root / "nbextensions" / "amd-helpers").mkdir()
    (root / "nbextensions" / "amd-helpers" / "index.js").write_text("define([], function () { return {}; });")
    # Like jupyter-threejs: its AMD module needs "three", which only its classic Notebook extension.js maps.
    (root / "nbextensions" / "three-widgets").mkdir()
    (root / "nbextensions" / "three-widgets" / "index.js").write_text(
        'define(["module", "three", "@jupyter-widgets/base"], function (m, three, base) { return {}; });'
    )
    (root / "nbextensions" / "three-widgets" / "three.js").write_text("// three.js, for extension.js to map")
    (root / "nbextensions" / "three-alone").mkdir()
    (root / "nbextensions" / "three-alone" / "index.js").write_text('define(["three"], function (three) { return {}; });')
    for name, entry in [("lab-widgets", "static/remoteEntry.abc.js"), ("@scope/lab-widgets", "./static/remoteEntry.def.js"),
                        ("amd-widgets", "static/remoteEntry.123.js"), ("three-widgets", "static/remoteEntry.456.js")]:  # fmt: skip
        folder = root / "labextensions" / name
        (folder / "static").mkdir(parents=True)
        (folder / "package.json").write_text(json.dumps({"name": name, "jupyterlab": {"_build": {"load": entry}}}))
        (folder / entry).write_text("var _JUPYTERLAB;")
        (folder / "static" / "509.chunk.js").write_text("// a chunk")
    (tmp_path / "secret.txt").write_text("not a widget file")
    monkeypatch.setenv("JUPYTER_PATH", str(root))
    return root


def test_an_amd_package_is_served_from_nbextensions_even_with_a_labextension(share):
    assert widget_module_file("amd-widgets/index.js") == str((share / "nbextensions/amd-widgets/index.js").resolve())
    assert labextension_entry("amd-widgets") is None
    assert federated_module("amd-widgets/index.js") is None


def test_a_labextension_only_package_gets_an_amd_module_that_loads_its_container(share):
    assert labextension_entry("lab-widgets") == "static/remoteEntry.abc.js"
    assert widget_module_file("lab-widgets/index.js") is None
    shim = federated_module("lab-widgets/index.js")
    assert shim is not None
    assert 'define(["@jupyter-bridge/federated"]' in shim and 'load("lab-widgets", "static/remoteEntry.abc.js")' in shim
    assert 'load("@scope/lab-widgets", "static/remoteEntry.def.js")' in (federated_module("@scope/lab-widgets/index.js") or "")
    # The container's own files come from the extension's folder.
    assert widget_module_file("lab-widgets/static/509.chunk.js") == str((share / "labextensions/lab-widgets/static/509.chunk.js").resolve())
    assert widget_module_file("@scope/lab-widgets/static/remoteEntry.def.js") is not None


def test_an_amd_module_that_needs_a_module_nothing_installs_gives_way_to_the_container(share):
    assert amd_dependencies(str(share / "nbextensions/three-widgets/index.js")) == ["module", "three", "@jupyter-widgets/base"]
    assert labextension_entry("three-widgets") == "static/remoteEntry.456.js"
    # index.js is the module that loads the container, never the AMD file (nor a 404 for "three")...
    assert widget_module_file("three-widgets/index.js") is None
    assert 'load("three-widgets", "static/remoteEntry.456.js")' in (federated_module("three-widgets/index.js") or "")
    # ...and the package's other files are its container's.
    assert widget_module_file("three-widgets/static/509.chunk.js") == str((share / "labextensions/three-widgets/static/509.chunk.js").resolve())
    assert widget_module_file("three-widgets/three.js") is None
    # Without a container there is nothing better than the AMD module: the page reports what it misses.
    assert labextension_entry("three-alone") is None
    assert widget_module_file("three-alone/index.js") == str((share / "nbextensions/three-alone/index.js").resolve())


def test_an_amd_module_that_needs_a_package_loaded_from_its_container_gives_way_too(share):
    for name, needs in [("on-three", "three-widgets"), ("on-amd", "amd-widgets")]:
        (share / "nbextensions" / name).mkdir()
        (share / "nbextensions" / name / "index.js").write_text(f'define(["{needs}"], function (x) {{ return {{}}; }});')
        (share / "labextensions" / name / "static").mkdir(parents=True)
        (share / "labextensions" / name / "package.json").write_text(json.dumps({"jupyterlab": {"_build": {"load": "static/e.js"}}}))
    # three-widgets' AMD module is a promise of its classes in a page, not what on-three's expects.
    assert labextension_entry("on-three") == "static/e.js"
    assert labextension_entry("on-amd") is None


@pytest.mark.parametrize(
    "relative",
    ["lab-widgets/../../secret.txt", "../secret.txt", "/etc/passwd", "lab-widgets\\..\\x", "nothing/index.js", "",
     "lab-widgets/package.json/../../../secret.txt", "../lab-widgets/index.js"],
)  # fmt: skip
def test_nothing_outside_the_extension_folders_is_found(share, relative):
    assert widget_module_file(relative) is None
    assert federated_module(relative) is None


async def test_the_server_answers_a_labextension_only_package_and_refuses_the_rest(serve, share):
    server = serve({"/": lambda doc: doc.add_root(w.Label("x"))})
    base = f"http://127.0.0.1:{server.port}/static/nbextensions/"
    status, body = await fetch_page(base + "lab-widgets/index.js")
    assert status == 200 and 'load("lab-widgets", "static/remoteEntry.abc.js")' in body
    assert await fetch_page(base + "lab-widgets/static/remoteEntry.abc.js") == (200, "var _JUPYTERLAB;")
    assert (await fetch_page(base + "amd-widgets/index.js"))[1].startswith("define([")
    assert (await fetch_page(base + "missing-widgets/index.js"))[0] == 404


def test_an_export_carries_the_modules_its_models_name_and_their_amd_dependencies(share):
    state = {
        "a": {"model_module": "amd-widgets", "state": {"_view_module": "amd-widgets"}},
        "b": {"model_module": "@jupyter-widgets/controls", "state": {"_view_module": "@jupyter-widgets/controls"}},
        "c": {"model_module": "lab-widgets", "state": {}},
    }
    modules = widget_modules(state)
    assert sorted(modules) == ["amd-helpers", "amd-widgets"]
    assert modules["amd-helpers"] == "define([], function () { return {}; });"
