"""Serving apps over HTTP and WebSockets (the only package that imports tornado)."""

from __future__ import annotations

from .bridge import Bridge
from .server import Server

__all__ = ["Bridge", "Server"]
