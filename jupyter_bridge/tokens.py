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

from .session import Request

__all__ = ["TokenError", "generate_session_id", "make_token", "read_token"]


class TokenError(ValueError):
    """A token that cannot be used; the text names the problem and the fix."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, secret_key: bytes) -> str:
    return _b64(hmac.new(secret_key, payload.encode("ascii"), hashlib.sha256).digest())


def generate_session_id() -> str:
    """A random, URL-safe session id (256 bits)."""
    return secrets.token_urlsafe(32)


def make_token(
    session_id: str,
    request: Request,
    *,
    secret_key: bytes | None = None,
    expiration: float = 300.0,
) -> str:
    """A token for ``session_id`` carrying ``request``; valid for ``expiration`` seconds."""
    body = {
        "session_id": session_id,
        "arguments": {
            k: [v.decode("utf-8", "surrogateescape") for v in vs] for k, vs in request.arguments.items()
        },
        "headers": request.headers,
        "cookies": request.cookies,
        "remote_ip": request.remote_ip,
        "path": request.path,
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
        if not signature or not hmac.compare_digest(signature, _sign(payload, secret_key)):
            raise TokenError(
                "the session token's signature is wrong; every server process must share "
                "the same secret key"
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
        )
        expires = float(body["expires"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TokenError("the session token is malformed; reload the page to get a new one") from None
    if not isinstance(session_id, str):
        raise TokenError("the session token is malformed; reload the page to get a new one")
    if check_expiry and time.time() > expires:
        raise TokenError("the session token has expired; reload the page to get a new one")
    return session_id, request
