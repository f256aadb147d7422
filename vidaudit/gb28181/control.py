"""The local control channel of the GB/T 28181 service: how other processes ask it.

Why a channel at all: a recorder registers to one address and answers there -- the
service's SIP port.  Queries must leave from that port (a device answers a Query with
MESSAGEs to its platform, and over TCP only on the connection it opened), so the
collector and the frame puller cannot talk SIP themselves; they ask the running service.

The choice: HTTP/JSON on 127.0.0.1, an ephemeral port, and a random bearer token.  The
service writes ``{"url", "token", "pid"}`` to a file only its user can read (mode 0600,
``Settings.gb_control_file``) and removes it when it stops; clients read it.  Not a
Unix socket: its path is limited to 108 bytes, which deep data directories exceed.  Not
the database: a query is a request with an answer within seconds, not a job.  The
service keeps registrations in the database only so they survive its restart.

Requests are bounded: body size (``client_max_size``), at most ``MAX_CONCURRENT`` queries
at once, every wait capped at ``MAX_TIMEOUT_S``.  Errors come back as
``{"error": {"kind", "message"}}`` with the kinds of ``errors.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import aiohttp
from aiohttp import web

from vidaudit.gb28181.errors import GbError, GbErrorKind
from vidaudit.gb28181.manscdp import (
    GB_ID,
    CatalogItem,
    DeviceInfoAnswer,
    DeviceStatusAnswer,
    RecordItem,
    parse_time,
)
from vidaudit.gb28181.platform import MediaOffer, Platform

MAX_CONCURRENT = 256
MAX_TIMEOUT_S = 120.0
#: What the HTTP exchange itself may add to a query's own timeout.
_SLACK_S = 5.0
Command = Literal["catalog", "device_info", "device_status", "record_info"]


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _error(kind: str, message: str, status: int = 200) -> web.Response:
    return web.json_response({"error": {"kind": kind, "message": message}}, status=status)


def _bounded_timeout(value: object) -> float:
    if not isinstance(value, int | float) or value <= 0:
        raise ValueError("timeout_s must be a positive number")
    return min(float(value), MAX_TIMEOUT_S)


def _gb_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not GB_ID.match(value):
        raise ValueError(f"{name} must be a 20-digit GB/T 28181 ID")
    return value


class ControlServer:
    """Serves ``platform`` to local clients until ``stop``."""

    def __init__(self, platform: Platform, control_file: Path) -> None:
        self.platform = platform
        self.control_file = control_file
        self.token = secrets.token_urlsafe(32)
        self._runner: web.AppRunner | None = None
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self.url = ""

    async def start(self, host: str = "127.0.0.1") -> None:
        app = web.Application(client_max_size=64 * 1024, middlewares=[self._guard])
        app.router.add_get("/registrations", self._registrations)
        app.router.add_post("/query", self._query)
        app.router.add_post("/playback/start", self._playback_start)
        app.router.add_post("/playback/stop", self._playback_stop)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((host, 0))  # an ephemeral port, named in the control file
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.url = f"http://{host}:{sock.getsockname()[1]}"
        await asyncio.to_thread(self._write_file)

    def _write_file(self) -> None:
        self.control_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.control_file.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"url": self.url, "token": self.token, "pid": os.getpid()}, handle)
        temporary.replace(self.control_file)

    async def stop(self) -> None:
        try:
            data = json.loads(self.control_file.read_text(encoding="utf-8"))
            if data.get("token") == self.token:
                self.control_file.unlink()
        except (OSError, ValueError):
            pass
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return _error("auth", "wrong or missing control token", status=401)
        if self._slots.locked():
            return _error("timeout", "the service is busy", status=503)
        async with self._slots:
            try:
                response: web.StreamResponse = await handler(request)
                return response
            except GbError as exc:
                return _error(exc.kind, exc.message)
            except (ValueError, KeyError, TypeError) as exc:
                return _error("malformed", f"bad control request: {exc}", status=400)

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except json.JSONDecodeError:
            raise ValueError("the body is not JSON") from None
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data

    async def _registrations(self, request: web.Request) -> web.Response:
        alive = {}
        for gb_id in list(self.platform.registrations):
            registration = self.platform.registration(gb_id)
            if registration is not None:
                alive[gb_id] = asdict(registration)
        text = json.dumps({"registrations": alive}, default=_json_default)
        return web.json_response(text=text)

    async def _query(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        gb_id = _gb_id(data.get("gb_id"), "gb_id")
        timeout_s = _bounded_timeout(data.get("timeout_s", 10))
        command = data.get("command")
        platform = self.platform
        result: object
        if command == "catalog":
            result = await platform.catalog(gb_id, timeout_s=timeout_s)
        elif command == "device_info":
            result = await platform.device_info(gb_id, timeout_s=timeout_s)
        elif command == "device_status":
            result = await platform.device_status(gb_id, timeout_s=timeout_s)
        elif command == "record_info":
            channel = _gb_id(data.get("channel_id"), "channel_id")
            start, end = parse_time(data.get("start")), parse_time(data.get("end"))
            if start is None or end is None or end <= start:
                raise ValueError("record_info needs start < end (device local time)")
            result = await platform.record_info(gb_id, channel, start, end, timeout_s=timeout_s)
        else:
            raise ValueError(f"unknown command {command!r}")
        body = [asdict(r) for r in result] if isinstance(result, list) else asdict(result)
        return web.json_response(text=json.dumps({"result": body}, default=_json_default))

    async def _playback_start(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        media = data.get("media")
        if not isinstance(media, dict) or media.get("transport") not in ("udp", "tcp"):
            raise ValueError("media needs host, port and transport udp|tcp")
        offer = MediaOffer(str(media["host"]), int(media["port"]), media["transport"])
        start, end = int(data["start"]), int(data["end"])
        if end <= start:
            raise ValueError("end must be after start")
        call = await self.platform.invite_playback(
            _gb_id(data.get("gb_id"), "gb_id"),
            _gb_id(data.get("channel_id"), "channel_id"),
            start,
            end,
            offer,
            timeout_s=_bounded_timeout(data.get("timeout_s", 10)),
        )
        return web.json_response({"call_id": call.call_id, "ssrc": call.ssrc})

    async def _playback_stop(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        call = self.platform.calls.get(str(data.get("call_id")))
        if call is not None:
            await self.platform.bye(call, timeout_s=_bounded_timeout(data.get("timeout_s", 5)))
        return web.json_response({"stopped": call is not None})


# -- client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Playback:
    call_id: str
    ssrc: str


def _naive(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


class ControlClient:
    """Talks to the running service; every failure is a ``GbError``."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self._session = session
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"}

    @classmethod
    @asynccontextmanager
    async def open(cls, control_file: Path) -> AsyncIterator[ControlClient]:
        try:
            data = json.loads(await asyncio.to_thread(control_file.read_text, encoding="utf-8"))
            url, token = str(data["url"]), str(data["token"])
        except (OSError, ValueError, KeyError):
            raise GbError(
                "unreachable",
                "the GB/T 28181 service is not running (start `vidaudit gb serve`)",
            ) from None
        async with aiohttp.ClientSession() as session:
            yield cls(session, url, token)

    async def _call(
        self, method: str, path: str, timeout_s: float, body: dict[str, Any] | None = None
    ) -> Any:
        try:
            async with self._session.request(
                method,
                self._url + path,
                json=body,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s + _SLACK_S, connect=2.0),
            ) as response:
                data = await response.json(content_type=None)
        except (aiohttp.ClientConnectionError, OSError):
            raise GbError("unreachable", "the GB/T 28181 service does not answer") from None
        except TimeoutError:
            raise GbError("timeout", "the GB/T 28181 service did not answer in time") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise GbError("malformed", f"the GB/T 28181 service answered badly: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            error = data["error"]
            kind = error.get("kind")
            raise GbError(
                kind if kind in get_args(GbErrorKind) else "device_fault",
                str(error.get("message", "")),
            )
        return data

    async def registrations(self) -> dict[str, dict[str, Any]]:
        data = await self._call("GET", "/registrations", 5.0)
        result: dict[str, dict[str, Any]] = data["registrations"]
        return result

    async def _query(self, command: Command, gb_id: str, timeout_s: float, **extra: str) -> Any:
        body = {"command": command, "gb_id": gb_id, "timeout_s": timeout_s, **extra}
        return (await self._call("POST", "/query", timeout_s, body))["result"]

    async def catalog(self, gb_id: str, *, timeout_s: float) -> list[CatalogItem]:
        return [CatalogItem(**item) for item in await self._query("catalog", gb_id, timeout_s)]

    async def device_info(self, gb_id: str, *, timeout_s: float) -> DeviceInfoAnswer:
        return DeviceInfoAnswer(**await self._query("device_info", gb_id, timeout_s))

    async def device_status(self, gb_id: str, *, timeout_s: float) -> DeviceStatusAnswer:
        data = await self._query("device_status", gb_id, timeout_s)
        data["device_time"] = _naive(data.get("device_time"))
        return DeviceStatusAnswer(**data)

    async def record_info(
        self,
        gb_id: str,
        channel_id: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        timeout_s: float,
    ) -> list[RecordItem]:
        """Segments over [start, end), both naive device local time."""
        items = await self._query(
            "record_info",
            gb_id,
            timeout_s,
            channel_id=channel_id,
            start=start.replace(tzinfo=None).isoformat(timespec="seconds"),
            end=end.replace(tzinfo=None).isoformat(timespec="seconds"),
        )
        out = []
        for item in items:
            item["start"] = dt.datetime.fromisoformat(item["start"])
            item["end"] = dt.datetime.fromisoformat(item["end"])
            out.append(RecordItem(**item))
        return out

    async def start_playback(
        self,
        gb_id: str,
        channel_id: str,
        start: int,
        end: int,
        media: MediaOffer,
        *,
        timeout_s: float,
    ) -> Playback:
        body = {
            "gb_id": gb_id,
            "channel_id": channel_id,
            "start": start,
            "end": end,
            "media": asdict(media),
            "timeout_s": timeout_s,
        }
        data = await self._call("POST", "/playback/start", timeout_s, body)
        return Playback(str(data["call_id"]), str(data["ssrc"]))

    async def stop_playback(self, call_id: str, *, timeout_s: float = 5.0) -> None:
        await self._call("POST", "/playback/stop", timeout_s, {"call_id": call_id})


__all__ = ["ControlClient", "ControlServer", "Playback"]
