"""comm.create_comm routing: a session's channel makes its comms; otherwise the chain goes on."""

from __future__ import annotations

import asyncio
import contextvars
import json

import comm
import pytest

from jupyter_bridge import comms
from jupyter_bridge.application import Application, FunctionHandler
from jupyter_bridge.channels import BrowserChannel, Channel
from jupyter_bridge.contexts import Request, SessionContext
from jupyter_bridge.session import Session


class Fallback:
    """Stands in for ipykernel's create_comm: records what reached it."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, *args, **kwargs):
        self.calls.append(kwargs)
        return "fallback comm"


@pytest.fixture
def fallback():
    """comms' router installed over a recording fallback; both put back afterwards."""
    saved_create, saved_previous = comm.create_comm, comms._previous_create_comm
    comm.create_comm = recorder = Fallback()
    comms.install()
    yield recorder
    comm.create_comm, comms._previous_create_comm = saved_create, saved_previous


def session_with(channel: Channel) -> Session:
    application = Application(FunctionHandler(lambda doc: None))
    return Session(SessionContext("s", Request()), application, asyncio.get_running_loop(), channel=channel)


def in_session(session: Session, func):
    return session.run_context.run(func)


def test_outside_any_session_the_previous_create_comm_is_used(fallback):
    assert comm.create_comm(target_name="jupyter.widget") == "fallback comm"
    assert fallback.calls == [{"target_name": "jupyter.widget"}]


async def test_a_browser_session_makes_its_own_comms_registered_with_it(fallback):
    channel = BrowserChannel(asyncio.get_running_loop())
    session = session_with(channel)
    sent: list[str] = []
    channel.outbox.attach(sent.append)

    made = in_session(session, lambda: comm.create_comm(target_name="jupyter.widget", data={"state": {}}))
    channel.outbox.flush()

    assert isinstance(made, comms.SessionComm) and made.channel is channel and made.session is session
    assert channel.comm_manager.comms == {made.comm_id: made}
    [opened] = [json.loads(frame) for frame in sent]
    assert opened["type"] == "comm_open" and opened["target_name"] == "jupyter.widget"
    assert opened["comm_id"] == made.comm_id
    assert fallback.calls == []
    made.close()
    assert channel.comm_manager.comms == {}


async def test_a_channel_that_does_not_route_comms_leaves_them_to_the_chain(fallback):
    session = session_with(Channel())  # the kernel channel's choice

    assert in_session(session, lambda: comm.create_comm(target_name="t")) == "fallback comm"


def test_chain_puts_a_router_under_ours_and_hands_it_the_one_it_replaced(fallback):
    made = []

    def router(*args, **kwargs):
        made.append(kwargs)
        return below(*args, **kwargs)

    below = comms.chain(router)

    assert below is fallback
    assert comms.chain(router) is fallback  # again: no second link
    assert comm.create_comm(target_name="x") == "fallback comm"
    assert made == [{"target_name": "x"}] and fallback.calls == [{"target_name": "x"}]


def test_chain_survives_someone_replacing_create_comm(fallback):
    def router(*args, **kwargs):
        return ("router", below(*args, **kwargs))

    below = comms.chain(router)
    newcomer = Fallback()
    comm.create_comm = newcomer  # as ipykernel does when a kernel starts

    below = comms.chain(router)  # puts ours back on top, the router under it

    assert comm.create_comm is comms._create_comm
    assert comm.create_comm(target_name="y") == ("router", "fallback comm")
    assert newcomer.calls == [{"target_name": "y"}]


def test_the_current_session_is_set_per_context():
    context = contextvars.copy_context()
    marker = object()
    context.run(comms.set_current_session, marker)

    assert context.run(comms.current_session) is marker
    assert comms.current_session() is None


LIBRARY = '''
import ipywidgets as w

class Manager(w.DOMWidget):
    """Like ipycanvas's canvas manager: one per process, made at import."""

MANAGER = Manager()

class Canvas(w.DOMWidget):
    import traitlets
    manager = traitlets.Instance(Manager, default_value=MANAGER).tag(sync=True, **w.widget_serialization)

    def draw(self, what):
        MANAGER.send({"draw": what, "on": self.model_id})
'''


@pytest.fixture
def shared_library(tmp_path, monkeypatch):
    """An installed library (a file in a site-packages folder) that makes a widget when imported."""
    import sys

    folder = tmp_path / "site-packages"
    folder.mkdir()
    (folder / "sharedlib.py").write_text(LIBRARY)
    monkeypatch.syspath_prepend(str(folder))
    comms.install()
    yield
    sys.modules.pop("sharedlib", None)


async def test_a_widget_a_library_makes_at_import_is_shared_by_every_session(shared_library):
    loop = asyncio.get_running_loop()
    pages: dict[str, list[dict]] = {}

    def open_page(name: str) -> tuple[Session, BrowserChannel]:
        channel = BrowserChannel(loop)
        session = session_with(channel)
        pages[name] = []
        channel.outbox.attach(lambda frame: pages[name].append(json.loads(frame)))
        return session, channel

    first, first_channel = open_page("first")
    canvas_one = in_session(first, lambda: __import__("sharedlib").Canvas())  # the import happens here
    import sharedlib

    assert isinstance(sharedlib.MANAGER.comm, comms.SharedComm)
    assert isinstance(canvas_one.comm, comms.SessionComm)
    second, second_channel = open_page("second")
    canvas_two = in_session(second, lambda: sharedlib.Canvas())
    in_session(second, lambda: canvas_two.draw("circle"))
    for channel in (first_channel, second_channel):
        channel.outbox.flush()

    manager_id = sharedlib.MANAGER.model_id
    opened = {name: [m["comm_id"] for m in frames if m["type"] == "comm_open"] for name, frames in pages.items()}
    # Each page got the shared manager (and its layout) before the canvas that refers to it...
    for name, canvas in (("first", canvas_one), ("second", canvas_two)):
        assert sharedlib.MANAGER.layout.model_id in opened[name]
        assert opened[name].index(manager_id) < opened[name].index(canvas.model_id)
    assert canvas_two.model_id not in opened["first"] and canvas_one.model_id not in opened["second"]
    # ...and only the session that drew got its command.
    drawn = {name: [m["data"] for m in frames if m["type"] == "comm_msg"] for name, frames in pages.items()}
    assert drawn["first"] == []
    assert [d["content"] for d in drawn["second"]] == [{"draw": "circle", "on": canvas_two.model_id}]

    # The first session ends: the shared widget lives on for the second.
    await first.destroy()
    assert sharedlib.MANAGER.comm is not None and canvas_one.comm is None
    in_session(second, lambda: canvas_two.draw("square"))
    second_channel.outbox.flush()
    assert pages["second"][-1]["data"]["content"] == {"draw": "square", "on": canvas_two.model_id}
    await second.destroy()
    assert sharedlib.MANAGER.comm is not None
    sharedlib.MANAGER.close()
    assert manager_id not in comms.shared_comms


def test_a_library_widget_cache_is_each_sessions_own_and_goes_with_it(monkeypatch):
    import gc
    import sys
    import types

    from jupyter_bridge.widget_caches import PerSession, keep_per_session

    class Session:  # anything hashable and weakly referable names a session
        pass

    library = types.ModuleType("ipyvue.Template")
    library.template_registry = {"made/outside.vue": "kernel's own"}
    monkeypatch.setitem(sys.modules, "ipyvue.Template", library)
    current: list[Session | None] = [None]

    keep_per_session(lambda: current[0])
    cache = library.template_registry
    keep_per_session(lambda: current[0])  # once in place, left as it is

    assert isinstance(cache, PerSession) and library.template_registry is cache
    one, two = Session(), Session()
    current[0] = one
    assert "made/outside.vue" not in cache
    cache["t.vue"] = "one's"
    current[0] = two
    assert cache.get("t.vue") is None
    cache["t.vue"] = "two's"
    current[0] = None
    assert dict(cache) == {"made/outside.vue": "kernel's own"}
    current[0] = one
    assert cache["t.vue"] == "one's"
    current[0] = None
    del one
    gc.collect()
    assert len(cache._sessions) == 1  # the ended session's dict went with it
