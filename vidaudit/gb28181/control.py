"""The local control channel of the GB/T 28181 service, the asking side: how the collector
and the frame puller reach the running service (``vidaudit.gbservice.control`` serves it).

Why a channel at all: a recorder registers to one address and answers there -- the
service's SIP port.  Queries must leave from that port (a device answers a Query with
MESSAGEs to its platform, and over TCP only on the connection it opened), so the
collector and the frame puller cannot talk SIP themselves; they ask the running service.

The choice: HTTP/JSON on 127.0.0.1, an ephemeral port, and a random bearer token.  The
service writes a ``ControlFile`` (``{"url", "token", "pid"}``) that only its user can
read (mode 0600, ``Settings.gb_control_file``) and removes it when it stops; clients
read it.  Not a Unix socket: its path is limited to 108 bytes, which deep data
directories exceed.  Not the database: a query is a request with an answer within
seconds, not a job.  The service keeps registrations in the database only so they
survive its restart.

Every wait is capped at ``MAX_TIMEOUT_S``.  Errors come back as
``{"error": {"kind", "message"}}`` with the kinds of ``errors.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import aiohttp

from vidaudit.gb28181.errors import GbError, GbErrorKind
from vidaudit.gb28181.manscdp import (
    CatalogItem,
    DeviceInfoAnswer,
    DeviceStatusAnswer,
    RecordItem,
)
from vidaudit.gb28181.platform import MediaOffer

#: The longest any one request may wait (a query's own timeout is capped to it).
MAX_TIMEOUT_S = 120.0
#: What the HTTP exchange itself may add to a query's own timeout.
_SLACK_S = 5.0
Command = Literal["catalog", "device_info", "device_status", "record_info"]


@dataclass(frozen=True)
class ControlFile:
    """Where the running service listens and the token it wants (one per start)."""

    url: str
    token: str
    pid: int
    #: ``HOST:PORT`` of the SIP service itself, as bound (the port it took when the
    #: inventory's ``gb28181.listen`` asked for port 0); empty from an older service
    sip: str = ""

    def write(self, path: Path) -> None:
        """Written whole (a temporary file renamed), readable by this user only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle)
        temporary.replace(path)

    @classmethod
    def read(cls, path: Path) -> ControlFile:
        """``ValueError`` for a file that is not one of ours, ``OSError`` for none."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a control file")
        try:
            return cls(
                str(data["url"]), str(data["token"]), int(data["pid"]), str(data.get("sip", ""))
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a control file: {exc}") from None


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
            found = await asyncio.to_thread(ControlFile.read, control_file)
        except (OSError, ValueError):
            raise GbError(
                "unreachable",
                "the GB/T 28181 service is not running (start `vidaudit gb serve`)",
            ) from None
        async with aiohttp.ClientSession() as session:
            yield cls(session, found.url, found.token)

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


__all__ = ["MAX_TIMEOUT_S", "Command", "ControlClient", "ControlFile", "Playback"]
