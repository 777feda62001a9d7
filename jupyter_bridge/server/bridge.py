"""The route list: every page, socket and asset of a set of apps, mountable under any prefix.

The standalone :class:`~jupyter_bridge.server.Server` and the Jupyter server
extension both mount ``Bridge.routes()``; handlers find their state in the
``Bridge`` passed to them, never in globals.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
from tornado import web

from ..application import Application, AppSpec, build_application
from ..settings import BridgeSettings
from ..tokens import check_session_id, generate_session_id
from .sessions import SessionManager

__all__ = ["Bridge", "SessionIdError", "normalize_app_path"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


class SessionIdError(ValueError):
    """A session id this server must not accept; the text says why and what to do."""


def normalize_app_path(path: str) -> str:
    """'/sliders' for 'sliders', '/sliders/' or '/sliders'; '/' stays '/'."""
    path = "/" + path.strip("/")
    return path


class Bridge:
    """The apps of one server, their sessions, and the settings they are served with."""

    def __init__(
        self,
        apps: Mapping[str, AppSpec] | AppSpec,
        settings: BridgeSettings | None = None,
        *,
        prefix: str | None = None,
        argv: list[str] | None = None,
        resolver: Callable[[str], AppSpec | None] | None = None,
        refresh: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings or BridgeSettings()
        self.settings.check()
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
        self.managers: dict[str, SessionManager] = {}
        self.resolver = resolver
        #: Called with an app's URL path before a page of it is served (the Jupyter
        #: extension reloads an app whose files changed).
        self.refresh = refresh
        self._app_templates: dict[str, jinja2.Environment] = {}
        self.argv = argv
        for path, spec in apps.items():
            url_path = normalize_app_path(path)
            if url_path in self.managers:
                raise ValueError(f"two apps want the URL path {url_path}; give them different names")
            if url_path in ("/static", "/healthz"):
                raise ValueError(f"{url_path} is reserved for the server; serve the app under another name")
            self.managers[url_path] = SessionManager(
                build_application(spec, argv, notebook_layout=layout), url_path, dev=self.settings.dev
            )

    def manager_for(self, url_path: str) -> SessionManager | None:
        """The session manager of the app at ``url_path``, resolving it on first use.

        With a resolver (the Jupyter extension's: app files under the root folder),
        ``/apps/<path>`` is looked up when first requested; the resolver raises
        NotAnAppError or returns None for paths it will not serve.
        """
        manager = self.managers.get(url_path)
        if manager is not None or self.resolver is None or not url_path.startswith("/apps/"):
            return manager
        spec = self.resolver(url_path.removeprefix("/apps/"))
        if spec is None:
            return None
        application = build_application(spec, self.argv, notebook_layout=self.settings.notebook_layout)
        manager = SessionManager(application, url_path, dev=self.settings.dev)
        manager.application.on_server_loaded(manager.server_context)
        self.managers[url_path] = manager
        return manager

    def session_id_for(self, requested: str | None) -> str:
        """The id for a page's session: ``requested`` if acceptable, else a new one.

        Raises SessionIdError when the mode needs a signed id and this one is not.
        """
        settings = self.settings
        key = settings.signing_key
        if requested is None:
            if settings.session_ids == "external-signed":
                raise SessionIdError(
                    "this server only serves sessions whose signed id comes from another "
                    "process (--session-ids external-signed); open the page with ?jb-session-id="
                )
            return generate_session_id(key if settings.session_ids != "unsigned" else None)
        if settings.session_ids != "unsigned" and (key is None or not check_session_id(requested, key)):
            raise SessionIdError(
                "the session id is not signed with this server's key; every process must "
                "share JUPYTER_BRIDGE_SECRET_KEY"
            )
        if not requested or len(requested) > 512:
            raise SessionIdError("a session id must be 1 to 512 characters")
        return requested

    @property
    def applications(self) -> dict[str, Application]:
        return {path: manager.application for path, manager in self.managers.items()}

    def url(self, path: str) -> str:
        """The absolute URL path of ``path`` under this bridge's prefix."""
        return self.prefix + "/" + path.lstrip("/")

    def routes(self, wrap: Callable[[type], type] | None = None) -> list[tuple[str, type, dict[str, Any]]]:
        """Tornado URL specs for every handler, under the prefix.

        ``wrap`` turns each handler class into the one to mount (the Jupyter
        extension adds Jupyter's authentication to every handler this way).
        """
        from . import autoload, handlers, websocket

        args = {"bridge": self}
        routes: list[tuple[str, type, dict[str, Any]]] = [
            (self.prefix + r"/static/nbextensions/(.*)", handlers.WidgetModuleHandler, args),
            (self.prefix + r"/static/(.*)", handlers.AssetHandler, args),
            (self.prefix + r"/healthz", handlers.HealthHandler, args),
        ]
        if self.auth is not None:
            routes.extend(self.auth.routes(self.prefix))
        for url_path in self.managers:
            app_url = "" if url_path == "/" else url_path
            app_args = {"bridge": self, "url_path": url_path}
            routes.append((self.prefix + app_url + r"/ws", websocket.SessionSocket, app_args))
            static_path = self.managers[url_path].application.static_path
            if static_path:
                routes.append((self.prefix + app_url + r"/static/(.*)", web.StaticFileHandler, {"path": static_path}))
            routes.append((self.prefix + app_url + r"/autoload\.js", autoload.AutoloadHandler, app_args))
            routes.append((self.prefix + app_url + r"/?", handlers.PageHandler, app_args))
        if self.resolver is not None:
            dynamic = {"bridge": self, "url_path": None}
            routes.append((self.prefix + r"(/apps/.+?)/ws", websocket.SessionSocket, dynamic))
            routes.append((self.prefix + r"(/apps/.+?)/autoload\.js", autoload.AutoloadHandler, dynamic))
            routes.append((self.prefix + r"(/apps/.+?)/?", handlers.PageHandler, dynamic))
        if "/" not in self.managers:
            routes.append((self.prefix + r"/?", handlers.IndexHandler, args))
        if wrap is not None:
            routes = [(pattern, wrap(handler), kwargs) for pattern, handler, kwargs in routes]
        return routes

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
        chunks client.js imports, which pages preload)."""
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
        return [self.url("static/" + name) for name in self.manifest.get("client.imports", [])]

    async def destroy_unused_sessions(self) -> None:
        # A copy: apps resolved (or dropped) while this awaits change the dict.
        for manager in list(self.managers.values()):
            try:
                await manager.destroy_unused(self.settings.unused_session_lifetime)
            except Exception:
                log.exception("Error destroying unused sessions of %s", manager.url_path)

    async def destroy_all_sessions(self) -> None:
        for manager in list(self.managers.values()):
            await manager.destroy_all()

    @property
    def session_count(self) -> int:
        return sum(len(m.sessions) for m in self.managers.values())

    @property
    def connection_count(self) -> int:
        return sum(s.channel.connections for m in self.managers.values() for s in m.sessions.values())
