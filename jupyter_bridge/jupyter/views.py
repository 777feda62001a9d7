"""The Bridge's handlers behind Jupyter's authentication and authorization.

:func:`jupyter_handler` is the ``wrap`` given to ``Bridge.routes()``: each handler
class becomes a subclass that is also a ``JupyterHandler`` (so Jupyter's identity
provider sets ``current_user`` from the token or login cookie) and whose methods
require an authenticated user authorized on the ``bridge`` resource. Imported on
the first ``/bridge`` request, never at server start-up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import jinja2
from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import JupyterHandler
from tornado import httputil, routing, web, websocket
from tornado.escape import url_unescape

from ..server import views as bridge_views
from ..server.autoload import AutoloadHandler
from ..server.bridge import TEMPLATES_DIR as BRIDGE_TEMPLATES_DIR
from ..server.bridge import Bridge
from ..server.index import SEARCH_ABOVE, index_entry
from .apps import file_inside_root, find_apps

try:
    from jupyter_server.utils import origin_matches_pat
except ImportError:  # older jupyter_server matches the pattern in its handlers

    def origin_matches_pat(allow_origin_pat: Any, origin: str) -> bool:
        return bool(allow_origin_pat) and re.fullmatch(allow_origin_pat, origin) is not None


try:
    from jupyter_server.auth.decorator import allow_unauthenticated
except ImportError:  # jupyter_server < 2.13 lets any handler without @authenticated through

    def allow_unauthenticated(method: Any) -> Any:
        return method

__all__ = ["AUTH_RESOURCE", "PUBLIC_HANDLERS", "AppIndexHandler", "AppStaticFiles", "AppStaticHandler", "TokenUser", "jupyter_handler"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

#: The resource name an Authorizer sees for every /bridge request.
AUTH_RESOURCE = "bridge"

#: Request parts that carry Jupyter's credentials: kept out of session_context.request
#: (which app code reads, and which would otherwise reach the page's session token).
CREDENTIAL_ARGUMENTS = ("token",)
CREDENTIAL_HEADERS = ("Authorization",)


class AppIndexHandler(bridge_views.BridgeHandler):
    """``/bridge/``: the apps under the Jupyter root (see docs/jupyter.md for the rule)."""

    async def get(self) -> None:
        extension = self.settings["bridge"]  # ExtensionApp puts itself in the settings by name
        if self.bridge.settings.disable_index:
            raise web.HTTPError(404)
        manager = extension.serverapp.contents_manager
        apps, truncated = await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: find_apps(
                extension.root_dir,
                allow_hidden=extension.allow_hidden,
                hide_globs=tuple(getattr(manager, "hide_globs", ())),
                max_depth=extension.scan_depth,
                max_entries=extension.scan_limit,
            ),
        )
        template = _templates().get_template("apps.html")
        self.finish(
            template.render(
                bridge=self.bridge,
                apps=[index_entry(self.bridge.url("apps/" + quote(app.path)), app, extension.root_dir) for app in apps],
                search_above=SEARCH_ABOVE,
                truncated=truncated,
                scan_depth=extension.scan_depth,
                scan_limit=extension.scan_limit,
            )
        )


class AppStaticFiles(routing.Matcher):
    """``/apps/<app>/static/<file>`` of an app already loaded that has a ``static/`` folder.

    A matcher rather than a pattern: ``/apps/a/static/b.py`` is the app ``b.py``
    in a folder named ``static`` unless ``a`` is a loaded directory app.
    """

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.start = bridge.prefix + "/apps/"

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        path = url_unescape(request.path, plus=False)
        if not path.startswith(self.start):
            return None
        at = path.find("/static/", len(self.start))
        while at != -1:
            app = path[len(self.bridge.prefix) : at]
            served = self.bridge.apps.get(app)
            if served is not None and served.application.static_path:
                return {"path_args": [], "path_kwargs": {"app": app, "file": path[at + len("/static/") :]}}
            at = path.find("/static/", at + 1)
        return None


class AppStaticHandler(web.StaticFileHandler):
    """A directory app's ``static/`` files; hidden files and symlinks out of the root are 404."""

    def initialize(self, bridge: Bridge) -> None:  # type: ignore[override]
        self.bridge = bridge
        super().initialize(path="")

    async def get(self, app: str, file: str, include_body: bool = True) -> None:  # type: ignore[override]
        served = self.bridge.apps.get(app)
        if served is None or not served.application.static_path:
            raise web.HTTPError(404)
        self.root = served.application.static_path
        await super().get(file, include_body)

    async def head(self, app: str, file: str) -> None:  # type: ignore[override]
        await self.get(app, file, include_body=False)

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        bridge_views.refuse_nul(absolute_path)
        extension = self.settings["bridge"]
        if file_inside_root(absolute_path, extension.root_dir, allow_hidden=extension.allow_hidden) is None:
            raise web.HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)


@functools.cache
def _templates() -> jinja2.Environment:
    """Our templates, extending the Bridge's ``base.html``."""
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(str(TEMPLATES_DIR)), jinja2.FileSystemLoader(str(BRIDGE_TEMPLATES_DIR))]
        ),
        autoescape=jinja2.select_autoescape(["html"]),
    )


#: Handlers that only read (files, the list, counts); every other one may run an app.
READ_ONLY_HANDLERS: tuple[type[web.RequestHandler], ...] = (
    bridge_views.AssetHandler,
    bridge_views.WidgetModuleHandler,
    bridge_views.IndexHandler,
    AppIndexHandler,
    web.StaticFileHandler,
    bridge_views.HealthHandler,
)


#: Handlers of public files that need no user: the page client's content-hashed,
#: immutable assets, the same bytes for everyone (as Jupyter's own ``/static/``).
#: Module scripts, modulepreloads and fonts are fetched in CORS mode, and JupyterHub
#: refuses cookie logins on such requests (they carry no XSRF token): behind
#: ``@authenticated`` each chunk would be sent into the hub's OAuth flow.
PUBLIC_HANDLERS: tuple[type[web.RequestHandler], ...] = (bridge_views.AssetHandler,)


def jupyter_handler(cls: type[web.RequestHandler]) -> type[web.RequestHandler]:
    """``cls`` behind Jupyter's auth: pages redirect to the login page, sockets get 403.

    A handler that may run an app (a page, a socket, anything not in
    ``READ_ONLY_HANDLERS``) needs the ``execute`` action on the ``bridge``
    resource and never sees Jupyter's credentials; the others need ``read``,
    except the ``PUBLIC_HANDLERS``, which need nothing.
    """
    if cls is bridge_views.IndexHandler:
        cls = AppIndexHandler
    if issubclass(cls, websocket.WebSocketHandler):
        return _socket_handler(cls)
    if issubclass(cls, AutoloadHandler):
        namespace_extra: dict[str, Any] = {"embedder_allowed": _embedder_allowed, "embedder_fix": _embedder_fix}
    else:
        namespace_extra = {}
    runs_apps = not issubclass(cls, READ_ONLY_HANDLERS)
    public = issubclass(cls, PUBLIC_HANDLERS)
    namespace: dict[str, Any] = {
        "auth_resource": AUTH_RESOURCE,
        "__module__": __name__,
        "prepare": _prepare(cls, redirect_to_login=True),
        **namespace_extra,
    }
    for method_name in cls.SUPPORTED_METHODS:
        method = getattr(cls, method_name.lower())
        if method is web.RequestHandler._unimplemented_method:
            continue
        if public:
            namespace[method_name.lower()] = allow_unauthenticated(method)
            continue
        action = HTTP_METHOD_TO_AUTH_ACTION[method_name]
        if runs_apps:
            action = "execute"
            method = _without_credentials(method)
        namespace[method_name.lower()] = web.authenticated(authorized(action, AUTH_RESOURCE)(method))
    return type(f"Jupyter{cls.__name__}", (cls, JupyterHandler), namespace)


def _embedder_allowed(self: JupyterHandler, origin: str) -> bool:
    """Jupyter's origin policy for a page embedding an app: its own host, or allow_origin(_pat)."""
    if self.allow_origin == "*" or urlsplit(origin).netloc == self.request.host:
        return True
    if self.allow_origin:
        return bool(self.allow_origin == origin)
    if self.allow_origin_pat:
        return origin_matches_pat(self.allow_origin_pat, origin)
    return False


def _embedder_fix(self: JupyterHandler, origin: str) -> str:
    return f"ServerApp.allow_origin = {origin!r} (or allow_origin_pat)"


def _prepare(cls: type[web.RequestHandler], *, redirect_to_login: bool) -> Any:
    """Jupyter's prepare (which sets ``current_user``), then the handler's own."""

    async def prepare(self: JupyterHandler) -> None:
        await JupyterHandler.prepare(self, _redirect_to_login=redirect_to_login)
        if self._finished:
            return
        if self.current_user is not None and await _made_up_for_this_request(self):
            self.current_user = self._jupyter_current_user = TokenUser(**dataclasses.asdict(self.current_user))
        await ensure_async(cls.prepare(self))

    return prepare


@dataclasses.dataclass
class TokenUser(User):
    """Jupyter's anonymous user of a request made with the server's token and no login cookie.

    Jupyter makes a new one for every such request, so it names nobody: a session
    it opens may be joined by anyone the server lets in, and it may join any
    (``server.auth.may_join``), as the token opens the whole server anyway.
    """

    stable_identity: ClassVar[bool] = False


async def _made_up_for_this_request(handler: JupyterHandler) -> bool:
    """Whether Jupyter's own identity provider made this request's user up for it alone.

    That provider names no one: a token or a password logs in an anonymous user
    made up on the spot, whom only a browser keeps, in the login cookie. Other
    providers (JupyterHub's, a custom one) name their users.
    """
    provider = handler.identity_provider
    if type(provider).get_user is not IdentityProvider.get_user:
        return False
    from_cookie = await ensure_async(provider.get_user_cookie(handler))
    return from_cookie is None or from_cookie.username != handler.current_user.username


def _without_credentials(get: Any) -> Any:
    """``get`` that first takes Jupyter's credentials out of the request it reads."""

    @functools.wraps(get)
    def get_page(self: JupyterHandler, *args: Any, **kwargs: Any) -> Any:
        # Authentication is done (prepare()); the app must not see, nor the page's
        # session token carry, the token or the httponly login cookie.
        request = self.request
        for name in CREDENTIAL_ARGUMENTS:
            request.query_arguments.pop(name, None)
            request.arguments.pop(name, None)
        for name in CREDENTIAL_HEADERS:
            if name in request.headers:
                del request.headers[name]
        for name in (self.identity_provider.get_cookie_name(self), "_xsrf", *_hub_cookies(self), *_login_cookies(self)):
            request.cookies.pop(name, None)
        return get(self, *args, **kwargs)

    return get_page


#: The server setting that says when a page last sent its session something.
LAST_ACTIVITY = "jupyter_bridge_last_activity"

#: JupyterHub's session cookie, sent to every server and service on the hub's host.
HUB_SESSION_COOKIE = "jupyterhub-session-id"


#: How Jupyter's identity provider names its login cookie: ``username-<host>-<port>``.
LOGIN_COOKIE_PREFIX = "username-"


def _login_cookies(handler: JupyterHandler) -> list[str]:
    """The login cookies of every Jupyter server on this host, not only this one's.

    Cookies do not keep ports apart: a browser sends this server the login cookie
    of each Jupyter server it uses on the same host name.
    """
    return [name for name in handler.request.cookies if name.startswith(LOGIN_COOKIE_PREFIX)]


def _hub_cookies(handler: JupyterHandler) -> list[str]:
    """On a JupyterHub user's server: the hub's cookies, whose names Jupyter does not know.

    JupyterHub's identity provider keeps the user's OAuth token in a cookie named
    after the server's OAuth client (``jupyterhub-user-<name>``), plus the state
    cookies of a login under way, and the hub's session id.
    """
    hub_auth = getattr(handler.identity_provider, "hub_auth", None)
    login = getattr(hub_auth, "cookie_name", None)
    if not login:
        return []
    return [name for name in handler.request.cookies if name == HUB_SESSION_COOKIE or name.startswith(login)]


def _socket_handler(cls: type[websocket.WebSocketHandler]) -> type[websocket.WebSocketHandler]:
    class JupyterSocket(cls, JupyterHandler):  # type: ignore[valid-type,misc]
        """A session socket that needs the Jupyter user; refused (403) without one."""

        auth_resource = AUTH_RESOURCE

        def set_default_headers(self) -> None:
            pass  # JupyterHandler's page headers (CSP) mean nothing on a 101 response

        def clear_cookie(self, *args: Any, **kwargs: Any) -> None:
            pass  # as jupyter_server's own sockets: a socket does not log anyone out

        prepare = _prepare(cls, redirect_to_login=False)

        def check_origin(self, origin: str) -> bool:
            # Jupyter's policy: same host, a token in the URL, or ServerApp.allow_origin(_pat).
            return JupyterHandler.check_origin(self, origin)

        @property
        def ping_interval(self) -> float | None:
            keep_alive = self.bridge.settings.keep_alive
            return keep_alive / 1000 if keep_alive > 0 else None

        @property
        def max_message_size(self) -> int:
            return self.bridge.settings.websocket_max_message_size

        def on_message(self, frame: str | bytes) -> Awaitable[None] | None:
            # A page in use is the server in use: Jupyter's /api/status (which
            # JupyterHub's activity reports and idle cullers read) counts every
            # `*_last_activity` setting, as it counts kernels' activity.
            self.settings[LAST_ACTIVITY] = datetime.now(UTC)
            return super().on_message(frame)

        @ws_authenticated
        async def get(self, *args: Any, **kwargs: Any) -> None:
            allowed = await ensure_async(
                self.authorizer.is_authorized(self, self.current_user, "execute", AUTH_RESOURCE)
            )
            if not allowed:
                raise web.HTTPError(403, f"not authorized to execute on resource {AUTH_RESOURCE}")
            await super().get(*args, **kwargs)

    JupyterSocket.__name__ = JupyterSocket.__qualname__ = f"Jupyter{cls.__name__}"
    return JupyterSocket
