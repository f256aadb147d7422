"""A simulated recorder that reports to an upper platform over GB/T 28181.

It plays the device side of GB/T 28181-2016 from the same scenario and timelines as the
ONVIF devices (``SimDevice``): it registers with digest (retrying while refused or while
the platform is not up yet), refreshes the registration, sends a Keepalive every
``keepalive_s``, and answers the platform's queries the way real recorders do, which a
correct platform must cope with:

* every answer is its own MESSAGE after the 200 to the query, GB2312-encoded;
* Catalog and RecordInfo answers are split across several MESSAGEs (``ITEMS_PER_MESSAGE``)
  and RecordInfo items come unsorted (Hikvision lists a day's segments newest first,
  some Dahua firmware per disk);
* times are the device's local wall time without offset, on its own (drifted) clock.

Playback INVITEs get a 200 with the device's SDP; after the ACK the channel's recorded
video from the requested start (``t=``, seconds since 1970 on the device's clock) is sent
as RTP carrying MPEG-PS (``ps.py``) to the offered address, over UDP or, for
``a=setup:passive`` offers, over a TCP connection the device opens (RFC 4571 framing).
Frames are those of the RTSP replay (``rtsp/video.py``): the same pictures and burnt-in
time code.  At the end of the range a ``MediaStatus`` Notify (121) is sent; BYE stops it.

Fault ``hang``: registers and keeps alive, confirms queries with 200 and never answers
them (a recorder whose database is busy rebuilding its index).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import secrets
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from vidaudit.sim.gb28181 import ps
from vidaudit.sim.gb28181.sipmsg import (
    Msg,
    branch,
    decode,
    digest_answer,
    reply,
    sdp_fields,
)
from vidaudit.sim.plan import FaultKind
from vidaudit.sim.rtsp.video import FRAME_MS, GOP_MS, ChannelLook, GopCache, parameter_sets

if TYPE_CHECKING:
    from vidaudit.sim.device import SimChannel, SimDevice

logger = logging.getLogger(__name__)

ITEMS_PER_MESSAGE = 3
REGISTER_EXPIRES_S = 3600
RETRY_S = 2.0
#: Pause between frames while streaming a playback (faster than real time, as recorders
#: do when the platform downloads; a breath so a UDP reader in the same process keeps up).
FRAME_GAP_S = 0.003
_MAX_MESSAGE = 256 * 1024


@dataclass
class GbIdentity:
    """Who the recorder is and where its platform is."""

    device_id: str
    channel_ids: dict[int, str]
    platform_id: str
    domain: str
    platform_host: str
    platform_port: int
    password: str
    transport: str = "udp"
    keepalive_s: float = 60.0


@dataclass
class _Playback:
    call_id: str
    channel: SimChannel
    start_ms: int
    end_ms: int
    host: str
    port: int
    tcp: bool
    ssrc: int
    from_header: str
    to_header: str
    task: asyncio.Task[None] | None = None
    frames_sent: int = 0


@dataclass
class Counters:
    registers: int = 0
    keepalives: int = 0
    queries: int = 0
    playbacks: int = 0
    refused: int = 0


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: GbRecorder) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        msg = decode(data)
        if msg is not None:
            self.owner.on_message(msg)


class GbRecorder:
    def __init__(self, device: SimDevice, identity: GbIdentity, stop: asyncio.Event) -> None:
        self.dev = device
        self.ident = identity
        self.stop_event = stop
        self.counters = Counters()
        self.registered = asyncio.Event()
        self.local_host = device.host
        self.local_port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[str, asyncio.Future[Msg]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
        self._cseq = 0
        self._sn = 0
        self._tag = secrets.token_hex(4)
        self._call_id = f"{secrets.token_hex(8)}@{device.host}"
        self._playbacks: dict[str, _Playback] = {}
        self._by_gb = {
            identity.channel_ids[ch.plan.number]: ch
            for ch in device.channels
            if ch.plan.number in identity.channel_ids
        }
        self._rng = random.Random(f"{identity.device_id}:order")
        self.cache = GopCache(8)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._main = asyncio.create_task(self._run())

    async def stop(self) -> None:
        for playback in self._playbacks.values():
            if playback.task is not None:
                playback.task.cancel()
        tasks = [t for t in (self._main, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                await self._connect()
                await self._register()
                self.registered.set()
                await self._keepalive_loop()
            except (OSError, TimeoutError, ConnectionError) as exc:
                logger.debug("%s: %s; retrying", self.ident.device_id, exc)
            self.registered.clear()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            await asyncio.sleep(RETRY_S)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        target = (self.ident.platform_host, self.ident.platform_port)
        if self.ident.transport == "tcp":
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*target), 5)
            self._writer = writer
            self.local_host, self.local_port = writer.get_extra_info("sockname")[:2]
            self._spawn(self._read_tcp(reader))
        elif self._udp is None:
            self._udp, _p = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.dev.host, 0)
            )
            self.local_host, self.local_port = self._udp.get_extra_info("sockname")[:2]

    async def _read_tcp(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() in (b"content-length", b"l"):
                        length = int(value.strip() or b"0")
                if length > _MAX_MESSAGE:
                    return
                body = await reader.readexactly(length) if length else b""
                msg = decode(head + body)
                if msg is not None:
                    self.on_message(msg)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return
        except ValueError:  # a framing error: a line or body over the limit
            return

    def _send(self, msg: Msg) -> None:
        data = msg.encode()
        if self.ident.transport == "tcp":
            if self._writer is not None and not self._writer.is_closing():
                self._writer.write(data)
        elif self._udp is not None:
            self._udp.sendto(data, (self.ident.platform_host, self.ident.platform_port))

    def _via(self, br: str) -> str:
        kind = self.ident.transport.upper()
        return f"SIP/2.0/{kind} {self.local_host}:{self.local_port};rport;branch={br}"

    async def _request(
        self, method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"",
        *, to: str | None = None, call_id: str | None = None, timeout_s: float = 8.0,
    ) -> Msg:  # fmt: skip
        """Send a request, retransmitting over UDP, and return its final response."""
        self._cseq += 1
        br = branch()
        msg = Msg(f"{method} {uri} SIP/2.0")
        msg.headers += [
            ("Via", self._via(br)),
            ("From", f"<sip:{self.ident.device_id}@{self.ident.domain}>;tag={self._tag}"),
            ("To", to or f"<sip:{self.ident.platform_id}@{self.ident.domain}>"),
            ("Call-ID", call_id or f"{secrets.token_hex(8)}@{self.local_host}"),
            ("CSeq", f"{self._cseq} {method}"),
            ("Max-Forwards", "70"),
            ("User-Agent", f"{self.dev.flavour.manufacturer} {self.dev.model}"),
            *headers,
        ]
        msg.body = body
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._pending[br] = future
        try:
            async with asyncio.timeout(timeout_s):
                wait = 0.5
                while True:
                    self._send(msg)
                    done, _ = await asyncio.wait(
                        {future}, timeout=wait if self.ident.transport == "udp" else None
                    )
                    if done:
                        return future.result()
                    wait = min(wait * 2, 4.0)
        finally:
            self._pending.pop(br, None)

    # ------------------------------------------------------------------ registration
    async def _register(self) -> None:
        uri = f"sip:{self.ident.platform_id}@{self.ident.domain}"
        me = f"<sip:{self.ident.device_id}@{self.ident.domain}>"
        contact = f"<sip:{self.ident.device_id}@{self.local_host}:{self.local_port}>"
        headers = [("Contact", contact), ("Expires", str(REGISTER_EXPIRES_S))]
        answer = await self._request("REGISTER", uri, headers, to=me, call_id=self._call_id)
        if answer.status == 401:
            auth = digest_answer(
                answer.get("WWW-Authenticate"),
                method="REGISTER",
                uri=uri,
                user=self.ident.device_id,
                password=self.ident.password,
            )
            answer = await self._request(
                "REGISTER", uri, [*headers, ("Authorization", auth)], to=me, call_id=self._call_id
            )
        if answer.status != 200:
            self.counters.refused += 1
            raise ConnectionError(f"REGISTER answered {answer.status}")
        self.counters.registers += 1

    async def _keepalive_loop(self) -> None:
        refresh_at = asyncio.get_running_loop().time() + REGISTER_EXPIRES_S / 2
        while True:
            self._sn += 1
            body = _xml(
                "Notify",
                [("CmdType", "Keepalive"), ("SN", str(self._sn)),
                 ("DeviceID", self.ident.device_id), ("Status", "OK")],
            )  # fmt: skip
            answer = await self._message(body)
            if answer.status != 200:
                raise ConnectionError(f"Keepalive answered {answer.status}")
            self.counters.keepalives += 1
            await asyncio.sleep(self.ident.keepalive_s)
            if asyncio.get_running_loop().time() > refresh_at:
                return  # register again

    async def _message(self, body: bytes) -> Msg:
        uri = f"sip:{self.ident.platform_id}@{self.ident.domain}"
        return await self._request(
            "MESSAGE", uri, [("Content-Type", "Application/MANSCDP+xml")], body
        )

    # ------------------------------------------------------------------ inbound
    def on_message(self, msg: Msg) -> None:
        if not msg.is_request:
            via = msg.get("Via")
            br = via.split("branch=", 1)[1].split(";", 1)[0] if "branch=" in via else ""
            future = self._pending.get(br)
            if future is not None and not future.done() and msg.status >= 200:
                future.set_result(msg)
            return
        method = msg.method
        if method == "MESSAGE":
            self._on_query(msg)
        elif method == "INVITE":
            self._on_invite(msg)
        elif method == "ACK":
            playback = self._playbacks.get(msg.get("Call-ID"))
            if playback is not None and playback.task is None:
                playback.task = asyncio.create_task(self._stream(playback))
        elif method == "BYE":
            playback = self._playbacks.pop(msg.get("Call-ID"), None)
            if playback is not None and playback.task is not None:
                playback.task.cancel()
            status = (200, "OK") if playback is not None else (481, "Call Does Not Exist")
            self._send(reply(msg, *status, tag=self._tag))
        else:
            self._send(reply(msg, 405, "Method Not Allowed", tag=self._tag))

    def _on_query(self, msg: Msg) -> None:
        self._send(reply(msg, 200, "OK", tag=secrets.token_hex(4)))
        text = msg.body.decode("gb18030", "replace")
        cmd, sn, target = _field(text, "CmdType"), _field(text, "SN"), _field(text, "DeviceID")
        self.counters.queries += 1
        fault = self.dev.plan.fault
        if fault is not None and fault.kind is FaultKind.HANG:
            return
        if fault is not None and fault.kind is FaultKind.SLOW:
            self._spawn(self._later(fault.delay_s, cmd, sn, target, text))
            return
        self._spawn(self._answer(cmd, sn, target, text))

    async def _later(self, delay: float, cmd: str, sn: str, target: str, text: str) -> None:
        await asyncio.sleep(delay)
        await self._answer(cmd, sn, target, text)

    async def _answer(self, cmd: str, sn: str, target: str, text: str) -> None:
        bodies: list[bytes] = []
        if cmd == "Catalog":
            bodies = self._catalog(sn)
        elif cmd == "DeviceInfo":
            bodies = [self._device_info(sn)]
        elif cmd == "DeviceStatus":
            bodies = [self._device_status(sn)]
        elif cmd == "RecordInfo":
            bodies = self._record_info(sn, target, text)
        for body in bodies:
            with contextlib.suppress(TimeoutError):
                await self._message(body)

    # ------------------------------------------------------------------ answers
    def _local(self, device_utc: dt.datetime) -> dt.datetime:
        return self.dev.tz.local(device_utc).replace(tzinfo=None)

    def _catalog(self, sn: str) -> list[bytes]:
        items = []
        for number, gb_id in sorted(self.ident.channel_ids.items()):
            ch = self.dev.channels[number - 1]
            items.append(
                [
                    ("DeviceID", gb_id),
                    ("Name", ch.plan.name),
                    ("Manufacturer", self.dev.flavour.manufacturer),
                    ("Model", self.dev.model),
                    ("Owner", "Owner"),
                    ("CivilCode", self.ident.domain[:6]),
                    ("Address", self.dev.branch.name),
                    ("Parental", "0"),
                    ("ParentID", self.ident.device_id),
                    ("SafetyWay", "0"),
                    ("RegisterWay", "1"),
                    ("Secrecy", "0"),
                    ("Status", "ON"),
                ]
            )
        return self._split("Catalog", sn, self.ident.device_id, "DeviceList", items)

    def _split(
        self, cmd: str, sn: str, device_id: str, list_name: str, items: list[list[tuple[str, str]]]
    ) -> list[bytes]:
        head = [("CmdType", cmd), ("SN", sn), ("DeviceID", device_id)]
        if cmd == "RecordInfo":
            head.append(("Name", self.dev.plan.name))
        head.append(("SumNum", str(len(items))))
        if not items:
            return [_xml("Response", head, list_name, [])]
        return [
            _xml("Response", head, list_name, items[i : i + ITEMS_PER_MESSAGE])
            for i in range(0, len(items), ITEMS_PER_MESSAGE)
        ]

    def _device_info(self, sn: str) -> bytes:
        return _xml(
            "Response",
            [
                ("CmdType", "DeviceInfo"),
                ("SN", sn),
                ("DeviceID", self.ident.device_id),
                ("DeviceName", self.dev.plan.name),
                ("Result", "OK"),
                ("Manufacturer", self.dev.flavour.manufacturer),
                ("Model", self.dev.model),
                ("Firmware", self.dev.flavour.firmware),
                ("Channel", str(len(self.ident.channel_ids))),
            ],
        )

    def _device_status(self, sn: str) -> bytes:
        now = self.dev.now()
        recording = any(ch.recording_now(now) for ch in self.dev.channels)
        return _xml(
            "Response",
            [
                ("CmdType", "DeviceStatus"),
                ("SN", sn),
                ("DeviceID", self.ident.device_id),
                ("Result", "OK"),
                ("Online", "ONLINE"),
                ("Status", "OK"),
                ("Encode", "ON"),
                ("Record", "ON" if recording else "OFF"),
                ("DeviceTime", self._local(now).isoformat(timespec="seconds")),
            ],
        )

    def _record_info(self, sn: str, target: str, text: str) -> list[bytes]:
        ch = self._by_gb.get(target)
        start, end = _field(text, "StartTime"), _field(text, "EndTime")
        items: list[list[tuple[str, str]]] = []
        if ch is not None and start and end:
            offset = self.dev.tz.utc_offset
            lo = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC) - offset
            hi = dt.datetime.fromisoformat(end).replace(tzinfo=dt.UTC) - offset
            for s, e in ch.timeline.until(self.dev.now()):
                if e <= lo or s >= hi:
                    continue
                s, e = max(s, lo), min(e, hi)
                items.append(
                    [
                        ("DeviceID", target),
                        ("Name", ch.plan.name),
                        ("FilePath", f"/record/{target}/{self._local(s):%Y%m%d%H%M%S}.ps"),
                        ("Address", self.dev.branch.name),
                        ("StartTime", self._local(s).isoformat(timespec="seconds")),
                        ("EndTime", self._local(e).isoformat(timespec="seconds")),
                        ("Secrecy", "0"),
                        ("Type", "time"),
                    ]
                )
            self._rng.shuffle(items)
        return self._split("RecordInfo", sn, target, "RecordList", items)

    # ------------------------------------------------------------------ playback
    def _on_invite(self, msg: Msg) -> None:
        sdp = sdp_fields(msg.body.decode("utf-8", "replace"))
        target = msg.start.split(" ")[1].split(":", 1)[1].split("@", 1)[0]
        ch = self._by_gb.get(target)
        try:
            media = sdp["m"][0].split()
            times = sdp["t"][0].split()
            host = sdp["c"][0].split()[-1]
            port, start, end = int(media[1]), int(times[0]), int(times[1])
            ssrc = int(sdp.get("y", ["0"])[0])
        except (KeyError, IndexError, ValueError):
            self._send(reply(msg, 400, "Bad Request", tag=self._tag))
            return
        if ch is None or sdp.get("s", [""])[0] != "Playback":
            self._send(reply(msg, 404, "Not Found", tag=self._tag))
            return
        tcp = media[2].upper().startswith("TCP")
        tag = secrets.token_hex(4)
        playback = _Playback(
            msg.get("Call-ID"),
            ch,
            start * 1000,
            end * 1000,
            host,
            port,
            tcp,
            ssrc,
            msg.get("From"),
            msg.get("To") + f";tag={tag}",
        )
        self._playbacks[playback.call_id] = playback
        self.counters.playbacks += 1
        answer = "\r\n".join(
            [
                "v=0",
                f"o={target} 0 0 IN IP4 {self.local_host}",
                "s=Playback",
                f"c=IN IP4 {self.local_host}",
                f"t={start} {end}",
                f"m=video {9 if tcp else 15060} {media[2]} 96",
                "a=sendonly",
                "a=rtpmap:96 PS/90000",
                *(["a=setup:active", "a=connection:new"] if tcp else []),
                f"y={ssrc:010d}",
                "",
            ]
        ).encode()
        contact = f"<sip:{target}@{self.local_host}:{self.local_port}>"
        self._send(
            reply(
                msg,
                200,
                "OK",
                tag=tag,
                extra=[("Contact", contact), ("Content-Type", "application/sdp")],
                body=answer,
            )
        )

    async def _stream(self, playback: _Playback) -> None:
        ch = playback.channel
        look = ChannelLook(
            ch.plan.id, ch.plan.picture, int(self.dev.tz.utc_offset.total_seconds() * 1000)
        )
        sps, pps = parameter_sets()
        packer = ps.RtpPacker(playback.ssrc, secrets.randbits(16))
        pts_base = secrets.randbits(30)
        writer: asyncio.StreamWriter | None = None
        udp: asyncio.DatagramTransport | None = None
        loop = asyncio.get_running_loop()
        try:
            if playback.tcp:
                _reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(playback.host, playback.port), 5
                )
            else:
                udp, _p = await loop.create_datagram_endpoint(
                    asyncio.DatagramProtocol, remote_addr=(playback.host, playback.port)
                )
            now_ms = int(self.dev.now().timestamp() * 1000)
            for section_start, section_end in _sections(ch, playback.start_ms, playback.end_ms):
                keyframe = section_start
                while keyframe < min(section_end, now_ms):
                    # a playback begins at the requested instant: its first GOP may be short
                    end = min(keyframe - keyframe % GOP_MS + GOP_MS, section_end)
                    count = -(-(end - keyframe) // FRAME_MS)
                    units = await self.cache.get(look, keyframe, count)
                    for unit in units:
                        if unit.ms >= playback.end_ms:
                            break
                        pts = pts_base + (unit.ms - playback.start_ms) * 90
                        data = ps.frame_ps(unit.nals, pts, unit.keyframe, (sps, pps))
                        for packet in packer.packets(data, pts):
                            if writer is not None:
                                writer.write(ps.tcp_framed(packet))
                            elif udp is not None:
                                udp.sendto(packet)
                        if writer is not None:
                            await writer.drain()
                        playback.frames_sent += 1
                        await asyncio.sleep(FRAME_GAP_S)
                    keyframe = end
            self._sn += 1
            status = [
                ("CmdType", "MediaStatus"),
                ("SN", str(self._sn)),
                ("DeviceID", self.ident.channel_ids[ch.plan.number]),
                ("NotifyType", "121"),
            ]
            await self._message(_xml("Notify", status))
        except (OSError, TimeoutError, ConnectionError) as exc:
            logger.debug("%s: playback ended: %s", self.ident.device_id, exc)
        finally:
            if writer is not None:
                writer.close()
            if udp is not None:
                udp.close()


def _sections(ch: SimChannel, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """Footage inside [start, end) in device-clock ms, on the frame grid."""
    out = []
    for s, e in ch.timeline.intervals:
        lo = max(int(s.timestamp() * 1000), start_ms)
        hi = min(int(e.timestamp() * 1000), end_ms)
        lo += -lo % FRAME_MS
        if hi > lo:
            out.append((lo, hi))
    return out


def _field(text: str, name: str) -> str:
    start = text.find(f"<{name}>")
    end = text.find(f"</{name}>", start)
    if start < 0 or end < 0:
        return ""
    return text[start + len(name) + 2 : end].strip()


def _xml(
    root: str,
    fields: list[tuple[str, str]],
    list_name: str | None = None,
    items: list[list[tuple[str, str]]] | None = None,
) -> bytes:
    lines = ['<?xml version="1.0" encoding="GB2312"?>', f"<{root}>"]
    lines += [f"<{k}>{escape(v)}</{k}>" for k, v in fields]
    if list_name is not None:
        rows = items or []
        lines.append(f'<{list_name} Num="{len(rows)}">')
        for item in rows:
            lines.append("<Item>")
            lines += [f"<{k}>{escape(v)}</{k}>" for k, v in item]
            lines.append("</Item>")
        lines.append(f"</{list_name}>")
    lines.append(f"</{root}>")
    return ("\r\n".join(lines) + "\r\n").encode("gb2312")


__all__ = ["GbIdentity", "GbRecorder"]
