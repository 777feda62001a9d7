"""``/metrics`` (``--metrics``): the figures of ``Server.stats()`` in Prometheus' text format.

A collector turns one snapshot into metric families at each scrape, so nothing
is counted twice and nothing runs between scrapes. Names are stable:
``jupyter_bridge_<what>[_<unit>]``, counters ending in ``_total``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from .auth import authenticate
from .bridge import Bridge
from .stats import server_stats
from .views import BridgeHandler

__all__ = ["BridgeCollector", "MetricsHandler", "registry_for"]


class BridgeCollector:
    """The Bridge's figures as Prometheus metric families."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def collect(self) -> Iterator[Metric]:
        stats = server_stats(self.bridge)
        sessions = GaugeMetricFamily("jupyter_bridge_sessions", "Live sessions, per app.", labels=["app"])
        connections = GaugeMetricFamily(
            "jupyter_bridge_connections", "Open WebSocket connections, per app.", labels=["app"]
        )
        prepared = GaugeMetricFamily(
            "jupyter_bridge_prepared_sessions", "Sessions built ahead of their pages and ready, per app.",
            labels=["app"],
        )
        for path, app in stats["apps"].items():
            sessions.add_metric([path], app["sessions"])
            prepared.add_metric([path], app["prepared"])
            connections.add_metric([path], app["connections"])
        yield sessions
        yield prepared
        yield connections
        for name, key, what in (
            ("frames_received", "frames_in", "WebSocket frames received from pages."),
            ("frames_sent", "frames_out", "WebSocket frames sent to pages."),
            ("received_bytes", "bytes_in", "Bytes of frames received from pages."),
            ("sent_bytes", "bytes_out", "Bytes of frames sent to pages."),
        ):
            yield CounterMetricFamily(f"jupyter_bridge_{name}", what, value=stats[key])
        yield HistogramMetricFamily(
            "jupyter_bridge_callback_duration_seconds",
            "How long document callbacks and browser events took to handle.",
            buckets=[(_bound(bound), count) for bound, count in stats["callback_buckets"]],
            sum_value=stats["callback_seconds"],
        )
        yield GaugeMetricFamily(
            "jupyter_bridge_event_loop_lag_seconds",
            "The longest the event loop ran a timer late in the last 5 s.",
            value=stats["loop_lag_seconds"],
        )
        yield GaugeMetricFamily(
            "jupyter_bridge_resident_memory_bytes", "Resident memory of the process.", value=stats["rss_bytes"]
        )
        yield GaugeMetricFamily("jupyter_bridge_widgets", "Live widgets in the process.", value=stats["widgets"])
        yield GaugeMetricFamily(
            "jupyter_bridge_uptime_seconds", "Seconds since the process started serving.", value=stats["uptime_seconds"]
        )


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


_registries: weakref.WeakKeyDictionary[Bridge, CollectorRegistry] = weakref.WeakKeyDictionary()


def registry_for(bridge: Bridge) -> CollectorRegistry:
    """A registry of this Bridge's figures alone (not the process-wide default registry)."""
    registry = _registries.get(bridge)
    if registry is None:
        registry = _registries[bridge] = CollectorRegistry(auto_describe=False)
        registry.register(BridgeCollector(bridge))  # type: ignore[arg-type]
    return registry


class MetricsHandler(BridgeHandler):
    """GET ``/metrics``: with an auth module, for the users it recognises (a scraper's
    credential is the auth module's to accept); 403 rather than a login page."""

    requires_user = True

    async def prepare(self) -> None:
        await authenticate(self, self.bridge, redirect=False)

    def get(self, *args: Any) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.set_header("Cache-Control", "no-store")
        self.finish(generate_latest(registry_for(self.bridge)))
