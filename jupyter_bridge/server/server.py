"""The standalone server: the route list on a Tornado HTTP server of its own."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable, Mapping
from typing import Any

from tornado import httpserver, ioloop, netutil, web

from ..application import AppSpec
from ..settings import BridgeSettings
from .bridge import Bridge

__all__ = ["Server"]

log = logging.getLogger(__name__)

#: How often development mode looks for changed app files.
DEV_POLL_MS = 500


class Server:
    """Serve apps like ``bokeh serve``: one fresh session per browser connection.

    ``apps`` maps URL paths to apps (an ``Application``, a script path, or a
    ``def app(doc)`` function); a single app is served under its own name.
    Settings are :class:`~jupyter_bridge.settings.BridgeSettings` traits, given as
    ``settings=`` or as keyword arguments (``port=0`` picks a free port).
    ``io_loop`` reuses a running Tornado loop ("embedding as a library").
    """

    def __init__(
        self,
        apps: Mapping[str, AppSpec] | AppSpec,
        io_loop: ioloop.IOLoop | None = None,
        *,
        settings: BridgeSettings | None = None,
        argv: list[str] | None = None,
        extra_patterns: list[tuple[str, type, dict[str, Any]]] | None = None,
        **options: Any,
    ) -> None:
        if settings is not None and options:
            raise TypeError("pass settings= or keyword settings, not both")
        self.settings = settings or BridgeSettings(**options)
        self.bridge = Bridge(apps, self.settings, argv=argv)
        self._io_loop = io_loop
        self._extra_patterns = list(extra_patterns or [])
        self._http: httpserver.HTTPServer | None = None
        self._sockets: list[socket.socket] = []
        self._reaper: ioloop.PeriodicCallback | None = None
        self._watcher: ioloop.PeriodicCallback | None = None
        self._stopped: asyncio.Event | None = None
        self.port: int | None = None

    @property
    def io_loop(self) -> ioloop.IOLoop:
        if self._io_loop is None:
            self._io_loop = ioloop.IOLoop.current()
        return self._io_loop

    def make_tornado_app(self) -> web.Application:
        settings = self.settings
        return web.Application(
            self._extra_patterns + self.bridge.routes(),
            compress_response=True,
            websocket_max_message_size=settings.websocket_max_message_size,
            websocket_ping_interval=settings.keep_alive / 1000 if settings.keep_alive > 0 else None,
            debug=False,
        )

    def start(self) -> None:
        """Listen and start the session reaper; call on (or before starting) the loop."""
        if self._http is not None:
            return
        self._sockets = netutil.bind_sockets(self.settings.port, self.settings.address or None)
        self.port = self._sockets[0].getsockname()[1]
        if self.settings.port == 0:
            # Origins are checked against the port actually served.
            self.settings.port = self.port
        self._http = httpserver.HTTPServer(self.make_tornado_app())
        self._http.add_sockets(self._sockets)
        for manager in self.bridge.managers.values():
            manager.application.on_server_loaded(manager.server_context)
        self._reaper = ioloop.PeriodicCallback(
            self.bridge.destroy_unused_sessions, self.settings.check_unused_sessions
        )
        self.io_loop.add_callback(self._reaper.start)
        if self.settings.dev:
            from .watch import AppWatcher

            self._watcher = ioloop.PeriodicCallback(AppWatcher(self.bridge).check, DEV_POLL_MS)
            self.io_loop.add_callback(self._watcher.start)
        log.info("Serving %s at %s", ", ".join(self.bridge.managers), self.url)

    def stop(self) -> None:
        """Stop listening and reaping; sessions stay until :meth:`shutdown`."""
        for timer in (self._reaper, self._watcher):
            if timer is not None:
                timer.stop()
        self._reaper = self._watcher = None
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self._stopped is not None:
            self._stopped.set()

    async def shutdown(self) -> None:
        """Stop, destroy every session, then run the apps' on_server_unloaded hooks."""
        self.stop()
        await self.bridge.destroy_all_sessions()
        for manager in self.bridge.managers.values():
            manager.application.on_server_unloaded(manager.server_context)

    @property
    def url(self) -> str:
        host = self.settings.address if self.settings.address not in (None, "", "0.0.0.0", "::") else "localhost"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}{self.bridge.prefix}/"

    def app_url(self, path: str) -> str:
        return self.url.rstrip("/") + "/" + path.strip("/")

    def run_until_shutdown(self, on_started: Callable[[], None] | None = None) -> None:
        """Start, run the loop until SIGINT or SIGTERM, then shut down gracefully."""

        async def main() -> None:
            self._stopped = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self._stopped.set)
                except (NotImplementedError, RuntimeError):
                    pass
            self.start()
            if on_started is not None:
                on_started()
            await self._stopped.wait()
            log.info("Shutting down")
            await self.shutdown()

        asyncio.run(main())
