"""The server half of :func:`~jupyter_bridge.client.push_session`: an app that takes pushed documents.

A :class:`PushTarget` serves empty sessions. A client may fill one, once, with a
``push_doc`` message (docs/protocol.md): the widget states of a document built in
the client's process. The server makes each widget from ipywidgets' registry of
widget classes that the server process has imported — a pushed state chooses a
registered class by its model and view names and sets its synced traits; it
never names code to run.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ipywidgets.widgets.widget import _put_buffers

from ..application import Application
from ..protocol import rename_model_refs
from .widgets import describe, instantiate, widget_class

if TYPE_CHECKING:
    from ..protocol import Message
    from ..session import Session

__all__ = ["PushTarget"]

log = logging.getLogger(__name__)


class PushTarget(Application):
    """An app whose sessions start empty and take one document pushed by a Python client.

    Serve it next to your apps: ``Server({"/sliders": "sliders.py", "/push":
    PushTarget()})``; clients call ``push_session(doc, url="http://host:5006/push")``.
    A pushed widget's class must be in ipywidgets' registry (every ipywidgets
    control is) or defined in one of ``modules`` (``["bqplot", "bqscales"]``: bqplot registers
    only Figure, PanZoom and Toolbar), which are imported now.

    Anyone who can reach a push target can publish a page at your server's origin
    (an ``HTML`` widget shows any markup): serve one only where every client is
    trusted, or behind authentication.
    """

    #: Sessions of this app accept ``push_doc`` (Session.receive looks for this).
    accepts_push = True

    def __init__(self, modules: Iterable[str] = (), *, name: str = "push", max_models: int = 5000) -> None:
        super().__init__(name=name)
        self.modules = tuple(modules)
        self.max_models = max_models
        for module in self.modules:
            importlib.import_module(module)

    def _listed(self, cls: type) -> bool:
        module = cls.__module__
        return any(module == name or module.startswith(name + ".") for name in self.modules)

    def url_path(self) -> str:
        return "/" + self.name

    def receive_push(self, session: Session, message: Message, sender: Any = None) -> None:
        """Fill ``session``'s empty document from a validated ``push_doc`` message.

        Runs inside the session (its comms route to it), under the document lock.
        Answers the pushing connection (``sender``) with ``pushed`` (client model
        id → server model id) or an ``error``.
        """
        content = message.content
        parent = content["id"]
        if session.channel.comm_manager.comms or session.document.roots:
            session.channel.refuse(
                "this session already has a document; push_session makes a new session for each push",
                parent,
                sender,
            )
            return
        models: list[dict[str, Any]] = content["models"]
        if len(models) > self.max_models:
            session.channel.refuse(f"a push may hold at most {self.max_models} widgets, not {len(models)}", parent, sender)
            return
        classes = []
        for model in models:
            cls = widget_class(model["state"], search=self._listed)
            if cls is None:
                session.channel.refuse(
                    f"the server has no widget class for {describe(model['state'])}; a push target "
                    "only makes widgets registered with ipywidgets or defined in the modules it "
                    "lists (PushTarget(modules=[...]))",
                    parent,
                    sender,
                )
                return
            classes.append(cls)
        ids = {model["model_id"]: uuid.uuid4().hex for model in models}

        def server_id(client_id: str) -> str:
            try:
                return ids[client_id]
            except KeyError:
                raise ValueError(f"it refers to model {client_id!r}, which the push does not include") from None

        created: dict[str, Any] = {}
        offset = 0
        try:
            for model, cls in zip(models, classes):
                paths = model.get("buffer_paths", [])
                state = rename_model_refs(model["state"], server_id)
                _put_buffers(state, paths, message.buffers[offset : offset + len(paths)])
                offset += len(paths)
                created[model["model_id"]] = instantiate(cls, state, model_id=ids[model["model_id"]])
        except Exception as error:
            for widget in created.values():
                widget.close()
            session.channel.refuse(f"could not create a {cls.__name__} from the pushed state: {error}", parent, sender)
            return
        document = session.document
        document.title = content.get("title", document.title)
        for root in content["roots"]:
            document.add_root(created[root])
        log.info("Session %s: a client pushed a document of %d widgets", session.id, len(created))
        session.channel.reply({"type": "pushed", "parent": parent, "models": ids}, sender)
