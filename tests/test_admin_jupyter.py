"""The index, /admin and /metrics inside a real Jupyter server, behind its authentication."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_extension import AUTH, JupyterServer, assert_refused, bridge_url, fetch, make_layout


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    layout = make_layout(tmp_path_factory.mktemp("bridge-root"))
    server = JupyterServer(
        layout, tmp_path_factory.mktemp("jupyter"), "--BridgeExtension.admin=True", "--BridgeExtension.metrics=True"
    )
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


async def test_the_listing_is_the_servers_index(jupyter):
    code, _, html = await fetch(bridge_url(jupyter), headers=AUTH)
    assert code == 200 and '<ul class="jb-apps">' in html
    # The example's title (from its code), its path, and its docstring's first line.
    assert '<span class="jb-app-title">Sliders</span><span class="jb-app-path">sliders.py</span>' in html
    assert 'href="/jp/bridge/admin"' not in html


async def test_admin_and_metrics_need_jupyter_login(jupyter):
    for path in ("admin", "metrics"):
        code, headers, _ = await fetch(bridge_url(jupyter, path))
        assert_refused(jupyter, code, headers)
    code, _, html = await fetch(bridge_url(jupyter, "admin"), headers=AUTH)
    assert code == 200 and "jupyter-bridge-config" in html
    code, _, text = await fetch(bridge_url(jupyter, "metrics"), headers=AUTH)
    assert code == 200
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"jupyter_bridge_sessions", "jupyter_bridge_callback_duration_seconds", "jupyter_bridge_widgets"} <= names
