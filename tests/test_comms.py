"""comm.create_comm routing: a session's channel makes its comms; otherwise the chain goes on."""

from __future__ import annotations

import asyncio
import contextvars
import json

import comm
import pytest

from jupyter_bridge import comms
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
    return Session(SessionContext("s", Request()), None, asyncio.get_running_loop(), channel=channel)


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
