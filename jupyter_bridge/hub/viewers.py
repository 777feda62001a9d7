"""Viewers of a user's server: other hub users open the apps its owner shares, nothing else.

JupyterHub lets a user into someone else's server only with ``access:servers`` for
it (a share, or a role), and that scope means the whole server: files, kernels,
terminals. :class:`ViewerIdentityProvider` narrows it on the server itself, where
every request is identified: the server's owner keeps all of it; any other hub
user the hub lets in gets only the pages, sockets and files of the apps in
``shared_apps`` (and the page client's files under ``bridge/static/``), and a 403
everywhere else.

The check sits in the identity provider rather than an authorizer because some
Jupyter handlers only ask whether someone is logged in (JupyterHub's own extension
makes the same choice). A custom scope cannot carry the grant instead: JupyterHub
builds the scopes of a server's OAuth tokens from roles only, so a custom scope
given in a share never reaches the server (seen with JupyterHub 6.1).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from jupyterhub.singleuser.extension import JupyterHubIdentityProvider
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.escape import url_unescape
from traitlets import List, Unicode

__all__ = ["ViewerIdentityProvider"]

log = logging.getLogger(__name__)

#: What a shared app's URL may be followed by: its page, socket and autoload script.
APP_SUFFIXES = ("", "/", "/ws", "/autoload.js")

#: Files of a directory app's static/ folder that would run as apps if requested there.
RUNNABLE_SUFFIXES = (".py", ".ipynb")


class ViewerIdentityProvider(JupyterHubIdentityProvider):
    """JupyterHub's identity provider, letting viewers reach only the shared apps."""

    shared_apps = List(
        Unicode(),
        help="App paths under the server's root (as in bridge/apps/<path>) that the other hub "
        "users allowed into this server (a share, or a role) may open, e.g. ['report.py'].",
    ).tag(config=True)

    async def get_user(self, handler: web.RequestHandler) -> Any:
        user = await super().get_user(handler)
        if user is None or self.is_owner(user.hub_user):
            return user
        if self.is_shared_path(handler):
            return user
        name = user.hub_user.get("name")
        log.info("Refused %s %s to %s: not the server's owner, nor a shared app", handler.request.method,
                    handler.request.path, name)

        # As JupyterHub's own provider does for users it identifies but refuses:
        # no user, and a 403 where the handler would send them to log in again.
        def refuse(*args: Any, **kwargs: Any) -> None:
            raise web.HTTPError(403, f"{name} may only open the apps shared on this server")

        handler.redirect = refuse  # type: ignore[method-assign]
        handler._jupyterhub_user = None  # the parent's per-request cache: keep the refusal
        return None

    @property
    def owner(self) -> str:
        return os.environ.get("JUPYTERHUB_USER", "")

    @property
    def server_name(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVER_NAME", "")

    def is_owner(self, hub_user: dict[str, Any]) -> bool:
        return hub_user.get("kind", "user") == "user" and bool(self.owner) and hub_user.get("name") == self.owner

    def is_shared_path(self, handler: web.RequestHandler) -> bool:
        """Whether the request is for a shared app (page, socket, files) or the page client."""
        serverapp = handler.settings.get("serverapp")
        base_url = serverapp.base_url if serverapp is not None else handler.settings.get("base_url", "/")
        path = url_unescape(handler.request.path, plus=False)
        bridge = url_path_join(base_url, "bridge")
        if path.startswith(bridge + "/static/"):
            return True  # the page client's files and installed widget modules: the same for everyone
        for app in self.shared_apps:
            app = app.strip("/")
            page = f"{bridge}/apps/{app}"
            if any(path == page + suffix for suffix in APP_SUFFIXES):
                return True
            if path.startswith(page + "/static/") and serverapp is not None:
                return _is_static_file(serverapp.root_dir, app, path[len(page + "/static/") :])
        return False


def _is_static_file(root: str, app: str, name: str) -> bool:
    """A plain file in a directory app's static/ folder (never something that runs as an app)."""
    folder = os.path.realpath(os.path.join(root, *app.split("/"), "static"))
    target = os.path.realpath(os.path.join(folder, *name.split("/")))
    return (
        target.startswith(folder + os.sep)
        and os.path.isfile(target)
        and not target.endswith(RUNNABLE_SUFFIXES)
        and ".." not in name.split("/")
    )
