"""A document without a server: its widget state, as Jupyter's widget-state JSON."""

from __future__ import annotations

import asyncio
from typing import Any

from .application import AppSpec, build_application
from .session import Request, Session, SessionContext
from .tokens import generate_session_id

__all__ = ["document_state"]

WIDGET_STATE_MIMETYPE = "application/vnd.jupyter.widget-state+json"


def document_state(app: AppSpec, argv: list[str] | None = None, *, notebook_layout: str = "cells") -> dict[str, Any]:
    """Run ``app`` once, in a throwaway session, and return its document as widget state.

    The result has the standard ``application/vnd.jupyter.widget-state+json``
    shape (``version_major``, ``version_minor``, ``state``), plus this
    document's ``title`` and ``roots`` (the root model ids, in order).
    """
    application = build_application(app, argv, notebook_layout=notebook_layout)
    return asyncio.run(_state(application))


async def _state(application: Any) -> dict[str, Any]:
    from ipywidgets.embed import dependency_state

    session = Session(SessionContext(generate_session_id(), Request()), application)
    await session.start()
    try:
        document = session.document
        state = dependency_state(document.roots, drop_defaults=False)
        return {
            "version_major": 2,
            "version_minor": 0,
            "state": state,
            "title": document.title,
            "roots": [root.model_id for root in document.roots],
        }
    finally:
        await session.destroy()
