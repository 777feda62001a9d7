"""The tags that boot the page client, added to any app page that lacks them.

``page.html`` places them itself, and extending it stays the recommended way to
write an app's ``templates/index.html``. A template that is a whole HTML page
of its own still gets a live page: whatever of the client's tags it lacks (its
styles, its script and the session's config with the token, the container of
the roots no template places) is put into the rendered HTML, at the end of the
head and of the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup

from ..protocol import json_default

__all__ = ["CONFIG_ID", "ROOTS_ID", "STATE_ID", "complete_page", "head_tags", "script_json"]

#: The element holding the session's config (the page client reads it first).
CONFIG_ID = "jupyter-bridge-config"
#: The element the page client shows unplaced roots in.
ROOTS_ID = "jupyter-bridge-roots"
#: The element holding the session's widget state, which the page shows before its socket connects.
STATE_ID = "jupyter-bridge-state"

_HAS_CONFIG = re.compile(r"""\bid\s*=\s*["']?""" + CONFIG_ID + r"""\b""", re.IGNORECASE)
_HAS_ROOTS = re.compile(r"""\bid\s*=\s*["']?""" + ROOTS_ID + r"""\b""", re.IGNORECASE)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
_BODY_START = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_HTML_START = re.compile(r"<html\b[^>]*>", re.IGNORECASE)
_DOCTYPE = re.compile(r"<!doctype\b[^>]*>", re.IGNORECASE)


def head_tags(*, css_url: str, js_url: str, preload_urls: list[str], config_json: str) -> Markup:
    """The page client's stylesheet, config and module script (``config_json`` is already safe in a script)."""
    tags = [
        Markup('<link rel="stylesheet" href="{}">').format(css_url),
        Markup('<script type="application/json" id="{}">{}</script>').format(CONFIG_ID, Markup(config_json)),
        *(Markup('<link rel="modulepreload" href="{}">').format(url) for url in preload_urls),
        Markup('<script type="module" src="{}" data-jb-head></script>').format(js_url),
    ]
    return Markup("\n").join(tags)


def script_json(value: Any) -> str:
    """``value`` as JSON that an HTML ``<script type="application/json">`` holds as it is.

    ``<``, ``>`` and ``&`` are written as JSON escapes, so no value can end the
    element (``</script>``) or change how the HTML parser reads it (``<!--``).
    """
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, default=json_default, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def complete_page(html: str, head: Markup, state_json: str | None = None, preload_urls: Sequence[str] = ()) -> str:
    """``html`` with the client's ``head`` tags and the roots container, where it lacks them.

    ``state_json`` (made by :func:`script_json`): the session's widget state, put
    at the end of the body, after what the page loads first. ``preload_urls``:
    chunks of the page client that its widgets need beyond those in ``head``
    (known once the app has run, after the head may have been sent), preloaded
    from just before the state.
    """
    # Plain strings from here: adding Markup to the rendered page would escape it.
    if not _HAS_CONFIG.search(html):
        html = _insert(html, f"\n{head}\n", before=_HEAD_END, after=(_BODY_START, _HTML_START, _DOCTYPE))
    if not _HAS_ROOTS.search(html):
        container = f'\n<div id="{ROOTS_ID}"></div>\n'
        ends = list(_BODY_END.finditer(html))
        html = html[: ends[-1].start()] + container + html[ends[-1].start():] if ends else html + container
    late = "".join(str(Markup('\n<link rel="modulepreload" href="{}">').format(url)) for url in preload_urls)
    if state_json is not None:
        late += f'\n<script type="application/json" id="{STATE_ID}">{state_json}</script>\n'
    if late:
        ends = list(_BODY_END.finditer(html))
        html = html[: ends[-1].start()] + late + html[ends[-1].start():] if ends else html + late
    return html


def _insert(html: str, text: str, *, before: re.Pattern[str], after: tuple[re.Pattern[str], ...]) -> str:
    # The first place that exists: before </head>, after <body>, after <html>/doctype, else first.
    found = before.search(html)
    if found is not None:
        return html[: found.start()] + text + html[found.start():]
    for pattern in after:
        found = pattern.search(html)
        if found is not None:
            return html[: found.end()] + text + html[found.end():]
    return text + html
