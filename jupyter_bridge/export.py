"""A document without a server: as Jupyter's widget-state JSON, or as a static page."""

from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
import re
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from .application import AppSpec, build_application
from .channels import BrowserChannel
from .contexts import Request, SessionContext
from .session import Session
from .tokens import generate_session_id

__all__ = ["document_html", "document_state"]

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

    loop = asyncio.get_running_loop()
    context = SessionContext(generate_session_id(), Request())
    session = Session(context, application, loop, channel=BrowserChannel(loop))
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


def document_html(app: AppSpec, argv: list[str] | None = None, *, notebook_layout: str = "cells") -> str:
    """A self-contained static page of ``app``'s document: no server, no network.

    The page carries the widget state and the whole page client (script, styles
    and fonts inline). Links made in the browser (``jslink``) keep working;
    nothing reaches Python. Widget libraries other than ipywidgets' own controls
    need their front-end modules next to the page (``static/nbextensions``), so
    for them serve the app instead.
    """
    from .server.bridge import STATIC_DIR, TEMPLATES_DIR

    state = document_state(app, argv, notebook_layout=notebook_layout)
    manifest = json.loads((STATIC_DIR / "manifest.json").read_text())
    css = _inline_assets((STATIC_DIR / manifest["client.css"]).read_text(encoding="utf-8"), STATIC_DIR)
    # The served pages' client is an ES module with chunks; this is all of it in one classic script.
    script = (STATIC_DIR / manifest["standalone.js"]).read_text(encoding="utf-8")
    config = {"title": state["title"], "roots": state["roots"], "state": _manager_state(state)}
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=jinja2.select_autoescape(["html"])
    )
    return environment.get_template("static.html").render(
        title=state["title"],
        css=Markup(css.replace("</style", "<\\/style")),
        script=Markup(script.replace("</script", "<\\/script")),
        config_json=Markup(json.dumps(config).replace("</", "<\\/")),
    )


def _manager_state(state: dict[str, Any]) -> dict[str, Any]:
    return {key: state[key] for key in ("version_major", "version_minor", "state")}


def _inline_assets(css: str, folder: Path) -> str:
    """Replace url("./assets/…") references with data: URLs, so the page needs no files."""

    def data_url(match: re.Match[str]) -> str:
        path = folder / match.group(1)
        if not path.is_file():
            return match.group(0)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return f'url("data:{mime};base64,{base64.b64encode(path.read_bytes()).decode("ascii")}")'

    return re.sub(r'url\("?\./(assets/[^")]+)"?\)', data_url, css)
