"""Receiving a pushed document: the server half of :func:`~jupyter_bridge.client.push_session`.

A :class:`PushTarget` serves empty sessions. A client may fill one, once, with a
``push_doc`` message (docs/protocol.md): the widget states of a document built in
the client's process. With ``--allow-push``, any app takes a push as Bokeh's do:
:func:`replace_with_push` puts the pushed document in place of the app's. The
server makes each widget from a class that the server process has imported from
an installed library or the operator's modules (``widget_states.importable``) —
a pushed state chooses a class by its model and view names and sets its synced
traits; it never names code to run, nor a class that a session's app code defined.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..protocol import rename_model_refs
from ..widget_states import close, describe, importable, instantiate, widget_class
from .application import Application

if TYPE_CHECKING:
    from ..channels import BrowserChannel
    from ..protocol import Message
    from ..session import Session

__all__ = ["PushTarget", "fill_from_push", "replace_with_push"]

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

    def receive_push(self, session: Session[Any], message: Message, sender: Any = None) -> bool:
        """Fill ``session``'s empty document from a validated ``push_doc`` message.

        Runs inside the session (its comms route to it), under the document lock.
        Answers the pushing connection (``sender``) with ``pushed`` (client model
        id → server model id) or an ``error``.
        """
        if session.channel.comm_manager.comms or session.document.roots:
            session.channel.refuse(
                "this session already has a document; push_session makes a new session for each push",
                message.content["id"],
                sender,
            )
            return True
        fill_from_push(
            session,
            message,
            sender,
            search=self._listed,
            max_models=self.max_models,
            classes_hint="a push target only makes widgets registered with ipywidgets or defined "
            "in the modules it lists (PushTarget(modules=[...]))",
        )
        return True


def replace_with_push(session: Session[BrowserChannel], message: Message, sender: Any = None) -> None:
    """Bokeh's ``push_session`` to any app: the pushed document replaces the app's.

    Served with ``--allow-push``. The app ran when its session was made; once the
    push is found valid, its roots are removed, its widgets closed and its
    next-tick, timeout and periodic callbacks removed (they would act on closed
    widgets). Its ``on_session_destroyed`` callbacks and hooks still run when the
    session ends. The widgets are made from ipywidgets' registry of classes only.
    """

    def clear_the_apps_document() -> None:
        document = session.document
        document.clear_callbacks()
        document.clear()
        session.channel.close_widgets()

    fill_from_push(
        session,
        message,
        sender,
        before_creating=clear_the_apps_document,
        classes_hint="a pushed document may only hold widgets registered with ipywidgets; "
        "for other libraries push to a jupyter_bridge.client.PushTarget(modules=[...])",
    )


def fill_from_push(
    session: Session[BrowserChannel],
    message: Message,
    sender: Any,
    *,
    search: Callable[[type], bool] | None = None,
    max_models: int = 5000,
    classes_hint: str,
    before_creating: Callable[[], None] | None = None,
) -> None:
    """Make the widgets of a validated ``push_doc`` in ``session`` and show its roots.

    Every widget's class is found (ipywidgets' registry, then classes ``search``
    accepts; only :func:`~jupyter_bridge.widget_states.importable` ones) before anything changes; ``before_creating`` runs then. Answers the
    pushing connection with ``pushed`` (client model id → server model id), or
    refuses with an ``error`` whose text ends with ``classes_hint`` for an
    unknown class.
    """
    content = message.content
    parent = content["id"]
    models: list[dict[str, Any]] = content["models"]
    if len(models) > max_models:
        session.channel.refuse(f"a push may hold at most {max_models} widgets, not {len(models)}", parent, sender)
        return
    classes = []
    for model in models:
        cls = widget_class(model["state"], accept=importable, search=search)
        if cls is None:
            session.channel.refuse(
                f"the server has no widget class for {describe(model['state'])}; {classes_hint}", parent, sender
            )
            return
        classes.append(cls)
    if before_creating is not None:
        before_creating()
    ids = {model["model_id"]: uuid.uuid4().hex for model in models}

    def server_id(client_id: str) -> str:
        try:
            return ids[client_id]
        except KeyError:
            raise ValueError(f"it refers to model {client_id!r}, which the push does not include") from None

    from ipywidgets.widgets.widget import _put_buffers

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
            close(widget)
        session.channel.refuse(f"could not create a {cls.__name__} from the pushed state: {error}", parent, sender)
        return
    document = session.document
    document.title = content.get("title", document.title)
    for root in content["roots"]:
        document.add_root(created[root])
    session.channel.pushed = True
    log.info("Session %s: a client pushed a document of %d widgets", session.id, len(created))
    session.channel.reply({"type": "pushed", "parent": parent, "models": ids}, sender)
