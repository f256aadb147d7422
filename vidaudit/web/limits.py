"""Bounds on what a request may carry, checked before any route reads it.

The server (uvicorn's h11) bounds the request line and headers to 16 kB as a whole; these
bounds hold under any server and in tests too:

- the URL: path at most ``MAX_PATH`` and query at most ``MAX_QUERY`` characters (414);
- each header value at most ``MAX_HEADER`` bytes and at most ``MAX_HEADERS`` headers (431);
- the body at most ``max_body_bytes`` (413): a declared Content-Length over it is refused
  before reading, and a body without one (chunked) is read up to the bound and refused
  past it, so nothing downstream ever buffers more.

Single form fields are bounded where they are declared (``Form(max_length=…)``) or cut by
the handler; path ids by ``DbId`` (web/deps.py); dates by their parsers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_PATH = 2048
MAX_QUERY = 8192
MAX_HEADER = 8192
MAX_HEADERS = 100


class InputLimits:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if len(scope["path"]) > MAX_PATH or len(scope["query_string"]) > MAX_QUERY:
            await self._refuse(scope, receive, send, 414, "error.too_long")
            return
        if len(headers) > MAX_HEADERS or any(len(v) > MAX_HEADER for _k, v in headers):
            await self._refuse(scope, receive, send, 431, "error.too_long")
            return
        length = next((v for k, v in headers if k == b"content-length"), None)
        if length is not None:
            if not length.isdigit() or int(length) > self.max_body_bytes:
                await self._refuse(scope, receive, send, 413, "error.too_large")
                return
            await self.app(scope, receive, send)
            return
        if not any(k == b"transfer-encoding" for k, _v in headers):
            await self.app(scope, receive, send)
            return
        # A body of unknown length: read it up to the bound here, then hand it on.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                await self._refuse(scope, receive, send, 413, "error.too_large")
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, key: str
    ) -> None:
        # Imported here: errors imports the templates, which import this package's deps.
        from vidaudit.web.errors import error_response

        response = error_response(Request(scope, receive), status, key)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _replay(messages: list[Message], then: Receive) -> Receive:
    """The messages already read, then the connection's own (a later disconnect)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await then()

    return receive
