"""``/admin`` (``--admin``): the server's live figures, as an app the server serves itself.

The page is a jupyter_bridge app like any other — ipywidgets, a periodic
callback, one session per viewer — reading ``Server.stats()`` every second.
Its viewers are the server's operators: the users ``--admin-users`` names when
an auth module is set, else browsers on this machine that reach the server
directly (see ``handlers.admin_refusal``); inside Jupyter, Jupyter's login decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .app import AdminBoard

if TYPE_CHECKING:
    from ..server.bridge import Bridge

__all__ = ["ADMIN_PATH", "AdminBoard", "admin_application", "mount"]

#: Where the admin page is served, under the server's prefix.
ADMIN_PATH = "/admin"


def admin_application(bridge: Bridge) -> Any:
    """The admin page's Application: an AdminBoard of ``bridge`` in every session."""
    from ..application import Application, FunctionHandler

    def admin(doc: Any) -> None:
        AdminBoard(bridge).show(doc)

    application = Application(FunctionHandler(admin), name="admin")
    application.operator_only = True
    return application


def mount(bridge: Bridge) -> list[tuple[str, type, dict[str, Any]]]:
    """Serve the admin app at ADMIN_PATH of ``bridge``; return its routes."""
    from ..server.served_app import ServedApp
    from .handlers import AdminPageHandler, AdminSocket

    existing = bridge.apps.get(ADMIN_PATH)
    if existing is None:
        served = bridge.apps[ADMIN_PATH] = ServedApp(admin_application(bridge), ADMIN_PATH)
        if bridge.running:  # the Jupyter extension mounts its routes after starting
            served.load()
    elif not existing.application.operator_only:
        raise ValueError(f"an app is already served at {ADMIN_PATH}; rename it, or serve without --admin")
    args = {"bridge": bridge, "url_path": ADMIN_PATH}
    return [
        (bridge.prefix + ADMIN_PATH + r"/ws", AdminSocket, args),
        (bridge.prefix + ADMIN_PATH + r"/?", AdminPageHandler, args),
    ]
