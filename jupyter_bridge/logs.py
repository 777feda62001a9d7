"""How values a client chose appear in log lines: escaped, shortened, never whole secrets.

A log line is one event. A value a client wrote (a session id it named, an
Origin, a reason built from its message) is shown with its control characters
escaped, so it cannot end the line and write one of its own; a session id,
enough to join its session while it lives, is shown by its first characters.
"""

from __future__ import annotations

__all__ = ["SHOWN_ID_LENGTH", "short_id", "shown"]

#: Characters of a session id a log line shows: enough to tell sessions apart.
SHOWN_ID_LENGTH = 8


def shown(value: object, limit: int = 200) -> str:
    """``value`` as text fit for one log line: control characters escaped, at most ``limit`` characters."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def short_id(session_id: object) -> str:
    """The first characters of a session id (escaped), for log lines: never the id that joins it."""
    text = str(session_id)
    return shown(text[:SHOWN_ID_LENGTH]) + ("…" if len(text) > SHOWN_ID_LENGTH else "")
