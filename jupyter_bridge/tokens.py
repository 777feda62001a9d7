"""Session ids and session tokens.

A session token carries a session id and the context of the page request that
created the session (arguments, headers, cookies), so that any server process can
recreate the session when a WebSocket reaches it. With a secret key, ids and tokens
are signed with HMAC-SHA256 and checked in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from .contexts import Request

__all__ = [
    "TokenError",
    "check_session_id",
    "generate_secret_key",
    "generate_session_id",
    "make_token",
    "read_token",
]


class TokenError(ValueError):
    """A token that cannot be used; the text names the problem and the fix."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, secret_key: bytes) -> str:
    return _b64(hmac.new(secret_key, payload.encode("ascii"), hashlib.sha256).digest())


def generate_secret_key() -> str:
    """A new random secret key (for ``JUPYTER_BRIDGE_SECRET_KEY``)."""
    return secrets.token_urlsafe(32)


def generate_session_id(secret_key: bytes | None = None) -> str:
    """A random, URL-safe session id (256 bits), signed when a secret key is given.

    A signed id is ``<random>.<signature>``: a server holding the same key can tell
    it made the id (or that an external process sharing the key did).
    """
    session_id = secrets.token_urlsafe(32)
    if secret_key is None:
        return session_id
    return f"{session_id}.{_sign(session_id, secret_key)}"


def check_session_id(session_id: str, secret_key: bytes) -> bool:
    """Whether ``session_id`` was signed with ``secret_key`` (constant-time compare)."""
    value, _, signature = session_id.rpartition(".")
    if not value or not signature:
        return False
    try:
        expected = _sign(value, secret_key)
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(signature.encode("ascii", "replace"), expected.encode("ascii"))


def make_token(
    session_id: str,
    request: Request,
    *,
    secret_key: bytes | None = None,
    expiration: float = 300.0,
) -> str:
    """A token for ``session_id`` carrying ``request``; valid for ``expiration`` seconds.

    Without a secret key anyone can make a token (the ``unsigned`` mode, fine on a
    trusted network); with one, only processes sharing the key can.
    """
    body = {
        "session_id": session_id,
        "arguments": {
            k: [v.decode("utf-8", "surrogateescape") for v in vs] for k, vs in request.arguments.items()
        },
        "headers": request.headers,
        "cookies": request.cookies,
        "remote_ip": request.remote_ip,
        "path": request.path,
        "protocol": request.protocol,
        "host": request.host,
        "expires": time.time() + expiration,
    }
    payload = _b64(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    if secret_key is None:
        return payload
    return f"{payload}.{_sign(payload, secret_key)}"


def read_token(
    token: str, *, secret_key: bytes | None = None, check_expiry: bool = True
) -> tuple[str, Request]:
    """The session id and request context a token carries; raises TokenError."""
    payload, _, signature = token.partition(".")
    if secret_key is not None:
        try:
            valid = bool(signature) and hmac.compare_digest(
                signature.encode("ascii", "replace"), _sign(payload, secret_key).encode("ascii")
            )
        except UnicodeEncodeError:
            valid = False
        if not valid:
            raise TokenError(
                "the session token's signature does not match this server's key: share "
                "JUPYTER_BRIDGE_SECRET_KEY and --session-ids"
            )
    try:
        body: dict[str, Any] = json.loads(_unb64(payload))
        session_id = body["session_id"]
        request = Request(
            arguments={
                k: [v.encode("utf-8", "surrogateescape") for v in vs]
                for k, vs in body["arguments"].items()
            },
            headers=dict(body["headers"]),
            cookies=dict(body["cookies"]),
            remote_ip=body.get("remote_ip"),
            path=body.get("path", "/"),
            protocol=body.get("protocol", "http"),
            host=body.get("host"),
        )
        expires = float(body["expires"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TokenError("the session token is malformed; reload the page to get a new one") from None
    if not isinstance(session_id, str):
        raise TokenError("the session token is malformed; reload the page to get a new one")
    if check_expiry and time.time() > expires:
        raise TokenError(
            f"the session token expired {time.time() - expires:.0f} s ago; reload the page, or "
            "give pages longer with --session-token-expiration"
        )
    return session_id, request
