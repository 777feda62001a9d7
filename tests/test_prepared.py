"""Sessions prepared ahead of their pages (--prepared-sessions): real servers, real sockets."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ipywidgets as w
from support import eventually
from wsclient import Client, fetch_page

from jupyter_bridge.application import Application
from jupyter_bridge.application.handlers import FunctionHandler, Handler

AUTH = '''
login_url = "/login"

def get_user(request_handler):
    return request_handler.get_cookie("user")
'''


def greeting(doc: Any) -> None:
    """Builds without the request; shows what the page asked for once a page takes it."""
    doc.prepare_ahead = True
    label = w.Label(value="nobody yet")
    doc.add_root(label)

    def greet(context: Any) -> None:
        request = context.request
        name = request.arguments.get("name", [b"?"])[0].decode()
        label.value = (f"{name} {request.headers.get('X-Team', '-')} {request.cookies.get('flavour', '-')} "
                       f"{context.user} {context.prepared}")

    doc.on_session_request(greet)


def plain(doc: Any) -> None:
    doc.add_root(w.Label(value="plain"))


async def label_of(client: Client, starts: str = "") -> str:
    """The label's value once it is no longer the one the app built (``starts``: and begins so)."""
    def shown() -> str | None:
        value = client.model("LabelModel")["value"]
        return value if value != "nobody yet" and value.startswith(starts) else None

    return await client.wait_for(shown)


async def first_page_then_ready(server: Any, path: str, count: int, **kwargs: Any) -> Any:
    """Load one page (from which the server learns the app allows preparing); wait for ``count`` ready."""
    code, _ = await fetch_page(server.url + path.strip("/"), **kwargs)
    assert code == 200
    served = server.bridge.apps[path]
    await eventually(lambda: len(served.prepared.ready) == count)
    return served


async def test_a_prepared_session_serves_a_page_with_that_pages_request(serve, tmp_path):
    auth = tmp_path / "auth.py"
    auth.write_text(AUTH)
    server = serve({"/hello": greeting}, prepared_sessions=2, auth_module=str(auth))
    served = await first_page_then_ready(server, "/hello", 2, headers={"Cookie": "user=zoe"})
    ready_ids = {session.id for session in served.prepared.ready}

    client = await Client.open(server.url, "hello?name=alice",
                               headers={"X-Team": "blue", "Cookie": "flavour=mint; user=alice"})

    assert client.config["sessionId"] in ready_ids  # no build: a prepared one
    assert await label_of(client) == "alice blue mint alice True"
    session = served.sessions[client.config["sessionId"]]
    assert session.context.request.arguments == {"name": [b"alice"]}
    assert session.context.user == "alice" and not session.context.waiting
    # Its slider of a round trip works as in any session.
    await client.close()


async def test_two_pages_never_get_the_same_prepared_session(serve):
    server = serve({"/hello": greeting}, prepared_sessions=3)
    served = await first_page_then_ready(server, "/hello", 3)
    ready_ids = {session.id for session in served.prepared.ready}

    clients = await asyncio.gather(*(Client.open(server.url, f"hello?name=p{i}") for i in range(8)))

    ids = [client.config["sessionId"] for client in clients]
    assert len(set(ids)) == 8
    assert ready_ids <= set(ids)  # all three were used, each by one page
    for i, client in enumerate(clients):
        assert (await label_of(client)).startswith(f"p{i} ")
    for client in clients:
        await client.close()


async def test_the_pool_refills_after_pages_take_its_sessions(serve):
    server = serve({"/hello": greeting}, prepared_sessions=2, metrics=True)
    served = await first_page_then_ready(server, "/hello", 2)
    taken = {session.id for session in served.prepared.ready}

    for name in ("a", "b", "c"):
        code, _ = await fetch_page(server.url + f"hello?name={name}")
        assert code == 200

    await eventually(lambda: len(served.prepared.ready) == 2)
    assert not taken & {session.id for session in served.prepared.ready}
    assert taken <= set(served.sessions)
    stats = server.stats()
    assert stats["apps"]["/hello"]["prepared"] == 2 and stats["prepared"] == 2
    assert stats["sessions"] == 4
    code, text = await fetch_page(server.url + "metrics")
    assert code == 200 and 'jupyter_bridge_prepared_sessions{app="/hello"} 2.0' in text
    assert 'jupyter_bridge_sessions{app="/hello"} 4.0' in text


async def test_an_app_that_does_not_allow_it_is_never_prepared(serve):
    server = serve({"/plain": plain}, prepared_sessions=2)
    for _ in range(2):
        assert (await fetch_page(server.url + "plain"))[0] == 200
    served = server.bridge.apps["/plain"]
    assert not served.prepared.ready and not served.prepared.enabled and served.prepared._task is None


async def test_an_app_that_reads_the_request_while_building_gets_its_pages_request(serve, caplog):
    def reads_early(doc: Any) -> None:
        doc.prepare_ahead = True  # but reads the request while building anyway
        name = doc.session_context.request.arguments.get("name", [b"?"])[0].decode()
        doc.add_root(w.Label(value=name))

    server = serve({"/early": reads_early}, prepared_sessions=2)
    with caplog.at_level(logging.WARNING, logger="jupyter_bridge"):
        assert (await fetch_page(server.url + "early?name=first"))[0] == 200
        served = server.bridge.apps["/early"]
        await eventually(lambda: served.prepared.refused is not None)

    assert "on_session_request" in caplog.text and "session_context.request" in caplog.text
    client = await Client.open(server.url, "early?name=bob")
    assert await label_of(client) == "bob"  # built for the page, not a prepared one that saw no request
    assert not served.prepared.ready
    await client.close()


class Recorder(Handler):
    """An app whose lifecycle hooks write down what ran, in order."""

    name = "recorded"

    def __init__(self, events: list[tuple[str, str | None]]) -> None:
        self.events = events

    def modify_document(self, document: Any) -> None:
        document.prepare_ahead = True
        document.add_root(w.Label(value="recorded"))

    def on_server_loaded(self, server_context: Any) -> None:
        self.events.append(("server_loaded", None))

    def on_server_unloaded(self, server_context: Any) -> None:
        self.events.append(("server_unloaded", None))

    def on_session_created(self, session_context: Any) -> None:
        self.events.append(("created", session_context.id))

    def on_session_request(self, session_context: Any) -> None:
        self.events.append(("request", session_context.id))

    def on_session_destroyed(self, session_context: Any) -> None:
        self.events.append(("destroyed", session_context.id))


async def test_shutdown_destroys_prepared_sessions_with_their_hooks_then_unloads(serve, widget_count):
    before = widget_count()
    events: list[tuple[str, str | None]] = []
    server = serve({"/rec": Application(Recorder(events))}, prepared_sessions=2)
    served = await first_page_then_ready(server, "/rec", 2)
    prepared = [session.id for session in served.prepared.ready]
    live = list(served.sessions)

    await server.shutdown()

    assert widget_count() == before
    assert events[0] == ("server_loaded", None) and events[-1] == ("server_unloaded", None)
    for session_id in prepared:
        assert ("created", session_id) in events
        assert ("request", session_id) not in events  # no page took it
        assert ("destroyed", session_id) in events
    for session_id in live:
        assert events.index(("created", session_id)) < events.index(("request", session_id)) \
            < events.index(("destroyed", session_id))
    assert [kind for kind, _ in events].count("destroyed") == len(prepared) + len(live)
    assert not served.prepared.ready and not served.sessions


async def test_prepared_sessions_count_against_max_sessions_and_give_way_to_pages(serve):
    server = serve({"/hello": greeting, "/plain": plain}, prepared_sessions=2, max_sessions=3)
    served = await first_page_then_ready(server, "/hello", 2)
    bridge = server.bridge
    assert bridge.held_sessions == 3

    # Another app's pages: each takes the place of a prepared session, never more than the bound.
    for _ in range(2):
        assert (await fetch_page(server.url + "plain"))[0] == 200
        assert bridge.held_sessions <= 3
    await eventually(lambda: not served.prepared._destroying)
    assert not served.prepared.ready
    code, html = await fetch_page(server.url + "plain")
    assert code == 503 and "--max-sessions" in html
    code, html = await fetch_page(server.url + "hello")
    assert code == 503 and "--max-sessions" in html

    # Room again: the pool grows back, up to the bound only.
    plain_app = bridge.apps["/plain"]
    for session in list(plain_app.sessions.values()):
        await plain_app.destroy(session)
    await eventually(lambda: len(served.prepared.ready) == 2)
    assert bridge.held_sessions == 3


async def test_a_page_takes_a_prepared_session_even_when_the_process_is_full(serve):
    server = serve({"/hello": greeting}, prepared_sessions=2, max_sessions=3)
    served = await first_page_then_ready(server, "/hello", 2)

    for name in ("x", "y"):
        client = await Client.open(server.url, f"hello?name={name}")
        assert (await label_of(client)).startswith(f"{name} ")
        await client.close()

    assert server.bridge.held_sessions == 3 and not served.prepared.ready
    assert (await fetch_page(server.url + "hello"))[0] == 503


async def test_a_session_that_waited_long_for_its_page_is_not_reaped_before_the_page_connects(serve):
    server = serve({"/hello": greeting}, prepared_sessions=1, unconnected_session_lifetime=60_000)
    served = await first_page_then_ready(server, "/hello", 1)
    waited = served.prepared.ready[0]
    waited.channel.last_seen -= 3600  # as if it had been ready for an hour

    client = Client(server.url, "hello?name=late")
    await client.load_page()
    assert client.config["sessionId"] == waited.id
    await server.bridge.destroy_unused_sessions()  # the reaper passes before the socket connects

    assert not waited.destroyed
    await client.connect()
    await client.wait_for(lambda: client.doc is not None)
    assert await label_of(client) == "late - - None True"
    await client.close()


async def test_a_directory_apps_on_session_request_hook_gets_the_pages_request(serve, tmp_path):
    app = tmp_path / "visitors"
    app.mkdir()
    (app / "main.py").write_text(
        "import ipywidgets as w\n"
        "from jupyter_bridge import curdoc\n"
        "curdoc().prepare_ahead = True\n"
        "curdoc().add_root(w.Label(value='nobody yet'))\n"
    )
    (app / "server_lifecycle.py").write_text(
        "def on_session_request(session_context):\n"
        "    who = session_context.request.arguments['who'][0].decode()\n"
        "    session_context.document.roots[0].value = f'hello {who}'\n"
    )
    server = serve({"/visitors": str(app)}, prepared_sessions=1)
    code, _ = await fetch_page(server.url + "visitors?who=first")
    assert code == 200
    served = server.bridge.apps["/visitors"]
    await eventually(lambda: len(served.prepared.ready) == 1)
    prepared_id = served.prepared.ready[0].id

    client = await Client.open(server.url, "visitors?who=kim")

    assert client.config["sessionId"] == prepared_id
    assert await label_of(client) == "hello kim"
    await client.close()


async def test_a_reloaded_app_drops_its_prepared_sessions_and_prepares_the_new_ones(serve):
    server = serve({"/hello": greeting}, prepared_sessions=2)
    served = await first_page_then_ready(server, "/hello", 2)
    old = list(served.prepared.ready)

    await served.replace_application(Application(FunctionHandler(greeting)))  # as --dev does on a change

    assert all(session.destroyed for session in old) and not served.prepared.ready
    await first_page_then_ready(server, "/hello", 2)
    assert not {session.id for session in old} & {session.id for session in served.prepared.ready}
