"""jupyter_bridge on JupyterHub: viewers of a user's server, and apps published as hub services.

Three ways, described in docs/hub.md:

- **a user's own server**: the server extension already serves ``/user/<name>/bridge/``;
- **viewers of a user's server**: :class:`~jupyter_bridge.hub.viewers.ViewerIdentityProvider`
  (``--ServerApp.identity_provider_class=jupyter_bridge.hub.viewers.ViewerIdentityProvider``)
  lets the other hub users allowed into a server (a JupyterHub share) open the apps
  its owner shares, and nothing else of it;
- **an app published as a hub service**: ``jupyter-bridge serve app.py --auth-module
  <jupyter_bridge/hub/auth.py>`` logs viewers in with the hub's OAuth; ``jupyter-bridge
  publish`` prints the hub configuration for it (:mod:`jupyter_bridge.hub.publish`).

Importing this package imports nothing from JupyterHub; its modules do.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["AUTH_MODULE"]

#: The auth module file (``--auth-module``) of an app served as a hub service.
AUTH_MODULE = str(Path(__file__).resolve().parent / "auth.py")
