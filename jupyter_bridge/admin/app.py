"""The admin board: figure cards with a minute of history, the apps, the slowest callbacks."""

from __future__ import annotations

import time
from collections import deque
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..server.bridge import Bridge

__all__ = ["AdminBoard", "CARDS"]

#: Seconds of history each card's sparkline shows.
HISTORY = 60
#: How often (ms) the board reads the figures.
PERIOD_MS = 1000

#: (key, label, format) of each card; keys are figures() keys.
CARDS: tuple[tuple[str, str, str], ...] = (
    ("sessions", "Sessions", "{:.0f}"),
    ("connections", "Connections", "{:.0f}"),
    ("in_per_s", "Messages in / s", "{:.1f}"),
    ("out_per_s", "Messages out / s", "{:.1f}"),
    ("lag_ms", "Event-loop lag, ms", "{:.1f}"),
    ("rss_mb", "Memory (RSS), MB", "{:.1f}"),
    ("widgets", "Widgets", "{:.0f}"),
)

_STYLE = """<style>
.jb-admin-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; }
.jb-admin-card { border: 1px solid var(--jb-border, #d1d9e0); border-radius: 8px; padding: 8px 12px; }
.jb-admin-card .label { color: var(--jb-muted, #59636e); font-size: 12px; }
.jb-admin-card .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.jb-admin-card svg { display: block; width: 100%; height: 28px; }
.jb-admin-card polyline { fill: none; stroke: var(--jb-accent, #0969da); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.jb-admin table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
.jb-admin th, .jb-admin td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--jb-border, #d1d9e0); }
.jb-admin th { color: var(--jb-muted, #59636e); font-weight: 500; }
.jb-admin td.n { text-align: right; }
.jb-admin h3 { font-size: 14px; margin: 14px 0 6px; }
.jb-admin .meta { color: var(--jb-muted, #59636e); font-size: 12px; }
</style>"""


class AdminBoard:
    """One viewer's board: reads the Bridge's stats every second and redraws."""

    def __init__(self, bridge: Bridge) -> None:
        import ipywidgets as w

        self.bridge = bridge
        self.history: dict[str, deque[float]] = {key: deque(maxlen=HISTORY) for key, _, _ in CARDS}
        self._last: tuple[float, int, int] | None = None
        self.meta = w.HTML()
        self.cards = w.HTML()
        self.apps = w.HTML()
        self.callbacks = w.HTML()
        self.root = w.VBox([self.meta, self.cards, self.apps, self.callbacks], _dom_classes=["jb-admin"])

    def show(self, doc: Any) -> None:
        doc.title = "jupyter_bridge admin"
        doc.add_root(self.root)
        self.update()
        doc.add_periodic_callback(self.update, PERIOD_MS)

    def figures(self, stats: dict[str, Any]) -> dict[str, float]:
        """The cards' values; message rates are the change since the last reading."""
        now = time.monotonic()
        rates = (0.0, 0.0)
        if self._last is not None and now > self._last[0]:
            elapsed = now - self._last[0]
            rates = ((stats["frames_in"] - self._last[1]) / elapsed, (stats["frames_out"] - self._last[2]) / elapsed)
        self._last = (now, stats["frames_in"], stats["frames_out"])
        return {
            "sessions": stats["sessions"],
            "connections": stats["connections"],
            "in_per_s": rates[0],
            "out_per_s": rates[1],
            "lag_ms": stats["loop_lag_seconds"] * 1000,
            "rss_mb": stats["rss_bytes"] / 2**20,
            "widgets": stats["widgets"],
        }

    def update(self) -> None:
        from ..server.stats import server_stats

        stats = server_stats(self.bridge)
        figures = self.figures(stats)
        cards = []
        for key, label, form in CARDS:
            self.history[key].append(figures[key])
            cards.append(
                f'<div class="jb-admin-card" data-figure="{key}"><div class="label">{label}</div>'
                f'<div class="value">{form.format(figures[key])}</div>{_sparkline(self.history[key])}</div>'
            )
        self.meta.value = (
            f'{_STYLE}<div class="meta">pid {stats["pid"]} · up {_duration(stats["uptime_seconds"])} · '
            f'{stats["callbacks"]} callbacks run · updated every second</div>'
        )
        self.cards.value = f'<div class="jb-admin-cards">{"".join(cards)}</div>'
        rows = "".join(
            f'<tr data-app="{escape(path)}"><td>{escape(path)}</td><td>{escape(app["title"])}</td>'
            f'<td class="n">{app["sessions"]}</td><td class="n">{app["prepared"]}</td>'
            f'<td class="n">{app["connections"]}</td></tr>'
            for path, app in sorted(stats["apps"].items())
        )
        self.apps.value = (
            "<h3>Apps</h3><table><tr><th>Path</th><th>Title</th><th>Sessions</th><th>Prepared</th>"
            "<th>Connections</th></tr>"
            f"{rows}</table>"
        )
        slow = "".join(
            f'<tr><td>{escape(run["app"])}</td><td><code>{escape(run["name"])}</code></td>'
            f'<td class="n">{run["seconds"] * 1000:.1f} ms</td><td class="n">{run["ago"]:.0f} s ago</td>'
            f'<td><code>{escape(run["session"][:8])}</code></td></tr>'
            for run in stats["slowest_callbacks"]
        )
        self.callbacks.value = (
            "<h3>Slowest callbacks, last minute</h3><table><tr><th>App</th><th>Callback</th><th>Took</th>"
            f"<th>Ended</th><th>Session</th></tr>{slow or '<tr><td colspan=5>none over 2 ms</td></tr>'}</table>"
        )


def _sparkline(values: deque[float]) -> str:
    if len(values) < 2:
        return '<svg viewBox="0 0 60 28"></svg>'
    top = max(values) or 1.0
    step = 60 / (HISTORY - 1)
    start = HISTORY - len(values)
    points = " ".join(f"{(start + i) * step:.1f},{26 - 24 * v / top:.1f}" for i, v in enumerate(values))
    return f'<svg viewBox="0 0 60 28" preserveAspectRatio="none"><polyline points="{points}"/></svg>'


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
