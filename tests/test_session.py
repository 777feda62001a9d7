"""Session: one lifecycle for every channel (browser, kernel, or any other)."""

from __future__ import annotations

import asyncio
from typing import Any

import ipywidgets as w
import pytest
from support import Clock, eventually

from jupyter_bridge import curdoc
from jupyter_bridge.application import Application, Handler
from jupyter_bridge.channels import BrowserChannel, Channel
from jupyter_bridge.comms import SessionComm, current_session
from jupyter_bridge.contexts import Request, ServerContext, SessionContext
from jupyter_bridge.protocol import decode_server_frame, model_refs
from jupyter_bridge.session import AppError, Session


class Recorder(Channel):
    """A channel that writes down what the session asks of it, in order."""

    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def started(self, document) -> None:
        self.events.append(f"started with {len(document.roots)} roots")

    def document_changed(self, document) -> None:
        self.events.append(f"changed: {len(document.roots)} roots")

    def report_error(self, error, where) -> None:
        self.events.append(f"error: {error}")

    def end(self, reason: str) -> None:
        self.events.append(f"end ({reason})")

    def close_widgets(self) -> None:
        self.events.append("close widgets")


class Hooks(Handler):
    """A handler with every session hook, recording into ``events``."""

    def __init__(self, events: list[str], app) -> None:
        self.events = events
        self.app = app
        self.name = "hooks"

    def modify_document(self, document):
        return self.app(document)

    def on_session_created(self, context) -> None:
        self.events.append("on_session_created")

    def on_session_destroyed(self, context) -> None:
        self.events.append("on_session_destroyed")


def make(
    app, events: list[str] | None = None, channel: Channel | None = None, loop: asyncio.AbstractEventLoop | None = None
) -> Session[Any]:
    events = [] if events is None else events
    application = Application(Hooks(events, app))
    context = SessionContext("s1", Request(arguments={"N": [b"3"]}), ServerContext("/app"))
    return Session(context, application, loop or asyncio.get_running_loop(), channel=channel or Recorder(events))


async def test_start_runs_the_created_hook_then_the_app_then_shows_the_document():
    events: list[str] = []

    def app(doc):
        events.append("app")
        doc.add_root(w.Label("one"))  # before the channel shows the document: not a change

    session = make(app, events)
    await session.start()
    session.document.add_root(w.Label("two"))

    assert events == ["on_session_created", "app", "started with 1 roots", "changed: 2 roots"]
    await session.destroy()


async def test_destroy_stops_callbacks_runs_hooks_tells_the_channel_then_closes_widgets_once():
    events: list[str] = []
    ticks: list[int] = []

    def app(doc):
        doc.add_periodic_callback(lambda: ticks.append(1), 10)
        doc.on_session_destroyed(lambda context: events.append(f"callback for {context.id}"))

    clock = Clock(asyncio.get_running_loop())
    session = make(app, events, loop=clock)
    await session.start()
    await clock.advance(0.035)
    assert len(ticks) == 3
    events.clear()

    await session.destroy()
    await session.destroy()  # idempotent
    count = len(ticks)
    await clock.advance(60)

    assert events == [
        "callback for s1", "end (ended)", "close widgets", "on_session_destroyed"
    ]
    assert len(ticks) == count
    assert session.destroyed and session.context.destroyed
    assert session.document.session_context is None  # detached from its host


async def test_app_code_runs_inside_the_session():
    seen = {}

    def app(doc):
        seen["curdoc"] = curdoc()
        seen["session"] = current_session()
        seen["arguments"] = doc.session_context.request.arguments

    session = make(app)
    await session.start()

    assert seen == {"curdoc": session.document, "session": session, "arguments": {"N": [b"3"]}}
    assert current_session() is None and curdoc() is not session.document
    await session.destroy()


async def test_a_plain_app_starts_without_waiting_for_the_loop():
    session = make(lambda doc: doc.add_root(w.Label("ready")))
    starting = session.start()

    with pytest.raises(StopIteration):
        starting.send(None)  # done in one step: nothing was awaited
    assert [r.value for r in session.document.roots] == ["ready"]
    await session.destroy()


async def test_a_coroutine_app_is_awaited_in_the_session():
    async def app(doc):
        await asyncio.sleep(0.01)
        doc.add_root(w.Label("later"))
        doc.title = str(current_session().id)

    session = make(app)
    await session.start()

    assert session.document.title == "s1"
    await session.destroy()


async def test_an_app_that_fails_raises_app_error_and_is_destroyed():
    events: list[str] = []

    def app(doc):
        raise KeyError("data")

    session = make(app, events)
    with pytest.raises(AppError, match="hooks failed: KeyError: 'data'") as info:
        await session.start()

    assert isinstance(info.value.error, KeyError) and "Traceback" in info.value.traceback
    assert session.destroyed
    assert events[-2:] == ["close widgets", "on_session_destroyed"]


async def test_a_callback_error_reaches_the_channel_and_the_session_goes_on():
    events: list[str] = []
    after: list[int] = []

    def app(doc):
        def broken():
            raise ValueError("boom")

        doc.add_next_tick_callback(broken)
        doc.add_timeout_callback(lambda: after.append(1), 20)

    session = make(app, events)
    await session.start()
    await eventually(lambda: after)

    assert "error: boom" in events
    await session.destroy()


async def test_a_browser_session_gives_its_widgets_comms_of_its_own():
    loop = asyncio.get_running_loop()
    channel = BrowserChannel(loop)
    session = make(lambda doc: doc.add_root(w.VBox([w.IntSlider()])), channel=channel)
    await session.start()
    box = session.document.roots[0]

    assert isinstance(box.comm, SessionComm) and box.comm.session is session
    assert box.model_id in channel.comm_manager.comms
    await session.destroy()
    assert box.comm is None and channel.comm_manager.comms == {}


async def test_a_page_that_comes_late_gets_every_widget_of_a_long_chain_models_first():
    # A snapshot of 3,000 boxes each holding the next: deeper than Python's stack,
    # and each model must come before the box that refers to it.
    loop = asyncio.get_running_loop()
    channel = BrowserChannel(loop)
    channel.outbox.max_kept_bytes = 1  # the first frames are forgotten: a new page needs a snapshot

    def app(doc):
        boxes = [w.Box() for _ in range(3000)]  # the first made refers to the next, and so on
        for box, inner in zip(boxes, boxes[1:]):
            box.children = [inner]
        doc.add_root(boxes[0])

    session = make(app, channel=channel)
    await session.start()
    await asyncio.sleep(0)
    sent: list[str | bytes] = []

    channel.attach(sent.append, 0)

    opened: set[str] = set()
    for frame in sent[1:]:
        content = decode_server_frame(frame).content
        if content["type"] == "comm_open":
            assert set(model_refs(content["data"]["state"])) <= opened
            opened.add(content["comm_id"])
    assert len(opened) == len(channel.comm_manager.comms) > 3000
    await session.destroy()


async def test_a_root_from_another_session_is_refused_naming_the_fix():
    loop = asyncio.get_running_loop()
    first = make(lambda doc: doc.add_root(w.Label("mine")), channel=BrowserChannel(loop))
    await first.start()
    second = make(lambda doc: None, channel=BrowserChannel(loop))
    await second.start()

    with pytest.raises(ValueError, match="was not created in this session"):
        second.document.add_root(first.document.roots[0])
    await first.destroy()
    await second.destroy()


async def test_a_channel_serves_one_session():
    channel = Recorder([])
    make(lambda doc: None, channel=channel)

    with pytest.raises(RuntimeError, match="one session"):
        make(lambda doc: None, channel=channel)



async def test_a_value_json_cannot_carry_is_named_to_the_page_and_later_updates_still_go(caplog):
    import traitlets

    class Loose(w.DOMWidget):
        anything = traitlets.Any(0).tag(sync=True)

    loop = asyncio.get_running_loop()
    channel = BrowserChannel(loop)
    sent: list[str | bytes] = []
    session = make(lambda doc: doc.add_root(w.VBox([Loose(), w.Label("before")])), channel=channel)
    await session.start()
    channel.outbox.attach(sent.append)
    loose, label = session.document.roots[0].children

    loose.anything = object()  # its comm is the session's: the update goes to the session's outbox
    label.value = "after"
    for _ in range(3):
        await asyncio.sleep(0)

    from jupyter_bridge.protocol import decode_server_frame

    frames = [decode_server_frame(frame).content for frame in sent]
    updates = [f["data"]["state"] for f in frames if f["type"] == "comm_msg"]
    errors = [f["message"] for f in frames if f["type"] == "error"]
    assert {"value": "after"} in updates
    assert len(errors) == 1 and f"Loose {loose.model_id} (traits anything) could not be sent" in errors[0]
    assert "Session s1 of /app: an update of Loose" in caplog.text
    await session.destroy()


async def test_two_sessions_of_an_ipyvolume_pylab_app_each_draw_into_their_own_figure():
    ipv = pytest.importorskip("ipyvolume")
    import numpy as np

    def app(doc):
        figure = ipv.figure()
        ipv.scatter(np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([0.0, 1.0]))
        doc.add_root(ipv.gcc())
        doc.figure = figure

    loop = asyncio.get_running_loop()
    one = make(app, channel=BrowserChannel(loop))
    two = make(app, channel=BrowserChannel(loop))
    await one.start()
    await two.start()

    # pylab's "current figure", asked inside each session, is that session's.
    assert await one.run(ipv.gcf) is one.document.figure
    assert await two.run(ipv.gcf) is two.document.figure is not one.document.figure
    await one.run(lambda: ipv.scatter(np.array([2.0]), np.array([2.0]), np.array([2.0])))
    assert len(one.document.figure.scatters) == 2 and len(two.document.figure.scatters) == 1
    await one.destroy()
    # A session after the first ended gets a working figure of its own (not the closed one).
    three = make(app, channel=BrowserChannel(loop))
    await three.start()
    assert three.document.figure.comm is not None and await three.run(ipv.gcf) is three.document.figure
    await two.destroy()
    await three.destroy()
