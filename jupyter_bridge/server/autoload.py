"""``<app>/autoload.js``: a script that embeds a session of an app in another site's page.

``jupyter_bridge.client.server_document`` and ``server_session`` write the
``<script>`` tag. The script this handler answers creates, where the tag stands,
the ``#jupyter-bridge-config`` and ``#jupyter-bridge-roots`` elements the page
client reads, loads the page client's CSS and bundle from this server (URLs
resolved against the script's own address, so proxies and prefixes work), and
the client connects. One embedded app per page: the page client reads those ids.

Query arguments: ``jb-element-id`` (the script tag's id), ``jb-session-id`` (an
existing session; without it every request makes a new session, as a page view
does); every other argument reaches the app as ``session_context.request.arguments``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from tornado import web

from ..protocol import ELEMENT_ID_ARGUMENT
from ..session import AppError
from .views import SessionHandler, reason_phrase
from .websocket import origin_allowed

__all__ = ["ELEMENT_ID_ARGUMENT", "AutoloadHandler"]

log = logging.getLogger(__name__)

_SCRIPT = """\
// jupyter_bridge: embeds one session of an app here (see docs/client.md).
(function () {
  "use strict";
  var elementId = __ELEMENT_ID__;
  var config = __CONFIG__;
  var assets = __ASSETS__;
  var script = document.currentScript;
  var base = (script && script.src) || document.baseURI;
  function absolute(path) { return new URL(path, base).href; }
  var target = (elementId && document.getElementById(elementId)) || script;
  if (!target) {
    console.error("jupyter_bridge: no element #" + elementId + " to embed the app at");
    return;
  }
  if (document.getElementById("jupyter-bridge-config")) {
    console.error("jupyter_bridge: this page already embeds an app; a page embeds one app");
    return;
  }
  config.wsUrl = absolute(config.wsUrl);
  config.modulesUrl = absolute(config.modulesUrl);
  var container = target;
  if (target.tagName === "SCRIPT") {
    container = document.createElement("div");
    container.className = "jupyter-bridge-embed";
    target.parentNode.insertBefore(container, target.nextSibling);
  }
  var configElement = document.createElement("script");
  configElement.type = "application/json";
  configElement.id = "jupyter-bridge-config";
  configElement.textContent = JSON.stringify(config);
  var roots = document.createElement("div");
  roots.id = "jupyter-bridge-roots";
  container.appendChild(configElement);
  container.appendChild(roots);
  var css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = absolute(assets.css);
  document.head.appendChild(css);
  assets.preload.forEach(function (url) {
    var link = document.createElement("link");
    link.rel = "modulepreload";
    link.href = absolute(url);
    document.head.appendChild(link);
  });
  var client = document.createElement("script");
  client.type = "module";
  client.src = absolute(assets.js);
  document.head.appendChild(client);
})();
"""


class AutoloadHandler(SessionHandler):
    """GET ``<app>/autoload.js``: make (or find) the session, answer the embedding script."""

    def set_default_headers(self) -> None:
        super().set_default_headers()
        # Loaded by <script src> from other sites' pages.
        self.set_header("Cross-Origin-Resource-Policy", "cross-origin")

    async def get(self, url_path: str | None = None) -> None:
        served = await self.served_app(url_path)
        element_id = self.get_query_argument(ELEMENT_ID_ARGUMENT, None)
        if element_id is not None and not 0 < len(element_id) <= 256:
            raise web.HTTPError(400, reason=f"{ELEMENT_ID_ARGUMENT} must be 1 to 256 characters")
        try:
            session = await self.open_session(served, hidden=(ELEMENT_ID_ARGUMENT,))
        except AppError as error:
            log.error("%s: %s\n%s", self.request.path, error, error.traceback)
            raise web.HTTPError(500, reason=reason_phrase(str(error))) from None
        # For the page client: it shares the page with someone else's content.
        config: dict[str, Any] = {**self.client_config(session), "embedded": True}
        assets = {
            "css": self.bridge.asset_url("client.css"),
            "js": self.bridge.asset_url("client.js"),
            "preload": self.bridge.preload_urls(),
        }
        script = (
            _SCRIPT.replace("__ELEMENT_ID__", json.dumps(element_id))
            .replace("__ASSETS__", json.dumps(assets))
            .replace("__CONFIG__", json.dumps(config))
        )
        self.set_header("Content-Type", "application/javascript; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        origin = self.request.headers.get("Origin")
        if origin and origin_allowed(origin, self.bridge.settings.allowed_origins()):
            # Pages allowed to open the session may also fetch() the script.
            self.set_header("Access-Control-Allow-Origin", origin)
        self.set_header("Vary", "Origin")
        self.finish(script)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # A <script> with an error status is not run; the text is for whoever opens the URL.
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"// jupyter_bridge: {status_code} {self._reason}\n")
