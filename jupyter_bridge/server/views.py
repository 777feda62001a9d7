"""HTTP handlers: the app page (which creates the session), the index, and assets."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import logging
import mimetypes
import os
import secrets
import time
import weakref
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup
from tornado import web
from tornado.iostream import StreamClosedError

from ..application import NotAnAppError
from ..channels import BrowserChannel
from ..contexts import Request
from ..document import DEFAULT_TITLE
from ..protocol import SESSION_ID_ARGUMENT
from ..session import AppError, Session
from ..settings import BridgeSettings
from ..tokens import make_token
from ..widget_modules import federated_module, widget_module_file
from .auth import GatedHandler, authenticate, may_join
from .bridge import STATIC_DIR, Bridge, SessionIdError
from .client_tags import complete_page, head_tags, script_json
from .index import SEARCH_ABOVE, IndexEntry, describe
from .served_app import ServedApp, TooManySessions
from .tracebacks import app_traceback

__all__ = [
    "AppStaticFileHandler",
    "AppVersionHandler",
    "AssetHandler",
    "BridgeHandler",
    "HealthHandler",
    "IndexHandler",
    "PageHandler",
    "SessionHandler",
    "WidgetModuleHandler",
    "SESSION_ID_ARGUMENT",
    "XSRF_ARGUMENT",
    "reason_phrase",
    "refuse_nul",
    "request_context",
]

log = logging.getLogger(__name__)


#: Tornado's name for the XSRF cookie and the argument that must match it.
XSRF_ARGUMENT = "_xsrf"


def request_context(handler: web.RequestHandler, settings: BridgeSettings) -> Request:
    """The parts of a page request an app may read (``session_context.request``).

    Headers and cookies are filtered by the include/exclude settings: the same
    request context travels in the session token to any other process.
    """
    request = handler.request
    return Request(
        arguments={k: list(v) for k, v in request.query_arguments.items() if k != SESSION_ID_ARGUMENT},
        headers=_kept(
            {k: v for k, v in request.headers.get_all() if k.lower() != "cookie"},
            settings.include_headers,
            settings.exclude_headers,
        ),
        cookies=_kept(
            {name: morsel.value for name, morsel in request.cookies.items()},
            settings.include_cookies,
            settings.exclude_cookies,
        ),
        remote_ip=request.remote_ip,
        path=request.path,
        protocol=request.protocol,
        host=request.host,
    )


def _kept(values: dict[str, str], include: list[str], exclude: list[str]) -> dict[str, str]:
    if include:
        wanted = {name.lower() for name in include}
        values = {k: v for k, v in values.items() if k.lower() in wanted}
    if exclude:
        unwanted = {name.lower() for name in exclude}
        values = {k: v for k, v in values.items() if k.lower() not in unwanted}
    return values


class PageState(NamedTuple):
    """What a page carries of its session's widgets."""

    #: The widget state the page shows before its socket connects (``script_json``), or None.
    json: str | None
    #: The chunks the page client loads on demand that these widgets need, to preload.
    preload_urls: list[str]


class BridgeHandler(GatedHandler):
    """Base of every handler: knows its Bridge, renders errors as readable pages."""

    requires_user = False

    def initialize(self, bridge: Bridge, url_path: str | None = None) -> None:
        self.bridge = bridge
        self.url_path = url_path

    async def prepare(self) -> None:
        await authenticate(self, self.bridge, redirect=True)

    def render_template(self, name: str, **variables: Any) -> str:
        return self.bridge.templates.get_template(name).render(bridge=self.bridge, **variables)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(
            self.render_template(
                "error.html", status=status_code, title=self._reason, message=self._reason, detail=None
            )
        )


class SessionHandler(BridgeHandler):
    """Base of the handlers that hand a session to a client: the page and autoload.js."""

    requires_user = True

    async def served_app(self, url_path: str | None) -> ServedApp:
        """The app this request is for (reloaded first if its files changed); 404 if none."""
        self.url_path = self.url_path or url_path
        try:
            served = await self.bridge.app_for(self.url_path or "", reload_changed=True)
        except NotAnAppError as error:
            raise web.HTTPError(404, reason=reason_phrase(str(error))) from None
        if served is None:
            raise web.HTTPError(404)
        return served

    async def open_session(
        self, served: ServedApp, *, hidden: tuple[str, ...] = ()
    ) -> Session[BrowserChannel]:
        """The session this request names (``?jb-session-id=``) or a new one.

        ``hidden`` query arguments are the handler's own and never reach the app.
        Raises HTTPError for an id this server refuses, and AppError when the app fails.
        """
        request = request_context(self, self.bridge.settings)
        for name in hidden:
            request.arguments.pop(name, None)
        requested = self.get_query_argument(SESSION_ID_ARGUMENT, None)
        live = requested is not None and requested in served.sessions
        try:
            session_id = self.bridge.session_id_for(requested, live=live)
        except SessionIdError as error:
            log.warning("Refused %s: %s", self.request.path, error)
            raise web.HTTPError(403, reason=reason_phrase(str(error))) from None
        existing = served.sessions.get(session_id)
        if existing is not None and not may_join(self.bridge, existing, self.current_user):
            log.warning("Refused %s a session of another user", self.request.path)
            raise web.HTTPError(403, reason="this session belongs to another user")
        if existing is not None:
            return existing
        turn_taken = False
        if requested is None and served.prepared.ready:  # one prepared ahead: no other page gets it
            prepared = await served.take_prepared(request, user=self.current_user)
            if prepared is not None:
                return prepared
            turn_taken = True  # the others went first: build it in this turn
        try:
            return await served.create(request, session_id, user=self.current_user, turn_taken=turn_taken)
        except TooManySessions as error:
            raise self.no_room(error) from None

    def check_room(self, served: ServedApp) -> None:
        """Answer 503 now if this request would need a new session and the process is full."""
        requested = self.get_query_argument(SESSION_ID_ARGUMENT, None)
        if requested is None and served.prepared.ready:
            return  # a session prepared ahead is waiting for it
        if requested is None or requested not in served.sessions:
            try:
                self.bridge.admit_session()
            except TooManySessions as error:
                raise self.no_room(error) from None

    def no_room(self, error: TooManySessions) -> web.HTTPError:
        log.warning("Refused %s: %s", self.request.path, error)
        return web.HTTPError(503, reason=reason_phrase(str(error)))

    def client_config(self, session: Session[BrowserChannel]) -> dict[str, Any]:
        """What the page client needs to connect (the page's #jupyter-bridge-config)."""
        settings = self.bridge.settings
        assert self.url_path is not None
        token = make_token(
            session.id,
            session.context.request,
            secret_key=settings.signing_key,
            expiration=settings.session_token_expiration,
            credentials=settings.session_token_credentials,
            now=self.bridge.clock(),
        )
        ws_url = self.bridge.url(quote(self.url_path.strip("/")) + "/ws")  # "My app" -> My%20app/ws
        if settings.enable_xsrf_cookies:
            # Reading xsrf_token sets the _xsrf cookie; the page's socket shows the
            # value back, which a page of another site cannot read (see SessionSocket).
            ws_url += "?" + urlencode({XSRF_ARGUMENT: self.xsrf_token.decode("ascii")})
        return {
            "wsUrl": ws_url,
            "token": token,
            "sessionId": session.id,
            "modulesUrl": self.bridge.url("static/nbextensions/"),
            # Loaded when needed, not before the first paint: icons once interactive, KaTeX's with math.
            "styles": {"icons": self.bridge.asset_url("icons.css"), "math": self.bridge.asset_url("math.css")},
        }

    def page_state(self, session: Session[BrowserChannel]) -> PageState:
        """The session's widget state for the page to show before its socket connects, and what its widgets need.

        With ``--max-page-state 0`` the page carries neither: the state comes
        over the socket, and the code its widgets need when they come.
        """
        if not self.bridge.settings.max_page_state:
            return PageState(None, [])
        last_seq, messages = session.channel.page_state()
        return PageState(self.state_json(session, last_seq, messages), self.bridge.on_demand_urls(messages))

    def state_json(
        self, session: Session[BrowserChannel], last_seq: int, messages: list[tuple[dict[str, Any], list[Any]]]
    ) -> str | None:
        """The page state's ``messages`` as ``script_json`` for the page.

        None when it is larger than ``--max-page-state`` (or holds a value JSON
        cannot carry): the page then gets it over the socket, as before.
        """
        limit = self.bridge.settings.max_page_state
        channel = session.channel
        if sum(memoryview(buffer).nbytes for _, buffers in messages for buffer in buffers) * 4 // 3 > limit:
            return None  # as base64 alone it would not fit
        state = {
            "session_id": session.id,
            "stream": channel.stream,
            "last_seq": last_seq,
            # Buffers as base64 text here: the socket carries them as binary frames.
            "messages": [
                [content, [base64.b64encode(bytes(buffer)).decode("ascii") for buffer in buffers]]
                for content, buffers in messages
            ],
        }
        try:
            text = script_json(state)
        except (TypeError, ValueError):
            return None  # the socket's snapshot reports the value that cannot be sent
        if len(text) > limit:
            log.debug("%s: the widget state (%d bytes) goes over the socket: --max-page-state is %d",
                      self.request.path, len(text), limit)
            return None
        return text


#: Sec-Fetch-Dest values of a browser that shows the page (a tab or a frame).
SHOWN_IN = ("document", "iframe", "frame")

#: Values of the page template variables a document may set for itself.
PAGE_CHOICES = {"page_frame": ("header", "none"), "page_theme": ("auto", "light", "dark")}

# Applications whose empty page was already logged, and each application's version
# for development mode's reloading error page: both forget replaced applications.
_warned_empty: weakref.WeakSet[Any] = weakref.WeakSet()
_versions: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_next_version = itertools.count(1)


def application_version(application: Any) -> int:
    """A number that changes when development mode replaces the app at a path."""
    if application not in _versions:
        _versions[application] = next(_next_version)
    return _versions[application]


class PageHandler(SessionHandler):
    """GET an app: create its session now and send the page that connects to it.

    A browser that shows the page gets the app's loading spinner first, before
    the app runs (app code may block the loop for as long as it builds, so
    nothing could be sent in between): the user never looks at a blank tab, and
    the rest of the page follows in the same response. An error then shows in
    the page, its 200 status already sent. Other clients (scripts, health
    checks) get one answer, with the error's status when the app fails.
    """

    loading_sent = False

    async def get(self, url_path: str | None = None) -> None:
        served = await self.served_app(url_path)
        application = served.application
        failed = self.get_query_argument(FAILED_ARGUMENT, None)
        if failed is not None:
            stored = _failed_pages.take(failed)
            if stored is not None:  # the error page, with its status this time
                self.set_header("Cache-Control", "no-store")
                self.set_status(stored[0])
                self.finish(stored[1])
                return
            # Made in another process, or seen already: build the page again, without the spinner.
        elif self.request.headers.get("Sec-Fetch-Dest") in SHOWN_IN:
            self.check_room(served)  # while the status can still say so
            await self.send_shell(application.title)
        try:
            session = await self.open_session(served, hidden=(FAILED_ARGUMENT,))
        except web.HTTPError as error:
            if not self.loading_sent:
                raise
            self.fail(error.status_code, error.reason or "refused", error.reason or "", None)
            return
        except AppError as error:
            log.error("%s: %s\n%s", self.request.path, error, error.traceback)
            # Only development mode shows tracebacks to the browser; the log always has them.
            show_detail = self.bridge.settings.dev
            own, whole = app_traceback(error.error)
            self.fail(500, f"{application.name} failed", str(error), own if show_detail else None,
                      whole if show_detail and whole != own else None)
            return
        config = self.client_config(session)
        self.set_header("Cache-Control", "no-store")
        document = session.document
        template = self.bridge.page_template(application)
        if not document.roots and application not in _warned_empty:
            _warned_empty.add(application)
            log.warning(
                "%s (%s) added no widgets to its page: call curdoc().add_root(widget) in the app",
                application.name, self.url_path,
            )
        variables = {
            **document.template_variables,
            "bridge": self.bridge,
            "title": document.title,
            "app_name": application.title,
            "default_title": DEFAULT_TITLE,
            "config_json": json.dumps(config).replace("</", "<\\/"),
            "document": document,
            "template_variables": document.template_variables,
            "roots": Roots(document.roots, document.named_roots),
            "embed": embed_for(document),
            "app_url": self.bridge.url(self.url_path),
            "static_url": self.bridge.url(self.url_path.rstrip("/") + "/static/"),
            "css_url": self.bridge.asset_url("client.css"),
            "js_url": self.bridge.asset_url("client.js"),
            "preload_urls": self.bridge.preload_urls(),
            "loading_sent": self.loading_sent,
            **self.page_choices(document.template_variables, application.name),
        }
        try:
            # A template that is a whole page of its own (not extending page.html)
            # still boots the client: complete_page adds the tags it lacks.
            state = self.page_state(session)
            html = complete_page(template.render(**variables), head_tags(
                css_url=variables["css_url"], js_url=variables["js_url"],
                preload_urls=variables["preload_urls"], config_json=variables["config_json"],
            ), state.json, state.preload_urls)
        except Exception as error:  # a broken app template: say so, keep serving
            log.exception("%s: the page template failed", self.request.path)
            await served.destroy(session)
            self.fail(500, "The page template failed", f"{type(error).__name__}: {error}", None)
            return
        self.finish(html)

    def page_choices(self, template_variables: dict[str, Any], app_name: str) -> dict[str, str]:
        """The frame and theme: the server's settings, unless the document names its own."""
        settings = self.bridge.settings
        chosen = {"page_frame": settings.page_frame, "page_theme": settings.theme}
        for name, allowed in PAGE_CHOICES.items():
            value = template_variables.get(name)
            if value is None:
                continue
            if value in allowed:
                chosen[name] = value
            else:
                log.warning(
                    "%s: template_variables[%r] is %r; use one of %s", app_name, name, value, ", ".join(allowed)
                )
        return {**chosen, "theme": chosen["page_theme"]}

    async def send_shell(self, app_name: str) -> None:
        self.set_header("Cache-Control", "no-store")
        if self.bridge.settings.enable_xsrf_cookies:
            self.xsrf_token  # noqa: B018 - sets the cookie now, while headers can still be sent
        # The page client's files are fetched (and its modules compiled) while the app builds.
        self.write(self.render_template(
            "shell.html", app_name=app_name, theme=self.bridge.settings.theme,
            css_url=self.bridge.asset_url("client.css"),
            module_urls=[self.bridge.asset_url("client.js"), *self.bridge.preload_urls()],
        ))
        self.loading_sent = True
        try:
            await self.flush()
        except StreamClosedError:
            pass  # the user left; the session is made anyway and reaped once unused

    def fail(self, status: int, title: str, message: str, detail: str | None, whole: str | None = None) -> None:
        """Finish with the error page: with its status, or in the page if the spinner went first."""
        reload_url = None
        if self.bridge.settings.dev and self.url_path is not None and not self.url_path.startswith("/apps/"):
            reload_url = self.bridge.url(self.url_path.rstrip("/") + "/app-version")
        served = self.bridge.apps.get(self.url_path or "")
        page = self.render_template(
            "error.html", status=status, title=title, message=message, detail=detail, whole_detail=whole,
            reload_url=reload_url,
            app_version=application_version(served.application) if served else None,
        )
        if not self.loading_sent:
            self.set_status(status)
            self.finish(page)
            return
        # The spinner went out with a 200: the browser loads the error page again, now
        # with its status, from this process's memory (once, for a short while).
        query = [(k, v) for k, vs in self.request.query_arguments.items() if k != FAILED_ARGUMENT for v in vs]
        query.append((FAILED_ARGUMENT, _failed_pages.put(status, page).encode()))
        # Relative to the page's own address, so a proxy that rewrites paths keeps it.
        again = self.request.path.rsplit("/", 1)[1] + "?" + urlencode(query)
        self.finish(Markup('<meta http-equiv="refresh" content="0;url={}">').format(again) + page)


#: The query argument of a failed page's second load, which answers with the error's status.
FAILED_ARGUMENT = "jb-failed"


class FailedPages:
    """Error pages kept a little while for the browser's second load (see ``PageHandler.fail``)."""

    def __init__(self, size: int = 64, lifetime: float = 60.0) -> None:
        self.size = size
        self.lifetime = lifetime
        self.pages: dict[str, tuple[float, int, str]] = {}

    def put(self, status: int, page: str) -> str:
        now = time.monotonic()
        self.pages = {k: v for k, v in self.pages.items() if now - v[0] < self.lifetime}
        while len(self.pages) >= self.size:
            self.pages.pop(next(iter(self.pages)))
        key = secrets.token_urlsafe(18)
        self.pages[key] = (now, status, page)
        return key

    def take(self, key: str) -> tuple[int, str] | None:
        found = self.pages.pop(key, None)
        if found is None or time.monotonic() - found[0] >= self.lifetime:
            return None
        return found[1], found[2]


_failed_pages = FailedPages()


class AppVersionHandler(BridgeHandler):
    """``<app>/app-version`` (development mode): what a failed app's page polls to reload."""

    requires_user = True

    def get(self) -> None:
        served = self.bridge.apps.get(self.url_path or "")
        if served is None:
            raise web.HTTPError(404)
        self.set_header("Cache-Control", "no-store")
        self.finish({"version": application_version(served.application)})


class Roots(list):
    """The document's roots for a template: ``roots[0]``, or ``roots.<name>`` for a named root."""

    def __init__(self, widgets: list[Any], named: dict[str, Any]) -> None:
        super().__init__(widgets)
        self._named = named

    def __getattr__(self, name: str) -> Any:
        try:
            return self._named[name]
        except KeyError:
            raise AttributeError(f"the document has no root named {name!r}") from None


def embed_for(document: Any) -> Callable[[Any], Markup]:
    """The template's ``embed(root)``: a placeholder the page client shows ``root`` in.

    The placeholder names the root by model id, and also by name and position, so
    a session recreated in another process (new ids) still finds its places.
    """
    names = {id(widget): name for name, widget in document.named_roots.items()}

    def embed(widget: Any) -> Markup:
        if isinstance(widget, jinja2.Undefined):
            name = widget._undefined_name  # type: ignore[attr-defined]
            raise ValueError(
                f"embed() was given roots.{name}, but the document has no root named {name!r}; "
                "name it with curdoc().add_root(widget, name=...)"
            )
        roots = document.roots
        if widget not in roots:
            raise ValueError(f"embed() was given {widget!r}, which is not a root of the document")
        attributes = Markup(' data-jb-root-id="{}" data-jb-root-index="{}"').format(
            widget.model_id, roots.index(widget)
        )
        if id(widget) in names:
            attributes += Markup(' data-jb-root-name="{}"').format(names[id(widget)])
        return Markup('<div class="jb-root"{}></div>').format(attributes)

    return embed


def reason_phrase(text: str) -> str:
    """``text`` as an HTTP reason phrase: a single line of Latin-1."""
    return " ".join(text.split()).encode("latin-1", "replace").decode("latin-1")


class IndexHandler(BridgeHandler):
    """``/``: list the apps, or go straight to the only one."""

    requires_user = True

    def get(self) -> None:
        settings = self.bridge.settings
        paths = sorted(
            path for path, served in self.bridge.apps.items()
            if not path.startswith("/apps/") and not served.application.operator_only
        )
        if settings.disable_index:
            raise web.HTTPError(404)
        if len(paths) == 1 and not settings.disable_index_redirect:
            self.redirect(self.bridge.url(paths[0]))
            return
        apps = []
        for path in paths:
            application = self.bridge.apps[path].application
            source = application.source
            _, description = describe(source)
            shown = os.path.relpath(source) if source is not None and not os.path.relpath(source).startswith("..") else path
            apps.append(IndexEntry(self.bridge.url(path), shown, application.title, description))
        self.finish(self.render_template("index.html", apps=apps, search_above=SEARCH_ABOVE))


@lru_cache(maxsize=64)
def _compressed(path: str, mtime: float) -> bytes:
    return gzip.compress(Path(path).read_bytes(), compresslevel=9)


class AssetHandler(BridgeHandler):
    """The page client's files: content-hashed names, cached for a year, sent gzipped.

    They are public, so pages of other sites that embed an app (autoload.js) may
    use them: fonts loaded by a cross-origin stylesheet need CORS, and a page with
    ``Cross-Origin-Embedder-Policy`` needs CORP. Each answer carries Tornado's ETag
    (a hash of the bytes sent), so a cache revalidating with ``If-None-Match`` gets
    a 304; ``HEAD`` answers the headers ``GET`` would.
    """

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("Cross-Origin-Resource-Policy", "cross-origin")

    def get(self, name: str) -> None:
        refuse_nul(name)
        root = STATIC_DIR.resolve()  # the folder may be a link (an editable or packaged install)
        path = (root / name).resolve()
        hidden = any(part.startswith(".") for part in path.relative_to(root).parts) if root in path.parents else True
        if hidden or not path.is_file() or name == "manifest.json":
            raise web.HTTPError(404)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        self.set_header("Vary", "Accept-Encoding")
        stat = path.stat()
        if "gzip" in self.request.headers.get("Accept-Encoding", "") and _compressible(content_type):
            self.set_header("Content-Encoding", "gzip")
            self.finish(_compressed(str(path), stat.st_mtime))
        else:
            self.finish(path.read_bytes())

    def head(self, name: str) -> None:
        # Tornado sends what get() would, headers only (Content-Length and ETag included).
        self.get(name)


class HealthHandler(BridgeHandler):
    """``/healthz``: 200 with a little JSON while the process serves (for load balancers).

    Public, as load balancers do not log in; with an auth module, its figures
    (pid, sessions, connections) are for logged-in users only.
    """

    async def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        auth = self.bridge.auth
        if auth is not None and await auth.current_user(self) is None:
            self.finish({"status": "ok"})
            return
        self.finish(
            {
                "status": "ok",
                "pid": os.getpid(),
                "sessions": self.bridge.session_count,
                "prepared": self.bridge.prepared_count,
                "connections": self.bridge.connection_count,
            }
        )


def refuse_nul(path: str) -> None:
    """400 for a path holding a NUL byte, which no file name can hold."""
    if "\x00" in path:
        raise web.HTTPError(400, reason="the path holds a NUL byte")


class AppStaticFileHandler(web.StaticFileHandler, GatedHandler):
    """A directory app's ``static/`` folder at ``<app>/static/``, behind the auth module.

    Hidden files and folders (a name starting with a dot: ``.env``, ``.git/``)
    are never served, nor anything a link leads to outside the folder.
    """

    requires_user = True

    def initialize(self, bridge: Bridge, path: str) -> None:  # type: ignore[override]
        self.bridge = bridge
        super().initialize(path=path)

    async def prepare(self) -> None:
        await authenticate(self, self.bridge, redirect=True)

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        refuse_nul(absolute_path)
        real_root = os.path.realpath(root)
        real = os.path.realpath(absolute_path)
        relative = os.path.relpath(real, real_root)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise web.HTTPError(404)  # a link out of the folder
        inside = os.path.relpath(os.path.abspath(absolute_path), os.path.abspath(root))
        if any(part.startswith(".") for part in (*relative.split(os.sep), *inside.split(os.sep)) if part != "."):
            raise web.HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)


def _compressible(content_type: str) -> bool:
    return content_type.startswith("text/") or content_type in (
        "application/javascript",
        "application/json",
        "image/svg+xml",
    )


class WidgetModuleHandler(BridgeHandler):
    """Front-end code of third-party widget libraries installed in this environment.

    ``/static/nbextensions/<name>/<file>`` is looked up in each
    ``share/jupyter/nbextensions`` folder Jupyter knows (``jupyter --paths``),
    first match wins. A package that installs only a JupyterLab extension
    (``share/jupyter/labextensions/<name>/``) is served from there: its
    ``<name>/index.js`` is a small AMD module that has the page client load the
    extension's federated container, and its other files are the extension's.
    Nothing outside those folders is ever served.
    """

    def get(self, relative: str) -> None:
        refuse_nul(relative)
        found = widget_module_file(relative)
        if found is not None:
            content_type = mimetypes.guess_type(found)[0] or "application/octet-stream"
            body = Path(found).read_bytes()
        else:
            shim = federated_module(relative)
            if shim is None:
                raise web.HTTPError(404, f"no widget module file {relative!r} is installed")
            content_type, body = "text/javascript", shim.encode()
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-cache")
        self.finish(body)
