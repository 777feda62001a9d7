"""Response headers every answer of the standalone server carries: who may frame its pages.

By default a page may be shown in a frame only by the server's own origin and
the origins the operator allows (``--allow-websocket-origin``, ``--frame-ancestors``):
``Content-Security-Policy: frame-ancestors …``, and ``X-Frame-Options: SAMEORIGIN``
too while no other site is allowed (the only value it has for that). Inside
Jupyter, Jupyter's own headers apply instead.
"""

from __future__ import annotations

from typing import Any

from tornado import httputil, web

from ..settings import BridgeSettings, origin_entry

__all__ = ["FrameHeaders", "frame_headers"]


def frame_headers(settings: BridgeSettings) -> dict[str, str]:
    """The framing headers for ``settings``; none when any site may frame the pages."""
    named = settings.allow_websocket_origin
    extra = settings.frame_ancestors
    if "*" in named or "*" in extra:
        return {}
    # Without --allow-websocket-origin: the server's own names (localhost:PORT, its address).
    origins = named or sorted(settings.allowed_origins())
    sources = ["'self'"]
    for entry in [*origins, *extra]:
        source = _source(entry)
        # CSP has no syntax for IPv6 literals; a browser would only complain of them.
        if source not in sources and "[" not in source:
            sources.append(source)
    headers = {"Content-Security-Policy": "frame-ancestors " + " ".join(sources)}
    if not named and not extra:
        headers["X-Frame-Options"] = "SAMEORIGIN"
    return headers


def _source(entry: str) -> str:
    """A CSP host source for an origin entry: 'example.com:80' reads 'example.com'."""
    normal = origin_entry(entry) or entry
    if normal.startswith(("http://", "ws://")):
        return "http://" + normal.split("://", 1)[1].removesuffix(":80")
    if normal.startswith(("https://", "wss://")):
        return "https://" + normal.split("://", 1)[1].removesuffix(":443")
    return normal.removesuffix(":80")


class FrameHeaders(web.OutputTransform):
    """Adds the framing headers to every response (pages, errors, an auth module's login page).

    A ``Content-Security-Policy`` a handler set itself keeps its directives; its
    ``frame-ancestors``, if it has one, wins.
    """

    headers: dict[str, str] = {}

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        super().__init__(request)

    def transform_first_chunk(
        self, status_code: int, headers: httputil.HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        for name, value in self.headers.items():
            existing = headers.get(name)
            if existing is None:
                headers[name] = value
            elif name == "Content-Security-Policy" and "frame-ancestors" not in existing:
                headers[name] = f"{existing.rstrip('; ')}; {value}"
        return status_code, headers, chunk

    @classmethod
    def for_settings(cls, settings: BridgeSettings) -> Any:
        """A transform class sending the headers of ``settings``."""
        return type(cls.__name__, (cls,), {"headers": frame_headers(settings)})
