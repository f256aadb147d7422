"""A deliberately small HTTP/1.1 server loop on asyncio streams.

Not aiohttp: the faults (a truncated body, a reset, a hang at accept, a 50 MB stream)
need the raw socket, and a request costs less CPU without a framework.  Only what ONVIF
clients send is supported: Content-Length bodies, keep-alive, no chunked requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MAX_HEAD_BYTES = 32 * 1024
MAX_BODY_BYTES = 1024 * 1024
#: An idle keep-alive connection is closed after this long (clients reconnect).
IDLE_TIMEOUT_S = 30.0
#: A request must arrive completely within this long once it has started.
READ_TIMEOUT_S = 10.0
WRITE_TIMEOUT_S = 60.0

SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8"
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
}


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


def response_head(
    status: int,
    length: int,
    content_type: str = SOAP_CONTENT_TYPE,
    headers: tuple[tuple[str, str], ...] = (),
    keep_alive: bool = True,
) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}",
        "Server: vidaudit-sim",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}",
        "Connection: " + ("keep-alive" if keep_alive else "close"),
        *(f"{k}: {v}" for k, v in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response_bytes(
    status: int,
    body: bytes,
    content_type: str = SOAP_CONTENT_TYPE,
    headers: tuple[tuple[str, str], ...] = (),
    keep_alive: bool = True,
) -> bytes:
    return response_head(status, len(body), content_type, headers, keep_alive) + body


async def read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    """The next request, or None when the client closed the connection between requests."""
    try:
        async with asyncio.timeout(IDLE_TIMEOUT_S):
            head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest(400, "incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(400, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest(400, "bad request line") from None
    if not version.startswith("HTTP/1."):
        raise BadRequest(400, "HTTP/1.x only")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(400, "bad header line")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadRequest(411, "chunked request bodies are not supported")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadRequest(400, "bad Content-Length") from None
    if length < 0 or length > MAX_BODY_BYTES:
        raise BadRequest(413, "request body too large")
    body = b""
    if length:
        async with asyncio.timeout(READ_TIMEOUT_S):
            body = await reader.readexactly(length)
    path = unquote(urlsplit(target).path)
    return HttpRequest(method.upper(), target, path, version, headers, body)


Responder = Callable[[HttpRequest, asyncio.StreamWriter], Awaitable[bool]]


async def serve_connection(
    on_connect: Callable[[asyncio.StreamWriter], Awaitable[bool]],
    respond: Responder,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """Answer requests on one connection until the client or ``respond`` closes it."""
    try:
        if not await on_connect(writer):
            return
        while True:
            try:
                request = await read_request(reader)
            except BadRequest as exc:
                writer.write(
                    response_bytes(exc.status, str(exc).encode(), "text/plain", keep_alive=False)
                )
                break
            if request is None:
                break
            keep = await respond(request, writer)
            if writer.transport.get_write_buffer_size() > 0:
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    await writer.drain()
            if not keep or not request.keep_alive:
                break
    except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
        # The client went away or stalled: the same as a real device, just drop it.
        pass
    finally:
        if not writer.transport.is_closing():
            writer.close()
