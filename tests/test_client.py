"""The Python client against a real server: pull, push, embed, errors.

The client API is synchronous (it runs its own loop on a thread); the server of
the ``serve`` fixture runs on the test's loop, so each client call goes through
``asyncio.to_thread`` and the server keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ipywidgets as w
import pytest
from conftest import EXAMPLES
from ipywidgets.widgets.widget import _instances
from support import CHROMIUM, CHROMIUM_ARGS, eventually
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Unicode
from wsclient import Client

from jupyter_bridge import Document
from jupyter_bridge.application import NotAnAppError, build_application
from jupyter_bridge.client import (
    AppFailedError,
    AppNotFoundError,
    ClientError,
    OriginRefusedError,
    PushTarget,
    ServerUnreachableError,
    SessionClosedError,
    UnknownWidget,
    pull_session,
    push_session,
    server_document,
    server_session,
)
from jupyter_bridge.client.widgets import ClientComm
from jupyter_bridge.protocol import Message, ProtocolError, decode, encode

SLIDERS = EXAMPLES / "sliders.py"


def base(server: Any) -> str:
    return f"http://127.0.0.1:{server.port}"


def sessions_of(server: Any, path: str) -> dict[str, Any]:
    return server.bridge.apps[path].sessions


def sliders_of(session: Any) -> tuple[w.IntSlider, w.Label]:
    box = session.document.roots[0]
    slider, label = box.children
    return slider, label


async def test_pull_session_mirrors_widgets_and_runs_the_apps_callbacks(serve):
    server = serve({"/sliders": SLIDERS})
    session = await asyncio.to_thread(pull_session, base(server) + "/sliders")
    try:
        assert session.document.title == "Sliders"
        slider, label = sliders_of(session)
        assert isinstance(session.document.roots[0], w.VBox)
        assert isinstance(slider, w.IntSlider) and isinstance(label, w.Label)
        assert (slider.value, slider.max, slider.description) == (0, 100, "N")
        assert label.value == "value*2 = 0"

        seen: list[str] = []
        label.observe(lambda change: seen.append(change["new"]), "value")
        slider.value = 21  # as a browser's slider would
        await asyncio.to_thread(session.sync)
        assert label.value == "value*2 = 42"
        assert seen == ["value*2 = 42"]  # the client's observer fired

        server_session_ = sessions_of(server, "/sliders")[session.id]
        server_slider, server_label = server_session_.document.roots[0].children
        assert (server_slider.value, server_label.value) == (21, "value*2 = 42")
        # The mirror is a different object from the server's widget, with its own id.
        assert slider is not server_slider and slider.model_id != server_slider.model_id
        assert session.document.get_model_by_id(server_slider.model_id) is slider
        assert session.document.select_one(w.IntSlider) is slider
        assert session.errors == []
    finally:
        await asyncio.to_thread(session.close)


async def test_arguments_reach_the_app_and_title_and_roots_can_be_set(serve):
    def app(doc):
        n = int(doc.session_context.request.arguments.get("N", [b"1"])[0])
        doc.add_root(w.IntText(value=n))
        doc.add_root(w.Label("second"))

    server = serve({"/args": app})
    session = await asyncio.to_thread(pull_session, base(server) + "/args", arguments={"N": 7})
    try:
        number, second = session.document.roots
        assert number.value == 7
        session.document.title = "Renamed"
        session.document.remove_root(number)
        await asyncio.to_thread(session.sync)
        document = sessions_of(server, "/args")[session.id].document
        assert document.title == "Renamed"
        assert [type(r) for r in document.roots] == [w.Label]
        assert session.document.roots == [second]
    finally:
        await asyncio.to_thread(session.close)


async def test_app_errors_reach_the_client_and_the_session_goes_on(serve):
    def app(doc):
        number = w.IntText(value=1)
        echo = w.Label("1")

        def check(change):
            if change["new"] < 0:
                raise ValueError("negative numbers are not allowed")
            echo.value = str(change["new"])

        number.observe(check, "value")
        doc.add_root(w.VBox([number, echo]))

    server = serve({"/check": app})
    session = await asyncio.to_thread(pull_session, base(server) + "/check")
    try:
        number, echo = session.document.roots[0].children
        number.value = -1
        await asyncio.to_thread(session.sync)
        assert any("negative numbers are not allowed" in error for error in session.errors)
        number.value = 5
        await asyncio.to_thread(session.sync)
        assert echo.value == "5"
    finally:
        await asyncio.to_thread(session.close)


async def test_pull_an_existing_session_by_id_sees_its_state(serve):
    server = serve({"/sliders": SLIDERS})
    url = base(server) + "/sliders"
    first = await asyncio.to_thread(pull_session, url)
    sliders_of(first)[0].value = 5
    await asyncio.to_thread(first.close)

    again = await asyncio.to_thread(pull_session, url, first.id)
    try:
        slider, label = sliders_of(again)
        assert (slider.value, label.value) == (5, "value*2 = 10")
        assert again.id == first.id
        assert list(sessions_of(server, "/sliders")) == [first.id]  # no new session
    finally:
        await asyncio.to_thread(again.close)


async def test_a_pages_changes_reach_the_client_and_the_clients_reach_the_page(serve):
    server = serve({"/sliders": SLIDERS})
    session = await asyncio.to_thread(pull_session, base(server) + "/sliders")
    page = await Client.open(base(server), f"/sliders?jb-session-id={session.id}")
    try:
        slider, label = sliders_of(session)
        await page.set_state("IntSliderModel", value=4)  # the page moves the slider
        await eventually(lambda: slider.value == 4 and label.value == "value*2 = 8")

        slider.value = 9  # the client moves it
        await page.wait_for(lambda: page.model("LabelModel")["value"] == "value*2 = 18")
        assert page.model("IntSliderModel")["value"] == 9
    finally:
        await page.close()
        await asyncio.to_thread(session.close)


async def test_server_periodic_changes_arrive(serve):
    def app(doc):
        counter = w.IntText(value=0)
        doc.add_root(counter)
        doc.add_periodic_callback(lambda: setattr(counter, "value", counter.value + 1), 30)

    server = serve({"/ticks": app})
    session = await asyncio.to_thread(pull_session, base(server) + "/ticks")
    try:
        counter = session.document.roots[0]
        seen: list[int] = []
        counter.observe(lambda change: seen.append(change["new"]), "value")
        await eventually(lambda: len(seen) >= 3)
        assert seen == sorted(seen) and counter.value >= 3
    finally:
        await asyncio.to_thread(session.close)


async def test_a_dropped_connection_resumes_without_losing_a_message(serve):
    last = 150

    def app(doc):
        counter = w.IntText(value=0)
        doc.add_root(counter)

        def tick():
            if counter.value < last:
                counter.value += 1
                counter.send({"tick": counter.value})  # custom messages are never merged

        doc.add_periodic_callback(tick, 15)

    server = serve({"/ticks": app})
    session = await asyncio.to_thread(pull_session, base(server) + "/ticks")
    try:
        counter = session.document.roots[0]
        ticks: list[int] = []
        counter.on_msg(lambda widget, content, buffers: ticks.append(content["tick"]))
        live = sessions_of(server, "/ticks")[session.id]
        for _ in range(3):
            await eventually(lambda: live.channel.connections == 1 and len(ticks) >= 2)
            (send,) = live.channel._connections
            send.__self__.ws_connection.stream.close()  # the network drops
            before = len(ticks)
            await eventually(lambda before=before: len(ticks) > before or counter.value == last)
        # The last value's update comes before its custom message: wait for both.
        await eventually(lambda: counter.value == last and ticks[-1:] == [last])
        assert ticks == list(range(ticks[0], last + 1))  # every message, once, in order
        assert session.connected and live.channel.connections == 1
    finally:
        await asyncio.to_thread(session.close)


class Unregistered(w.DOMWidget):
    """A widget class that is not in ipywidgets' registry."""

    _model_name = Unicode("MysteryModel").tag(sync=True)
    _model_module = Unicode("test-widgets").tag(sync=True)
    _view_name = Unicode("MysteryView").tag(sync=True)
    _view_module = Unicode("test-widgets").tag(sync=True)
    colour = Unicode("blue").tag(sync=True)


def mystery() -> Unregistered:
    # Its state names a module no class of this process has: as if its library were
    # installed on the server only (the test's client shares the server's process).
    return Unregistered(_model_module="mystery-widgets", _view_module="mystery-widgets")


async def test_a_widget_of_an_unknown_class_becomes_a_placeholder_with_its_state(serve):
    def app(doc):
        widget = mystery()
        doc.add_root(w.VBox([w.Label("known"), widget]))
        button = w.Button(description="recolour")
        button.on_click(lambda _: setattr(widget, "colour", "red"))
        doc.add_root(button)

    server = serve({"/mystery": app})
    session = await asyncio.to_thread(pull_session, base(server) + "/mystery")
    try:
        box, button = session.document.roots
        label, placeholder = box.children
        assert isinstance(label, w.Label)
        assert isinstance(placeholder, UnknownWidget)
        assert (placeholder.model_name, placeholder.model_module) == ("MysteryModel", "mystery-widgets")
        assert placeholder.state["colour"] == "blue"
        button.send({"event": "click"})  # what a browser's button sends
        await eventually(lambda: placeholder.state["colour"] == "red")
    finally:
        await asyncio.to_thread(session.close)


async def test_closing_the_client_leaves_the_server_session_to_be_reaped(serve, widget_count):
    baseline = widget_count()
    # The lifetime runs out only after the checks of the closed client below.
    server = serve({"/sliders": SLIDERS}, unused_session_lifetime=3_600_000, check_unused_sessions=100)
    session = await asyncio.to_thread(pull_session, base(server) + "/sliders")
    slider, _ = sliders_of(session)
    live = sessions_of(server, "/sliders")[session.id]
    assert live.channel.connections == 1
    await asyncio.to_thread(session.close)

    assert session.closed and not session.connected
    assert slider.comm is None and slider.value == 0  # the mirror is closed; its last state stays
    assert session.id in sessions_of(server, "/sliders") and live.channel.connections == 0
    with pytest.raises(SessionClosedError):
        await asyncio.to_thread(session.sync)
    server.settings.unused_session_lifetime = 300
    await eventually(lambda: session.id not in sessions_of(server, "/sliders"))
    assert live.destroyed
    await eventually(lambda: widget_count() == baseline)


async def test_the_client_learns_when_the_server_ends_the_session(serve):
    server = serve({"/sliders": SLIDERS})
    session = await asyncio.to_thread(pull_session, base(server) + "/sliders")
    slider, _ = sliders_of(session)
    manager = server.bridge.apps["/sliders"]
    await manager.destroy(manager.sessions[session.id])
    await eventually(lambda: session.closed)
    await asyncio.to_thread(session.loop_until_closed)  # returns at once
    with pytest.raises(SessionClosedError, match="has ended"):
        await asyncio.to_thread(session.sync)


class Holder(w.VBox):
    """A widget whose constructor makes another widget (as some libraries' do)."""

    _model_name = Unicode("HolderModel").tag(sync=True)  # not VBox's: the registry has that

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.note = w.Label("made by the constructor")


async def test_widgets_made_while_building_a_mirror_stay_local(serve):
    server = serve({"/holder": lambda doc: doc.add_root(Holder(children=[w.Label("child")]))})
    session = await asyncio.to_thread(pull_session, base(server) + "/holder")
    try:
        (holder,) = session.document.roots
        assert type(holder) is Holder and holder.children[0].value == "child"
        # The mirror's constructor made a Label too: it lives here only, and no
        # comm_open went to the server (which would refuse it).
        assert isinstance(holder.note.comm, ClientComm) and holder.note.comm.remote_id is None
        assert holder.note not in session.document.models
        await asyncio.to_thread(session.sync)
        assert session.errors == []
        live = sessions_of(server, "/holder")[session.id]
        assert len(live.channel.comm_manager.comms) == len(session.document.models)
    finally:
        await asyncio.to_thread(session.close)


# Push


def build_document() -> tuple[Document, w.IntSlider, w.Label]:
    doc = Document()
    slider = w.IntSlider(value=3, max=10, description="pushed")
    label = w.Label("3")
    slider.observe(lambda change: setattr(label, "value", str(change["new"])), "value")
    doc.add_root(w.VBox([slider, label]))
    doc.title = "Pushed"
    return doc, slider, label


async def test_push_session_publishes_a_local_document_that_pages_can_open(serve):
    server = serve({"/push": PushTarget()})
    doc, slider, label = build_document()
    session = await asyncio.to_thread(push_session, doc, base(server) + "/push")
    try:
        live = sessions_of(server, "/push")[session.id]
        assert live.document.title == "Pushed"
        (box,) = live.document.roots
        server_slider, server_label = box.children
        assert (type(server_slider), server_slider.value, server_slider.max) == (w.IntSlider, 3, 10)
        assert server_label.value == "3"
        assert session.document.roots[0].children == (slider, label)  # the client's own widgets
        assert session.url.startswith(base(server) + "/push?jb-session-id=")

        # A page moves the slider: the client's widget follows and its observer (here,
        # in the client's process) updates the label, which reaches the page.
        page = await Client.open(base(server), session.url.removeprefix(base(server)))
        try:
            await page.wait_for(lambda: page.model_ids("IntSliderModel"))
            await page.set_state("IntSliderModel", value=7)
            await eventually(lambda: slider.value == 7)
            await page.wait_for(lambda: page.model("LabelModel")["value"] == "7")
            assert server_label.value == "7"
        finally:
            await page.close()
    finally:
        await asyncio.to_thread(session.close)


async def test_binary_buffers_travel_both_ways_with_a_listed_library(serve):
    bq = pytest.importorskip("bqplot")
    np = pytest.importorskip("numpy")
    server = serve({"/push": PushTarget(modules=["bqplot", "bqscales"])})
    x_scale, y_scale = bq.LinearScale(), bq.LinearScale()
    scatter = bq.Scatter(x=np.arange(4.0), y=np.array([1.0, 3.0, 2.0, 5.0]), scales={"x": x_scale, "y": y_scale})
    doc = Document()
    doc.add_root(bq.Figure(marks=[scatter], axes=[bq.Axis(scale=x_scale)]))
    pushed = await asyncio.to_thread(push_session, doc, base(server) + "/push")
    try:
        live = sessions_of(server, "/push")[pushed.id]
        (figure,) = live.document.roots
        assert type(figure) is bq.Figure and type(figure.marks[0]) is bq.Scatter
        assert figure.marks[0].y.tolist() == [1.0, 3.0, 2.0, 5.0]  # sent as a binary buffer

        viewer = await asyncio.to_thread(pull_session, base(server) + "/push", pushed.id)
        try:
            mirror = viewer.document.roots[0].marks[0]
            assert type(mirror) is bq.Scatter and mirror.x.tolist() == [0.0, 1.0, 2.0, 3.0]
            figure.marks[0].y = np.array([9.0, 8.0])  # a server-side change
            await eventually(lambda: mirror.y.tolist() == [9.0, 8.0])
            assert scatter.y.tolist() == [9.0, 8.0]  # the pushing client's own widget too
        finally:
            await asyncio.to_thread(viewer.close)
    finally:
        await asyncio.to_thread(pushed.close)


async def test_push_only_reaches_push_targets_and_registered_classes(serve):
    server = serve({"/sliders": SLIDERS, "/push": PushTarget()})
    doc, _, _ = build_document()
    with pytest.raises(ClientError, match="does not accept pushed documents"):
        await asyncio.to_thread(push_session, doc, base(server) + "/sliders")

    odd = Document()
    odd.add_root(w.VBox([w.Label("fine"), Unregistered()]))  # not registered, not listed
    with pytest.raises(ClientError, match="no widget class for test-widgets MysteryModel"):
        await asyncio.to_thread(push_session, odd, base(server) + "/push")
    # A widget is not a document: said at once, instead of pushing an empty one.
    with pytest.raises(TypeError, match="push_session publishes a jupyter_bridge.Document, not VBox"):
        await asyncio.to_thread(push_session, w.VBox([w.Label("root")]), base(server) + "/push")
    # The refused push created nothing that lingers.
    for live in sessions_of(server, "/push").values():
        assert live.document.roots == []


@w.register
class Knock(w.DOMWidget):
    """A widget of a library whose front end and Python side talk in custom messages."""

    _model_name = Unicode("KnockModel").tag(sync=True)
    _model_module = Unicode("test-knock").tag(sync=True)
    _model_module_version = Unicode("1.0.0").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.heard: list[dict] = []
        self.on_msg(self._answer)

    def _answer(self, widget, content, buffers):
        self.heard.append(content)
        self.send({"answer": content.get("knock", 0) + 1}, [b"pong"])


def custom_to(page: Client, comm_id: str) -> list[dict[str, Any]]:
    return [
        m.content["data"]["content"] for m in page.frames
        if m.content.get("comm_id") == comm_id and m.content["data"].get("method") == "custom"
    ]  # fmt: skip


async def test_a_page_s_click_runs_the_pushing_client_s_on_click(serve):
    server = serve({"/push": PushTarget(modules=["ipyevents"])})
    import ipyevents

    button, label = w.Button(description="Go"), w.Label("not yet")
    clicks: list[str] = []
    button.on_click(lambda b: (clicks.append(b.description), setattr(label, "value", "clicked")))
    # (ipyevents' own defaults, "", fail its validation when given to its constructor.)
    events = ipyevents.Event(
        source=label, watched_events=["click"], xy_coordinate_system="client", throttle_or_debounce="throttle"
    )
    seen: list[dict] = []
    events.on_dom_event(seen.append)
    doc = Document()
    doc.add_root(w.VBox([button, label]))
    doc.add_root(events)
    session = await asyncio.to_thread(push_session, doc, base(server) + "/push")
    page = await Client.open(base(server), session.url.removeprefix(base(server)))
    try:
        (button_id,) = await page.wait_for(lambda: page.model_ids("ButtonModel"))
        reply = await page.request(
            {"type": "comm_msg", "comm_id": button_id, "data": {"method": "custom", "content": {"event": "click"}}}
        )
        assert reply["type"] == "idle"
        await eventually(lambda: clicks == ["Go"])  # the handler in this process ran
        await page.wait_for(lambda: page.model("LabelModel")["value"] == "clicked")  # and its change reached the page

        # A library widget's events from the page (ipyevents sends each DOM event as a custom message).
        (events_id,) = page.model_ids("EventModel")
        click = {"event": "click", "type": "click", "clientX": 3, "clientY": 4}
        await page.request({"type": "comm_msg", "comm_id": events_id, "data": {"method": "custom", "content": click}})
        await eventually(lambda: seen == [click])
    finally:
        await page.close()
        await asyncio.to_thread(session.close)


async def test_custom_messages_travel_both_ways_between_pages_and_the_pushing_client(serve):
    server = serve({"/push": PushTarget()})
    knock = Knock()
    doc = Document()
    doc.add_root(knock)
    session = await asyncio.to_thread(push_session, doc, base(server) + "/push")
    page = await Client.open(base(server), session.url.removeprefix(base(server)))
    other = await Client.open(base(server), session.url.removeprefix(base(server)))
    try:
        (knock_id,) = await page.wait_for(lambda: page.model_ids("KnockModel"))
        await other.wait_for(lambda: other.model_ids("KnockModel"))
        await page.request({"type": "comm_msg", "comm_id": knock_id, "data": {"method": "custom", "content": {"knock": 1}}})
        # The page's message reached the widget's Python side, here; its answer reached the pages.
        await eventually(lambda: knock.heard == [{"knock": 1}])
        await page.wait_for(lambda: custom_to(page, knock_id) == [{"answer": 2}])
        await other.wait_for(lambda: custom_to(other, knock_id) == [{"answer": 2}])
        answer = next(m for m in page.frames if m.content.get("comm_id") == knock_id and m.content["data"].get("method") == "custom")
        assert [bytes(b) for b in answer.buffers] == [b"pong"]
        # One page's message is not passed on to the other pages, only to the Python side.
        assert not any(m.content.get("data", {}).get("content") == {"knock": 1} for m in other.frames)
        await asyncio.to_thread(session.sync)
        assert knock.heard == [{"knock": 1}]  # once, and not its own answer back
        # The server's copy of the widget took no part: its Python side is here.
        (server_knock,) = sessions_of(server, "/push")[session.id].document.roots
        assert type(server_knock) is Knock and server_knock.heard == []
    finally:
        await page.close()
        await other.close()
        await asyncio.to_thread(session.close)


async def test_in_an_app_s_session_a_click_reaches_the_app_not_a_pulling_client(serve):
    clicks: list[str] = []

    def app(doc):
        button = w.Button(description="Go")
        button.on_click(lambda b: clicks.append("app"))
        doc.add_root(button)

    server = serve({"/button": app})
    session = await asyncio.to_thread(pull_session, base(server) + "/button")
    page = await Client.open(base(server), f"/button?jb-session-id={session.id}")
    try:
        mirror = session.document.roots[0]
        mirror.on_click(lambda b: clicks.append("client"))
        (button_id,) = await page.wait_for(lambda: page.model_ids("ButtonModel"))
        await page.request({"type": "comm_msg", "comm_id": button_id, "data": {"method": "custom", "content": {"event": "click"}}})
        # A pulling client is a view, as a page is: the app's widget is the Python side.
        await asyncio.to_thread(mirror.send, {"event": "click"})
        await asyncio.to_thread(session.sync)
        assert clicks == ["app", "app"]
        assert not any(m.content.get("data", {}).get("method") == "custom" for m in page.frames)
    finally:
        await page.close()
        await asyncio.to_thread(session.close)


async def test_with_allow_push_a_push_replaces_any_apps_document_as_in_bokeh(serve):
    ticks: list[int] = []
    ended: list[str] = []

    def ticking(doc):
        doc.add_root(w.Label("the app's own"))
        doc.add_periodic_callback(lambda: ticks.append(1), 20)
        doc.on_session_destroyed(lambda ctx: ended.append(ctx.id))

    server = serve({"/ticking": ticking}, allow_push=True)
    doc, slider, label = build_document()
    session = await asyncio.to_thread(push_session, doc, base(server) + "/ticking")
    try:
        live = sessions_of(server, "/ticking")[session.id]
        await eventually(lambda: live.document.title == "Pushed")
        # The pushed document replaced the app's: its widgets closed, its callbacks removed.
        (box,) = live.document.roots
        assert [type(c).__name__ for c in box.children] == ["IntSlider", "Label"]
        assert live.document.callbacks == []
        count = len(ticks)
        # Three of the old callback's periods on the session's loop: it would have ticked by then.
        passed = asyncio.Event()
        live.document.add_timeout_callback(passed.set, 60)
        await passed.wait()
        assert len(ticks) == count
        values = [getattr(_instances.get(c), "value", None) for c in live.channel.comm_manager.comms]
        assert "the app's own" not in values

        box.children[0].value = 8  # changes go both ways, as with a push target
        await eventually(lambda: label.value == "8")
    finally:
        await asyncio.to_thread(session.close)
    await server.bridge.destroy_all_sessions()
    assert ended == [session.id]  # the app's on_session_destroyed still runs


def test_doc_and_push_doc_frames_are_checked():
    model = {"model_id": "m1", "state": {"_model_name": "LabelModel"}, "buffer_paths": [["value"]]}
    frame = encode(Message({"type": "push_doc", "id": "p1", "roots": ["m1"], "models": [model]}, [b"x"]))
    assert decode(frame).buffers == [b"x"]
    assert decode(json.dumps({"type": "doc", "id": "d1", "title": "T"})).content["title"] == "T"
    bad = [
        ({"type": "doc", "id": "d", "title": 3}, "'title' must be a string"),
        ({"type": "doc", "id": "d", "roots": "m1"}, "'roots' must be a list of model ids"),
        ({"type": "push_doc", "id": "p", "roots": [], "models": {}}, "'models' must be a list"),
        ({"type": "push_doc", "id": "p", "roots": [], "models": [{"state": {}}]}, "string 'model_id'"),
        ({"type": "push_doc", "id": "p", "roots": [], "models": [model, model]}, "names model 'm1' twice"),
        ({"type": "push_doc", "id": "p", "roots": ["m1"], "models": [model]}, "names 1 buffer paths but carries 0"),
        ({"type": "push_doc", "id": "p", "roots": ["m2"], "models": [{**model, "buffer_paths": []}]}, "not among its models"),
    ]
    for content, reason in bad:
        with pytest.raises(ProtocolError, match=re.escape(reason)):
            decode(json.dumps(content))
    with pytest.raises(ProtocolError, match="doc message cannot carry buffers"):
        decode(encode(Message({"type": "doc", "id": "d"}, [b"x"])))


# Embedding


async def fetch(url: str, **kwargs: Any) -> Any:
    try:
        return await AsyncHTTPClient().fetch(url, **kwargs)
    except HTTPClientError as error:
        return error.response


async def test_server_document_and_server_session_scripts(serve):
    server = serve({"/sliders": SLIDERS}, allow_websocket_origin=["site.example:8000"])
    url = base(server) + "/sliders"

    tag = server_document(url, arguments={"N": 3})
    found = re.fullmatch(r'<script id="(jb-[0-9a-f]{16})" src="([^"]+)"></script>', tag)
    assert found, tag
    element_id, src = found.groups()
    assert src.replace("&amp;", "&") == f"{url}/autoload.js?jb-element-id={element_id}&N=3"

    response = await fetch(src.replace("&amp;", "&"), headers={"Origin": "http://site.example:8000"})
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/javascript")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Access-Control-Allow-Origin"] == "http://site.example:8000"
    script = response.body.decode()
    assert '"jupyter-bridge-config"' in script and '"jupyter-bridge-roots"' in script
    assert f'var elementId = "{element_id}";' in script
    config = json.loads(re.search(r"var config = (\{.*?\});", script).group(1))
    assert config["wsUrl"] == "/sliders/ws" and config["embedded"] is True
    assert server.bridge.asset_url("client.js") in script
    (created,) = sessions_of(server, "/sliders").values()
    assert created.id == config["sessionId"]
    assert created.context.request.arguments == {"N": [b"3"]}

    # Every view of a server_document page makes a new session ...
    again = await fetch(src.replace("&amp;", "&"), headers={"Referer": "http://site.example:8000/post.html"})
    assert again.code == 200 and "Access-Control-Allow-Origin" not in again.headers
    assert len(sessions_of(server, "/sliders")) == 2
    # ... of a page the server allows: a page of another site gets no session, no script.
    refused = await fetch(src.replace("&amp;", "&"), headers={"Origin": "http://evil.example"})
    assert refused.code == 403 and b"--allow-websocket-origin=evil.example" in refused.body
    assert len(sessions_of(server, "/sliders")) == 2

    tag = server_session(created.id, url, element_id="here")
    assert tag == (
        f'<script id="here" src="{url}/autoload.js?jb-element-id=here&amp;jb-session-id={created.id}"></script>'
    )
    response = await fetch(f"{url}/autoload.js?jb-element-id=here&jb-session-id={created.id}")
    assert f'"sessionId": "{created.id}"' in response.body.decode()
    assert len(sessions_of(server, "/sliders")) == 2  # the existing session, not a new one

    missing = await fetch(base(server) + "/nope/autoload.js")
    assert missing.code == 404
    asset = await fetch(base(server) + server.bridge.asset_url("client.css"))
    assert asset.code == 200 and asset.headers["Access-Control-Allow-Origin"] == "*"


# Errors


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_errors_name_the_problem_and_the_fix(serve):
    with pytest.raises(ServerUnreachableError, match="cannot reach a jupyter_bridge server at http://127.0.0.1"):
        await asyncio.to_thread(pull_session, f"http://127.0.0.1:{closed_port()}/sliders", timeout=5)

    def broken(doc):
        raise RuntimeError("no data today")

    server = serve({"/sliders": SLIDERS, "/broken": broken}, allow_websocket_origin=["site.example"])
    with pytest.raises(AppNotFoundError, match=r"no app at http://127.0.0.1:\d+/nope \(HTTP 404\)"):
        await asyncio.to_thread(pull_session, base(server) + "/nope")
    with pytest.raises(AppNotFoundError):
        await asyncio.to_thread(pull_session, base(server) + "/nope", "some-session-id")
    with pytest.raises(OriginRefusedError, match="--allow-websocket-origin=evil.example"):
        await asyncio.to_thread(pull_session, base(server) + "/sliders", origin="http://evil.example")
    with pytest.raises(AppFailedError, match="RuntimeError: no data today"):
        await asyncio.to_thread(pull_session, base(server) + "/broken")
    with pytest.raises(ClientError, match="is not an app URL"):
        await asyncio.to_thread(pull_session, "localhost:5006/sliders")
    # An allowed origin and no origin (a script is not a web page) both connect.
    for origin in ("http://site.example", None):
        session = await asyncio.to_thread(pull_session, base(server) + "/sliders", origin=origin)
        await asyncio.to_thread(session.close)


async def test_the_client_refuses_what_it_cannot_do(serve):
    server = serve({"/sliders": SLIDERS})
    session = await asyncio.to_thread(pull_session, base(server) + "/sliders")
    try:
        slider, label = sliders_of(session)
        box = session.document.roots[0]
        with pytest.raises(ClientError, match="Button .* is not a widget of session"):
            box.children = (*box.children, w.Button())  # made here, unknown to the server

        # Observers run on the client's thread: waiting there would wait for itself.
        problems: list[str] = []

        def wait_inside(change: Any) -> None:
            try:
                session.sync()
            except RuntimeError as error:
                problems.append(str(error))

        label.observe(wait_inside, "value")
        slider.value = 1
        await eventually(lambda: problems)
        assert "from the client's own thread" in problems[0]
    finally:
        await asyncio.to_thread(session.close)


def test_the_embed_example_folder_is_not_an_app():
    with pytest.raises(NotAnAppError, match="has no main.py"):
        build_application(EXAMPLES / "embed")


# The Flask example, in Chromium



@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
async def test_flask_embed_example_shows_the_customised_session_and_runs_python(serve):
    pytest.importorskip("flask")
    from playwright.async_api import async_playwright

    flask_port = closed_port()
    server = serve({"/sliders": SLIDERS}, allow_websocket_origin=[f"127.0.0.1:{flask_port}"])
    env = {**os.environ, "JUPYTER_BRIDGE_APP_URL": base(server) + "/sliders", "FLASK_PORT": str(flask_port)}
    flask = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "embed" / "flask_embed.py")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        flask_url = f"http://127.0.0.1:{flask_port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", flask_port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and flask.poll() is None, "Flask did not start"
                await asyncio.sleep(0.1)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.goto(flask_url)
                await page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=20_000)
                # The Flask page's own content, and the app embedded in it.
                assert await page.locator("h1").inner_text() == "Sliders, served by Flask"
                assert await page.locator(".jupyter-bridge-embed #jupyter-bridge-roots").count() == 1
                # The customisation made from Python shows.
                assert await page.locator(".widget-slider .widget-readout").inner_text() == "42"
                assert await page.locator(".widget-slider label").first.inner_text() == "Your N"
                assert await page.locator(".widget-label").last.inner_text() == "value*2 = 84"
                (live,) = sessions_of(server, "/sliders").values()
                assert live.document.title == "Special sliders for a specific user!"
                # The slider still runs the app's Python callback.
                handle = page.locator(".widget-slider .noUi-handle").first
                await handle.focus()
                await handle.press("ArrowRight")
                await page.wait_for_function(
                    "() => [...document.querySelectorAll('.widget-label')]"
                    ".some(e => e.textContent === 'value*2 = 86')"
                )
                assert live.document.roots[0].children[0].value == 43
                assert errors == []
            finally:
                await browser.close()
    finally:
        flask.terminate()
        flask.wait(timeout=10)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
async def test_a_click_in_chromium_runs_the_on_click_of_a_pushed_button(serve):
    from playwright.async_api import async_playwright

    server = serve({"/push": PushTarget()})
    button, label = w.Button(description="Press me"), w.Label("not pressed")
    presses: list[str] = []

    def pressed(b):
        presses.append(b.description)
        label.value = f"pressed {len(presses)} times, in the pushing process"

    button.on_click(pressed)
    doc = Document()
    doc.add_root(w.VBox([button, label]))
    session = await asyncio.to_thread(push_session, doc, base(server) + "/push")
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.goto(session.url)
                await page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=20_000)
                await page.get_by_role("button", name="Press me").click()
                await page.wait_for_function(
                    "() => [...document.querySelectorAll('.widget-label')]"
                    ".some(e => e.textContent === 'pressed 1 times, in the pushing process')"
                )
                assert presses == ["Press me"]
                assert errors == []
            finally:
                await browser.close()
    finally:
        await asyncio.to_thread(session.close)
