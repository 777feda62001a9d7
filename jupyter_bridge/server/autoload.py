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

The script is answered only to pages the server allows to open its session
sockets (``--allow-websocket-origin``) and to its own: a page of another site
would otherwise get a session made with its visitor's cookies, and its token.
The embedding page is named by ``Origin`` or else ``Referer``; ``Sec-Fetch-Site``
says whether the browser counts it as this server's own. A client that sends
none of them is not a browser, and no visitor's cookies come with it.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from tornado import web

from ..protocol import ELEMENT_ID_ARGUMENT
from ..session import AppError
from .views import SessionHandler, reason_phrase
from .websocket import origin_allowed, origin_host

__all__ = ["ELEMENT_ID_ARGUMENT", "AutoloadHandler"]

log = logging.getLogger(__name__)

_SCRIPT = """\
// jupyter_bridge: embeds one session of an app here (see docs/client.md).
(function () {
  "use strict";
  var elementId = __ELEMENT_ID__;
  var config = __CONFIG__;
  var assets = __ASSETS__;
  var state = __STATE__;
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
  for (var name in config.styles) config.styles[name] = absolute(config.styles[name]);
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
  if (state !== null) {
    // The session's widget state: the app draws before its socket connects.
    var stateElement = document.createElement("script");
    stateElement.type = "application/json";
    stateElement.id = "jupyter-bridge-state";
    stateElement.textContent = JSON.stringify(state);
    container.appendChild(stateElement);
  }
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

    def embedder_allowed(self, origin: str) -> bool:
        """Whether a page of ``origin`` (``scheme://host[:port]``) may embed the app."""
        return origin_allowed(origin, self.bridge.settings.allowed_origins())

    def embedder_fix(self, origin: str) -> str:
        """What allows pages of ``origin`` to embed: the flag, with its value."""
        return f"--allow-websocket-origin={origin_host(origin).removesuffix(':80')}"

    def check_embedder(self) -> None:
        """Refuse (403) a browser's request for the script from a page the server does not allow."""
        headers = self.request.headers
        site = headers.get("Sec-Fetch-Site")
        if site in ("same-origin", "none"):
            return  # this server's own page, or the address typed in
        origin = headers.get("Origin") or _origin_of(headers.get("Referer"))
        if origin is None:
            if site is None:
                return  # not a browser: no visitor's cookies come with it
            log.warning(
                "Refused %s to a %s page that names no origin (no Origin nor Referer header)",
                self.request.path, site,
            )
            raise web.HTTPError(403, reason="a page that sends no Referer cannot embed this app; let it send one")
        if origin == "null":  # a sandboxed frame, a data: URL, a privacy-minded browser
            log.warning("Refused %s to a %s page of an opaque origin (Origin: null)", self.request.path, site)
            raise web.HTTPError(403, reason="a page of an opaque origin (null) cannot embed this app")
        try:
            if self.embedder_allowed(origin):
                return
            fix = self.embedder_fix(origin)
        except ValueError:  # a port that is not a number
            log.warning("Refused %s to a page of the malformed origin %r", self.request.path, origin[:100])
            raise web.HTTPError(403, reason="the page's origin is malformed") from None
        log.warning("Refused %s to a page of %s; to allow it, start the server with %s", self.request.path, origin, fix)
        raise web.HTTPError(403, reason=reason_phrase(f"pages of {origin} may not embed this app; allow them with {fix}"))

    async def get(self, url_path: str | None = None) -> None:
        self.check_embedder()
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
        state = self.page_state(session)
        assets = {
            "css": self.bridge.asset_url("client.css"),
            "js": self.bridge.asset_url("client.js"),
            "preload": [*self.bridge.preload_urls(), *state.preload_urls],
        }
        script = (
            _SCRIPT.replace("__ELEMENT_ID__", json.dumps(element_id))
            .replace("__ASSETS__", json.dumps(assets))
            .replace("__CONFIG__", json.dumps(config))
            # Last: no placeholder is looked for in the widgets' values.
            .replace("__STATE__", state.json or "null")
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


def _origin_of(referer: str | None) -> str | None:
    """``scheme://host[:port]`` of a Referer URL; None without one."""
    if not referer:
        return None
    parts = urlsplit(referer)
    if not parts.scheme or not parts.netloc:
        return "null"
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
