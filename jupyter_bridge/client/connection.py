"""The client's plumbing: its background event loop, the page request and the socket.

Every network call of the client API runs on one daemon thread with its own
asyncio loop, so the API is usable from plain synchronous code and from a
notebook whose own loop is busy. Failures become one clear :class:`ClientError`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import json
import re
import socket
import ssl
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from ..protocol import CLIENT_ARGUMENT, SUBPROTOCOL
from .errors import (
    AppFailedError,
    AppNotFoundError,
    ClientError,
    OriginRefusedError,
    ServerUnreachableError,
)

__all__ = ["client_loop", "fetch_config", "open_socket", "query_string", "split_app_url", "ws_url"]

T = TypeVar("T")

#: Frames from the server may carry large binary buffers (plots' data).
MAX_MESSAGE_SIZE = 256 * 1024 * 1024

_CONFIG = re.compile(r'<script[^>]*\bid="jupyter-bridge-config"[^>]*>(.*?)</script>', re.S)
_ERROR_MESSAGE = re.compile(r'<p class="jb-error-message">(.*?)</p>', re.S)


class ClientLoop:
    """One daemon thread running an asyncio loop for every client session of the process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(started,), name="jupyter-bridge-client", daemon=True
        )
        self.thread.start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        self.loop.run_forever()

    def on_loop(self) -> bool:
        return threading.current_thread() is self.thread

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float, what: str) -> T:
        """Run ``coroutine`` on the loop and wait for it; ClientError after ``timeout`` seconds."""
        if self.on_loop():
            coroutine.close()
            raise RuntimeError(
                f"cannot {what} from the client's own thread (an observer of a mirror "
                "widget runs there); do it from your own code, or in a thread of its own"
            )
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, timeout), self.loop)
        try:
            return future.result(timeout + 5)
        except (TimeoutError, concurrent.futures.TimeoutError):
            future.cancel()
            raise ClientError(f"could not {what} within {timeout:g} s; pass a larger timeout=") from None

    def call_soon(self, callback: Any, *args: Any) -> None:
        """Run ``callback(*args)`` on the loop, soon; safe from any thread, keeps order."""
        self.loop.call_soon_threadsafe(callback, *args)


_loop: ClientLoop | None = None
_loop_lock = threading.Lock()


def client_loop() -> ClientLoop:
    """The process's client loop, started on first use."""
    global _loop
    with _loop_lock:
        if _loop is None or not _loop.thread.is_alive():
            _loop = ClientLoop()
        return _loop


def split_app_url(url: str) -> tuple[str, str]:
    """('http://host:5006', '/sliders') for 'http://host:5006/sliders/'; checks the scheme."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a string like 'http://localhost:5006/sliders', not {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ClientError(
            f"{url!r} is not an app URL; give the app's page address, like 'http://localhost:5006/sliders'"
        )
    return f"{parts.scheme}://{parts.netloc}", "/" + parts.path.strip("/")


def query_string(arguments: Mapping[str, Any] | None) -> str:
    """'N=10&tag=a&tag=b' for {'N': 10, 'tag': ['a', 'b']} (bytes are decoded as UTF-8)."""
    if not arguments:
        return ""
    pairs = []
    for name, value in arguments.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            pairs.append((name, item.decode("utf-8") if isinstance(item, bytes) else str(item)))
    return urlencode(pairs)


def ws_url(page_url: str, path: str) -> str:
    """The socket URL for an absolute ``path`` on the server of ``page_url``."""
    parts = urlsplit(page_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path, _, query = path.partition("?")
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def _unreachable(url: str, error: BaseException) -> ServerUnreachableError:
    base = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    reason = str(error) or type(error).__name__
    return ServerUnreachableError(
        f"cannot reach a jupyter_bridge server at {base} ({reason}); start it "
        "(jupyter-bridge serve app.py) or check the host and port"
    )


async def fetch_config(page_url: str, headers: Mapping[str, str], timeout: float) -> tuple[str, dict[str, Any]]:
    """Load an app page (which creates its session): its final URL and its session config."""
    request = HTTPRequest(
        page_url,
        headers=dict(headers),
        follow_redirects=True,
        connect_timeout=timeout,
        request_timeout=timeout,
    )
    try:
        response = await AsyncHTTPClient().fetch(request)
    except HTTPClientError as error:
        raise _http_error(page_url, error) from None
    except (OSError, ssl.SSLError, socket.gaierror) as error:
        raise _unreachable(page_url, error) from None
    text = response.body.decode("utf-8", "replace")
    found = _CONFIG.search(text)
    if found is None:
        raise ClientError(
            f"{response.effective_url} is not a jupyter_bridge app page (it has no session "
            "config); check the URL, and pass headers= if the server needs a login"
        )
    return response.effective_url, json.loads(found.group(1))


def _http_error(url: str, error: HTTPClientError) -> ClientError:
    if error.code == 599:
        return _unreachable(url, error)
    response = error.response
    reason = response.reason if response is not None else str(error)
    if error.code == 404:
        base = "{0.scheme}://{0.netloc}/".format(urlsplit(url))
        return AppNotFoundError(
            f"there is no app at {url.split('?')[0]} (HTTP 404); check the app's path — "
            f"the server's index {base} lists its apps"
        )
    if error.code == 500:
        body = response.body.decode("utf-8", "replace") if response is not None and response.body else ""
        found = _ERROR_MESSAGE.search(body)
        message = html.unescape(found.group(1)).strip() if found else "see the server's log"
        return AppFailedError(f"the app at {url.split('?')[0]} failed while building the session: {message}")
    if error.code == 403:
        return ClientError(f"the server refused {url.split('?')[0]} (HTTP 403: {reason})")
    return ClientError(f"the server answered {url.split('?')[0]} with HTTP {error.code} {reason}")


async def open_socket(
    url: str,
    token: str,
    headers: Mapping[str, str],
    origin: str | None,
    timeout: float,
    *,
    python_side: bool = False,
) -> WebSocketClientConnection:
    """Open a session socket, offering the protocol and the token (docs/protocol.md).

    ``python_side``: this process holds the session's widgets' Python side (it
    pushed them); the URL says so (``?client=python``), and the server passes it
    the custom messages pages send them.
    """
    if python_side:
        url += f"{'&' if '?' in url else '?'}{CLIENT_ARGUMENT}=python"
    all_headers = dict(headers)
    if origin is not None:
        all_headers["Origin"] = origin
    request = HTTPRequest(url, headers=all_headers, connect_timeout=timeout, request_timeout=timeout)
    try:
        return await websocket_connect(
            request, subprotocols=[SUBPROTOCOL, token], max_message_size=MAX_MESSAGE_SIZE
        )
    except HTTPClientError as error:
        if error.code == 403:
            raise OriginRefusedError(_origin_refused(url, origin)) from None
        if error.code == 404:
            raise AppNotFoundError(
                f"there is no app socket at {url.split('?')[0]} (HTTP 404); check the app's path"
            ) from None
        raise _http_error(url, error) from None
    except (OSError, ssl.SSLError, socket.gaierror) as error:
        raise _unreachable(url, error) from None


def _origin_refused(url: str, origin: str | None) -> str:
    if origin is None:
        return (
            f"the server refused the WebSocket connection to {url.split('?')[0]} (HTTP 403); "
            "a proxy or the server's authentication may require an Origin or a login header"
        )
    parts = urlsplit(origin)
    host = parts.hostname or origin
    port = parts.port or (443 if parts.scheme == "https" else 80)
    flag = host if port == 80 else f"{host}:{port}"
    return (
        f"the server refused the WebSocket connection from origin {origin} (HTTP 403); start "
        f"the server with --allow-websocket-origin={flag}, or leave origin= unset"
    )

