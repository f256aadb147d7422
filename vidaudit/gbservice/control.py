"""The local control channel of the GB/T 28181 service, the serving side: HTTP/JSON on
127.0.0.1 with a bearer token, over the running ``Platform``.  What the channel is and
why, and the client, are in ``vidaudit.gb28181.control``.

Requests are bounded: body size (``client_max_size``), at most ``MAX_CONCURRENT`` queries
at once, every wait capped at ``MAX_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import os
import secrets
import socket
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import web

from vidaudit.gb28181.control import MAX_TIMEOUT_S, ControlFile
from vidaudit.gb28181.errors import GbError
from vidaudit.gb28181.manscdp import GB_ID, parse_time
from vidaudit.gb28181.platform import MediaOffer, Platform

MAX_CONCURRENT = 256


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
        found = ControlFile(self.url, self.token, os.getpid(), self.platform.listen)
        await asyncio.to_thread(found.write, self.control_file)

    async def stop(self) -> None:
        # only our own file goes: another service may have started since and written its own
        try:
            if ControlFile.read(self.control_file).token == self.token:
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


__all__ = ["MAX_CONCURRENT", "ControlServer"]
