"""An app's traceback as its author reads it: their own frames first, the server's folded away."""

from __future__ import annotations

import os
import traceback
from pathlib import Path

__all__ = ["app_traceback"]

#: Frames in files under this folder are the server's own.
PACKAGE = str(Path(__file__).resolve().parent.parent) + os.sep


def app_traceback(error: BaseException) -> tuple[str, str]:
    """(the traceback from the app's first frame on, the whole traceback).

    An app's exception travels through the session, the application and its
    handler before reaching the app's code: the first text starts where the
    app's code does (its file, line and code first), the second has every frame.
    """
    whole = "".join(traceback.format_exception(error))
    frames = traceback.extract_tb(error.__traceback__)
    first = next((i for i, frame in enumerate(frames) if not frame.filename.startswith(PACKAGE)), None)
    if first is None or first == 0:
        return whole, whole
    own = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames[first:]))
    return own + "".join(traceback.format_exception_only(error)), whole
