"""The client half of pushing: publish a document built in this process as a new session.

The server half is :mod:`jupyter_bridge.application.push` (a
:class:`~jupyter_bridge.client.PushTarget`, or ``--allow-push``); the message is
``push_doc`` (docs/protocol.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ipywidgets import Widget
from ipywidgets.widgets.widget import _instances

from ..document import Document
from ..widget_states import states_in_order
from .connection import client_loop, fetch_config, split_app_url, ws_url
from .errors import ClientError
from .session import ClientSession

__all__ = ["push_session"]


def push_session(
    document: Document,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    origin: str | None = None,
    timeout: float = 10.0,
) -> ClientSession:
    """Publish ``document`` (roots and title, built in this process) as a new session.

    ``url`` is an app the server serves as a :class:`~jupyter_bridge.client.PushTarget`
    (say ``http://localhost:5006/push``). The server creates the document's widgets
    from ipywidgets' registry of widget classes it has imported — never from code —
    and browsers open the session at ``session.url`` (or ``session.show()``).
    From then on the widgets live in the session: browser changes update them here
    (and fire their observers in this process), changes made here reach the pages.

    Raises a :class:`ClientError` naming the widget if the server cannot create it.
    """
    if not isinstance(document, Document):
        raise TypeError(f"push_session publishes a jupyter_bridge.Document, not {type(document).__name__}")
    roots = document.roots
    title = document.title
    for root in roots:
        if not isinstance(root, Widget):
            raise TypeError(f"a pushed document's roots must be ipywidgets, not {type(root).__name__}")
    models, buffers = _collect(roots)
    loop = client_loop()
    return loop.run(
        _push(url, roots, title, models, buffers, dict(headers or {}), origin, timeout),
        timeout,
        f"push a document to {url}",
    )


def _collect(roots: list[Widget]) -> tuple[list[tuple[Widget, dict[str, Any]]], list[Any]]:
    """Every widget the roots refer to, each after the widgets it refers to, with its state."""

    def refers_to(model_id: str) -> Widget:
        widget = _instances.get(model_id)
        if widget is None or widget.comm is None:
            raise ClientError("a pushed widget refers to a widget that has been closed; push only open widgets")
        return widget

    for root in roots:
        if root.comm is None:
            raise ClientError(f"{type(root).__name__} has been closed; push only open widgets")
    models: list[tuple[Widget, dict[str, Any]]] = []
    buffers: list[Any] = []
    for widget, data, widget_buffers in states_in_order(roots, refers_to):
        models.append((widget, {"model_id": widget.model_id, **data}))
        buffers.extend(widget_buffers)
    return models, buffers


async def _push(
    url: str,
    roots: list[Widget],
    title: str,
    models: list[tuple[Widget, dict[str, Any]]],
    buffers: list[Any],
    headers: dict[str, str],
    origin: str | None,
    timeout: float,
) -> ClientSession:
    base, path = split_app_url(url)
    page_url, config = await fetch_config(base + path, headers, timeout)
    session = ClientSession(
        app_url=page_url.split("?")[0].rstrip("/") or base,
        socket_url=ws_url(page_url, config["wsUrl"]),
        token=config["token"],
        session_id=config.get("sessionId"),
        headers=headers,
        origin=origin,
        timeout=timeout,
        python_side=True,  # the pushed widgets' Python side stays here
    )
    await session.connect()
    await session.push(roots, title, models, buffers)
    return session
