"""docs/deploy.md, "Several hosts": nginx over two groups of servers, one of them killed mid-run.

Each group stands for a host: one ``jupyter-bridge serve`` on a port of its own,
the first with one process, the second with ``--num-procs 2``, both with the
same secret key, so either accepts the other's tokens. nginx runs
deploy/nginx/several-hosts.conf (the file docs/deploy.md shows) with the hosts'
addresses replaced by the groups' loopback ports. A group is killed with SIGKILL
(its whole process group, as a host that loses power): the open pages whose
session it held reconnect through nginx to the other group, get a fresh session
built from their token, and say so in their header.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

from conftest import ROOT
from support import free_port, wait_for_http
from test_nginx import (
    BALANCED_FLAGS,
    DEPLOY,
    GUIDE,
    connection_state,
    health,
    link_static_dir,
    needs_chromium,
    needs_nginx,
    new_page,
    open_sliders,
    processes,  # noqa: F401 (a fixture)
    render,
    slide_and_check,
    start_nginx,
    start_server,
)

from jupyter_bridge.protocol import CLOSE_BAD_TOKEN, CLOSE_SESSION_GONE, LAST_SEQ_ARGUMENT, STREAM_ARGUMENT

SITE = DEPLOY / "nginx" / "several-hosts.conf"
#: The hosts' addresses in the file, in order, and each host's processes in the test.
HOSTS = ("10.0.0.11:5006", "10.0.0.12:5006")
NUM_PROCS = (1, 2)
#: The groups' ports in the running test, in the order of HOSTS.
PORTS: list[int] = []
#: What a page says once it got a fresh session in place of the one it showed, and took its changes back.
NOTICE = "Reconnected — the server restarted this app; your changes are back"
PAGE_MS = 60_000
#: The upstream's fail_timeout in deploy/nginx/several-hosts.conf: how long nginx leaves a failed host alone.
FAIL_TIMEOUT_S = 10


# The protocol: what the page asks for, and what the server answers


async def test_a_page_naming_a_stream_that_is_gone_gets_a_fresh_session_and_is_told(serve):
    from wsclient import Client

    server = serve({"/sliders": ROOT / "examples" / "sliders.py"})
    client = await Client.open(server.url, "sliders")
    hello = client.of_type("hello")[-1]
    assert "recreated" not in hello and hello["stream"]
    await client.set_state("IntSliderModel", value=4)
    last = max(m.content["seq"] for m in client.frames)
    old_slider = client.model_ids("IntSliderModel")[0]
    await client.close()

    # Resuming the same stream: no notice, the session's state kept.
    await client.connect(query=f"?{LAST_SEQ_ARGUMENT}={last}&{STREAM_ARGUMENT}={hello['stream']}")
    await client.wait_for(lambda: len(client.of_type("hello")) == 2)
    assert "recreated" not in client.of_type("hello")[-1]
    await client.close()

    # The process loses the session (as a host that died would, for the one a
    # balancer sends the page to next): a page that names its stream gets a fresh
    # copy from its token, numbered from 1, and the hello says so.
    await server.bridge.destroy_all_sessions()
    frames_before = len(client.frames)
    await client.connect(query=f"?{LAST_SEQ_ARGUMENT}={last}&{STREAM_ARGUMENT}={hello['stream']}")
    await client.wait_for(lambda: any(m.content["type"] == "doc" for m in client.frames[frames_before:]))
    fresh = [m.content for m in client.frames[frames_before:]]
    assert fresh[0]["type"] == "hello" and fresh[0]["recreated"] is True
    assert fresh[0]["session_id"] == hello["session_id"] and fresh[0]["stream"] != hello["stream"]
    assert fresh[0]["last_seq"] == 0
    numbered = [m["seq"] for m in fresh if m["seq"] > 0]
    assert numbered == list(range(1, len(numbered) + 1))
    new_slider = [m["comm_id"] for m in fresh if m["type"] == "comm_open" and
                  m["data"]["state"]["_model_name"] == "IntSliderModel"]
    assert new_slider and new_slider[0] != old_slider
    assert client.models[new_slider[0]]["value"] == 0
    await client.close()


async def test_a_client_that_names_no_stream_is_still_told_its_session_ended(serve):
    """The Python client and older pages cannot take a fresh session: they are refused, as before."""
    from wsclient import Client

    server = serve({"/sliders": ROOT / "examples" / "sliders.py"})
    client = await Client.open(server.url, "sliders")
    await client.close()
    await server.bridge.destroy_all_sessions()
    await client.connect(query=f"?{LAST_SEQ_ARGUMENT}=3")
    await client.wait_for(lambda: client.close_code is not None)
    assert client.close_code == CLOSE_SESSION_GONE


async def test_a_stream_of_another_copy_of_a_live_session_is_not_resumed(serve):
    """A page whose socket lived on another process must not take this copy's frames for its own."""
    from wsclient import Client

    server = serve({"/sliders": ROOT / "examples" / "sliders.py"})
    client = await Client.open(server.url, "sliders")
    last = max(m.content["seq"] for m in client.frames)
    await client.close()
    frames_before = len(client.frames)
    # The same position in another stream (the copy a dead host held): a fresh start here.
    await client.connect(query=f"?{LAST_SEQ_ARGUMENT}={last}&{STREAM_ARGUMENT}=another-copy")
    await client.wait_for(lambda: any(m.content["type"] == "doc" for m in client.frames[frames_before:]))
    hello = client.frames[frames_before].content
    assert hello["type"] == "hello" and hello["recreated"] is True
    await client.close()


async def test_a_fresh_copy_whose_first_messages_are_forgotten_comes_as_a_snapshot(serve):
    """The copy this process holds was acknowledged by another page of it: the fresh start is a snapshot."""
    from wsclient import Client

    server = serve({"/sliders": ROOT / "examples" / "sliders.py"})
    client = await Client.open(server.url, "sliders")
    await client.set_state("IntSliderModel", value=7)
    last = max(m.content["seq"] for m in client.frames)
    client.send({"type": "ack", "seq": last})  # the stream up to here is forgotten
    await client.request({"type": "ping"})
    await client.close()
    frames_before = len(client.frames)
    await client.connect(query=f"?{LAST_SEQ_ARGUMENT}=2&{STREAM_ARGUMENT}=a-copy-that-died")
    await client.wait_for(lambda: any(m.content["type"] == "doc" for m in client.frames[frames_before:]))
    fresh = [m.content for m in client.frames[frames_before:]]
    assert fresh[0]["type"] == "hello" and fresh[0]["recreated"] is True and fresh[0]["last_seq"] == last
    # Every widget as it is now (the slider at 7), outside the stream, then the stream goes on.
    assert all(m["seq"] == 0 for m in fresh)
    sliders = [m for m in fresh if m["type"] == "comm_open" and m["data"]["state"]["_model_name"] == "IntSliderModel"]
    assert [m["data"]["state"]["value"] for m in sliders] == [7]
    await client.close()


async def test_a_fresh_session_needs_a_token_still_valid(serve):
    """A page open longer than --session-token-expiration cannot have its session built again."""
    from wsclient import Client

    server = serve({"/sliders": ROOT / "examples" / "sliders.py"}, session_token_expiration=1)
    client = await Client.open(server.url, "sliders")
    stream = client.of_type("hello")[-1]["stream"]
    await client.close()
    await server.bridge.destroy_all_sessions()
    server.bridge.clock = lambda: time.time() + 1.5  # the token expires
    await client.connect(query=f"?{LAST_SEQ_ARGUMENT}=3&{STREAM_ARGUMENT}={stream}")
    await client.wait_for(lambda: client.close_code is not None)
    assert client.close_code == CLOSE_BAD_TOKEN and "--session-token-expiration" in client.close_reason


# Through nginx, with Chromium


def site_for(tmp_path: Path, public: str, ports: list[int], balancing: str | None = None) -> str:
    replacements = {
        "listen 80;": f"listen {public};",
        **{host: f"127.0.0.1:{port}" for host, port in zip(HOSTS, ports)},
        "/srv/jupyter-bridge/": f"{tmp_path}/srv/",
    }
    if balancing is not None:
        replacements["    least_conn;"] = f"    {balancing}"
    return render(SITE, replacements)


def start_groups(started, tmp_path: Path, public: str, env: dict[str, str] | None = None) -> tuple[list[int], dict[int, object]]:
    """The two groups, sharing one key (``env``'s, or a new one): ports, and each port's first process."""
    from jupyter_bridge.tokens import generate_secret_key

    env = env or {"JUPYTER_BRIDGE_SECRET_KEY": generate_secret_key()}
    ports = [free_port() for _ in HOSTS]
    PORTS[:] = ports
    groups = {port: start_group(started, tmp_path, public, env, port, procs) for port, procs in zip(ports, NUM_PROCS)}
    return ports, groups


def start_group(started, tmp_path: Path, public: str, env: dict[str, str], port: int, procs: int):
    """One group: the guide's command on ``port``, with ``procs`` processes (again, after a restart)."""
    return start_server(started, tmp_path, BALANCED_FLAGS, port, public, env=env, extra=("--num-procs", str(procs)))


def connections(port: int) -> int:
    """Open sockets on a host: the sum over its processes (each /healthz answers for the one that took it)."""
    procs = NUM_PROCS[PORTS.index(port)] if port in PORTS else 1
    seen: dict[int, int] = {}
    for _ in range(200):  # the kernel hands each connection to either worker: ask until both answered
        answer = health(port)
        seen[answer["pid"]] = answer["connections"]
        if len(seen) == procs:
            return sum(seen.values())
    raise AssertionError(f"only {len(seen)} of the {procs} processes on port {port} answered /healthz")


def pids(port: int) -> set[int]:
    """The processes serving ``port`` (each /healthz answers for the one that took it)."""
    procs = NUM_PROCS[PORTS.index(port)]
    seen: set[int] = set()
    while len(seen) < procs:
        seen.add(health(port)["pid"])
    return seen


def health_through(public: str) -> dict:
    """/apps/healthz through nginx: whichever process the balancer picked answers."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://{public}/apps/healthz", timeout=30) as response:
        return json.load(response)


def kill_group(group) -> None:
    """SIGKILL every process of a group at once (its first process and its workers)."""
    os.killpg(group.pid, signal.SIGKILL)
    group.wait(timeout=30)


def created_sessions(group) -> Counter:
    """How often each session was built by a group's processes (the page request, then any socket)."""
    return Counter(re.findall(r"Session (\S+) created", group.log_file.read_text()))


def notice(page) -> str | None:
    pill = page.locator(".jb-status")
    return pill.inner_text() if pill.get_attribute("data-notice") == "1" else None


def wait_until(condition, what: str, timeout: float = 90) -> None:
    """Poll ``condition`` until it holds (Playwright owns this thread's event loop)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


@needs_nginx
@needs_chromium
def test_a_host_dies_new_pages_work_and_its_open_pages_get_fresh_sessions(processes, tmp_path, browser):  # noqa: F811
    public = f"127.0.0.1:{free_port()}"
    ports, groups = start_groups(processes, tmp_path, public)
    link_static_dir(tmp_path / "srv")
    nginx = start_nginx(processes, tmp_path, site_for(tmp_path, public, ports))
    base = f"http://{public}/apps/sliders"
    wait_for_http(f"http://{public}/apps/healthz", nginx)

    pages = []
    for number in range(8):
        page = new_page(browser)
        open_sliders(page, base)
        slide_and_check(page, number % 3 + 1)
        pages.append(page)
    # least_conn spreads the sockets over both hosts; which page is where, only each host knows.
    wait_until(lambda: sum(connections(port) for port in ports) == 8, "every socket is attached")
    held = {port: connections(port) for port in ports}
    assert all(held.values()), held
    # Without sticky sessions a page and its socket may reach different hosts;
    # the socket's host built the session again from the page's token.
    built_twice = created_sessions(groups[ports[0]]).keys() & created_sessions(groups[ports[1]]).keys()

    # The host with two processes dies, all of it at once.
    dead, live = ports[1], ports[0]
    lost = held[dead]
    kill_group(groups[dead])

    # Its pages reconnect through nginx to the live host, which recreates each
    # session from the page's token; each page replays its user's changes into
    # it and says plainly what happened.
    wait_until(lambda: sum(notice(page) is not None for page in pages) == lost, f"{lost} pages show the notice")
    orphans = [page for page in pages if notice(page) is not None]
    for page in orphans:
        wait_until(lambda page=page: notice(page).startswith(NOTICE), "the page's changes are back")
        assert connection_state(page) == "connected"
        # The fresh session has the slider where the user left it, and works.
        start = pages.index(page) % 3 + 1
        page.wait_for_function(
            f"() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === 'value*2 = {start * 2}')",
            timeout=PAGE_MS,
        )
        # The old session's widgets are gone: one slider, one answer.
        assert page.locator(".widget-slider").count() == 1
        assert page.locator(".widget-label", has_text="value*2 =").count() == 1
        slide_and_check(page, 2, start=start)
    # The notice stays until the user dismisses it.
    orphans[0].locator(".jb-status .jb-notice-dismiss").click()
    assert notice(orphans[0]) is None and orphans[0].locator(".jb-status").inner_text() == "connected"
    # The other pages never noticed.
    for number, page in enumerate(pages):
        if page not in orphans:
            assert notice(page) is None and connection_state(page) == "connected"
            slide_and_check(page, 1, start=number % 3 + 1)

    # New pages keep working: nginx's try at the dead host is refused and passed on.
    for _ in range(3):
        page = new_page(browser)
        open_sliders(page, base)
        slide_and_check(page, 1)
        assert notice(page) is None
        pages.append(page)
    assert connections(live) == 11
    errors = nginx.error_log.read_text()  # type: ignore[attr-defined]
    assert re.search(rf"connect\(\) failed \(111: Connection refused\).*upstream: \"http://127.0.0.1:{dead}/", errors)
    assert all(page.errors == [] for page in pages)  # type: ignore[attr-defined]
    for page in pages:
        page.context.close()
    print(f"{len(built_twice)} of 8 sessions built on both hosts; {lost} pages lost their host and got fresh sessions")


@needs_nginx
@needs_chromium
def test_sticky_sessions_pin_a_client_to_one_host_until_it_dies(processes, tmp_path, browser):  # noqa: F811
    """ip_hash: every page of one client address and its socket reach one host; when it dies, the other."""
    public = f"127.0.0.1:{free_port()}"
    ports, groups = start_groups(processes, tmp_path, public)
    link_static_dir(tmp_path / "srv")
    nginx = start_nginx(processes, tmp_path, site_for(tmp_path, public, ports, balancing="ip_hash;"))
    base = f"http://{public}/apps/sliders"
    wait_for_http(f"http://{public}/apps/healthz", nginx)

    pages = []
    for number in range(3):
        page = new_page(browser)
        open_sliders(page, base)
        slide_and_check(page, number + 1)
        pages.append(page)
    wait_until(lambda: sum(connections(port) for port in ports) == 3, "every socket is attached")
    pinned = next(port for port in ports if connections(port) == 3)
    other = next(port for port in ports if port != pinned)
    # Nothing reached the other host: not a page, not a socket.
    assert not created_sessions(groups[other])
    # The pinned host built each session for its page; with --num-procs 2 a socket
    # may still reach the other worker, which builds it again (the kernel spreads
    # connections over a host's processes, whatever nginx does).
    built = created_sessions(groups[pinned])
    assert len(built) == 3
    if NUM_PROCS[ports.index(pinned)] == 1:
        assert set(built.values()) == {1}

    kill_group(groups[pinned])
    wait_until(lambda: all(notice(page) is not None for page in pages), "every page shows the notice")
    for number, page in enumerate(pages):
        wait_until(lambda page=page: notice(page).startswith(NOTICE), "the page's changes are back")
        slide_and_check(page, 2, start=number + 1)
    page = new_page(browser)
    open_sliders(page, base)
    slide_and_check(page, 1)
    pages.append(page)
    assert connections(other) == 4
    for page in pages:
        page.context.close()


@needs_nginx
@needs_chromium
def test_a_rolling_restart_moves_every_page_with_its_state(processes, tmp_path, browser):  # noqa: F811
    """docs/deploy.md, "A rolling restart": each group in turn is stopped (SIGTERM) and started again."""
    from jupyter_bridge.tokens import generate_secret_key

    env = {"JUPYTER_BRIDGE_SECRET_KEY": generate_secret_key()}
    public = f"127.0.0.1:{free_port()}"
    ports, groups = start_groups(processes, tmp_path, public, env)
    link_static_dir(tmp_path / "srv")
    nginx = start_nginx(processes, tmp_path, site_for(tmp_path, public, ports))
    base = f"http://{public}/apps/sliders"
    wait_for_http(f"http://{public}/apps/healthz", nginx)

    pages = []
    for number in range(10):
        page = new_page(browser)
        open_sliders(page, base)
        slide_and_check(page, number + 1)  # each page's own state
        pages.append(page)
    wait_until(lambda: sum(connections(port) for port in ports) == 10, "every socket is attached")
    values = {id(page): number + 1 for number, page in enumerate(pages)}

    def restart(port: int) -> None:
        """The recipe's steps for one group: stop it, start the new version, wait until it answers."""
        procs = NUM_PROCS[ports.index(port)]
        os.killpg(groups[port].pid, signal.SIGTERM)
        groups[port].wait(timeout=60)
        # Its pages reconnect through nginx to the other group, and replay their changes there.
        try:
            wait_until(lambda: connections(port_other(port)) == 10, "every page is on the other group")
        except AssertionError:
            states = [(connection_state(page), page.locator(".jb-status").inner_text()) for page in pages]
            raise AssertionError(f"{connections(port_other(port))} sockets on the other group; pages: {states}") from None
        for page in pages:
            wait_until(lambda page=page: connection_state(page) == "connected", "the page is connected")
            page.wait_for_function(
                f"() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === "
                f"'value*2 = {values[id(page)] * 2}')",
                timeout=PAGE_MS,
            )
        groups[port] = start_group(processes, tmp_path, public, env, port, procs)
        # The recipe: once the balancer's fail_timeout has passed, nginx counts the group
        # live again when it answered a request through nginx.
        time.sleep(FAIL_TIMEOUT_S)
        mine = pids(port)
        wait_until(lambda: health_through(public)["pid"] in mine, "nginx sends a request to the group again")

    def port_other(port: int) -> int:
        return next(other for other in ports if other != port)

    first, second = ports
    restart(first)
    moved = [page for page in pages if notice(page) is not None]
    assert moved, "some pages were on the first group"
    for page in moved:
        assert notice(page).startswith(NOTICE)
        page.locator(".jb-status .jb-notice-dismiss").click()
    restart(second)
    # Every page was on the second group by then: each moved, and kept its state.
    for page in pages:
        wait_until(lambda page=page: (notice(page) or "").startswith(NOTICE), "the page's changes are back")
    # And every page still works, from where its user left it.
    for page in pages:
        slide_and_check(page, 1, start=values[id(page)])
    assert all(page.errors == [] for page in pages)  # type: ignore[attr-defined]
    for page in pages:
        page.context.close()


def test_the_guide_shows_the_several_hosts_file_the_tests_run():
    guide = GUIDE.read_text()
    section = guide.split("## Several hosts", 1)[1].split("\n## ", 1)[0]
    assert "deploy/nginx/several-hosts.conf" in section
    blocks = re.findall(r"```nginx\n(.*?)```", section, re.S)
    # The section shows the whole file, as the tests run it (comments aside).
    shown = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    wanted = [line.strip() for line in SITE.read_text().splitlines() if line.strip() and not line.strip().startswith("#")]
    assert shown == wanted
    assert NOTICE in section
    assert "ip_hash" in section and "proxy_next_upstream" in section and "max_fails" in section
    for procs in NUM_PROCS[1:]:
        assert f"--num-procs {procs}" in section
