"""The page of an address that names no app: what there is, and the nearest name."""

from __future__ import annotations

import difflib
from urllib.parse import unquote

from .index import IndexEntry, describe
from .views import BridgeHandler

__all__ = ["NotFoundHandler", "nearest"]


def nearest(asked: str, paths: list[str]) -> str | None:
    """The app path most like the first part of ``asked`` (``/sliderz/x`` -> ``/sliders``), or None."""
    first = "/" + unquote(asked).strip("/").split("/", 1)[0]
    by_lower = {path.lower(): path for path in paths}
    if first.lower() in by_lower:
        return by_lower[first.lower()]
    found = difflib.get_close_matches(first.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


class NotFoundHandler(BridgeHandler):
    """Any address under the server's prefix that no route serves: a 404 page in the pages' style.

    It lists the apps as the index does (none when the index is disabled), and
    behind the same login.
    """

    requires_user = True

    def get(self) -> None:
        self.set_status(404)
        apps: list[IndexEntry] = []
        if not self.bridge.settings.disable_index:
            for path, served in sorted(self.bridge.apps.items()):
                application = served.application
                if path.startswith("/apps/") or application.operator_only:
                    continue
                _, description = describe(application.source)
                apps.append(IndexEntry(self.bridge.url(path), path, application.title, description))
        guess = nearest(self.request.path.removeprefix(self.bridge.prefix), [app.path for app in apps])
        suggestion = next((app for app in apps if app.path == guess), None)
        self.finish(self.render_template(
            "not_found.html", title="Not found", path=self.request.path, apps=apps, suggestion=suggestion,
            index_url=self.bridge.url("/"),
        ))

    head = get
