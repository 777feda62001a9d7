"""The server's settings: one traitlets object read by the CLI and the Jupyter extension.

Every option is a trait here, so it can be set on the command line
(``--unused-session-lifetime 30000``), in code (``Server(apps, port=0)``) or in a
Jupyter config file. The CLI builds its flags from these traits, with their help.
"""

from __future__ import annotations

import argparse
import base64
import difflib
import importlib.util
import logging
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from traitlets import Bool, Enum, HasTraits, Int, List, TraitError, TraitType, Unicode, Union
from traitlets.config import Configurable

log = logging.getLogger(__name__)

__all__ = [
    "BridgeSettings",
    "SettingError",
    "accepted_values",
    "add_arguments",
    "arguments_given",
    "checked_value",
    "close_match",
    "environment_settings",
    "origin_entry",
]


def close_match(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` was most likely meant to be (for "did you mean"), or None."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def accepted_values(trait: TraitType, *, in_environment: bool = False) -> str:
    """What ``trait`` accepts, said for a person: the fix half of a bad-value message."""
    if isinstance(trait, Enum):
        choices = ", ".join(str(value) for value in trait.values or [])
        return f"one of {choices}"
    if isinstance(trait, Bool):
        return "1/0, true/false, yes/no or on/off" if in_environment else "True or False"
    if isinstance(trait, Int):
        return "a whole number"
    if isinstance(trait, List):
        return "a comma-separated list" if in_environment else "a list of strings"
    return "a string" + ("" if in_environment or not trait.allow_none else " or None")


def checked_value(name: str, value: Any, where: str) -> Any:
    """``value`` for the setting ``name``, validated; ValueError naming the option, ``where`` and the fix."""
    trait = BridgeSettings.class_traits()[name]
    if value is None and trait.allow_none:
        return None
    try:
        # Any HasTraits will do as the owner: the checks read nothing else of it.
        return trait.validate(HasTraits(), value)
    except TraitError:
        raise ValueError(f"{where}: {value!r} is not a valid value; it takes {accepted_values(trait)}") from None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def environment_settings(environ: Mapping[str, str] | None = None) -> dict[str, tuple[Any, str]]:
    """The settings ``JUPYTER_BRIDGE_*`` variables give, as ``{name: (value, variable)}``.

    Only the options Bokeh also takes from its environment have a variable (its
    ``BOKEH_DEFAULT_SERVER_PORT`` is our ``JUPYTER_BRIDGE_PORT``, and so on); an
    empty variable counts as unset. A value that cannot be read raises ValueError
    naming the variable and what it accepts.
    """
    environ = os.environ if environ is None else environ
    found: dict[str, tuple[Any, str]] = {}
    for name, trait in BridgeSettings.class_traits(env=lambda env: env is not None).items():
        variable = trait.metadata["env"]
        text = environ.get(variable, "").strip()
        if not text:
            continue
        value: Any = _from_text(trait, text)
        if value is None:
            raise ValueError(
                f"environment variable {variable}={text!r} is not valid; it takes "
                f"{accepted_values(trait, in_environment=True)}"
            )
        found[name] = (value, variable)
    return found


def _from_text(trait: TraitType, text: str) -> Any:
    """An environment variable's text as ``trait``'s type, or None when it is not one."""
    if isinstance(trait, Bool):
        word = text.lower()
        return (word in _TRUE) if word in _TRUE | _FALSE else None
    if isinstance(trait, Int):
        try:
            return int(text)
        except ValueError:
            return None
    if isinstance(trait, List):
        return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(trait, Enum):
        return text.lower() if text.lower() in (trait.values or []) else None
    return text


class SettingError(ValueError):
    """A setting that cannot work (with the others); ``name`` is the option to change."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class BridgeSettings(Configurable):
    """How a jupyter_bridge server serves its apps."""

    port = Int(5006, help="Port to listen on (0 picks a free port).").tag(
        config=True, cli=True, env="JUPYTER_BRIDGE_PORT"
    )
    address = Unicode(
        None,
        allow_none=True,
        help="Address to listen on (default: all interfaces).",
    ).tag(config=True, cli=True, env="JUPYTER_BRIDGE_ADDRESS")
    prefix = Unicode(
        "",
        help="URL prefix for every page and socket, e.g. /apps when behind a proxy at /apps.",
    ).tag(config=True, cli=True)
    allow_websocket_origin = List(
        Unicode(),
        help=(
            "A [SCHEME://]HOST[:PORT] whose pages may open session WebSockets and frame the "
            "server's pages (repeatable; also JUPYTER_BRIDGE_ALLOW_WS_ORIGIN, comma-separated). "
            "By default only localhost:PORT and the served address:PORT are allowed. Without a "
            "scheme any scheme matches, and a missing port means 80; with one (https://host) "
            "only that scheme, and its default port. '*' allows any site (warned at start)."
        ),
    ).tag(config=True, cli=True, metavar="[SCHEME://]HOST[:PORT]", env="JUPYTER_BRIDGE_ALLOW_WS_ORIGIN")
    frame_ancestors = List(
        Unicode(),
        help=(
            "A site whose pages may show this server's pages in a frame, as a "
            "Content-Security-Policy frame-ancestors source ([SCHEME://]HOST[:PORT], "
            "repeatable), besides the server's own origin and --allow-websocket-origin's. "
            "'*' lets any site frame them (no framing header is sent)."
        ),
    ).tag(config=True, cli=True, metavar="SOURCE")
    disable_index = Bool(False, help="Do not serve the index page at /.").tag(config=True, cli=True)
    disable_index_redirect = Bool(
        False, help="With a single app, show the index page at / instead of redirecting to the app."
    ).tag(config=True, cli=True)
    unused_session_lifetime = Int(
        15000,
        help="How long (ms) a session with no open connection lives before it is destroyed. "
        "A session whose connection dropped without closing (its page may come back) lives at "
        "least as long as its token (--session-token-expiration); one whose page never "
        "connected lives --unconnected-session-lifetime.",
    ).tag(config=True, cli=True, metavar="MS")
    check_unused_sessions = Int(
        17000, help="How often (ms) to look for unused sessions to destroy."
    ).tag(config=True, cli=True, metavar="MS")
    keep_alive = Int(
        37000,
        help="Interval (ms) of WebSocket keep-alive pings; 0 disables them. Keep it under "
        "your proxy's idle timeout (often 60 s).",
    ).tag(config=True, cli=True, metavar="MS")
    websocket_max_message_size = Int(
        20 * 1024 * 1024,
        help="Largest WebSocket message (bytes) a client may send; larger ones close the socket.",
    ).tag(config=True, cli=True, metavar="BYTES")
    websocket_max_unsent = Int(
        16 * 1024 * 1024,
        help="Bytes of updates a session socket may hold unsent, its client reading too slowly "
        "(a stuck tab, a saturated link), before the server closes it; the page then reconnects "
        "and resumes, or is told to reload. 0: no limit.",
    ).tag(config=True, cli=True, metavar="BYTES")
    websocket_max_buffers = Int(
        10_000,
        help="Most binary buffers one WebSocket message may carry; a frame announcing more is "
        "refused from its header, before it is split into parts. 0: no limit.",
    ).tag(config=True, cli=True, metavar="N")
    max_document_roots = Int(
        1000,
        help="Most roots a page may ask its session's document to show; a doc message naming "
        "more is refused (the app's own add_root is not limited). 0: no limit.",
    ).tag(config=True, cli=True, metavar="N")
    max_title_length = Int(
        1000,
        help="Longest document title (characters) a page may set; a longer one is refused. 0: no limit.",
    ).tag(config=True, cli=True, metavar="N")
    max_page_state = Int(
        1024 * 1024,
        help="Largest widget state (bytes of JSON) a page's HTML carries, so that the page shows "
        "its widgets before its socket connects; a session whose state is larger sends it over "
        "the socket instead. 0: every session sends it over the socket.",
    ).tag(config=True, cli=True, metavar="BYTES")
    max_session_state = Int(
        64 * 1024 * 1024,
        help="Bytes of widget state the pages of one session may make it hold: the values and "
        "buffers they send to its widgets and the state of widgets they open. A message that "
        "would go beyond it is refused. 0: no limit.",
    ).tag(config=True, cli=True, metavar="BYTES")
    max_session_widgets = Int(
        20_000,
        help="Widgets a session may hold before its pages may open no more of their own "
        "(the app's own widgets are not limited). 0: no limit.",
    ).tag(config=True, cli=True, metavar="N")
    max_sessions = Int(
        10_000,
        help="Most sessions one process holds at once. Beyond it a page load answers 503 and "
        "a socket that would recreate a session is closed (code 1013, try again later). 0: no limit.",
    ).tag(config=True, cli=True, metavar="N")
    full_gc = Enum(
        ["python", "idle"],
        default_value="python",
        help="When Python's full garbage collections may run (each looks at every object of the "
        "process: 100 ms and more with many sessions, during which no session is answered). python: "
        "whenever Python decides. idle: once Python would run one, at the first moment the server "
        "has nothing else to do (within 10 s), so that a burst of page loads is not stalled by them; "
        "at once if sessions were destroyed since the last (their garbage would pile up).",
    ).tag(config=True, cli=True)
    prepared_sessions = Int(
        0,
        help="Sessions to keep built ahead of their pages, per app that allows it (it sets "
        "curdoc().prepare_ahead = True and reads the request only in on_session_request): a page "
        "takes a ready one, with its request applied, instead of waiting for the app to run. "
        "They are built while the server is idle, one at a time, and count against "
        "--max-sessions. 0: none.",
    ).tag(config=True, cli=True, metavar="N")
    unconnected_session_lifetime = Int(
        30_000,
        help="How long (ms) a session whose page never connected lives (a page load whose "
        "scripts never ran, or a script fetching pages), if its token "
        "(--session-token-expiration) is not shorter. A page that connects in time is unaffected; "
        "one that comes later gets its session rebuilt from its token.",
    ).tag(config=True, cli=True, metavar="MS")
    session_token_expiration = Int(
        300,
        help="Seconds a page's session token stays valid for opening a new session.",
    ).tag(config=True, cli=True, metavar="SECONDS")
    notebook_layout = Enum(
        ["cells", "roots"],
        "cells",
        help="What a served notebook's page shows: every cell's output and markdown "
        "(cells), or only its widget roots (roots).",
    ).tag(config=True, cli=True)
    session_ids = Enum(
        ["unsigned", "signed", "external-signed"],
        "signed",
        help="How session ids are made: signed (the server signs the ids it makes; a page may "
        "name one only to join its live session), external-signed (only ids signed by another "
        "process holding the key are accepted: pages need ?jb-session-id=), or unsigned (anyone "
        "may name a session, and without a key anyone may make a token: only for a trusted "
        "network). Without JUPYTER_BRIDGE_SECRET_KEY the server signs with the key it keeps in --secret-key-file; "
        "external-signed needs the shared key.",
    ).tag(config=True, cli=True, env="JUPYTER_BRIDGE_SESSION_IDS")
    secret_key = Unicode(
        None,
        allow_none=True,
        help="Key that signs session ids and tokens and encrypts what tokens carry; set "
        "JUPYTER_BRIDGE_SECRET_KEY rather than a config file (make one with `jupyter-bridge "
        "secret`). Every process behind one address must share it; without it the server signs "
        "with the key it keeps in secret_key_file, which its --num-procs workers and later "
        "starts of servers of the same user on this machine share.",
    ).tag(config=True, env="JUPYTER_BRIDGE_SECRET_KEY")
    secret_key_file = Unicode(
        "",
        help="Where the server keeps the key it signs with when JUPYTER_BRIDGE_SECRET_KEY is not "
        "set: made on first start (readable by its user only) and read on every later one, so "
        "a restarted server still accepts its open pages' tokens (their pages come back). "
        "Empty: jupyter_bridge_secret in Jupyter's runtime directory, beside Jupyter's own "
        "cookie secret.",
    ).tag(config=True)
    session_token_credentials = Bool(
        False,
        help="Put the page request's credentials (its cookies, Authorization header and _xsrf) "
        "in its session token too, so that a session another process recreates from the token "
        "sees them. The token is encrypted with the secret key; in the unsigned mode without a "
        "key, page scripts and other sites could read them. Off, the session made by the page "
        "request sees them, and a recreated one does not.",
    ).tag(config=True, cli=True)
    include_headers = List(
        Unicode(),
        help="Only these request headers reach the app (session_context.request) and the session "
        "token (repeatable).",
    ).tag(config=True, cli=True, metavar="HEADER")
    exclude_headers = List(
        Unicode(), help="Request headers kept from the app and the session token (repeatable)."
    ).tag(config=True, cli=True, metavar="HEADER")
    include_cookies = List(
        Unicode(),
        help="Only these cookies reach the app (repeatable); a token carries cookies only with "
        "--session-token-credentials.",
    ).tag(config=True, cli=True, metavar="COOKIE")
    exclude_cookies = List(
        Unicode(), help="Cookies kept from the app and the session token (repeatable)."
    ).tag(config=True, cli=True, metavar="COOKIE")
    num_procs = Int(
        1,
        help="Worker processes sharing the port (0: one per core). A socket that reaches a "
        "process without its session recreates it from the page's token. --dev forces 1.",
    ).tag(config=True, cli=True)
    use_xheaders = Bool(
        False,
        help="Behind a proxy: take the client's address and scheme from X-Real-Ip / "
        "X-Forwarded-For and X-Scheme / X-Forwarded-Proto. The proxy must set (or remove) "
        "those headers, never pass a client's own through.",
    ).tag(config=True, cli=True)
    idle_connection_timeout = Int(
        60,
        help="Seconds a connection may take to send a request's headers, in full, and may "
        "stay idle between requests, before it is closed (open WebSockets are not affected).",
    ).tag(config=True, cli=True, metavar="SECONDS")
    body_timeout = Int(
        60, help="Seconds a client may take to send a request's body before its connection is closed."
    ).tag(config=True, cli=True, metavar="SECONDS")
    ssl_certfile = Unicode(
        None, allow_none=True, help="Serve HTTPS with this certificate (PEM) file."
    ).tag(config=True, cli=True, metavar="FILE", env="JUPYTER_BRIDGE_SSL_CERTFILE")
    ssl_keyfile = Unicode(
        None,
        allow_none=True,
        help="The certificate's private key file; its password, if any, comes from "
        "JUPYTER_BRIDGE_SSL_PASSWORD.",
    ).tag(config=True, cli=True, metavar="FILE", env="JUPYTER_BRIDGE_SSL_KEYFILE")
    unix_socket = Unicode(
        None, allow_none=True, help="Listen on this Unix socket instead of a TCP port."
    ).tag(config=True, cli=True, metavar="PATH")
    auth_module = Unicode(
        None,
        allow_none=True,
        help="A Python file deciding who may open apps: it defines get_user(handler) or "
        "get_user_async(handler), and login_url or LoginHandler (optionally logout_url or "
        "LogoutHandler), as for Bokeh.",
    ).tag(config=True, cli=True, metavar="FILE", env="JUPYTER_BRIDGE_AUTH_MODULE")
    cookie_secret = Unicode(
        None,
        allow_none=True,
        help="Secret for Tornado's signed cookies (set_secure_cookie), needed by auth modules "
        "that use them; JUPYTER_BRIDGE_COOKIE_SECRET sets it without showing it in the "
        "process list.",
    ).tag(config=True, cli=True, metavar="SECRET", env="JUPYTER_BRIDGE_COOKIE_SECRET")
    enable_xsrf_cookies = Bool(
        False,
        help="Protect against cross-site request forgery as Tornado does: pages set an _xsrf "
        "cookie, every POST/PUT/DELETE (e.g. an auth module's login form) must carry its value, "
        "and so must every browser's session WebSocket.",
    ).tag(config=True, cli=True, env="JUPYTER_BRIDGE_XSRF_COOKIES")
    websocket_compression_level = Int(
        None,
        allow_none=True,
        help="zlib level (-1 to 9) of WebSocket compression; 0 stores without compressing.",
    ).tag(config=True, cli=True, metavar="LEVEL")
    websocket_compression_mem_level = Int(
        None, allow_none=True, help="zlib memory level (1 to 9) of WebSocket compression."
    ).tag(config=True, cli=True, metavar="LEVEL")
    log_format = Unicode(
        "%(asctime)s %(levelname)s %(name)s: %(message)s", help="Python logging format of log lines."
    ).tag(config=True, cli=True, metavar="FORMAT")
    log_file = Unicode(
        None, allow_none=True, help="Write the log to this file instead of standard error."
    ).tag(config=True, cli=True, metavar="FILE")
    stats_log_frequency = Int(
        15000, help="How often (ms) to log the number of sessions and connections; 0 never."
    ).tag(config=True, cli=True, metavar="MS")
    mem_log_frequency = Int(
        0, help="How often (ms) to log memory use (RSS, widgets, sessions); 0 never."
    ).tag(config=True, cli=True, metavar="MS")
    allow_push = Bool(
        False,
        help="Let jupyter_bridge.client.push_session push to any app, as Bokeh does: the pushed "
        "document replaces the app's in a new session. Anyone who can reach the server may then "
        "publish widgets at its origin (an HTML widget shows any markup): allow it only where "
        "every client is trusted, or with an auth module.",
    ).tag(config=True, cli=True)
    page_widgets = List(
        Unicode(),
        help="A widget model that pages may open themselves, as MODULE:MODEL "
        "(jupyter-threejs:MeshModel; repeatable), of a class an installed library defines; '*' "
        "allows any such class. By default a page opens only the models known libraries' front "
        "ends make (pythreejs's shadows and cameras) and the classes its app allows with "
        "curdoc().allow_page_widgets(); a class that app code defines is never allowed here.",
    ).tag(config=True, cli=True, metavar="MODULE:MODEL")
    dev = Bool(
        False,
        help="Development mode: reload an app when its files change (open pages load "
        "again, with a fresh session), and show tracebacks in pages and error messages.",
    ).tag(config=True, cli=True, env="JUPYTER_BRIDGE_DEV")
    admin = Bool(
        False,
        help="Serve /admin: live figures of sessions, traffic, slow callbacks, loop lag and "
        "memory. With --auth-module, to the users --admin-users names; without one, to "
        "browsers on this machine connecting directly (never through a proxy).",
    ).tag(config=True, cli=True)
    admin_users = List(
        Unicode(),
        help="A user of the auth module who may open /admin (repeatable; the name get_user "
        "returns, or its 'username'/'name'); '*' lets every logged-in user in.",
    ).tag(config=True, cli=True, metavar="USER")
    metrics = Bool(
        False, help="Serve /metrics: the server's figures in Prometheus' text format."
    ).tag(config=True, cli=True)
    page_frame = Enum(
        ["header", "none"],
        "header",
        help="The frame around an app's page: a slim header with the title and the "
        "connection state (header), or the roots alone (none). One app can turn it off "
        "with curdoc().template_variables['page_frame'] = 'none'.",
    ).tag(config=True, cli=True)
    theme = Enum(
        ["auto", "light", "dark"],
        "auto",
        help="Colours of the pages and of the widgets' --jp-* variables: light, dark, or "
        "auto (follow the browser's prefers-color-scheme).",
    ).tag(config=True, cli=True)
    log_level = Enum(
        ["trace", "debug", "info", "warning", "error", "critical"],
        "info",
        help="How much to log.",
    ).tag(config=True, cli=True, env="JUPYTER_BRIDGE_LOG_LEVEL")

    def __init__(self, **kwargs: Any) -> None:
        names = self.trait_names(config=True)
        unknown = sorted(set(kwargs) - set(names) - {"parent", "config"})
        if unknown:
            hints = [close_match(name, names) for name in unknown]
            if any(hints):
                said = "; ".join(f"{name}: did you mean {hint}?" for name, hint in zip(unknown, hints) if hint)
                raise TypeError(f"unknown server setting(s) {', '.join(unknown)} ({said})")
            known = ", ".join(sorted(names))
            raise TypeError(f"unknown server setting(s) {', '.join(unknown)}; known: {known}")
        # An environment variable sets what neither the caller nor a config object did
        # (JUPYTER_BRIDGE_SECRET_KEY, JUPYTER_BRIDGE_PORT, ...: see environment_settings).
        parent = kwargs.get("parent")
        config = kwargs.get("config") or (parent.config if parent is not None else None) or {}
        configured = config[type(self).__name__] if type(self).__name__ in config else {}
        for name, (value, _variable) in environment_settings().items():
            if name not in kwargs and name not in configured:
                kwargs[name] = value
        super().__init__(**kwargs)

    @property
    def signing_key(self) -> bytes | None:
        """The key that signs tokens (and ids, in the signed modes); None without one.

        Without a secret key the signed modes use the key in ``secret_key_file``,
        made there the first time (as Jupyter keeps its cookie secret), so that a
        restarted server still reads the tokens of the pages it left open; the
        server asks before it forks its workers, so they share it. Where no file
        can be written, a key made for this start.
        """
        if self.secret_key:
            return self.secret_key.encode("utf-8")
        if self.session_ids == "unsigned":
            return None
        if self._start_key is None:
            self._start_key = _kept_key(self.secret_key_file or _default_key_file())
        return self._start_key

    _start_key: bytes | None = None

    @property
    def shares_key(self) -> bool:
        """Whether the signing key is one other processes can hold (JUPYTER_BRIDGE_SECRET_KEY)."""
        return bool(self.secret_key)

    def check(self) -> None:
        """Raise SettingError, naming the fix, for settings that cannot work together."""
        if self.session_ids == "external-signed" and not self.secret_key:
            raise SettingError(
                "session_ids",
                "--session-ids external-signed needs the key the other process signs ids with: set "
                "JUPYTER_BRIDGE_SECRET_KEY (make one with `jupyter-bridge secret`)",
            )
        if self.ssl_keyfile and not self.ssl_certfile:
            raise SettingError("ssl_keyfile", "--ssl-keyfile needs --ssl-certfile too")
        for name in ("ssl_certfile", "ssl_keyfile", "auth_module"):
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                flag = "--" + name.replace("_", "-")
                raise SettingError(name, f"{flag} {path}: no such file; check the path")
        if self.metrics and importlib.util.find_spec("prometheus_client") is None:
            raise SettingError(
                "metrics", "--metrics needs the prometheus_client package: pip install 'jupyter_bridge[metrics]'"
            )
        for name in ("idle_connection_timeout", "body_timeout"):
            if getattr(self, name) <= 0:
                flag = "--" + name.replace("_", "-")
                raise SettingError(name, f"{flag} must be a number of seconds above 0, not {getattr(self, name)}")
        for entry in self.allow_websocket_origin:
            if entry != "*" and origin_entry(entry) is None:
                raise SettingError(
                    "allow_websocket_origin",
                    f"--allow-websocket-origin {entry!r} is not [SCHEME://]HOST[:PORT]; e.g. example.com, "
                    "example.com:8443 or https://example.com",
                )
        for entry in self.frame_ancestors:
            if entry != "*" and origin_entry(entry) is None:
                raise SettingError(
                    "frame_ancestors",
                    f"--frame-ancestors {entry!r} is not [SCHEME://]HOST[:PORT]; e.g. https://portal.example.com",
                )
        if self.num_procs < 0:
            raise SettingError("num_procs", f"--num-procs must be 0 (one per core) or more, not {self.num_procs}")
        for name in ("websocket_max_buffers", "max_document_roots", "max_title_length",
                     "max_page_state", "max_session_state", "max_session_widgets", "max_sessions", "prepared_sessions",
                     "unconnected_session_lifetime"):
            if getattr(self, name) < 0:
                flag = "--" + name.replace("_", "-")
                raise SettingError(name, f"{flag} must be 0 or more, not {getattr(self, name)}")
        if self.secret_key is not None and len(self.secret_key) < 32:
            raise SettingError(
                "secret_key",
                "JUPYTER_BRIDGE_SECRET_KEY is too short (at least 32 characters); "
                "make one with `jupyter-bridge secret`",
            )

    def allowed_origins(self) -> set[str]:
        """The [scheme://]host:port values whose pages may connect (lower case), or '*'."""
        if self.allow_websocket_origin:
            return {"*" if o == "*" else (origin_entry(o) or o.lower()) for o in self.allow_websocket_origin}
        port = self.port
        hosts = {"localhost", "127.0.0.1", "[::1]"}
        if self.address and self.address not in ("0.0.0.0", "::"):
            hosts.add(f"[{self.address}]" if ":" in self.address else self.address)
        return {f"{host}:{port}" for host in hosts}


_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def origin_entry(text: str) -> str | None:
    """``[scheme://]host[:port]`` as ``[scheme://]host:port`` in lower case; None if it is not one.

    Without a scheme a missing port is 80 (as Bokeh reads its origins); with one,
    that scheme's default port.
    """
    text = text.strip().lower()
    scheme = ""
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme not in _DEFAULT_PORTS:
            return None
    if not text or "/" in text or "@" in text:
        return None
    try:
        parts = urlsplit("//" + text)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    port = port or _DEFAULT_PORTS.get(scheme, 80)
    return f"{scheme}://{host}:{port}" if scheme else f"{host}:{port}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per CLI setting to ``parser``, named and documented from the trait."""
    for name, trait in sorted(BridgeSettings.class_traits(cli=True).items()):
        flag = "--" + name.replace("_", "-")
        metavar = trait.metadata.get("metavar")
        if isinstance(trait, Bool):
            parser.add_argument(flag, action="store_true", default=None, dest=name, help=trait.help)
        elif isinstance(trait, List):
            parser.add_argument(flag, action="append", dest=name, metavar=metavar, help=trait.help)
        elif isinstance(trait, Enum):
            choices = list(trait.values or [])
            parser.add_argument(flag, choices=choices, dest=name, help=f"{trait.help} (default: {trait.default_value})")
        elif isinstance(trait, Int):
            parser.add_argument(
                flag, type=int, dest=name, metavar=metavar or "N",
                help=f"{trait.help} (default: {trait.default_value})",
            )
        elif isinstance(trait, (Unicode, Union)):
            parser.add_argument(flag, dest=name, metavar=metavar or name.upper(), help=trait.help)


def arguments_given(args: argparse.Namespace) -> dict[str, Any]:
    """The settings flags given on a command line parsed with :func:`add_arguments`, by trait name."""
    return {
        name: getattr(args, name)
        for name in BridgeSettings.class_trait_names(cli=True)
        if getattr(args, name, None) is not None
    }


def _default_key_file() -> str:
    from jupyter_core.paths import jupyter_runtime_dir

    return os.path.join(jupyter_runtime_dir(), "jupyter_bridge_secret")


def _kept_key(path: str) -> bytes:
    """The key in ``path``, made there (readable by this user only) if it holds none yet.

    Several servers starting at once make it once: the first creates the file
    (``O_EXCL``), the others read what it wrote.
    """
    for _attempt in range(50):
        try:
            with open(path, "rb") as kept:
                key = base64.b64decode(kept.read().strip() or b"", validate=True)
            if len(key) >= 32:
                return key
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as error:
            log.warning("Could not read the signing key in %s (%s); signing with a key made for this start", path, error)
            return secrets.token_bytes(32)
        else:
            time.sleep(0.01)  # another server is writing it
            continue
        try:
            os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        except OSError as error:
            log.warning("Could not keep a signing key in %s (%s); signing with a key made for this start: "
                        "pages open when it stops will not come back", path, error)
            return secrets.token_bytes(32)
        key = secrets.token_bytes(32)
        with os.fdopen(descriptor, "wb") as kept:
            kept.write(base64.b64encode(key) + b"\n")
        return key
    log.warning("The signing key file %s stayed empty; signing with a key made for this start", path)
    return secrets.token_bytes(32)
