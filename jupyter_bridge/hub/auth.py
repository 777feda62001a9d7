"""The auth module (``--auth-module``) of an app served as a JupyterHub service.

Loaded by file path, as every auth module is; what it defines lives in
:mod:`jupyter_bridge.hub.oauth` (an ordinary module, imported once per process).
"""

from __future__ import annotations

from jupyter_bridge.hub.oauth import LoginHandler, LogoutHandler, get_user_async, login_url, logout_url

__all__ = ["LoginHandler", "LogoutHandler", "get_user_async", "login_url", "logout_url"]
