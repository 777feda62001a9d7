"""The Jupyter server extension: the Bridge's pages and sockets under ``{base_url}bridge/``.

Every app file under the Jupyter root is served at ``{base_url}bridge/apps/<path>``
on the Jupyter server's own loop, behind Jupyter's authentication; ``{base_url}bridge/``
lists them. Loading the extension stays cheap: this module imports nothing the
Jupyter server has not imported already, and one lazy route builds the Bridge and
its handlers (``.views``) on the first ``/bridge`` request. The extension keeps
only its configuration and that route: the Bridge loads and unloads the apps,
reaps their sessions and reloads an app whose files change.

Options are the :class:`~jupyter_bridge.settings.BridgeSettings` traits: the
extension makes its settings with ``BridgeSettings(parent=self)``, as the Jupyter
server makes its managers, so each is ``c.BridgeSettings.<name>`` in a Jupyter
config file and ``--BridgeSettings.<name>=`` on the command line, as for
``jupyter-bridge serve``. ``c.BridgeExtension.<name>``, their name in earlier
versions, still works. The ones in ``NOT_IN_JUPYTER`` belong to the Jupyter
server instead; setting one logs a warning saying what applies.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado import httputil, routing, web
from traitlets import Bunch, Container, Int, validate
from traitlets.config import Config
from traitlets.config.loader import DeferredConfigList

from ..settings import BridgeSettings

if TYPE_CHECKING:
    from ..server.bridge import Bridge

__all__ = ["NOT_IN_JUPYTER", "BridgeExtension"]

log = logging.getLogger(__name__)

#: BridgeSettings the Jupyter server decides (or that only the standalone server has), and why.
#: docs/jupyter.md lists the same.
NOT_IN_JUPYTER: dict[str, str] = {
    "port": "the Jupyter server's port (ServerApp.port) serves the apps",
    "address": "the Jupyter server's address (ServerApp.ip) serves the apps",
    "unix_socket": "the Jupyter server's socket (ServerApp.sock) serves the apps",
    "prefix": "the apps live under {base_url}bridge/ (ServerApp.base_url)",
    "num_procs": "the Jupyter server is one process",
    "use_xheaders": "Jupyter's ServerApp.trust_xheaders applies",
    "ssl_certfile": "Jupyter's ServerApp.certfile applies",
    "ssl_keyfile": "Jupyter's ServerApp.keyfile applies",
    "allow_websocket_origin": "Jupyter's origin policy applies (ServerApp.allow_origin, allow_origin_pat)",
    "auth_module": "Jupyter's identity provider and authorizer decide who may open apps",
    "cookie_secret": "Jupyter's cookie secret signs its cookies",
    "enable_xsrf_cookies": "Jupyter's XSRF protection applies",
    "disable_index_redirect": "the /bridge/ listing never redirects",
    "log_level": "Jupyter's --log-level applies (c.BridgeExtension.log_level is the extension's own)",
    "log_format": "Jupyter's log format applies (c.BridgeExtension.log_format is the extension's own)",
    "log_file": "Jupyter's logging applies",
    "stats_log_frequency": "a standalone-server log; Jupyter has its own metrics",
    "mem_log_frequency": "a standalone-server log; Jupyter has its own metrics",
    "admin_users": "Jupyter's login and authorizer decide who opens /bridge/admin",
    "frame_ancestors": "Jupyter's headers apply (ServerApp.tornado_settings['headers'])",
    "idle_connection_timeout": "the Jupyter server's HTTP server keeps the connections",
    "body_timeout": "the Jupyter server's HTTP server keeps the connections",
}


class BridgeExtension(ExtensionApp):
    """Serve jupyter_bridge apps from the Jupyter root, one session per browser tab."""

    name = "bridge"
    description = __doc__
    #: Listed by ``--help-all`` and in generated config files.
    classes = [BridgeSettings]

    scan_depth = Int(
        4, help="How many folders deep the /bridge/ listing looks for apps under the root."
    ).tag(config=True)
    scan_limit = Int(
        10000,
        help="How many files and folders the /bridge/ listing looks at before it stops "
        "(it then says the list is incomplete).",
    ).tag(config=True)

    _bridge: Bridge | None = None
    _settings: BridgeSettings | None = None

    @property
    def prefix(self) -> str:
        """The URL path every page and socket of the extension lives under (no trailing '/')."""
        assert self.serverapp is not None
        return url_path_join(self.serverapp.base_url, "bridge")

    # c.BridgeExtension.<setting>, the settings' name in earlier versions, is read
    # as c.BridgeSettings.<setting> wherever config reaches the extension.

    @validate("config")
    def _validate_config(self, proposal: Bunch) -> Config:
        return self._settings_by_their_own_name(proposal.value)

    def update_config(self, config: Config) -> None:
        super().update_config(self._settings_by_their_own_name(config))

    def _settings_by_their_own_name(self, config: Config) -> Config:
        """``config`` with ``c.BridgeExtension.<setting>`` moved to ``c.BridgeSettings.<setting>``.

        A value set under both names keeps the ``BridgeSettings`` one.
        """
        own = type(self).__name__
        settings = set(BridgeSettings.class_trait_names(config=True)) - set(self.trait_names())
        older = {name: value for name, value in config[own].items() if name in settings} if own in config else {}
        newer = config["BridgeSettings"] if "BridgeSettings" in config else {}
        if not older and not any(isinstance(value, DeferredConfigList) for value in newer.values()):
            return config
        moved = Config(config)  # a copy: the Jupyter server's own config stays as it is
        if older:
            moved[own] = Config({name: value for name, value in config[own].items() if name not in older})
        section = Config(older)
        section.merge(newer)
        moved["BridgeSettings"] = Config({name: _last_said(name, value) for name, value in section.items()})
        return moved

    def bridge_settings(self) -> BridgeSettings:
        """A BridgeSettings configured from this extension's config (``c.BridgeSettings``).

        Options left unset keep BridgeSettings' own defaults (some read the
        environment, e.g. JUPYTER_BRIDGE_SECRET_KEY). An option the Jupyter server
        decides (``NOT_IN_JUPYTER``) is logged as ignored.
        """
        settings = BridgeSettings(parent=self)
        configured = self.config["BridgeSettings"] if "BridgeSettings" in self.config else {}
        for name in sorted(set(configured) & set(NOT_IN_JUPYTER)):
            log.warning("c.BridgeSettings.%s does not apply inside Jupyter: %s", name, NOT_IN_JUPYTER[name])
        return settings

    @property
    def shared_settings(self) -> BridgeSettings:
        """The one BridgeSettings the extension's Bridge serves with."""
        if self._settings is None:
            self._settings = self.bridge_settings()
        return self._settings

    def initialize_settings(self) -> None:
        _use_server_logging(self.serverapp.log)
        # A bad combination fails the extension's loading now, with the reason in the log.
        self.shared_settings.check()

    def initialize_handlers(self) -> None:
        # Straight onto the web app: jupyter_server would treat a Router in
        # self.handlers as a handler class.
        pattern = re.escape(self.prefix) + r"(?:/.*)?"
        self.serverapp.web_app.add_handlers(".*$", [(pattern, LazyRoutes(self))])

    @property
    def bridge(self) -> Bridge:
        """The Bridge, built and started on first use (the first /bridge request).

        Inside Jupyter, where apps are written, an app whose files change is always
        reloaded: saving a file and looking at its page should show the new version.
        """
        if self._bridge is None:
            from ..server.bridge import Bridge

            bridge = Bridge({}, self.shared_settings, prefix=self.prefix, resolver=self.resolve, watch_files=True)
            bridge.start()
            self._bridge = bridge
            log.debug("jupyter_bridge routes built under %s/", self.prefix)
        return self._bridge

    @property
    def root_dir(self) -> str:
        assert self.serverapp is not None
        return str(self.serverapp.root_dir)

    @property
    def allow_hidden(self) -> bool:
        return bool(getattr(self.serverapp.contents_manager, "allow_hidden", False))

    def resolve(self, path: str) -> str | None:
        """The Bridge resolver: the file ``/apps/<path>`` names, or None for 404."""
        from .apps import resolve_app_path

        resolved = resolve_app_path(self.root_dir, path, allow_hidden=self.allow_hidden)
        if resolved is None:
            log.info("Refused to serve %r: not a visible file inside the Jupyter root", path)
        return resolved

    async def stop_extension(self) -> None:
        """On server shutdown: destroy every session and unload the apps."""
        bridge = self._bridge
        if bridge is None:
            return
        count = bridge.session_count
        await bridge.shutdown()
        log.info("Destroyed %d jupyter_bridge session(s) on shutdown", count)


class LazyRoutes(routing.Router):
    """Every ``{base_url}bridge`` request: builds the routes on the first one, then dispatches.

    The route list is ``routes(bridge)`` after a route for directory apps'
    ``static/`` files, each handler wrapped with Jupyter's authentication
    (``.views.jupyter_handler``).
    """

    # jupyter_server's start-up audit walks each target's HTTP methods; the real
    # handlers are built (authenticated) later, and audit_handlers checks them then.
    SUPPORTED_METHODS: tuple[str, ...] = ()

    def __init__(self, extension: BridgeExtension) -> None:
        self.extension = extension
        self._router: routing.Router | None = None

    def find_handler(self, request: httputil.HTTPServerRequest, **kwargs: Any) -> httputil.HTTPMessageDelegate | None:
        webapp = self.extension.serverapp.web_app
        if self._router is None:
            try:
                from ..server.routes import routes
                from .views import AppStaticFiles, AppStaticHandler, jupyter_handler

                bridge = self.extension.bridge
                static = routing.Rule(AppStaticFiles(bridge), jupyter_handler(AppStaticHandler), {"bridge": bridge})
                rules = [static, *routes(bridge, wrap=jupyter_handler)]
                audit_handlers(webapp, rules)
                self._router = HandlerRoutes(webapp, rules)
            except Exception:
                log.exception("jupyter_bridge could not build its routes; it tries again on the next request")
                return webapp.get_handler_delegate(request, web.ErrorHandler, {"status_code": 500})
        return self._router.find_handler(request)


def audit_handlers(webapp: web.Application, rules: list[Any]) -> None:
    """jupyter_server's check of extension handlers, on the routes built at the first request.

    At start-up jupyter_server checks every handler an extension adds for
    ``@web.authenticated``, ``@ws_authenticated`` or ``@allow_unauthenticated`` on each
    method; it sees only :class:`LazyRoutes`. The same check runs here on the real
    handlers, and a route failing it is never served: the routes are not built
    (every ``/bridge`` request answers 500, the log names the handler).
    """
    check = getattr(webapp, "_check_handler_auth", None)
    if check is None:  # not a jupyter_server web application
        return
    missing: list[str] = []
    for rule in rules:
        matcher, handler = (rule.matcher, rule.target) if isinstance(rule, routing.Rule) else rule[:2]
        missing.extend(check(matcher, handler))
    if missing:
        raise RuntimeError("jupyter_bridge handlers without Jupyter's authentication:\n" + "\n".join(missing))


class HandlerRoutes(routing.RuleRouter):
    """Rules whose targets are RequestHandler classes, run by ``webapp``."""

    def __init__(self, webapp: web.Application, rules: list[Any]) -> None:
        self.webapp = webapp
        super().__init__(rules)

    def get_target_delegate(
        self, target: Any, request: httputil.HTTPServerRequest, **target_params: Any
    ) -> httputil.HTTPMessageDelegate | None:
        if isinstance(target, type) and issubclass(target, web.RequestHandler):
            return self.webapp.get_handler_delegate(request, target, **target_params)
        return super().get_target_delegate(target, request, **target_params)


def _use_server_logging(server_log: logging.Logger) -> None:
    """Send jupyter_bridge's log records through the Jupyter server's log handlers."""
    package = logging.getLogger("jupyter_bridge")
    if package.handlers or not server_log.handlers:
        return  # configured by someone else
    for handler in server_log.handlers:
        package.addHandler(handler)
    package.setLevel(server_log.getEffectiveLevel())
    package.propagate = False


def _last_said(name: str, value: Any) -> Any:
    """A setting given twice on Jupyter's command line: the last one, as for serve.

    Jupyter parses the command line before it knows BridgeSettings, so a repeated
    ``--BridgeSettings.keep_alive=`` (a spawner's arguments, then a hook's) arrives
    as a list of strings, which only list settings accept.
    """
    trait = BridgeSettings.class_traits().get(name)
    if isinstance(value, DeferredConfigList) and len(value) > 1 and not isinstance(trait, Container):
        return DeferredConfigList(value[-1:])
    return value
