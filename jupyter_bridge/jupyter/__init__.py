"""jupyter_bridge inside Jupyter: show(app) in a kernel, and the server extension.

The server extension is enabled by ``jupyter_server_config.d/jupyter_bridge.json``
(installed with the package) as ``jupyter_bridge.jupyter``; see docs/jupyter.md.
"""

from __future__ import annotations

from typing import Any

from ..version import __version__  # `jupyter server extension list` shows it

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    # Imported here so a kernel importing jupyter_bridge.jupyter.show never loads jupyter_server.
    from .extension import BridgeExtension

    return [{"module": "jupyter_bridge.jupyter.extension", "app": BridgeExtension}]
