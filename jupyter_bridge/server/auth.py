"""Who may open apps: an auth module, with Bokeh's contract.

The module (``--auth-module FILE``) defines:

- ``get_user(request_handler)`` or ``async get_user_async(request_handler)``:
  the current user, or None when nobody is logged in;
- ``login_url`` (where to send someone who is not logged in), or a
  ``LoginHandler`` (a ``tornado.web.RequestHandler`` the server mounts at
  ``login_url``, ``/login`` by default);
- optionally ``logout_url`` or a ``LogoutHandler`` (mounted at ``/logout`` by default).

The user becomes ``session_context.user``. :func:`authenticate` and
:func:`may_join` apply it to every request the server answers.
"""

from __future__ import annotations

import importlib.util
import inspect
import uuid
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

from tornado import web

if TYPE_CHECKING:
    from .bridge import Bridge

__all__ = ["AuthModule", "AuthModuleError", "GatedHandler", "authenticate", "has_identity", "may_join", "user_key"]


class GatedHandler(web.RequestHandler):
    """Base of every handler of the server's own routes: each says whether it needs a user.

    It is a class attribute with no default, so a handler that forgets to say fails
    its first request instead of being open to everyone.
    """

    #: Whether the handler needs a logged-in user when an auth module is set.
    requires_user: ClassVar[bool]


class AuthModuleError(ValueError):
    """An auth module that does not keep the contract; the text names what is missing."""


class AuthModule:
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        module = self._load()
        self.get_user = getattr(module, "get_user", None)
        self.get_user_async = getattr(module, "get_user_async", None)
        if (self.get_user is None) == (self.get_user_async is None):
            raise AuthModuleError(
                f"{path} must define exactly one of get_user(request_handler) or "
                "get_user_async(request_handler)"
            )
        if self.get_user_async is not None and not inspect.iscoroutinefunction(self.get_user_async):
            raise AuthModuleError(f"{path}: get_user_async must be an async function")
        self.login_handler = _handler_class(module, "LoginHandler", path)
        self.logout_handler = _handler_class(module, "LogoutHandler", path)
        self.login_url: str | None = getattr(module, "login_url", None)
        self.logout_url: str | None = getattr(module, "logout_url", None)
        if self.login_url is None and self.login_handler is not None:
            self.login_url = "/login"
        if self.logout_url is None and self.logout_handler is not None:
            self.logout_url = "/logout"
        if self.login_url is None:
            raise AuthModuleError(f"{path} must define login_url or a LoginHandler")

    def _load(self) -> ModuleType:
        name = f"jupyter_bridge_auth_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(name, self.path)
        if spec is None or spec.loader is None:
            raise AuthModuleError(f"{self.path} cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise AuthModuleError(f"{self.path} raised {type(error).__name__}: {error}") from None
        return module

    async def current_user(self, handler: web.RequestHandler) -> Any:
        if self.get_user_async is not None:
            return await self.get_user_async(handler)
        return self.get_user(handler)  # type: ignore[misc]

    def routes(self, prefix: str) -> list[tuple[str, type, dict[str, Any]]]:
        routes = []
        if self.login_handler is not None and self.login_url:
            routes.append((prefix + self.login_url, self.login_handler, {}))
        if self.logout_handler is not None and self.logout_url:
            routes.append((prefix + self.logout_url, self.logout_handler, {}))
        return routes


def _handler_class(module: ModuleType, name: str, path: str) -> type | None:
    handler = getattr(module, name, None)
    if handler is not None and not (isinstance(handler, type) and issubclass(handler, web.RequestHandler)):
        raise AuthModuleError(f"{path}: {name} must be a tornado.web.RequestHandler subclass")
    return handler


async def authenticate(handler: GatedHandler, bridge: Bridge, *, redirect: bool) -> None:
    """With an auth module, set ``current_user``; without a user, send to login or refuse."""
    auth = bridge.auth
    if auth is None or not handler.requires_user:
        return
    user = await auth.current_user(handler)
    if user is not None:
        handler.current_user = user
        return
    if redirect and handler.request.method in ("GET", "HEAD") and auth.login_url:
        login = auth.login_url if "://" in auth.login_url else bridge.url(auth.login_url)
        separator = "&" if "?" in login else "?"
        handler.redirect(f"{login}{separator}{urlencode({'next': handler.request.uri})}")
        return
    raise web.HTTPError(403, reason="log in to open this app")


def may_join(bridge: Bridge, session: Any, user: Any) -> bool:
    """Whether ``user`` may open a page or socket of an existing ``session``.

    A session made for a user with an identity is that user's alone: another
    user who learns its id (or its page's token) cannot attach to it. That holds
    with an auth module and inside Jupyter alike, where under JupyterHub the
    owner of a server and the viewers it lets in are different hub users of one
    server. Users without an identity (:func:`has_identity`) stand for the
    server's owner by their credential: they may join any session, and anyone
    the server lets in may join theirs.
    """
    owner = session.context.user
    if not has_identity(owner) or (user is not None and not has_identity(user)):
        return True
    return user_key(owner) == user_key(user)


def has_identity(user: Any) -> bool:
    """Whether ``user`` names someone beyond the one request it came with.

    Nobody logged in (None) has none, and neither has a user object whose
    ``stable_identity`` is False: inside Jupyter, the anonymous user Jupyter makes
    up for a request bearing the server's token without a login cookie, a new
    one on every request (a script's page request and its socket are two such
    users), though both hold the one credential that opens the whole server.
    """
    return user is not None and getattr(user, "stable_identity", True) is not False


def user_key(user: Any) -> Any:
    if user is None:
        return None
    if isinstance(user, dict):
        return user.get("username", user.get("name", repr(sorted(user.items()))))
    return getattr(user, "username", None) or getattr(user, "name", None) or str(user)
