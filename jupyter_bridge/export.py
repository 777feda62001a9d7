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

from .application import Application, AppSpec, build_application
from .application.host import AppHost
from .channels import BrowserChannel
from .widget_modules import widget_module_file

__all__ = ["document_html", "document_state", "widget_modules"]


def document_state(app: AppSpec, argv: list[str] | None = None, *, notebook_layout: str = "cells") -> dict[str, Any]:
    """Run ``app`` once, in a throwaway session, and return its document as widget state.

    The app's lifecycle is a served app's: ``on_server_loaded``, then
    ``on_session_created`` and the app, then ``on_session_destroyed`` and
    ``on_server_unloaded``.

    The result has the standard ``application/vnd.jupyter.widget-state+json``
    shape (``version_major``, ``version_minor``, ``state``), plus this
    document's ``title`` and ``roots`` (the root model ids, in order).
    """
    application = build_application(app, argv, notebook_layout=notebook_layout)
    return asyncio.run(_state(application))


async def _state(application: Application) -> dict[str, Any]:
    from ipywidgets.embed import dependency_state

    # Run as a server runs it: the app's server hooks too, since its code may
    # rely on what on_server_loaded set up.
    host: AppHost[BrowserChannel] = AppHost(application)
    host.load()
    try:
        session = await host.create_session(BrowserChannel(asyncio.get_running_loop()))
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
        await host.unload()


def document_html(app: AppSpec, argv: list[str] | None = None, *, notebook_layout: str = "cells") -> str:
    """A self-contained static page of ``app``'s document: no server, no network.

    The page carries the widget state and the whole page client (script, styles
    and fonts inline), and the front-end module of every other widget library
    the document uses (bqplot, anywidget, ...), with the module loader they need.
    Links made in the browser (``jslink``) keep working; nothing reaches Python.
    """
    from .server.bridge import STATIC_DIR, TEMPLATES_DIR

    state = document_state(app, argv, notebook_layout=notebook_layout)
    manifest = json.loads((STATIC_DIR / "manifest.json").read_text())
    # Every rule inline, Font Awesome's and KaTeX's too, which served pages load when needed.
    css = "\n".join(
        _inline_assets((STATIC_DIR / manifest[name]).read_text(encoding="utf-8"), STATIC_DIR)
        for name in ("icons.css", "math.css", "client.css")
    )
    # The served pages' client is an ES module with chunks; this is all of it in one classic script.
    script = (STATIC_DIR / manifest["standalone.js"]).read_text(encoding="utf-8")
    config: dict[str, Any] = {"title": state["title"], "roots": state["roots"], "state": _manager_state(state)}
    modules = widget_modules(state["state"])
    if modules:
        config["modules"] = modules
        config["requireJs"] = (STATIC_DIR / manifest["require.js"]).read_text(encoding="utf-8")
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=jinja2.select_autoescape(["html"])
    )
    return environment.get_template("static.html").render(
        title=state["title"],
        css=Markup(css.replace("</style", "<\\/style")),
        script=Markup(script.replace("</script", "<\\/script")),
        config_json=Markup(json.dumps(config).replace("</", "<\\/")),
    )


#: Modules the page client has built in.
_BUILT_IN = re.compile(r"^@jupyter-widgets/(base|controls|output)$|^@jupyter-bridge/")
#: An AMD module's dependencies: the first ``define([...]`` of the file.
_DEFINE = re.compile(r"\bdefine\(\s*\[([^\]]*)\]")


def widget_modules(state: dict[str, Any]) -> dict[str, str]:
    """The source of every installed AMD module the models of ``state`` need, by name.

    A module's own AMD dependencies come along. A package that installs only a
    JupyterLab extension is not included: its container loads its files by
    address, which a page opened from disk cannot serve, so its widgets show
    the placeholder that names the package.
    """
    wanted: list[str] = []
    for model in state.values():
        wanted += [model.get("model_module"), model.get("state", {}).get("_view_module")]
    sources: dict[str, str] = {}
    while wanted:
        name = wanted.pop()
        if not isinstance(name, str) or not name or name in sources or _BUILT_IN.match(name):
            continue
        found = widget_module_file(f"{name}/index.js")
        if found is None:
            continue
        source = Path(found).read_text(encoding="utf-8")
        sources[name] = source
        dependencies = _DEFINE.search(source)
        if dependencies is not None:
            wanted += re.findall(r"""["']([^"']+)["']""", dependencies.group(1))
    return sources


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
