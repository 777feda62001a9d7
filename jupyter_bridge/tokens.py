"""Session ids and session tokens.

A session token names a session and carries the context of the page request that
created it (arguments, headers), so that any server process holding the same key
can recreate the session when a WebSocket reaches it. Page scripts read the token
and other sites may see it, so it carries no secret: the request's credentials
(cookies, ``Authorization``, ``_xsrf``) stay out of it unless the operator opts in,
and with a key the request context travels encrypted (AES-GCM).

One secret key gives three keys, each derived for one purpose (HMAC-SHA256 with
a distinct label): one signs session ids, one signs tokens, one encrypts the
request context. So a token never passes for a session id, nor an id for a token.
Signatures are checked in constant time.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .contexts import Request

__all__ = [
    "CREDENTIAL_ARGUMENTS",
    "CREDENTIAL_HEADERS",
    "TokenError",
    "check_session_id",
    "derived_key",
    "generate_secret_key",
    "generate_session_id",
    "make_token",
    "read_token",
    "without_credentials",
]

#: Request headers that carry credentials: never in a token unless opted in.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-xsrftoken", "x-csrftoken"})
#: Query arguments that carry credentials (Tornado's XSRF value).
CREDENTIAL_ARGUMENTS = frozenset({"_xsrf"})

_PURPOSES = ("session id", "session token", "request context")


class TokenError(ValueError):
    """A token that cannot be used; the text names the problem and the fix."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derived_key(secret_key: bytes, purpose: str) -> bytes:
    """The 256-bit key ``secret_key`` gives for one purpose: "session id", "session token"
    or "request context"."""
    if purpose not in _PURPOSES:
        raise ValueError(f"no key is derived for {purpose!r}; use one of {', '.join(_PURPOSES)}")
    return hmac.new(secret_key, b"jupyter_bridge " + purpose.encode("ascii"), hashlib.sha256).digest()


def _sign(payload: str, key: bytes) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def _signature_matches(payload: str, signature: str, key: bytes) -> bool:
    try:
        expected = _sign(payload, key)
    except UnicodeEncodeError:
        return False
    return bool(signature) and hmac.compare_digest(signature.encode("ascii", "replace"), expected.encode("ascii"))


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
    return f"{session_id}.{_sign(session_id, derived_key(secret_key, 'session id'))}"


def check_session_id(session_id: str, secret_key: bytes) -> bool:
    """Whether ``session_id`` was signed with ``secret_key`` (constant-time compare)."""
    value, _, signature = session_id.rpartition(".")
    if not value:
        return False
    return _signature_matches(value, signature, derived_key(secret_key, "session id"))


def without_credentials(request: Request) -> Request:
    """``request`` without its cookies, credential headers and ``_xsrf`` argument."""
    return dataclasses.replace(
        request,
        arguments={k: v for k, v in request.arguments.items() if k not in CREDENTIAL_ARGUMENTS},
        headers={k: v for k, v in request.headers.items() if k.lower() not in CREDENTIAL_HEADERS},
        cookies={},
    )


def _context_json(request: Request) -> dict[str, Any]:
    return {
        "arguments": {k: [v.decode("utf-8", "surrogateescape") for v in vs] for k, vs in request.arguments.items()},
        "headers": request.headers,
        "cookies": request.cookies,
        "remote_ip": request.remote_ip,
        "path": request.path,
        "protocol": request.protocol,
        "host": request.host,
    }


def _context_from_json(body: dict[str, Any]) -> Request:
    return Request(
        arguments={k: [v.encode("utf-8", "surrogateescape") for v in vs] for k, vs in body["arguments"].items()},
        headers=dict(body["headers"]),
        cookies=dict(body["cookies"]),
        remote_ip=body.get("remote_ip"),
        path=body.get("path", "/"),
        protocol=body.get("protocol", "http"),
        host=body.get("host"),
    )


def make_token(
    session_id: str,
    request: Request,
    *,
    secret_key: bytes | None = None,
    expiration: float = 300.0,
    credentials: bool = False,
    now: float | None = None,
) -> str:
    """A token for ``session_id`` carrying ``request``; valid for ``expiration`` seconds
    from ``now`` (seconds since the epoch; ``time.time()`` by default).

    The request's cookies, ``Authorization`` and ``_xsrf`` are left out unless
    ``credentials`` is true. With a secret key the token is signed and the request
    encrypted, so only processes sharing the key can make or read one; without one
    (the ``unsigned`` mode, fine on a trusted network) anyone can, and the request
    travels as plain (base64) JSON.
    """
    context = _context_json(request if credentials else without_credentials(request))
    now = time.time() if now is None else now
    body: dict[str, Any] = {"session_id": session_id, "expires": now + expiration}
    if secret_key is None:
        body["request"] = context
        return _b64(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    nonce = os.urandom(12)
    sealed = AESGCM(derived_key(secret_key, "request context")).encrypt(
        nonce, json.dumps(context, separators=(",", ":")).encode("utf-8"), session_id.encode("utf-8")
    )
    body["context"] = _b64(nonce + sealed)
    payload = _b64(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    return f"{payload}.{_sign(payload, derived_key(secret_key, 'session token'))}"


_MALFORMED = "the session token is malformed; reload the page to get a new one"


def read_token(
    token: str, *, secret_key: bytes | None = None, check_expiry: bool = True, now: float | None = None
) -> tuple[str, Request]:
    """The session id and request context a token carries; raises TokenError.

    The token has expired if ``now`` (``time.time()`` by default) is past its expiry.
    """
    payload, _, signature = token.partition(".")
    if secret_key is not None and not _signature_matches(payload, signature, derived_key(secret_key, "session token")):
        raise TokenError(
            "the session token's signature does not match this server's key: share "
            "JUPYTER_BRIDGE_SECRET_KEY and --session-ids"
        )
    try:
        body: dict[str, Any] = json.loads(_unb64(payload))
        session_id = body["session_id"]
        expires = float(body["expires"])
        if not isinstance(session_id, str):
            raise TypeError
        if secret_key is None:
            if "request" not in body:
                raise TokenError(
                    "the session token was made by a server with a secret key and this one has "
                    "none: share JUPYTER_BRIDGE_SECRET_KEY and --session-ids"
                )
            context = body["request"]
        else:
            sealed = _unb64(body["context"])
            opened = AESGCM(derived_key(secret_key, "request context")).decrypt(
                sealed[:12], sealed[12:], session_id.encode("utf-8")
            )
            context = json.loads(opened)
        request = _context_from_json(context)
    except TokenError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, InvalidTag):
        raise TokenError(_MALFORMED) from None
    now = time.time() if now is None else now
    if check_expiry and now > expires:
        raise TokenError(
            f"the session token expired {now - expires:.0f} s ago; reload the page, or "
            "give pages longer with --session-token-expiration"
        )
    return session_id, request
