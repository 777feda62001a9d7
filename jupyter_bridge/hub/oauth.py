"""The hub's OAuth for an app served as a JupyterHub service (behind ``jupyter_bridge/hub/auth.py``).

``jupyter-bridge serve app.py --auth-module <jupyter_bridge/hub/auth.py>``
(``jupyter_bridge.hub.AUTH_MODULE`` names the file), started by JupyterHub as a
managed service (``c.JupyterHub.services``), keeps the auth-module contract of
docs/deploy.md with what this module defines:

- ``get_user_async``: the hub user of the login cookie set after OAuth, as a
  :class:`HubUser` (``session_context.user``); a user the hub identifies but the
  service's access scopes do not allow is refused with 403, never sent to log in again;
- ``login_url`` is the service's OAuth callback, and ``LoginHandler`` serves both
  halves there: a visit with ``?next=`` starts the hub's OAuth, the hub's answer
  (``?code=&state=``) finishes it, sets the login cookie and returns to ``next``;
- ``LogoutHandler`` (``/logout``) forgets the login and logs out of the hub.

Everything comes from the environment JupyterHub gives a service
(``JUPYTERHUB_API_TOKEN``, ``JUPYTERHUB_CLIENT_ID``, ``JUPYTERHUB_SERVICE_PREFIX``, …).
OAuth states live in this process's memory: serve with one process (the default).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httputil import url_concat

__all__ = ["HubUser", "LoginHandler", "LogoutHandler", "get_user_async", "login_url", "logout_url"]

REQUIRED_ENVIRONMENT = ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_CLIENT_ID", "JUPYTERHUB_SERVICE_PREFIX")

_missing = [name for name in REQUIRED_ENVIRONMENT if not os.environ.get(name)]
if _missing:
    raise RuntimeError(
        f"{', '.join(_missing)} not set: this auth module logs users in through JupyterHub, so the "
        "app must be started by the hub as a service (c.JupyterHub.services; see "
        "`jupyter-bridge publish --help`)"
    )

#: The service's prefix, e.g. /services/report/; pages, login and logout live under it.
PREFIX = "/" + os.environ["JUPYTERHUB_SERVICE_PREFIX"].strip("/") + "/"

#: Where the hub sends the browser back after OAuth, as a path under PREFIX (the contract's login_url).
login_url = "/" + urlparse(
    os.environ.get("JUPYTERHUB_OAUTH_CALLBACK_URL") or url_path_join(PREFIX, "oauth_callback")
).path.removeprefix(PREFIX.rstrip("/")).lstrip("/")

logout_url = "/logout"

hub_auth = HubOAuth(cache_max_age=60)


@dataclass(frozen=True)
class HubUser:
    """The hub user a session runs for (``session_context.user``).

    ``username`` and ``name`` are the hub name, ``groups`` the hub groups when
    the hub tells the service (its token's ``read:users:groups`` scope), and
    ``hub_user`` the whole user model the hub gave: the same two names app code
    reads on a user's server (JupyterHub's ``JupyterHubUser``).
    """

    username: str
    groups: tuple[str, ...] = ()
    hub_user: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.username


async def get_user_async(handler: web.RequestHandler) -> HubUser | None:
    _use_cookie_secret(handler)
    model = await hub_auth.get_user(handler, sync=False)
    if model is None:
        return None
    if not hub_auth.check_scopes(hub_auth.access_scopes, model):
        raise web.HTTPError(403, f"{model.get('name')} may not use this app")
    return HubUser(model["name"], tuple(model.get("groups") or ()), model)


class LoginHandler(HubOAuthCallbackHandler):
    """At ``login_url``: starts the hub's OAuth (``?next=``), or finishes it (``?code=``)."""

    hub_auth = hub_auth

    async def get(self) -> None:
        _use_cookie_secret(self)
        if self.get_argument("code", None) or self.get_argument("error", None):
            await super().get()
            return
        params: dict[str, str] = {}
        extra: dict[str, Any] = {}
        if getattr(hub_auth, "pkce_enabled", False):  # JupyterHub 6
            verifier, challenge, method = hub_auth.generate_pkce_code_challenge()
            params.update(code_challenge=challenge, code_challenge_method=method)
            extra["code_verifier"] = verifier
        state = hub_auth.set_state_cookie(self, next_url=_local_next(self.get_argument("next", "")), **extra)
        self.redirect(url_concat(hub_auth.login_url, {**params, "state": state}))


class LogoutHandler(web.RequestHandler):
    """Forgets this service's login cookie, then logs out of the hub."""

    def get(self) -> None:
        hub_auth.clear_cookie(self)
        self.redirect(hub_auth.hub_host + url_path_join(hub_auth.hub_prefix, "logout"))


def _local_next(target: str) -> str:
    """``target`` if it is a path under the service's prefix, else the prefix (no open redirect)."""
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not (parsed.path + "/").startswith(PREFIX) or "\\" in target:
        return PREFIX
    return target


def _use_cookie_secret(handler: web.RequestHandler) -> None:
    """Sign the login cookie: JUPYTER_BRIDGE_COOKIE_SECRET when set, else a key derived
    from the service's hub token (secret, and the same in every process of the service)."""
    settings = handler.application.settings
    if not settings.get("cookie_secret"):
        token = os.environ["JUPYTERHUB_API_TOKEN"]
        settings["cookie_secret"] = hashlib.sha256(f"jupyter_bridge.hub cookie:{token}".encode()).hexdigest()
