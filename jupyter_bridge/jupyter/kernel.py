"""The kernel channel: a session shown in a notebook cell, through the kernel's own comms."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from ..channels import Channel
from ..comms import current_session

if TYPE_CHECKING:
    from ..document import Document
    from ..session import Session

__all__ = ["KernelChannel", "track_kernel_widgets"]

log = logging.getLogger(__name__)


class KernelChannel(Channel):
    """The kernel's comms carry the widgets; the document is a ``VBox`` in a cell's output.

    The notebook's widget manager renders the widgets, both ways, with no extra
    port. The channel owns the widgets made while its session runs (closed with
    it) and runs their frontend events inside the session.
    """

    routes_comms = False

    def __init__(self) -> None:
        from ipywidgets import VBox

        super().__init__()
        self.widgets: list[Any] = []
        #: What the cell displays: the document's roots, in order.
        self.container = VBox()
        self.container.add_class("jupyter-bridge-show")

    def track(self, widget: Any) -> None:
        """Own ``widget`` (closed with the session) and run its frontend events in the session."""
        self.widgets.append(widget)
        widget.observe(self._wrap_comm, "comm")

    def _wrap_comm(self, change: dict[str, Any]) -> None:
        comm = change["new"]
        session = self.session
        if comm is None or session is None:
            return
        handler = comm._msg_callback
        if handler is None or getattr(handler, "__jupyter_bridge_channel__", None) is self:
            return

        def in_session(msg: dict[str, Any]) -> None:
            session.run_context.run(handler, msg)

        in_session.__jupyter_bridge_channel__ = self  # type: ignore[attr-defined]
        comm.on_msg(in_session)

    def document_changed(self, document: Document) -> None:
        self.container.children = tuple(document.roots)

    def report_error(self, error: BaseException, where: str) -> None:
        # The kernel sends stderr to the notebook, under the cell being run.
        print(f"{where} raised {type(error).__name__}: {error}", file=sys.stderr)

    def close_widgets(self) -> None:
        for widget in [*self.widgets, self.container]:
            if widget.comm is not None:
                try:
                    widget.close()
                except Exception:
                    log.exception("Error closing %r", widget)
        self.widgets.clear()


_tracking_installed = False


def track_kernel_widgets() -> None:
    """Widgets made while a kernel session runs belong to it (chained construction hook)."""
    global _tracking_installed
    if _tracking_installed:
        return
    from ipywidgets import Widget

    previous = Widget._widget_construction_callback

    def constructed(widget: Any) -> None:
        session: Session[Any] | None = current_session()
        if session is not None and isinstance(session.channel, KernelChannel) and not session.destroyed:
            session.channel.track(widget)
        if previous is not None:
            previous(widget)

    Widget.on_widget_constructed(constructed)
    _tracking_installed = True
