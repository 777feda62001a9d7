"""jupyter_bridge on a real JupyterHub: own servers, viewers of a server, hub services.

One hub serves the whole module, on loopback ports, with configurable-http-proxy,
the dummy authenticator (alice, bob, carol) and the simple
local-process spawner running ``jupyterhub-singleuser`` with the server extension.
Every server runs ``ViewerIdentityProvider``; alice lists ``report.py`` as shared in
her server's config. A role lets the group ``viewers`` into alice's server; the
admin adds bob to the group during the tests, and alice shares her server with
carol through the hub's sharing API, with her own token, as a creator would. The
hub service ``report`` is configured from ``jupyter-bridge publish``'s output.
Chromium logs in through the hub's login form, as a person does, and uses alice's
JupyterLab too ("Open as App").
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import ROOT
from hub_support import NEEDS_HUB, UI_TIMEOUT, Hub, hub_config, running_hub
from support import free_port

pytestmark = NEEDS_HUB

# The app alice publishes: who runs it, and a slider Python answers.
REPORT = """\
import ipywidgets as w
from jupyter_bridge import curdoc

doc = curdoc()
user = doc.session_context.user
groups = (getattr(user, "hub_user", None) or {}).get("groups", [])
slider = w.IntSlider(description="N", min=0, max=100)
label = w.Label("value*2 = 0")
slider.observe(lambda ch: setattr(label, "value", f"value*2 = {ch['new'] * 2}"), "value")
doc.title = "Report"
doc.add_root(w.Label(f"user={user.username} groups={','.join(sorted(groups))}"))
doc.add_root(w.Label("cookies=" + ",".join(sorted(doc.session_context.request.cookies))))
doc.add_root(w.VBox([slider, label]))
"""

# An app of alice's she does not share.
PRIVATE = """\
import ipywidgets as w
from jupyter_bridge import curdoc

curdoc().add_root(w.Label("private"))
"""

# Must never run for a viewer: writes its marker when it does.
TRAP = """\
import pathlib
pathlib.Path({marker!r}).write_text("ran")
"""

EDITED = """\
import ipywidgets as w
from jupyter_bridge import curdoc

curdoc().add_root(w.Label("version {version}"))
"""

#: After hub_support.CONFIG_HEAD: the users, groups, roles and service of this module's hub.
HUB_CONFIG = """\
c.JupyterHub.public_url = "http://127.0.0.1:{port}"

c.Authenticator.allowed_users = {{"alice", "bob", "carol"}}
c.JupyterHub.load_groups = {{"viewers": {{"users": []}}, "creators": {{"users": ["alice"]}}}}

c.Spawner.args = {spawner_args!r}
# The servers see the Jupyter paths the tests do (a JupyterLab extension built elsewhere).
c.Spawner.env_keep.append("JUPYTER_PATH")

# Viewers of a user's server: the group viewers may enter alice's (the admin's grant),
# and every user may share their own server with other users.
c.JupyterHub.load_roles = [
    {{"name": "alice-viewers", "groups": ["viewers"], "scopes": ["access:servers!server=alice/"]}},
    {{"name": "user", "scopes": ["self", "shares!user", "read:users:name"]}},
    {{"name": "tests", "services": ["tests"], "scopes": ["admin:users", "admin:servers", "groups", "tokens"]}},
]
c.JupyterHub.services = [{{"name": "tests", "api_token": {token!r}}}]
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    home = tmp_path_factory.mktemp("hub")
    alice = home / "homes" / "alice"
    alice.mkdir(parents=True)
    (alice / "report.py").write_text(REPORT)
    (alice / "private.py").write_text(PRIVATE)
    (alice / "edited.py").write_text(EDITED.format(version=1))
    (alice / "panel.py").write_text(EDITED.format(version=1))  # opened in JupyterLab's panel
    # A shared directory app, and scripts inside it a viewer must not be able to run.
    shutil.copytree(ROOT / "examples" / "dashboard", alice / "dash")
    (home / "markers").mkdir()
    (alice / "dash" / "static" / "run.py").write_text(TRAP.format(marker=str(home / "markers" / "static-run")))
    (alice / "dash" / "other.py").write_text(TRAP.format(marker=str(home / "markers" / "other")))
    # alice, as the creator, says which of her apps viewers may open.
    (alice / ".jupyter").mkdir()
    (alice / ".jupyter" / "jupyter_server_config.py").write_text(
        'c.ViewerIdentityProvider.shared_apps = ["report.py", "dash"]\n'
    )
    # No "get news?" prompt over her JupyterLab.
    (alice / ".jupyter" / "labconfig").mkdir()
    (alice / ".jupyter" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    service_app = home / "published" / "report.py"
    service_app.parent.mkdir()
    service_app.write_text(REPORT)

    port = free_port()
    token = secrets.token_hex(32)
    spawner_args = ["--ServerApp.identity_provider_class=jupyter_bridge.hub.viewers.ViewerIdentityProvider"]
    if os.getuid() == 0:
        spawner_args.append("--allow-root")
    config = hub_config(home, port, HUB_CONFIG, spawner_args=spawner_args, token=token)
    # The hub service, exactly as the creator's `jupyter-bridge publish` prints it.
    published = subprocess.run(
        [sys.executable, "-m", "jupyter_bridge.cli", "publish", str(service_app), "--name", "report",
         "--allow-group", "viewers", "--public-url", f"http://127.0.0.1:{port}", "--port", str(free_port())],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    service = published.stdout
    if os.getuid() != 0:
        # Only root may switch to the creator's account; here the hub's account is the creator's.
        service = re.sub(r"'user': '[^']*'", "'user': ''", service)
    with running_hub(home, config + service, f"http://127.0.0.1:{port}", token) as the_hub:
        for name in ("alice", "bob", "carol"):  # the dummy authenticator makes users on first login only
            code, answer = the_hub.api("POST", f"users/{name}")
            assert code in (201, 409), answer
        the_hub.start_server("alice")
        yield the_hub


@pytest.fixture
def logged_in(browser, hub):
    """``logged_in(name)``: a browser context logged in to the hub as ``name``."""
    contexts = []

    def log_in(name: str):
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.goto(hub.url + "/hub/login?next=%2Fhub%2Fhome")
        page.fill("input[name=username]", name)
        page.fill("input[name=password]", "any")
        page.click("#login_submit")
        page.wait_for_url("**/hub/home", timeout=UI_TIMEOUT)
        return page

    yield log_in
    for context in contexts:
        context.close()


def open_app(page, url: str):
    response = page.goto(url)
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=UI_TIMEOUT)
    return response


def labels(page) -> list[str]:
    return [label.inner_text() for label in page.locator(".widget-label").all()]


def move_slider_and_see_python_answer(page) -> None:
    """In ``page`` (a Page, or the Frame of an app in a JupyterLab panel)."""
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    for _ in range(3):
        handle.press("ArrowRight")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(l => l.textContent === 'value*2 = 6')",
        timeout=UI_TIMEOUT,
    )


def assert_no_hub_cookies(page) -> None:
    """The hub's login cookies are credentials: the browser sends them, the app never sees them."""
    sent = {cookie["name"] for cookie in page.context.cookies()}
    assert {"jupyterhub-session-id"} <= sent and any(name.startswith(("jupyterhub-user-", "service-")) for name in sent)
    (seen,) = [text for text in labels(page) if text.startswith("cookies=")]
    assert "jupyterhub" not in seen and "service-" not in seen and "_xsrf" not in seen, seen


def refused(page, url: str) -> int:
    """The status of a browser visit to ``url`` (through any redirects)."""
    return page.goto(url).status


# 1. Apps of a user's own server


def test_alice_opens_her_app_through_the_hub_and_every_request_stays_under_her_prefix(hub, logged_in):
    page = logged_in("alice")
    seen: list[tuple[int, str]] = []
    page.on("response", lambda response: seen.append((response.status, response.url)))
    page.goto(hub.url + "/user/alice/bridge/")
    links = [a.get_attribute("href") for a in page.locator("a[href*='/apps/']").all()]
    assert "/user/alice/bridge/apps/report.py" in links and "/user/alice/bridge/apps/private.py" in links, links

    seen.clear()
    open_app(page, hub.url + "/user/alice/bridge/apps/report.py")
    assert page.title() == "Report"
    assert "user=alice groups=creators" in labels(page)
    move_slider_and_see_python_answer(page)  # the session WebSocket goes through the proxy

    assert_no_hub_cookies(page)
    config = json.loads(page.locator("#jupyter-bridge-config").text_content())
    assert config["wsUrl"].startswith("/user/alice/bridge/apps/report.py"), config
    scripts = [(status, url) for status, url in seen if "/bridge/static/" in url]
    assert scripts and all(status == 200 for status, _ in scripts), scripts  # no detour into OAuth
    assert all(url.startswith(hub.url + "/user/alice/") for _, url in seen), seen


def test_a_browser_without_a_login_is_sent_to_the_hub_login(hub, browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(hub.url + "/user/alice/bridge/apps/report.py")
        assert page.url.startswith(hub.url + "/hub/login"), page.url
        assert page.locator("#login_submit").count() == 1
    finally:
        context.close()


def test_other_hub_users_are_refused_by_the_hub(hub, logged_in):
    assert refused(logged_in("carol"), hub.url + "/user/alice/bridge/apps/report.py") == 403


#: Before a page's scripts: every close code its WebSockets get, kept across the page's reloads.
RECORD_CLOSE_CODES = """
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
        super(...args);
        this.addEventListener('close', (event) => {
            const codes = JSON.parse(sessionStorage.getItem('jb-close-codes') || '[]');
            sessionStorage.setItem('jb-close-codes', JSON.stringify([...codes, event.code]));
        });
    }
};
"""


def test_a_saved_app_reloads_its_open_page_through_the_proxy(hub, logged_in):
    page = logged_in("alice")
    page.add_init_script(RECORD_CLOSE_CODES)
    open_app(page, hub.url + "/user/alice/bridge/apps/edited.py")
    assert labels(page) == ["version 1"]
    first = page.evaluate("() => { window.notReloaded = true; return window.jupyterBridge.connection.sessionId; }")
    seen: list[tuple[int, str]] = []
    page.on("response", lambda response: seen.append((response.status, response.url)))

    # The server closes the page's socket with 4205 (through the proxy); the page loads itself again.
    (hub.root_of("alice") / "edited.py").write_text(EDITED.format(version=2))
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(l => l.textContent === 'version 2')",
        timeout=UI_TIMEOUT,
    )
    assert page.evaluate("() => window.notReloaded") is None  # a new page, not an update of the old one
    assert 4205 in json.loads(page.evaluate("() => sessionStorage.getItem('jb-close-codes')"))
    assert (200, hub.url + "/user/alice/bridge/apps/edited.py") in seen, seen
    assert all(url.startswith(hub.url + "/user/alice/") for _, url in seen), seen
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=UI_TIMEOUT)
    assert page.evaluate("() => window.jupyterBridge.connection.sessionId") not in (None, first)


@pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None, reason="JupyterLab is not installed")
def test_open_as_app_in_jupyterlab_through_the_hub(hub, logged_in):
    """alice's JupyterLab, through the hub: "Open as App" shows the app in a panel that works and reloads."""
    page = logged_in("alice")
    page.set_viewport_size({"width": 1400, "height": 900})
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(hub.url + "/user/alice/lab?reset")
    # From the file browser's context menu, as a user would.
    page.locator(".jp-DirListing-item", has_text="report.py").click(button="right", timeout=UI_TIMEOUT)
    page.locator(".lm-Menu-item", has_text="Open as App").click()

    panel = page.locator(".jp-BridgeApp")
    panel.wait_for(timeout=UI_TIMEOUT)
    # The panel computes the page's address from Lab's base URL, alice's server's. JupyterHub
    # refuses to let its servers' pages be framed, so the panel fetches the page (with the hub's
    # cookies, no token) and shows it in its frame.
    assert panel.locator(".jp-BridgeApp-frame").get_attribute("data-jb-url") == hub.url + "/user/alice/bridge/apps/report.py"
    frame = panel.locator("iframe").element_handle().content_frame()
    frame.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=UI_TIMEOUT)
    assert "user=alice groups=creators" in labels(frame)
    move_slider_and_see_python_answer(frame)
    # One socket, under alice's prefix; its query holds no token (only the page's batch=1).
    assert [url.split("?")[0] for url in sockets if "/bridge/" in url] == [hub.url.replace("http", "ws") + "/user/alice/bridge/apps/report.py/ws"]
    assert not [url for url in sockets if "token=" in url], sockets
    bridge = [url for url in requested if "/bridge/" in url]
    assert bridge and all(url.startswith(hub.url + "/user/alice/bridge/") for url in bridge), bridge
    assert not [url for url in bridge if "token=" in url], "the user's hub token went into an address"

    # The panel's Reload button: a fresh session.
    first = frame.evaluate("() => window.jupyterBridge.connection.sessionId")
    panel.locator("jp-button[title^='Reload the app'], button[title^='Reload the app']").first.click()
    page.wait_for_function(
        "([frame, first]) => frame.contentWindow.jupyterBridge?.connection.sessionId !== first"
        " && frame.contentDocument.querySelector(\"#jupyter-bridge-roots[data-jb-ready='1']\") !== null",
        arg=[panel.locator("iframe").element_handle(), first],
        timeout=UI_TIMEOUT,
    )
    move_slider_and_see_python_answer(frame)

    # An app changed on disk reloads itself in its panel, as in a tab.
    page.locator(".jp-DirListing-item", has_text="panel.py").click(button="right")
    page.locator(".lm-Menu-item", has_text="Open as App").click()
    shown = page.locator(".jp-BridgeApp:visible iframe")
    page.wait_for_function(
        "(frame) => frame.contentDocument?.querySelector('.widget-label')?.textContent === 'version 1'",
        arg=shown.element_handle(), timeout=UI_TIMEOUT,
    )
    (hub.root_of("alice") / "panel.py").write_text(EDITED.format(version=2))
    page.wait_for_function(
        "(frame) => frame.contentDocument?.querySelector('.widget-label')?.textContent === 'version 2'",
        arg=shown.element_handle(), timeout=UI_TIMEOUT,
    )


# 2a. Viewers of alice's server, through JupyterHub's permissions


@pytest.fixture(scope="module")
def bob_is_a_viewer(hub):
    """The admin puts bob in the group viewers (which the role alice-viewers lets into alice's server)."""
    code, answer = hub.api("POST", "groups/viewers/users", {"users": ["bob"]})
    assert code == 200, answer


def authorize_once(page, url: str) -> None:
    """Open ``url`` on someone else's server: the hub asks, once, to let that server know who you are."""
    page.goto(url)
    page.click("button[type=submit]:has-text('Authorize')")
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=UI_TIMEOUT)


NOT_SHARED = (
    "bridge/apps/private.py", "bridge/apps/edited.py", "bridge/", "bridge/healthz", "lab", "lab/tree/report.py",
    "api/contents", "api/kernels", "api/terminals", "files/report.py",
    "bridge/apps/dash/other.py", "bridge/apps/dash/static/run.py",
)  # fmt: skip


def test_a_user_outside_the_viewers_is_refused(hub, logged_in):
    assert refused(logged_in("bob"), hub.url + "/user/alice/bridge/apps/report.py") == 403


def test_a_viewer_opens_the_shared_app_as_themself_and_nothing_else(hub, logged_in, bob_is_a_viewer):
    bob = logged_in("bob")
    authorize_once(bob, hub.url + "/user/alice/bridge/apps/report.py")
    assert "user=bob groups=viewers" in labels(bob)
    move_slider_and_see_python_answer(bob)

    # A shared directory app: its page and its static files.
    seen: list[tuple[int, str]] = []
    bob.on("response", lambda response: seen.append((response.status, response.url)))
    open_app(bob, hub.url + "/user/alice/bridge/apps/dash")
    assert (200, hub.url + "/user/alice/bridge/apps/dash/static/style.css") in seen, seen

    for path in NOT_SHARED:
        assert refused(bob, hub.url + "/user/alice/" + path) == 403, path
    assert not any((hub.home / "markers").iterdir()), "a viewer ran a script that is not a shared app"
    # The same requests are alice's: the refusals are about bob.
    alice = logged_in("alice")
    assert refused(alice, hub.url + "/user/alice/bridge/apps/private.py") == 200  # logs her in to her server
    assert refused(alice, hub.url + "/user/alice/api/contents") == 200

    # Outside the group, carol is still refused by the hub.
    assert refused(logged_in("carol"), hub.url + "/user/alice/bridge/apps/report.py") == 403

    # Logging out of the hub ends bob's access.
    bob.goto(hub.url + "/hub/logout")
    bob.goto(hub.url + "/user/alice/bridge/apps/report.py")
    assert bob.url.startswith(hub.url + "/hub/login"), bob.url


def page_config(page) -> dict:
    return json.loads(page.locator("#jupyter-bridge-config").text_content())


def attach(page, url: str, token: str) -> list:
    """From ``page``, a session socket to ``url`` with a page's ``token``: [close code, reason]."""
    return page.evaluate(
        """([url, token]) => new Promise((resolve) => {
            const socket = new WebSocket(url, ['jupyter-bridge.v1', token]);
            socket.onclose = (event) => resolve([event.code, event.reason]);
        })""",
        [url, token],
    )


def test_a_viewer_cannot_join_the_owners_session_nor_the_owner_a_viewers(hub, logged_in, bob_is_a_viewer):
    """Both are hub users of alice's server: a session id (or a page's token) is no way into another's session."""
    app = hub.url + "/user/alice/bridge/apps/report.py"
    socket = app.replace("http", "ws", 1) + "/ws"
    alice = logged_in("alice")
    open_app(alice, app)
    hers = page_config(alice)
    bob = logged_in("bob")
    authorize_once(bob, app)
    his = page_config(bob)
    assert his["sessionId"] != hers["sessionId"]

    # bob, with the id and the token of alice's session (as her page's HTML holds them).
    refusal = bob.context.request.get(f"{app}?jb-session-id={hers['sessionId']}", max_redirects=0)
    assert refusal.status == 403 and "this session belongs to another user" in refusal.text(), refusal.text()
    bob.goto(f"{app}?jb-session-id={hers['sessionId']}")  # in the browser: the page says why
    bob.locator(".jb-error-message", has_text="this session belongs to another user").wait_for(timeout=UI_TIMEOUT)
    assert attach(bob, socket, hers["token"]) == [4001, "this session belongs to another user"]
    # And alice with bob's.
    assert attach(alice, socket, his["token"]) == [4001, "this session belongs to another user"]
    assert alice.context.request.get(f"{app}?jb-session-id={his['sessionId']}", max_redirects=0).status == 403

    # Each one's own session works, and the refusals left both untouched.
    move_slider_and_see_python_answer(alice)
    open_app(bob, app)
    assert "user=bob groups=viewers" in labels(bob)
    move_slider_and_see_python_answer(bob)


@pytest.fixture
def alice_shares_with_carol(hub):
    """alice shares her server with carol, with her own token and her own permission."""
    scopes = ["shares!user=alice", "read:users:name", "access:servers!user=alice"]
    code, answer = hub.api("POST", "users/alice/tokens", {"scopes": scopes, "note": "sharing"})
    assert code == 201, answer
    alice_token = answer["token"]  # type: ignore[index]
    code, answer = hub.api("POST", "shares/alice/", {"user": "carol"}, token=alice_token)
    assert code == 200, answer
    yield
    code, answer = hub.api("DELETE", "shares/alice/", token=alice_token)
    assert code in (200, 204), answer


def test_a_creator_shares_with_one_user_who_then_sees_only_the_shared_app(hub, logged_in, alice_shares_with_carol):
    carol = logged_in("carol")
    authorize_once(carol, hub.url + "/user/alice/bridge/apps/report.py")
    assert "user=carol groups=" in labels(carol)
    for path in NOT_SHARED:
        assert refused(carol, hub.url + "/user/alice/" + path) == 403, path


# 2b/2c. An app published as a hub service


def test_a_viewer_uses_the_published_service_after_the_hub_login(hub, browser, bob_is_a_viewer):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(hub.url + "/services/report/")
        assert page.url.startswith(hub.url + "/hub/login"), page.url
        page.fill("input[name=username]", "bob")
        page.fill("input[name=password]", "any")
        page.click("#login_submit")
        page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=UI_TIMEOUT)
        assert re.match(re.escape(hub.url) + r"/services/report/report/?$", page.url), page.url
        assert "user=bob groups=viewers" in labels(page)
        assert_no_hub_cookies(page)
        move_slider_and_see_python_answer(page)

        # The service's logout ends both logins.
        page.goto(hub.url + "/services/report/logout")
        page.goto(hub.url + "/services/report/")
        assert page.url.startswith(hub.url + "/hub/login"), page.url
    finally:
        context.close()


def test_a_user_outside_the_allowed_group_is_refused_by_the_service(hub, logged_in, bob_is_a_viewer):
    assert refused(logged_in("carol"), hub.url + "/services/report/") == 403


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--name", "Report!", "--allow-group", "viewers"], "--name 'Report!': use lower-case letters"),
        (["--name", "report"], "say who may open the app with --allow-group GROUP or --allow-user USER"),
        (["--name", "report", "--allow-user", "bob", "--public-url", ""], "the hub's address is unknown here"),
        (["--name", "report", "--allow-user", "bob", "--public-url", "h", "--python", "/nonexistent/python"],
         "--python /nonexistent/python: No such file or directory"),
    ],
)
def test_publish_names_what_is_wrong_with_its_command_line(tmp_path, arguments, says):
    app = tmp_path / "report.py"
    app.write_text(REPORT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_bridge.cli", "publish", str(app), *arguments],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert result.stdout == ""


def test_publish_refuses_a_file_that_is_not_an_app(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_bridge.cli", "publish", str(tmp_path / "missing.py"),
         "--name", "report", "--allow-user", "bob", "--public-url", "hub.example.org"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2 and "no such file or directory; check the path" in result.stderr, result.stderr
