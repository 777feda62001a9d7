"""The Jupyter extension's handlers pass jupyter_server's authentication audit, or are not served."""

from __future__ import annotations

import pytest
from jupyter_server.serverapp import ServerWebApplication
from tornado import routing, web

from jupyter_bridge.jupyter.extension import audit_handlers
from jupyter_bridge.jupyter.views import AppStaticFiles, AppStaticHandler, jupyter_handler
from jupyter_bridge.server.bridge import Bridge
from jupyter_bridge.server.routes import routes
from jupyter_bridge.settings import BridgeSettings


class AuditingApp:
    """The part of Jupyter's web application the audit uses: its own check, unchanged."""

    _check_handler_auth = ServerWebApplication._check_handler_auth


def _jupyter_rules(**settings) -> list:
    """The rules the extension builds on its first request (as LazyRoutes builds them)."""
    bridge = Bridge({}, BridgeSettings(**settings), prefix="/bridge", resolver=lambda path: None, watch_files=False)
    static = routing.Rule(AppStaticFiles(bridge), jupyter_handler(AppStaticHandler), {"bridge": bridge})
    return [static, *routes(bridge, wrap=jupyter_handler)]


@pytest.mark.parametrize("settings", [{}, {"admin": True, "metrics": True, "dev": True}])
def test_every_route_of_the_extension_passes_jupyters_audit(settings):
    rules = _jupyter_rules(**settings)
    assert len(rules) > 5
    audit_handlers(AuditingApp(), rules)  # raises naming any method without authentication


def test_a_handler_without_authentication_is_refused():
    class Unchecked(web.RequestHandler):
        def get(self) -> None:
            self.finish("anyone")

    rules = [*_jupyter_rules(), ("/bridge/unchecked", Unchecked, {})]
    with pytest.raises(RuntimeError, match=r"GET of Unchecked registered for /bridge/unchecked"):
        audit_handlers(AuditingApp(), rules)
