"""The admin page's handlers: the app's own, refused to other machines without an auth module."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from tornado import web

from ..server.views import PageHandler
from ..server.websocket import SessionSocket

__all__ = ["AdminPageHandler", "AdminSocket", "may_see_admin"]

log = logging.getLogger(__name__)


def may_see_admin(handler: Any) -> bool:
    """Loopback clients always; others only when someone decides who they are.

    That is an auth module, or Jupyter's identity provider when the page is served
    inside Jupyter (its handlers are also JupyterHandlers).
    """
    if handler.bridge.auth is not None or hasattr(handler, "identity_provider"):
        return True
    try:
        return ipaddress.ip_address(handler.request.remote_ip).is_loopback
    except ValueError:
        return False


def _refuse(handler: Any) -> None:
    log.warning(
        "Refused the admin page to %s: without --auth-module it is served to this machine only",
        handler.request.remote_ip,
    )
    raise web.HTTPError(403, reason="the admin page is served to this machine only, unless --auth-module is set")


class AdminPageHandler(PageHandler):
    async def prepare(self) -> None:
        if not may_see_admin(self):
            _refuse(self)
        await super().prepare()


class AdminSocket(SessionSocket):
    async def prepare(self) -> None:
        if not may_see_admin(self):
            _refuse(self)
        await super().prepare()
