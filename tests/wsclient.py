"""A protocol-level test client: loads an app page, opens its session socket, mirrors models."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from jupyter_bridge.protocol import SUBPROTOCOL, Message, decode_server_frames, encode

CONFIG = re.compile(r'<script type="application/json" id="jupyter-bridge-config">(.*?)</script>', re.S)
_ids = itertools.count(1)


async def fetch_page(url: str, **kwargs: Any) -> tuple[int, str]:
    try:
        response = await AsyncHTTPClient().fetch(url, follow_redirects=False, **kwargs)
        return response.code, response.body.decode()
    except HTTPClientError as error:
        body = error.response.body.decode() if error.response is not None else ""
        return error.code, body


class Client:
    """One browser-tab-like session client."""

    def __init__(self, base: str, page_path: str, headers: dict[str, str] | None = None) -> None:
        self.base = base.rstrip("/")
        self.page_path = page_path
        #: Extra headers (e.g. Cookie, Authorization) sent with the page request and the socket handshake.
        self.headers = dict(headers or {})
        self.frames: list[Message] = []
        #: The first answer (idle, pong or error) to each message sent, by the message's id.
        self.replies: dict[str, dict[str, Any]] = {}
        #: Each WebSocket message as received (a batch holds several of ``frames``).
        self.raw_frames: list[str | bytes] = []
        self.models: dict[str, dict[str, Any]] = {}
        self.closed_models: set[str] = set()
        self.doc: dict[str, Any] | None = None
        self.ws: WebSocketClientConnection | None = None
        self.config: dict[str, Any] = {}
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None

    @classmethod
    async def open(
        cls, base: str, page_path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Client:
        client = cls(base, page_path, headers)
        await client.load_page()
        await client.connect(**kwargs)
        await client.wait_for(lambda: client.doc is not None)
        return client

    async def load_page(self) -> None:
        code, html = await fetch_page(self.base + "/" + self.page_path.lstrip("/"), headers=self.headers)
        assert code == 200, (code, html[:500])
        self.config = json.loads(CONFIG.search(html).group(1))  # type: ignore[union-attr]

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1].split("/")[0])

    async def connect(
        self, origin: str | None = None, token: str | None = None, query: str = "", ws_base: str | None = None
    ) -> None:
        origin = origin or f"http://localhost:{self.port}"
        token = token or self.config["token"]
        ws_base = ws_base or self.base.replace("http://", "ws://").split("/", 3)[:3]
        if isinstance(ws_base, list):
            ws_base = "/".join(ws_base)
        request = HTTPRequest(
            ws_base + self.config["wsUrl"] + query,
            headers={**self.headers, "Origin": origin, "Sec-WebSocket-Protocol": f"{SUBPROTOCOL}, {token}"},
        )
        self.ws = await websocket_connect(request)
        self._reader = asyncio.ensure_future(self._read(self.ws))

    async def _read(self, ws: WebSocketClientConnection) -> None:
        while True:
            frame = await ws.read_message()
            if frame is None:
                self.close_code, self.close_reason = ws.close_code, ws.close_reason
                self._changed.set()
                return
            self.raw_frames.append(frame)
            for message in decode_server_frames(frame):
                self.apply(message)
            self._changed.set()

    def apply(self, message: Message) -> None:
        self.frames.append(message)
        content = message.content
        kind = content["type"]
        parent = content.get("parent")
        if kind in ("idle", "pong", "error") and isinstance(parent, str):
            self.replies.setdefault(parent, content)
        if kind == "comm_open":
            self.models[content["comm_id"]] = dict(content["data"]["state"])
        elif kind == "comm_msg" and content["data"].get("method") in ("update", "echo_update"):
            self.models.setdefault(content["comm_id"], {}).update(content["data"]["state"])
        elif kind == "comm_close":
            self.closed_models.add(content["comm_id"])
        elif kind == "doc":
            self.doc = content

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        async def wait() -> Any:
            while True:
                result = predicate()
                if result:
                    return result
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(wait(), timeout)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m.content for m in self.frames if m.content["type"] == kind]

    def model_ids(self, model_name: str) -> list[str]:
        return [cid for cid, state in self.models.items() if state.get("_model_name") == model_name]

    def model(self, model_name: str) -> dict[str, Any]:
        ids = self.model_ids(model_name)
        assert len(ids) == 1, f"{len(ids)} {model_name}s in {sorted(s.get('_model_name') for s in self.models.values())}"
        return self.models[ids[0]]

    def send(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> str:
        content = dict(content)
        content.setdefault("id", f"t{next(_ids)}")
        assert self.ws is not None
        frame = encode(Message(content, list(buffers or [])))
        self.ws.write_message(frame, binary=isinstance(frame, bytes))
        return content["id"]

    async def request(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> dict[str, Any]:
        """Send and wait for the reply naming this message as parent (idle, pong or error)."""
        msg_id = self.send(content, buffers)
        return await self.wait_for(lambda: self.replies.get(msg_id))

    async def set_state(self, model_name: str, **state: Any) -> dict[str, Any]:
        comm_id = self.model_ids(model_name)[0]
        return await self.request(
            {"type": "comm_msg", "comm_id": comm_id, "data": {"method": "update", "state": state, "buffer_paths": []}}
        )

    async def close(self) -> None:
        if self.ws is not None:
            self.ws.close(1000)  # as a page that leaves (a browser sends 1001)
            self.ws = None
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (TimeoutError, Exception):
                self._reader.cancel()
