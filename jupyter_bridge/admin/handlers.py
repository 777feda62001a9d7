"""The admin page's handlers: the app's own, opened to the server's operators only.

Who is an operator is never read from what a client writes about itself (its
``X-Real-Ip`` or ``X-Forwarded-For``): with an auth module, the users
``--admin-users`` names; without one, a browser on this machine whose
connection reaches the server directly, not through a proxy; inside Jupyter,
whoever Jupyter's login and authorizer let run apps.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any

from tornado import web

from ..logs import shown
from ..server.auth import user_key
from ..server.views import PageHandler
from ..server.websocket import SessionSocket

__all__ = ["FORWARDING_HEADERS", "AdminPageHandler", "AdminSocket", "admin_refusal"]

log = logging.getLogger(__name__)

#: Headers a proxy adds to the requests it passes on: such a request is not this machine's user.
FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Forwarded-Host")


def admin_refusal(handler: Any) -> str | None:
    """Why ``handler``'s client may not open the admin page; None if it may.

    Call after authentication, so an auth module's user is known.
    """
    if hasattr(handler, "identity_provider"):
        return None  # inside Jupyter: its login and authorizer decided already
    settings = handler.bridge.settings
    if handler.bridge.auth is not None:
        operators = settings.admin_users
        if "*" in operators or (handler.current_user is not None and user_key(handler.current_user) in operators):
            return None
        return "the admin page is for the users --admin-users names"
    if not _direct_from_loopback(handler.request):
        return "the admin page is served to browsers on this machine only, unless --auth-module and --admin-users are set"
    return None


def _direct_from_loopback(request: Any) -> bool:
    """Whether the connection's peer is a loopback address and no proxy passed the request on.

    The socket's own peer, whatever --use-xheaders made of ``remote_ip``; a Unix
    socket's peer (a local proxy, typically) is not a browser.
    """
    context = getattr(request.connection, "context", None)
    if getattr(context, "address_family", None) not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        loopback = ipaddress.ip_address(context.address[0]).is_loopback
    except (ValueError, TypeError, IndexError):
        return False
    return loopback and not any(name in request.headers for name in FORWARDING_HEADERS)


def _refuse(handler: Any, reason: str) -> None:
    user = f" (user {shown(user_key(handler.current_user))})" if handler.current_user is not None else ""
    log.warning("Refused the admin page to %s%s: %s", handler.request.remote_ip, user, reason)
    raise web.HTTPError(403, reason=reason)


class AdminPageHandler(PageHandler):
    async def prepare(self) -> None:
        await super().prepare()  # the auth module's user (or its login page)
        if self._finished:
            return
        reason = admin_refusal(self)
        if reason is not None:
            _refuse(self, reason)


class AdminSocket(SessionSocket):
    async def prepare(self) -> None:
        await super().prepare()
        reason = admin_refusal(self)
        if reason is not None:
            _refuse(self, reason)
