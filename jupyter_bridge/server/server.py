"""The standalone server: a Bridge's routes on a Tornado HTTP server of its own.

The Server owns the sockets, the worker processes and the signals; the Bridge
owns the apps' lifecycle (hooks, reaping, reloading).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tornado import httpserver, ioloop, netutil, web

from ..application import AppSpec
from ..settings import BridgeSettings
from .bridge import Bridge
from .collector import IdleCollector
from .headers import FrameHeaders
from .routes import routes
from .stats import rss_bytes
from .timers import Timers

if TYPE_CHECKING:
    from .loopwatch import LoopWatch

__all__ = ["Server"]

log = logging.getLogger(__name__)


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
        self._timers = Timers()
        self._loop_watch: LoopWatch | None = None
        self._collector = IdleCollector(lambda: self.bridge.session_count)
        self._stopped: asyncio.Event | None = None
        self.port: int | None = None

    @property
    def io_loop(self) -> ioloop.IOLoop:
        if self._io_loop is None:
            self._io_loop = ioloop.IOLoop.current()
        return self._io_loop

    def make_tornado_app(self) -> web.Application:
        settings = self.settings
        application = web.Application(
            self._extra_patterns + routes(self.bridge),
            compress_response=True,
            websocket_max_message_size=settings.websocket_max_message_size,
            websocket_ping_interval=settings.keep_alive / 1000 if settings.keep_alive > 0 else None,
            cookie_secret=settings.cookie_secret,
            xsrf_cookies=settings.enable_xsrf_cookies,
            login_url=self.bridge.auth.login_url if self.bridge.auth else None,
            debug=False,
        )
        application.add_transform(FrameHeaders.for_settings(settings))
        return application

    def bind(self) -> list[socket.socket]:
        """Open the listening sockets (before forking worker processes, they share them)."""
        if not self._sockets:
            if self.settings.unix_socket:
                self._sockets = [netutil.bind_unix_socket(self.settings.unix_socket)]
            else:
                self._sockets = netutil.bind_sockets(self.settings.port, self.settings.address or None)
                self.port = self._sockets[0].getsockname()[1]
                if self.settings.port == 0:
                    # Origins are checked against the port actually served.
                    self.settings.port = self.port
        return self._sockets

    def start(self) -> None:
        """Listen, start the apps and the periodic work; call on (or before starting) the loop."""
        if self._http is not None:
            return
        settings = self.settings
        self.bind()
        self._http = httpserver.HTTPServer(
            self.make_tornado_app(),
            xheaders=settings.use_xheaders,
            ssl_options=self._ssl_context(),
            # A client slow to send its headers or body (slowloris) is not kept for an hour.
            idle_connection_timeout=settings.idle_connection_timeout,
            body_timeout=settings.body_timeout,
        )
        self._http.add_sockets(self._sockets)
        self.bridge.start(self.io_loop)
        self._warn_of_open_settings()
        self._timers.every(self.io_loop, settings.stats_log_frequency, self.log_stats)
        self._timers.every(self.io_loop, settings.mem_log_frequency, self.log_memory)
        from .loopwatch import LoopWatch

        self._loop_watch = LoopWatch(self.io_loop.asyncio_loop).start()  # type: ignore[attr-defined]
        if settings.full_gc == "idle":
            self.io_loop.add_callback(self._collector.start)
        log.info("Serving at %s: %s", self.url, ", ".join(self.app_url(path) for path in self.bridge.apps))
        if settings.session_ids == "unsigned":
            log.warning(
                "--session-ids unsigned: any page may name any session%s; use it only on a trusted network",
                "" if settings.secret_key else ", and anyone may make a token with any request context",
            )
        elif not settings.shares_key:
            log.info(
                "Session ids and tokens are signed with the key kept in %s; set "
                "JUPYTER_BRIDGE_SECRET_KEY to share one with servers on other machines",
                settings.secret_key_file or "Jupyter's runtime directory (jupyter_bridge_secret)",
            )

    def _warn_of_open_settings(self) -> None:
        """Say at start what the settings leave open that an operator may not have meant to."""
        settings = self.settings
        if "*" in settings.allow_websocket_origin:
            log.warning(
                "--allow-websocket-origin '*': pages of any site may open sessions here, with their "
                "visitors' cookies, and frame these pages; name the sites instead "
                "(--allow-websocket-origin example.com)"
            )
        if settings.admin and self.bridge.auth is not None and not settings.admin_users:
            log.warning(
                "--admin with --auth-module but no --admin-users: nobody may open /admin; "
                "name its users (--admin-users NAME, or '*' for every logged-in user)"
            )

    def _ssl_context(self) -> ssl.SSLContext | None:
        settings = self.settings
        if not settings.ssl_certfile:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(
            settings.ssl_certfile,
            settings.ssl_keyfile or None,
            password=os.environ.get("JUPYTER_BRIDGE_SSL_PASSWORD") or None,
        )
        return context

    def stop(self) -> None:
        """Stop listening and the periodic work; sessions stay until :meth:`shutdown`."""
        self.bridge.halt()
        self._timers.stop()
        if self._loop_watch is not None:
            self._loop_watch.stop()
            self._loop_watch = None
        self._collector.stop()
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self._stopped is not None:
            self._stopped.set()

    async def shutdown(self) -> None:
        """Stop, destroy every session, then run the apps' on_server_unloaded hooks."""
        self.stop()
        await self.bridge.shutdown()

    def stats(self) -> dict[str, Any]:
        """Every figure the admin page and /metrics show (see server/stats.py)."""
        from .stats import server_stats

        return server_stats(self.bridge)

    def log_stats(self) -> None:
        log.info(
            "[pid %d] %d sessions, %d connections",
            os.getpid(),
            self.bridge.session_count,
            self.bridge.connection_count,
        )

    def log_memory(self) -> None:
        from ipywidgets.widgets.widget import _instances

        log.info(
            "[pid %d] memory: RSS %.1f MB, %d widgets, %d sessions, gc counts %s",
            os.getpid(),
            rss_bytes() / 2**20,
            len(_instances),
            self.bridge.session_count,
            gc.get_count(),
        )

    @property
    def url(self) -> str:
        settings = self.settings
        scheme = "https" if settings.ssl_certfile else "http"
        if settings.unix_socket:
            return f"{scheme}+unix://{settings.unix_socket}{self.bridge.prefix}/"
        host = settings.address if settings.address not in (None, "", "0.0.0.0", "::") else "localhost"
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}{self.bridge.prefix}/"

    def app_url(self, path: str) -> str:
        return self.url.rstrip("/") + "/" + path.strip("/")

    def run_until_shutdown(self, on_started: Callable[[], None] | None = None) -> None:
        """Serve until SIGINT or SIGTERM, then shut down gracefully.

        With ``num_procs`` other than 1 the listening sockets are opened once and
        shared by that many worker processes; the first process waits for them and
        passes SIGINT/SIGTERM on.
        """
        procs = 1 if self.settings.dev else self.settings.num_procs
        if procs == 0:
            procs = os.cpu_count() or 1
        self.bind()
        if procs > 1 and _fork_workers(procs, on_started):
            return

        async def main() -> None:
            self._stopped = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self._stopped.set)
                except (NotImplementedError, RuntimeError):
                    pass
            if not logging.getLogger().handlers:
                # Called from a program that set up no logging: say where it serves, as the CLI does.
                logging.basicConfig(level=logging.INFO, format=self.settings.log_format)
            self.start()
            if on_started is not None and procs == 1:
                on_started()
            await self._stopped.wait()
            log.info("[pid %d] shutting down", os.getpid())
            await self.shutdown()

        asyncio.run(main())


#: How many dead workers the first process replaces before it gives up (as Tornado's fork_processes).
MAX_WORKER_RESTARTS = 100


def _fork_workers(count: int, on_started: Callable[[], None] | None) -> bool:
    """Fork ``count`` workers; in the parent, keep them running and return True.

    A worker that dies without being asked (killed, crashed) is reported and
    replaced, as ``bokeh serve --num-procs`` (Tornado) does; its pages reconnect to
    another worker, which recreates their sessions from the pages' tokens.
    """
    children: set[int] = set()
    stopping = False

    def fork() -> int:
        pid = os.fork()
        if pid == 0:
            # A replacement starts with the first process's handlers: its own come later.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        else:
            children.add(pid)
        return pid

    for _ in range(count):
        if fork() == 0:
            return False  # a worker: go on serving
    log.info("Started %d worker processes: %s", count, ", ".join(map(str, sorted(children))))
    if on_started is not None:
        on_started()

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    failed = restarts = 0
    while children:
        try:
            pid, status = os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            break
        children.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        if code == 0 or stopping:
            failed += code != 0
            continue
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        if restarts >= MAX_WORKER_RESTARTS:
            log.error("Worker %d died (%s); %d restarts already, not replacing it", pid, how, restarts)
            failed += 1
            continue
        restarts += 1
        replacement = fork()
        if replacement == 0:
            return False  # the replacement: serve
        log.error("Worker %d died (%s); its pages reconnect to other workers; started worker %d in its place",
                  pid, how, replacement)
    if failed:
        raise SystemExit(1)
    return True
