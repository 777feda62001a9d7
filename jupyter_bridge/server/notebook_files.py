"""``<notebook app>/files/<path>``: the media files of a notebook's folder, for its page.

A notebook's markdown shows ``![](images/chart.png)`` from its own folder, as in
Jupyter. Only what a page shows as media is served (images, audio, video), only
from inside that folder (symlinks followed, then checked), never a hidden file or
folder, and behind the same authentication as the app's page: the notebook's
code and data files next to it stay private.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from tornado import web

from ..application import NotAnAppError
from .views import BridgeHandler

__all__ = ["MEDIA_SUFFIXES", "NotebookFilesHandler", "notebook_file"]

#: The kinds of files a notebook's page may load from its folder.
MEDIA_SUFFIXES = frozenset({
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".bmp", ".ico",
    ".mp4", ".webm", ".ogv", ".ogg", ".mp3", ".wav", ".m4a", ".flac",
})


def notebook_file(folder: str, relative: str) -> Path | None:
    """The file ``relative`` names inside ``folder``, if a page may load it; else None."""
    if not relative or "\\" in relative or "\0" in relative or relative.startswith("/"):
        return None
    parts = relative.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    if Path(parts[-1]).suffix.lower() not in MEDIA_SUFFIXES:
        return None
    real_folder = os.path.realpath(folder)
    real = os.path.realpath(os.path.join(real_folder, *parts))
    if not real.startswith(real_folder.rstrip(os.sep) + os.sep) or not os.path.isfile(real):
        return None
    inside = os.path.relpath(real, real_folder).split(os.sep)
    if any(part.startswith(".") for part in inside) or Path(real).suffix.lower() not in MEDIA_SUFFIXES:
        return None  # a symlink to a hidden or non-media file
    return Path(real)


class NotebookFilesHandler(BridgeHandler):
    """GET a media file of the notebook's folder; 404 for anything else."""

    requires_user = True

    async def get(self, *arguments: str) -> None:
        url_path, relative = (self.url_path, arguments[-1]) if self.url_path else arguments
        try:
            served = await self.bridge.app_for(url_path or "")
        except NotAnAppError:
            served = None
        handlers = served.application.handlers if served is not None else []
        folder = next((h.files_path for h in handlers if h.files_path), None)
        found = notebook_file(folder, relative) if folder else None
        if found is None:
            raise web.HTTPError(404)
        self.set_header("Content-Type", mimetypes.guess_type(found.name)[0] or "application/octet-stream")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-cache")
        if found.suffix.lower() == ".svg":  # opened on its own, an SVG's scripts must not run here
            self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
        with open(found, "rb") as file:
            while chunk := file.read(256 * 1024):
                self.write(chunk)
                await self.flush()
        self.finish()
