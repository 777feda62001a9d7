"""The operator's view: Server.stats(), /metrics in Prometheus' format, the /admin app, busy messages."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import CHROMIUM, eventually, serving
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from wsclient import Client


def counter_app(doc: Any) -> None:
    import ipywidgets as w

    def slow_step() -> None:
        time.sleep(0.05)

    doc.title = "Counter"
    doc.add_root(w.IntSlider())
    doc.add_next_tick_callback(slow_step)


def waiting_app(doc: Any) -> None:
    import ipywidgets as w

    async def think() -> None:
        await asyncio.sleep(0.6)

    doc.add_root(w.Label("thinking"))
    doc.add_next_tick_callback(think)


async def get(url: str, **headers: str) -> tuple[int, str]:
    try:
        response = await AsyncHTTPClient().fetch(url, headers=headers)
    except HTTPClientError as error:
        return error.code, error.response.body.decode() if error.response else ""
    return response.code, response.body.decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics answer, parsed by prometheus_client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_stats_name_every_figure_and_the_slow_callback(serve):
    server = serve({"/counter": counter_app})
    client = await Client.open(server.url, "counter")
    try:
        await eventually(lambda: any(r["name"].endswith("slow_step") for r in server.stats()["slowest_callbacks"]))
        stats = server.stats()
        assert stats["apps"]["/counter"] == {"title": "Counter", "sessions": 1, "prepared": 0, "connections": 1}
        slow = next(r for r in stats["slowest_callbacks"] if r["name"].endswith("slow_step"))
        assert slow["app"] == "/counter" and slow["seconds"] >= 0.05 and slow["session"] == client.config["sessionId"]
        assert stats["frames_out"] > 0 and stats["rss_bytes"] > 10 * 2**20 and stats["widgets"] > 0
        assert stats["callback_buckets"][-1][1] == stats["callbacks"] > 0
    finally:
        await client.close()


async def test_metrics_parse_and_the_session_gauge_moves(serve):
    hidden = serve({"/counter": counter_app})
    assert (await get(hidden.url + "metrics"))[0] == 404  # off unless asked for
    server = serve({"/counter": counter_app}, metrics=True)
    code, text = await get(server.url + "metrics")
    assert code == 200
    before = samples(text)
    key = ("jupyter_bridge_sessions", (("app", "/counter"),))
    assert before[key] == 0
    client = await Client.open(server.url, "counter")
    try:
        after = samples((await get(server.url + "metrics"))[1])
        assert after[key] == 1
        assert after[("jupyter_bridge_connections", (("app", "/counter"),))] == 1
        assert after[("jupyter_bridge_frames_sent_total", ())] > before[("jupyter_bridge_frames_sent_total", ())]
        assert ("jupyter_bridge_callback_duration_seconds_bucket", (("le", "+Inf"),)) in after
        assert after[("jupyter_bridge_resident_memory_bytes", ())] > 0
        assert ("jupyter_bridge_event_loop_lag_seconds", ()) in after
    finally:
        await client.close()


async def test_admin_is_off_by_default_and_refused_to_other_machines(serve):
    plain = serve({"/counter": counter_app})
    assert (await get(plain.url + "admin"))[0] == 404
    server = serve({"/counter": counter_app}, admin=True, use_xheaders=True, disable_index_redirect=True)
    code, html = await get(server.url + "admin")
    assert code == 200 and "jupyter-bridge-config" in html
    code, html = await get(server.url + "admin", **{"X-Real-Ip": "192.0.2.7"})
    assert code == 403 and "--auth-module" in html
    code, html = await get(server.url)
    assert 'href="/counter"' in html and 'href="/admin"' not in html  # not an app to list


async def test_a_long_callback_tells_the_page_it_is_busy(serve):
    server = serve({"/wait": waiting_app})
    client = await Client.open(server.url, "wait")
    try:
        await client.wait_for(lambda: [f.content["busy"] for f in client.frames if f.content["type"] == "busy"] == [True, False])
    finally:
        await client.close()
    quick = serve({"/counter": counter_app})
    client = await Client.open(quick.url, "counter")
    try:
        await client.wait_for(lambda: any(r["name"].endswith("slow_step") for r in quick.stats()["slowest_callbacks"]))
        assert not [f for f in client.frames if f.content["type"] == "busy"]  # 50 ms is not busy
    finally:
        await client.close()


async def test_a_pending_busy_timer_does_not_keep_a_session_alive(serve):
    import gc
    import weakref

    server = serve({"/counter": counter_app}, unused_session_lifetime=50, check_unused_sessions=20)
    client = await Client.open(server.url, "counter")
    (session,) = server.bridge.apps["/counter"].sessions.values()
    assert session.timing._timer is not None  # armed by the app's callbacks, 300 ms to go
    session = weakref.ref(session)
    await client.close()
    await eventually(lambda: server.bridge.session_count == 0)
    gc.collect()
    assert session() is None


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
def test_admin_page_shows_a_new_session_within_two_seconds(tmp_path, browser):
    app = tmp_path / "counter.py"
    app.write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.IntSlider())\n")
    with serving(str(app), "--admin") as base:
        admin = browser.new_page()
        viewer = browser.new_page()
        try:
            admin.goto(base + "/admin")
            admin.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=20_000)
            row = "tr[data-app='/counter'] td:nth-child(3)"
            admin.wait_for_function(f"document.querySelector(\"{row}\").textContent === '0'")
            assert admin.locator(".jb-admin-card[data-figure='rss_mb'] .value").inner_text() != "0.0"
            viewer.goto(base + "/counter")
            viewer.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=20_000)
            admin.wait_for_function(f"document.querySelector(\"{row}\").textContent === '1'", timeout=2_000)
            admin.wait_for_function(
                "Number(document.querySelector(\".jb-admin-card[data-figure='sessions'] .value\").textContent) >= 2",
                timeout=2_000,
            )
        finally:
            admin.close()
            viewer.close()
