"""A restart loses nothing a user did (docs/reliability.md, "Restarts").

A server that stops on purpose tells its pages so, and they wait for it instead
of saying their session ended; a page that lands in a fresh session of its app
(the server stopped or died, and came back) replays its user's changes into
it, in order, through the `restore` message (docs/protocol.md). The browser
tests run `jupyter-bridge serve` as a real process, stop it with SIGTERM or
SIGKILL while Chromium shows a page, and start it again on the same port.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES
from kept_form import PAGE_MS, brush_selected, use_the_form, wait_for_label
from support import HAVE_CHROMIUM, eventually, free_port, wait_for_http
from test_nginx import Processes, new_page
from wsclient import Client

from jupyter_bridge.protocol import (
    CLOSE_SERVER_RESTART,
    LAST_SEQ_ARGUMENT,
    MAX_RESTORE_CHANGES,
    STREAM_ARGUMENT,
)

KEPT = EXAMPLES / "kept_changes.py"
CONTROLS = "@jupyter-widgets/controls"
CLI = [sys.executable, "-m", "jupyter_bridge.cli"]


def change(place: list, model: str, module: str = CONTROLS, **state) -> dict:
    return {"place": place, "model": [module, model], "state": state, "buffer_paths": []}


def restored(client: Client, parent: str) -> dict:
    return next(m.content for m in client.frames if m.content["type"] == "restored" and m.content["parent"] == parent)


# What the server does


async def test_a_stopping_server_tells_its_pages_to_come_back_and_still_runs_the_hooks(serve, tmp_path):
    log = tmp_path / "hooks.log"
    app = tmp_path / "hooks"
    app.mkdir()
    (app / "main.py").write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.IntSlider())\n")
    (app / "server_lifecycle.py").write_text(
        f"def on_session_destroyed(ctx):\n    open({str(log)!r}, 'a').write('destroyed\\n')\n"
        f"def on_server_unloaded(ctx):\n    open({str(log)!r}, 'a').write('unloaded\\n')\n"
    )
    server = serve({"/hooks": str(app)})
    client = await Client.open(server.url, "hooks")
    await server.shutdown()
    await client.wait_for(lambda: client.close_code is not None)
    # Not "this session has ended; reload": the page is told to wait for the server.
    assert client.close_code == CLOSE_SERVER_RESTART
    assert not [m for m in client.of_type("error") if m.get("where") == "session"]
    assert log.read_text().split() == ["destroyed", "unloaded"]


async def test_a_python_client_learns_at_once_that_the_stopped_server_ended_its_session(serve):
    """A program cannot carry a session over to a fresh one: unlike a page, it is told the session ended."""
    import asyncio

    from jupyter_bridge.client import SessionClosedError, pull_session

    server = serve({"/kept": KEPT})
    session = await asyncio.to_thread(pull_session, f"http://127.0.0.1:{server.port}/kept")
    await server.shutdown()
    await eventually(lambda: session.closed, timeout=10)  # no reconnecting to a server that stopped
    with pytest.raises(SessionClosedError, match="its server stopped"):
        await asyncio.to_thread(session.sync)


async def test_a_fresh_session_takes_back_the_pages_changes_in_order_and_runs_the_callbacks(serve):
    server = serve({"/kept": KEPT})
    client = await Client.open(server.url, "kept")
    restore_id = client.send({"type": "restore", "changes": [
        change([0, "children", 0], "IntSliderModel", value=7),
        change([0, "children", 1], "DropdownModel", index=2),
        change([0, "children", 2], "TextModel", value="Ada"),
    ]})
    await client.wait_for(lambda: any(m.content.get("parent") == restore_id and m.content["type"] == "idle"
                                      for m in client.frames))
    assert restored(client, restore_id) == {
        "type": "restored", "parent": restore_id, "seq": 0, "applied": 3, "skipped": 0, "withheld": 0,
    }
    # The app's own callback computed the summary from the restored values.
    assert client.model("LabelModel")["value"] == "Ada: 7 blue, 0 points selected"
    await client.close()


async def test_a_maps_centre_and_zoom_come_back_and_its_callback_runs(serve):
    """A library widget's user input (ipyleaflet: the map the user panned and zoomed) is restored like a control's."""
    pytest.importorskip("ipyleaflet")

    def app(doc):
        import ipyleaflet
        import ipywidgets as w

        where = w.Label()
        chart = ipyleaflet.Map(center=(0, 0), zoom=2)
        chart.observe(lambda _: setattr(where, "value", f"{chart.center[0]:.1f},{chart.center[1]:.1f} z{chart.zoom:g}"),
                      ["center", "zoom"])
        doc.add_root(w.VBox([chart, where]))

    server = serve({"/map": app})
    client = await Client.open(server.url, "map")
    reply = await client.request({"type": "restore", "changes": [
        change([0, "children", 0], "LeafletMapModel", module="jupyter-leaflet", center=[52.4, 4.9]),
        change([0, "children", 0], "LeafletMapModel", module="jupyter-leaflet", zoom=9),
    ]})
    assert restored(client, reply["parent"])["applied"] == 2
    assert client.model("LabelModel")["value"] == "52.4,4.9 z9"
    await client.close()


async def test_a_change_whose_place_no_longer_fits_the_app_is_skipped_and_counted(serve):
    server = serve({"/kept": KEPT})
    client = await Client.open(server.url, "kept")
    reply = await client.request({"type": "restore", "changes": [
        change([0, "children", 2], "IntSliderModel", value=7),  # another model there now
        change([0, "children", 17], "IntSliderModel", value=7),  # no such child
        change([3], "IntSliderModel", value=7),  # no such root
        change([0, "layout"], "LayoutModel", module="@jupyter-widgets/base", width="1px"),
        change([0, "children", 0], "IntSliderModel", value=5),
    ]})
    assert reply["type"] == "idle"
    answer = restored(client, reply["parent"])
    assert (answer["applied"], answer["skipped"]) == (2, 3)
    assert client.model("IntSliderModel")["value"] == 5
    await client.close()


async def test_widgets_marked_do_not_restore_and_what_is_inside_them_are_never_restored(serve):
    server = serve({"/kept": KEPT})
    client = await Client.open(server.url, "kept")
    password = client.model_ids("PasswordModel")[0]
    assert client.of_type("doc")[-1]["no_restore"] == [password]
    reply = await client.request({"type": "restore", "changes": [
        change([0, "children", 3], "PasswordModel", value="hunter2"),
        change([0, "children", 3, "layout"], "LayoutModel", module="@jupyter-widgets/base", width="1px"),
    ]})
    answer = restored(client, reply["parent"])
    assert (answer["applied"], answer["withheld"]) == (0, 2)
    assert client.models[password]["value"] == ""
    await client.close()


async def test_an_app_that_opts_out_takes_nothing_back(serve, tmp_path):
    app = tmp_path / "fresh.py"
    app.write_text(KEPT.read_text() + "\ndoc.restore_user_changes = False\n")
    server = serve({"/fresh": app})
    client = await Client.open(server.url, "fresh")
    assert client.of_type("doc")[-1]["restore"] is False
    reply = await client.request({"type": "restore", "changes": [change([0, "children", 0], "IntSliderModel", value=7)]})
    answer = restored(client, reply["parent"])
    assert answer["applied"] == 0 and "restore_user_changes" in answer["refused"]
    assert client.model("IntSliderModel")["value"] == 0
    await client.close()


async def test_a_restore_never_reaches_another_sessions_widgets(serve):
    """A place is followed only through the session's own widgets: a reference to another's is skipped."""
    server = serve({"/kept": KEPT})
    victim = await Client.open(server.url, "kept")
    attacker = await Client.open(server.url, "kept")
    # Make the attacker's VBox refer to the victim's slider, as a forged page would try.
    box = attacker.model_ids("VBoxModel")[0]
    stolen = f"IPY_MODEL_{victim.model_ids('IntSliderModel')[0]}"
    await attacker.request({"type": "comm_msg", "comm_id": box,
                            "data": {"method": "update", "state": {"children": [stolen]}, "buffer_paths": []}})
    reply = await attacker.request({"type": "restore", "changes": [
        change([0, "children", 0], "IntSliderModel", value=99),
    ]})
    assert victim.model("IntSliderModel")["value"] == 0
    if attacker.models[box]["children"] == [stolen]:  # the server let the VBox hold it: the place leads there
        assert restored(attacker, reply["parent"])["skipped"] == 1
    await victim.close()
    await attacker.close()


async def test_a_restore_beyond_the_bounds_is_refused(serve):
    server = serve({"/kept": KEPT})
    client = await Client.open(server.url, "kept")
    many = [change([0, "children", 0], "IntSliderModel", value=1)] * (MAX_RESTORE_CHANGES + 1)
    reply = await client.request({"type": "restore", "changes": many})
    assert reply["type"] == "error" and f"at most {MAX_RESTORE_CHANGES} changes" in reply["message"]
    deep = await client.request({"type": "restore", "changes": [change([0] + ["children", 0] * 40, "IntSliderModel")]})
    assert deep["type"] == "error" and "'place'" in deep["message"]
    # The session goes on.
    assert (await client.set_state("IntSliderModel", value=3))["type"] == "idle"
    await client.close()


async def test_a_page_that_resumes_its_own_stream_is_not_sent_a_fresh_session(serve):
    """Resuming is unchanged: only a stream that is gone brings a fresh session (and a restore)."""
    server = serve({"/kept": KEPT})
    client = await Client.open(server.url, "kept")
    hello = client.of_type("hello")[-1]
    last = max(m.content["seq"] for m in client.frames)
    await client.close()
    await client.connect(query=f"?{LAST_SEQ_ARGUMENT}={last}&{STREAM_ARGUMENT}={hello['stream']}")
    await client.wait_for(lambda: len(client.of_type("hello")) == 2)
    assert "recreated" not in client.of_type("hello")[-1]
    await client.close()


# Real processes and Chromium


needs_chromium = pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is not installed")


@pytest.fixture
def processes():
    started = Processes()
    try:
        yield started
    finally:
        started.stop_all()


def make_apps(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The kept-changes example as a directory app whose hooks write to a log, and an opted-out copy."""
    log = tmp_path / "hooks.log"
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "main.py").write_text(KEPT.read_text())
    (kept / "server_lifecycle.py").write_text(
        f"def on_session_destroyed(ctx):\n    open({str(log)!r}, 'a').write('destroyed\\n')\n"
        f"def on_server_unloaded(ctx):\n    open({str(log)!r}, 'a').write('unloaded\\n')\n"
    )
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "main.py").write_text(KEPT.read_text() + "\ndoc.restore_user_changes = False\n")
    return kept, fresh, log


def start(processes: Processes, tmp_path: Path, port: int, *apps: Path) -> object:
    number = len(processes.started)
    process = processes.start(
        [*CLI, "serve", *map(str, apps), "--address", "127.0.0.1", "--port", str(port)],
        output=tmp_path / f"server-{number}.out",
    )
    wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
    return process


def stop(process, how: signal.Signals) -> None:
    os.killpg(process.pid, how)
    process.wait(timeout=60)


def status(page) -> str:
    return page.locator(".jb-status").inner_text()


@needs_chromium
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_restarted_servers_page_comes_back_by_itself_with_its_users_changes(processes, tmp_path, browser, how):
    kept, fresh, log = make_apps(tmp_path)
    port = free_port()
    server = start(processes, tmp_path, port, kept, fresh)
    page = new_page(browser)
    page.goto(f"http://127.0.0.1:{port}/kept", timeout=PAGE_MS)
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=PAGE_MS)
    summary = use_the_form(page)
    selection = brush_selected(page)
    assert selection is not None and selection[0] < selection[1]

    stop(server, how)
    if how == signal.SIGTERM:
        # The app's hooks ran, and the page waits for the server, saying so.
        assert log.read_text().split() == ["destroyed", "unloaded"]
        page.wait_for_function(
            "() => document.querySelector('.jb-status').textContent.includes('waiting for it')", timeout=PAGE_MS
        )
    assert page.evaluate("document.documentElement.dataset.jbState") == "reconnecting"

    start(processes, tmp_path, port, kept, fresh)
    back = time.monotonic()
    # No reload: the same page reconnects, gets a fresh session and replays its changes.
    page.wait_for_function(
        "() => document.querySelector('.jb-status').textContent.includes('your changes are back')", timeout=PAGE_MS
    )
    wait_for_label(page, summary)
    print(f"{how.name}: the page was usable again {time.monotonic() - back:.2f} s after the server answered")
    assert page.evaluate("document.documentElement.dataset.jbState") == "connected"
    assert page.locator(".widget-readout").first.inner_text() == "3"
    assert page.locator(".widget-dropdown select").input_value() == "blue"
    assert page.get_by_label("Name").input_value() == "Ada"
    assert page.get_by_label("Password").input_value() == ""  # marked do_not_restore
    assert brush_selected(page) == pytest.approx(selection)
    # One form, as before; and it works.
    assert page.locator(".widget-slider").count() == 1
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    wait_for_label(page, summary.replace(": 3 blue", ": 4 blue"))
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


@needs_chromium
def test_an_opted_out_apps_page_comes_back_fresh(processes, tmp_path, browser):
    kept, fresh, _ = make_apps(tmp_path)
    port = free_port()
    server = start(processes, tmp_path, port, kept, fresh)
    page = new_page(browser)
    page.goto(f"http://127.0.0.1:{port}/fresh", timeout=PAGE_MS)
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=PAGE_MS)
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    wait_for_label(page, "nobody: 1 red, 0 points selected")
    # The page kept nothing to send back.
    assert page.evaluate("window.jupyterBridge.changes.count") == 0

    stop(server, signal.SIGTERM)
    start(processes, tmp_path, port, kept, fresh)
    page.wait_for_function(
        "() => document.querySelector('.jb-status').textContent.includes('earlier changes are gone')", timeout=PAGE_MS
    )
    wait_for_label(page, "nobody: 0 red, 0 points selected")
    assert page.locator(".widget-readout").first.inner_text() == "0"
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    wait_for_label(page, "nobody: 1 red, 0 points selected")
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


@needs_chromium
def test_dev_mode_reloads_the_changed_app_with_the_users_values(processes, tmp_path, browser):
    app = tmp_path / "kept.py"
    app.write_text(KEPT.read_text())
    port = free_port()
    process = processes.start(
        [*CLI, "serve", str(app), "--dev", "--address", "127.0.0.1", "--port", str(port)],
        output=tmp_path / "server.out",
    )
    wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
    page = new_page(browser)
    page.goto(f"http://127.0.0.1:{port}/kept", timeout=PAGE_MS)
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=PAGE_MS)
    summary = use_the_form(page)
    selection = brush_selected(page)

    # The developer edits the app: the page loads again, by itself, and its new
    # session (of the new code) takes back what was entered.
    app.write_text(KEPT.read_text().replace('doc.title = "Kept changes"', 'doc.title = "Kept changes, edited"'))
    page.wait_for_function("() => document.title === 'Kept changes, edited'", timeout=PAGE_MS)
    page.wait_for_function(
        "() => document.querySelector('.jb-status').textContent.includes('page reloaded; your changes are back')",
        timeout=PAGE_MS,
    )
    wait_for_label(page, summary)
    assert page.locator(".widget-readout").first.inner_text() == "3"
    assert page.get_by_label("Name").input_value() == "Ada"
    assert page.get_by_label("Password").input_value() == ""
    assert brush_selected(page) == pytest.approx(selection)
    # Taken once: a reload by the user starts afresh.
    page.reload()
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=PAGE_MS)
    wait_for_label(page, "nobody: 0 red, 0 points selected")
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()
