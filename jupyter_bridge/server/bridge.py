"""The Bridge: the apps of one server, their lifecycle, and what their handlers share.

The standalone :class:`~jupyter_bridge.server.Server` and the Jupyter server
extension each make one Bridge, mount its routes (``routes.routes(bridge)``) and
:meth:`~Bridge.start` / :meth:`~Bridge.shutdown` it: the Bridge loads and
unloads the apps (their server hooks), reaps unused sessions and, when asked
to, reloads apps whose files change.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
from tornado import ioloop

from ..application import Application, AppSpec, NotAnAppError, build_application
from ..channels import PageLimits
from ..settings import BridgeSettings
from ..tokens import check_session_id, generate_session_id
from .served_app import ServedApp, TooManySessions
from .timers import Timers
from .watch import AppWatcher, failing_app

__all__ = ["Bridge", "SessionIdError", "normalize_app_path"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
#: The npm package of the standard controls.
CONTROLS_MODULE = "@jupyter-widgets/controls"


class SessionIdError(ValueError):
    """A session id this server must not accept; the text says why and what to do."""


def normalize_app_path(path: str) -> str:
    """'/sliders' for 'sliders', '/sliders/' or '/sliders'; '/' stays '/'."""
    path = "/" + path.strip("/")
    return path


class Bridge:
    """The apps of one server, their sessions, and the settings they are served with.

    ``resolver`` (the Jupyter extension's) finds apps by path on first request at
    ``/apps/<path>``; ``watch_files`` (default: ``settings.dev``) reloads an app
    whose files changed, before its next page and twice a second.
    """

    def __init__(
        self,
        apps: Mapping[str, AppSpec] | AppSpec,
        settings: BridgeSettings | None = None,
        *,
        prefix: str | None = None,
        argv: list[str] | None = None,
        resolver: Callable[[str], str | None] | None = None,
        watch_files: bool | None = None,
    ) -> None:
        self.settings = settings or BridgeSettings()
        self.settings.check()
        # Made now, before a server forks its workers: they must share it.
        self.settings.signing_key  # noqa: B018
        self.auth = None
        if self.settings.auth_module:
            from .auth import AuthModule

            self.auth = AuthModule(self.settings.auth_module)
        raw = prefix if prefix is not None else self.settings.prefix
        self.prefix = ("/" + raw.strip("/")) if raw.strip("/") else ""
        layout = self.settings.notebook_layout
        if not isinstance(apps, Mapping):
            application = build_application(apps, argv, notebook_layout=layout)
            apps = {application.url_path(): application}
        self.apps: dict[str, ServedApp] = {}
        self.resolver = resolver
        self.watch_files = self.settings.dev if watch_files is None else watch_files
        self.watcher = AppWatcher()
        #: The URL paths of apps found by the resolver (forgotten when they change).
        self._resolved: set[str] = set()
        self._timers = Timers()
        self.running = False
        #: The wall clock page tokens are made and checked by (seconds since the epoch).
        self.clock: Callable[[], float] = time.time
        self._app_templates: dict[str, jinja2.Environment] = {}
        self.argv = argv
        for path, spec in apps.items():
            url_path = normalize_app_path(path)
            if url_path in self.apps:
                raise ValueError(f"two apps want the URL path {url_path}; give them different names")
            if url_path in ("/static", "/healthz"):
                raise ValueError(f"{url_path} is reserved for the server; serve the app under another name")
            self.apps[url_path] = self._served(build_application(spec, argv, notebook_layout=layout), url_path)

    # Lifecycle

    def start(self, io_loop: ioloop.IOLoop | None = None) -> None:
        """Load every app (``on_server_loaded``), then reap unused sessions and watch
        files on ``io_loop`` (the current one by default); idempotent."""
        if self.running:
            return
        self.running = True
        for url_path, served in self.apps.items():
            served.load()
            source = served.application.source
            if self.watch_files and source is not None:
                self.watcher.watch(url_path, source)
        loop = io_loop or ioloop.IOLoop.current()
        self._timers.every(loop, self.settings.check_unused_sessions, self.destroy_unused_sessions)
        if self.watch_files:
            self.watcher.start(loop, self.reload_changed_apps)

    def halt(self) -> None:
        """Stop reaping and watching; the sessions stay until :meth:`shutdown`."""
        self._timers.stop()
        self.watcher.stop()

    async def shutdown(self) -> None:
        """Halt, destroy every session, then unload every app (``on_server_unloaded``).

        Open pages are told first that the server is stopping, not that their
        session ended: they wait for a server to answer again (this one
        restarted, or another behind the same address) and carry on there.
        """
        self.halt()
        for served in list(self.apps.values()):
            for session in list(served.sessions.values()):
                session.channel.end("server stopping")
        for served in list(self.apps.values()):
            try:
                await served.unload()
            except Exception:
                log.exception("Error unloading %s", served.url_path)
        self.running = False

    # Apps

    async def app_for(self, url_path: str, *, reload_changed: bool = False) -> ServedApp | None:
        """The app at ``url_path``, resolving it on first use; None if there is none.

        With a resolver (the Jupyter extension's: app files under the root folder),
        ``/apps/<path>`` is looked up when first requested; the resolver raises
        NotAnAppError or returns None for paths it will not serve. With
        ``reload_changed`` (a page is about to be served), an app whose files
        changed is reloaded first, so the page runs the saved code.
        """
        if reload_changed and self.watch_files:
            source = self.watcher.changed(url_path)
            if source is not None:
                await self._reload(url_path, source)
        served = self.apps.get(url_path)
        if served is not None or self.resolver is None or not url_path.startswith("/apps/"):
            return served
        source = self.resolver(url_path.removeprefix("/apps/"))
        if source is None:
            return None
        if self.watch_files:
            # Taken before the app is built, so no edit after it goes unnoticed.
            self.watcher.watch(url_path, source)
        application = build_application(source, self.argv, notebook_layout=self.settings.notebook_layout)
        served = self._served(application, url_path)
        served.load()
        self.apps[url_path] = served
        self._resolved.add(url_path)
        return served

    def _served(self, application: Application, url_path: str) -> ServedApp:
        settings = self.settings
        return ServedApp(
            application, url_path, dev=settings.dev, accept_push=settings.allow_push,
            page_widgets=settings.page_widgets, limits=PageLimits.from_settings(settings),
            admit=self.admit_session,
            # Prepared sessions need ids this server makes: not with external-signed ids.
            prepared=settings.prepared_sessions if settings.session_ids != "external-signed" else 0,
            new_session_id=lambda: self.session_id_for(None), room_to_prepare=self.room_to_prepare,
        )  # fmt: skip

    @property
    def held_sessions(self) -> int:
        """Sessions counted against --max-sessions: live, being built, and prepared ahead."""
        return sum(
            len(served.sessions) + served.building + served.prepared.held for served in self.apps.values()
        )

    def room_to_prepare(self) -> bool:
        """Whether a session may be prepared ahead without reaching --max-sessions."""
        limit = self.settings.max_sessions
        return not limit or self.held_sessions < limit

    def admit_session(self) -> None:
        """Raise TooManySessions if the process may hold no more sessions (--max-sessions).

        Sessions prepared ahead count, but give way: when the process is full and
        one is ready, it is destroyed so the page's session can be built.
        """
        limit = self.settings.max_sessions
        if limit and self.held_sessions >= limit:
            if any(served.prepared.evict() for served in self.apps.values()):
                return
            raise TooManySessions(
                f"this server holds as many sessions as it may ({limit}); try again later, or start "
                "it with a higher --max-sessions to allow more"
            )

    async def reload_changed_apps(self) -> None:
        """Reload every watched app whose files changed; its open pages load again."""
        for url_path, source in self.watcher.changed_apps():
            await self._reload(url_path, source)

    async def _reload(self, url_path: str, source: Path) -> None:
        served = self.apps.get(url_path)
        if served is None:  # resolved, but its build failed: the next request tries again
            self.watcher.forget(url_path)
            return
        log.info("%s changed: reloading %s", source, url_path)
        if url_path in self._resolved:
            # Forget it: the next request resolves and builds it afresh (or answers
            # with the error, e.g. a syntax error, until the file is fixed).
            del self.apps[url_path]
            self._resolved.discard(url_path)
            self.watcher.forget(url_path)
            await served.unload(app_changed=True)
            return
        try:
            application = build_application(source, self.argv, notebook_layout=self.settings.notebook_layout)
        except NotAnAppError as error:
            log.error("%s", error)
            application = failing_app(served.application.name, error)
        await served.replace_application(application)

    def session_id_for(self, requested: str | None, *, live: bool = False) -> str:
        """The id for a page's session: ``requested`` if acceptable, else a new one.

        ``live``: whether this server holds a live session with the requested id.
        What a page may name depends on the mode: in ``signed`` mode only a live
        session whose id this server signed (to join it, as ``server_session``
        does), never a new session under an id a client chose, which a link could
        fix for a victim; in ``external-signed`` mode any id signed with the key
        (the process that holds the key hands them out); in ``unsigned`` mode any.
        Raises SessionIdError naming the problem and the fix.
        """
        settings = self.settings
        mode = settings.session_ids
        if requested is None:
            if mode == "external-signed":
                raise SessionIdError(
                    "this server only serves sessions whose signed id comes from another "
                    "process (--session-ids external-signed); open the page with ?jb-session-id="
                )
            return generate_session_id(settings.signing_key if mode != "unsigned" else None)
        if not requested or len(requested) > 512:
            raise SessionIdError("a session id must be 1 to 512 characters")
        if mode == "unsigned":
            return requested
        key = settings.signing_key
        assert key is not None  # the signed modes always have one
        if not check_session_id(requested, key):
            raise SessionIdError(
                f"the session id is not signed with this server's key (--session-ids {mode}): "
                "share JUPYTER_BRIDGE_SECRET_KEY"
            )
        if mode == "signed" and not live:
            raise SessionIdError(
                "the session this link names is not live on this server, and a page may only join a "
                "live session (--session-ids signed); open the app without ?jb-session-id= for a new one"
            )
        return requested

    def recreated_session_id(self, session_id: str) -> str:
        """``session_id`` of a token whose session is not live here, if it may be recreated.

        The token's signature already says a process holding the key made it; in the
        signed modes its id must be signed too. Raises SessionIdError.
        """
        settings = self.settings
        if not session_id or len(session_id) > 512:
            raise SessionIdError("a session id must be 1 to 512 characters")
        key = settings.signing_key
        if settings.session_ids != "unsigned" and (key is None or not check_session_id(session_id, key)):
            raise SessionIdError(
                f"the session id is not signed with this server's key (--session-ids "
                f"{settings.session_ids}): share JUPYTER_BRIDGE_SECRET_KEY"
            )
        return session_id

    @property
    def applications(self) -> dict[str, Application]:
        return {path: served.application for path, served in self.apps.items()}

    def url(self, path: str) -> str:
        """The absolute URL path of ``path`` under this bridge's prefix."""
        return self.prefix + "/" + path.lstrip("/")

    # Shared by the handlers

    @cached_property
    def templates(self) -> jinja2.Environment:
        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
            autoescape=jinja2.select_autoescape(["html"]),
        )

    def page_template(self, application: Application) -> jinja2.Template:
        """The app's own ``index.html`` if it has one (it may extend "page.html"), else ours."""
        folder = application.template_path
        if folder is None:
            return self.templates.get_template("page.html")
        env = self._app_templates.get(folder)
        if env is None:
            env = jinja2.Environment(
                loader=jinja2.ChoiceLoader(
                    [jinja2.FileSystemLoader(folder), jinja2.FileSystemLoader(str(TEMPLATES_DIR))]
                ),
                autoescape=jinja2.select_autoescape(["html"]),
                auto_reload=True,
            )
            self._app_templates[folder] = env
        return env.get_template("index.html")

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """Built asset names ('client.js' -> 'client-<hash>.js'; 'client.imports' -> the
        chunks client.js imports, which pages preload; 'controls.imports' -> those of the
        controls it loads on demand), and 'controls.names': the widget classes only those have."""
        path = STATIC_DIR / "manifest.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            log.error(
                "The page client is not built (%s is missing); run `pip install -e .` "
                "or `npm run build` in labextension/",
                path,
            )
            return {}

    def asset_url(self, name: str) -> str:
        return self.url("static/" + self.manifest.get(name, name))

    def preload_urls(self) -> list[str]:
        """The addresses of the chunks the page client imports before it runs."""
        return self._asset_urls("client.imports")

    def _asset_urls(self, key: str) -> list[str]:
        """The addresses of the files the manifest lists under ``key``."""
        return [self.url("static/" + name) for name in self.manifest.get(key, [])]

    @cached_property
    def _controls_on_demand(self) -> frozenset[str]:
        return frozenset(self.manifest.get("controls.names", ()))

    def on_demand_urls(self, messages: Iterable[tuple[Mapping[str, Any], Any]]) -> list[str]:
        """The addresses of the chunks a page whose widgets ``messages`` open will load on demand.

        The page client bundles the controls most pages use; the others (tabs,
        dates, colours, ...) are a chunk it loads the first time a page needs
        one. Preloaded beside the client's own chunks, it comes with them.
        """
        names = self._controls_on_demand
        for content, _buffers in messages:
            if content.get("type") != "comm_open":
                continue
            state = content.get("data", {}).get("state", {})
            if any(
                state.get(module) == CONTROLS_MODULE and state.get(name) in names
                for module, name in (("_model_module", "_model_name"), ("_view_module", "_view_name"))
            ):
                return self._asset_urls("controls.imports")
        return []

    async def destroy_unused_sessions(self) -> None:
        # A copy: apps resolved (or dropped) while this awaits change the dict.
        for served in list(self.apps.values()):
            try:
                await served.destroy_unused(
                    self.settings.unused_session_lifetime,
                    self.settings.session_token_expiration * 1000,
                    self.settings.unconnected_session_lifetime,
                )
            except Exception:
                log.exception("Error destroying unused sessions of %s", served.url_path)

    async def destroy_all_sessions(self) -> None:
        """Destroy every session of every app; the apps stay loaded."""
        for served in list(self.apps.values()):
            await served.destroy_all()

    @property
    def session_count(self) -> int:
        return sum(len(served.sessions) for served in self.apps.values())

    @property
    def prepared_count(self) -> int:
        """Sessions built ahead of their pages and ready for one (--prepared-sessions)."""
        return sum(len(served.prepared.ready) for served in self.apps.values())

    @property
    def connection_count(self) -> int:
        return sum(s.channel.connections for served in self.apps.values() for s in served.sessions.values())
