"""The replay server of one simulated device: RTSP 1.0 on asyncio, H.264 over RTP
(TCP-interleaved or UDP unicast), ONVIF replay extensions and vendor playback URLs.

    server = ReplayServer(device)
    await server.start(sock)      # a bound, not yet listening socket (fleet.rtsp_sockets)
    ...
    await server.stop()

Methods: OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER.
Headers honoured: Authorization (Digest, MD5), Require (``onvif-replay``; anything else, or
``onvif-replay`` on a live URL, gets 551), Range (``clock=`` absolute device-clock times,
``npt=`` relative to the URL's start time or the earliest footage), Rate-Control (``no``: as
fast as the transport takes it; ``yes``, the default: real time, times Scale), Scale
(positive only: no reverse playback), Frames (``intra``, ``intra/<ms>``, ``predicted``,
``all``), Immediate.  One video track per recording; audio is not served.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import socket
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vidaudit.sim.rtsp import schedule
from vidaudit.sim.rtsp.protocol import (
    PlayRange,
    ProtocolError,
    RtspDigest,
    RtspError,
    RtspRequest,
    Target,
    Transport,
    format_clock,
    parse_range,
    parse_transport,
    read_request,
    response_bytes,
    route,
)
from vidaudit.sim.rtsp.rtp import (
    FLAG_C,
    FLAG_D,
    FLAG_E,
    FLAG_T,
    Packetizer,
    replay_extension,
    rtp_timestamp,
)
from vidaudit.sim.rtsp.video import FPS, FRAME_MS, ChannelLook, GopCache, parameter_sets

if TYPE_CHECKING:
    from vidaudit.sim.device import SimChannel, SimDevice

#: Session timeout announced in the Session header (and GetReplayConfiguration's PT60S).
SESSION_TIMEOUT_S = 60
#: A connection silent for longer than this (no request, no keep-alive) is closed.
IDLE_TIMEOUT_S = SESSION_TIMEOUT_S + 10
#: A client that stops reading for this long is dropped (its send buffer is full).
WRITE_TIMEOUT_S = 30.0
#: Rate-Control: no over UDP still needs a breath between frames, or a reader in the same
#: process loses datagrams to a full socket buffer.
UDP_FRAME_GAP_S = 0.002
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"
FEATURE_REPLAY = "onvif-replay"
#: (status, headers, body, content type) of a response.
_Reply = tuple[int, Sequence[tuple[str, str]], bytes, str | None]


class _Sink(asyncio.DatagramProtocol):
    """Server side of a UDP port: sends RTP, drops whatever the client sends (RTCP RR)."""


@dataclass
class _Play:
    """One PLAY's parameters, resolved."""

    point: schedule.StartPoint
    end_ms: int | None
    cseq: int
    rate_control: bool
    scale: float
    intra: bool
    intra_interval_ms: int
    discontinuity: bool


@dataclass
class _Session:
    id: str
    channel: SimChannel
    target: Target
    transport: Transport
    packetizer: Packetizer
    writer: asyncio.StreamWriter
    #: The stream's URL, the one SETUP named: RTP-Info must name it (RFC 2326 §12.33), or
    #: a client such as GStreamer's rtspsrc cannot tell which stream seq/rtptime are for.
    uri: str = ""
    udp: asyncio.DatagramTransport | None = None
    udp_rtcp: asyncio.DatagramTransport | None = None
    udp_peer: tuple[str, int] | None = None
    task: asyncio.Task[None] | None = None
    #: Keyframe of the GOP being sent (where a PLAY without Range resumes after PAUSE).
    position_ms: int | None = None
    sent_frames: int = 0
    tasks: set[asyncio.Task[object]] = field(default_factory=set)

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for task in self.tasks:
            task.cancel()
        for udp in (self.udp, self.udp_rtcp):
            if udp is not None:
                udp.close()


class ReplayServer:
    def __init__(self, dev: SimDevice, cache_size: int = 24) -> None:
        self.dev = dev
        self.cache = GopCache(cache_size)
        self.auth = RtspDigest(
            dev.plan.username, dev.plan.password, dev.auth.realm, secrets.token_bytes(16)
        )
        self.sessions: dict[str, _Session] = {}
        self.connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.auth_failures = 0
        self._server: asyncio.Server | None = None
        self._by_recording = {ch.tokens.recording: ch for ch in dev.channels}
        self._by_number = {ch.plan.number: ch for ch in dev.channels}

    # ------------------------------------------------------------------ lifecycle
    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(self._serve, sock=sock, limit=16_384, backlog=128)

    @property
    def port(self) -> int:
        return self.dev.rtsp_port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions.values()):
            session.close()
        self.sessions.clear()
        # Closing the transports ends each connection's read loop cleanly (EOF); only a
        # connection that does not finish in time is cancelled.
        for writer in self.connections.values():
            writer.close()
        if self.connections:
            _done, pending = await asyncio.wait(list(self.connections), timeout=2.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._server.wait_closed()
            self._server = None

    # ------------------------------------------------------------------ connection
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.connections[task] = writer
        owned: list[str] = []
        try:
            while True:
                try:
                    request = await read_request(reader, IDLE_TIMEOUT_S)
                except (TimeoutError, ProtocolError, asyncio.IncompleteReadError):
                    break
                if request is None:
                    break
                try:
                    status, headers, body, ctype = await self._handle(request, writer, owned)
                except RtspError as refusal:
                    status, headers, body, ctype = refusal.status, refusal.headers, b"", None
                # Written before any await: a PLAY's stream task (already created) cannot
                # put a packet on the wire ahead of its 200 OK.
                writer.write(response_bytes(status, request.cseq, headers, body, ctype))
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    await writer.drain()
        except (ConnectionError, TimeoutError):
            pass
        finally:
            for sid in owned:
                found = self.sessions.pop(sid, None)
                if found is not None:
                    found.close()
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            if task is not None:
                self.connections.pop(task, None)

    async def _handle(
        self, req: RtspRequest, writer: asyncio.StreamWriter, owned: list[str]
    ) -> _Reply:
        if req.version != "RTSP/1.0":
            raise RtspError(505)
        if req.method == "OPTIONS":
            return 200, [("Public", PUBLIC)], b"", None
        if req.method not in PUBLIC.split(", "):
            raise RtspError(405, headers=(("Allow", PUBLIC),))
        try:
            self.auth.check(req.method, req.headers.get("authorization"))
        except RtspError:
            self.auth_failures += 1
            self.dev.counters.auth_failures += 1
            raise
        target = route(req.uri) if req.uri != "*" else None
        required = [t.strip() for t in req.headers.get("require", "").split(",") if t.strip()]
        unsupported = [t for t in required if t != FEATURE_REPLAY]
        if FEATURE_REPLAY in required and (target is None or target.live):
            unsupported.append(FEATURE_REPLAY)
        if unsupported:
            raise RtspError(551, headers=(("Unsupported", ", ".join(unsupported)),))
        if target is not None and target.live:
            raise RtspError(404, "live streams are not simulated")
        if req.method == "DESCRIBE":
            assert target is not None
            return self._describe(req, target)
        if req.method == "SETUP":
            assert target is not None
            return await self._setup(req, target, writer, owned)
        session = self._session(req)
        if req.method == "PLAY":
            return self._play(req, session, target)
        if req.method == "PAUSE":
            if session.task is not None:
                session.task.cancel()
                session.task = None
            return 200, [("Session", session.id)], b"", None
        if req.method == "TEARDOWN":
            session.close()
            self.sessions.pop(session.id, None)
            return 200, [], b"", None
        # GET_PARAMETER / SET_PARAMETER: keep-alive, nothing to report.
        return 200, [("Session", session.id)], b"", None

    def _session(self, req: RtspRequest) -> _Session:
        found = self.sessions.get(_session_id(req))
        if found is None:
            raise RtspError(454)
        return found

    def _channel(self, target: Target) -> SimChannel:
        found = (
            self._by_recording.get(target.recording or "")
            if target.recording is not None
            else self._by_number.get(target.number or 0)
        )
        if found is None:
            raise RtspError(404, "no such recording")
        return found

    # ------------------------------------------------------------------ DESCRIBE
    def _describe(self, req: RtspRequest, target: Target) -> _Reply:
        ch = self._channel(target)
        sps, pps = parameter_sets()
        origin, end = self._url_window(ch, target)
        if target.start_ms is not None:
            span = f"npt=0-{(end - origin) / 1000:.3f}" if end is not None else "npt=0-"
        else:
            # Like recorders do, the range ends at the latest footage (now, while still
            # recording): clients such as GStreamer's rtspsrc only seek in a bounded range.
            now = self.dev.now()
            latest = now if ch.recording_now(now) else ch.timeline.latest(now)
            until = "" if latest is None else format_clock(schedule.ms(latest))
            span = f"clock={format_clock(origin)}-{until}"
        sprop = ",".join(base64.b64encode(n).decode() for n in (sps, pps))
        sdp = "\r\n".join(
            [
                "v=0",
                f"o=- {zlib.crc32(ch.plan.id.encode())} 1 IN IP4 {self.dev.host}",
                f"s=vidaudit-sim replay {ch.plan.id}",
                "c=IN IP4 0.0.0.0",
                "t=0 0",
                "a=control:*",
                f"a=range:{span}",
                "m=video 0 RTP/AVP 96",
                "a=rtpmap:96 H264/90000",
                f"a=fmtp:96 packetization-mode=1;profile-level-id={sps[1:4].hex().upper()};"
                f"sprop-parameter-sets={sprop}",
                f"a=framerate:{FPS}",
                "a=control:trackID=1",
                f"a=x-onvif-track:{ch.tokens.video_track}",
                "a=recvonly",
                "",
            ]
        ).encode()
        base = req.uri if req.uri.endswith("/") else req.uri + "/"
        return 200, [("Content-Base", base)], sdp, "application/sdp"

    def _url_window(self, ch: SimChannel, target: Target) -> tuple[int, int | None]:
        """(origin, end) of a URL in device-clock ms: the vendor URL's start/end times
        (Dahua's shifted from device local time), else the earliest footage."""
        shift = int(self.dev.tz.utc_offset.total_seconds() * 1000) if target.local else 0
        if target.start_ms is not None:
            end = target.end_ms - shift if target.end_ms is not None else None
            return target.start_ms - shift, end
        earliest = ch.timeline.earliest
        if earliest is None:
            raise RtspError(404, "the recording holds no footage")
        return schedule.ms(earliest), None

    # ------------------------------------------------------------------ SETUP
    async def _setup(
        self, req: RtspRequest, target: Target, writer: asyncio.StreamWriter, owned: list[str]
    ) -> _Reply:
        ch = self._channel(target)
        if _session_id(req) in self.sessions:
            raise RtspError(459, "one track per session")
        transport = parse_transport(req.headers.get("transport", ""))
        sid = secrets.token_hex(8)
        session = _Session(
            sid,
            ch,
            target,
            transport,
            Packetizer(secrets.randbits(32), secrets.randbits(16)),
            writer,
            uri=req.uri,
        )
        ssrc = f"{session.packetizer.ssrc:08X}"
        if transport.tcp:
            assert transport.interleaved is not None
            a, b = transport.interleaved
            reply = f"RTP/AVP/TCP;unicast;interleaved={a}-{b};ssrc={ssrc}"
        else:
            assert transport.client_port is not None
            peer = writer.get_extra_info("peername")
            session.udp_peer = (peer[0], transport.client_port[0])
            rtp_port, rtcp_port = await self._open_udp(session)
            reply = (
                f"RTP/AVP;unicast;client_port={transport.client_port[0]}-"
                f"{transport.client_port[1]};server_port={rtp_port}-{rtcp_port};ssrc={ssrc}"
            )
        self.sessions[sid] = session
        owned.append(sid)
        headers = [("Transport", reply), ("Session", f"{sid};timeout={SESSION_TIMEOUT_S}")]
        return 200, headers, b"", None

    async def _open_udp(self, session: _Session) -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        host = self.dev.host
        for _ in range(8):
            rtp, _p = await loop.create_datagram_endpoint(_Sink, local_addr=(host, 0))
            port = rtp.get_extra_info("sockname")[1]
            if port % 2 == 0 and port < 65535:
                try:
                    rtcp, _q = await loop.create_datagram_endpoint(
                        _Sink, local_addr=(host, port + 1)
                    )
                except OSError:
                    rtp.close()
                    continue
                session.udp, session.udp_rtcp = rtp, rtcp
                return port, port + 1
            rtp.close()
        # No even/odd pair came free: RTCP is optional for us, announce port + 1 anyway.
        rtp, _p = await loop.create_datagram_endpoint(_Sink, local_addr=(host, 0))
        session.udp = rtp
        port = rtp.get_extra_info("sockname")[1]
        return port, port + 1

    # ------------------------------------------------------------------ PLAY
    def _play(self, req: RtspRequest, session: _Session, target: Target | None) -> _Reply:
        h = req.headers
        scale = _float(h.get("scale", "1"), "Scale")
        if scale <= 0:
            raise RtspError(501, "reverse playback is not supported")
        rate_control = h.get("rate-control", "yes").strip().lower() != "no"
        frames = h.get("frames", "all").strip().lower()
        intra = frames.startswith("intra")
        interval = 0
        if intra and "/" in frames:
            interval = int(_float(frames.partition("/")[2], "Frames interval"))
        ch = session.channel
        origin, url_end = self._url_window(ch, session.target)
        requested = parse_range(h["range"]) if "range" in h else None
        start, end = self._resolve(requested, origin, url_end, session)
        now_ms = schedule.ms(self.dev.now())
        secs = schedule.sections(ch.timeline)
        point = schedule.locate(secs, start, end, now_ms)
        replacing = session.task is not None and not session.task.done()
        cseq = int(req.cseq) if req.cseq.isdigit() else 0
        play = _Play(
            point,
            end,
            cseq,
            rate_control,
            scale if rate_control else 1.0,
            intra,
            interval,
            point.after_gap or replacing,
        )
        session.position_ms = point.keyframe_ms
        if session.task is not None:
            session.task.cancel()
        session.task = asyncio.create_task(self._stream(session, play, secs))
        if requested is not None and requested.kind == "npt":
            shown = f"npt={(point.keyframe_ms - origin) / 1000:.3f}-"
            if end is not None:
                shown += f"{(end - origin) / 1000:.3f}"
        else:
            shown = f"clock={format_clock(point.keyframe_ms)}-"
            if end is not None:
                shown += format_clock(end)
        seq = session.packetizer.seq
        info = f"url={session.uri};seq={seq};rtptime={rtp_timestamp(point.keyframe_ms)}"
        headers = [("Session", session.id), ("Range", shown), ("RTP-Info", info)]
        if rate_control:
            headers.append(("Scale", f"{scale:g}"))
        else:
            headers.append(("Rate-Control", "no"))
        return 200, headers, b"", None

    @staticmethod
    def _resolve(
        requested: PlayRange | None, origin: int, url_end: int | None, session: _Session
    ) -> tuple[int, int | None]:
        if requested is None or requested.start is None:
            start = session.position_ms if session.position_ms is not None else origin
            end = url_end
            if requested is not None and requested.end is not None:
                end = int(requested.end) if requested.kind == "clock" else None
            return start, end
        if requested.kind == "clock":
            start = int(requested.start)
            end = int(requested.end) if requested.end is not None else url_end
        else:
            start = origin + int(requested.start * 1000)
            end = origin + int(requested.end * 1000) if requested.end is not None else url_end
        if end is not None and end <= start:
            raise RtspError(457, "the range ends before it starts (reverse needs Scale < 0)")
        return start, end

    # ------------------------------------------------------------------ streaming
    async def _stream(self, session: _Session, play: _Play, secs: list[schedule.Section]) -> None:
        loop = asyncio.get_running_loop()
        ch = session.channel
        look = ChannelLook(
            ch.plan.id, ch.plan.picture, int(self.dev.tz.utc_offset.total_seconds() * 1000)
        )
        index, keyframe = play.point.section, play.point.keyframe_ms
        discontinuity = play.discontinuity
        wall0, played_ms = loop.time(), 0
        last_intra: int | None = None
        prefetch: asyncio.Task[object] | None = None
        try:
            while True:
                section = secs[index]
                end = schedule.gop_end(section, keyframe)
                if play.end_ms is not None and keyframe >= play.end_ms:
                    return
                # Footage being recorded right now: wait until this GOP exists.
                wait = (end - schedule.ms(self.dev.now())) / 1000
                if wait > 0:
                    await asyncio.sleep(wait)
                skip = play.intra and (
                    last_intra is not None and keyframe - last_intra < play.intra_interval_ms
                )
                count = 1 if play.intra else schedule.frame_count(keyframe, end)
                last_section = index == len(secs) - 1
                units = [] if skip else await self.cache.get(look, keyframe, count)
                session.position_ms = keyframe
                # Encode the next GOP while this one goes out.
                following = self._next_gop(secs, index, end)
                if following is not None and not play.intra and prefetch is None:
                    nxt_count = schedule.frame_count(
                        following[1], schedule.gop_end(secs[following[0]], following[1])
                    )
                    if following[1] + nxt_count * FRAME_MS <= schedule.ms(self.dev.now()):
                        prefetch = asyncio.create_task(
                            self.cache.get(look, following[1], nxt_count)
                        )
                        session.tasks.add(prefetch)
                        prefetch.add_done_callback(session.tasks.discard)
                for unit in units:
                    if play.end_ms is not None and unit.ms >= play.end_ms:
                        return
                    flags = FLAG_C if unit.keyframe else 0
                    section_last = unit.ms + FRAME_MS >= section[1] or (
                        play.intra and end >= section[1]
                    )
                    if section_last:
                        flags |= FLAG_E | (FLAG_T if last_section else 0)
                    if discontinuity:
                        flags |= FLAG_D
                        discontinuity = False
                    if play.rate_control:
                        delay = wall0 + played_ms / 1000 / play.scale - loop.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    played_ms += FRAME_MS if not play.intra else end - keyframe
                    packets = session.packetizer.access_unit(
                        unit.nals,
                        rtp_timestamp(unit.ms),
                        replay_extension(unit.ms, flags, play.cseq),
                    )
                    await self._send(session, packets)
                    session.sent_frames += 1
                if play.intra and not skip:
                    last_intra = keyframe
                prefetch = None
                if following is None:
                    return  # end of all footage: nothing more will come
                if following[0] != index:
                    discontinuity = True
                index, keyframe = following
        except (ConnectionError, TimeoutError):
            return

    @staticmethod
    def _next_gop(secs: list[schedule.Section], index: int, end: int) -> tuple[int, int] | None:
        if end < secs[index][1]:
            return index, end
        if index + 1 < len(secs):
            return index + 1, secs[index + 1][0]
        return None

    async def _send(self, session: _Session, packets: list[bytes]) -> None:
        if session.transport.tcp:
            assert session.transport.interleaved is not None
            channel = session.transport.interleaved[0]
            session.writer.write(
                b"".join(b"$" + bytes((channel,)) + len(p).to_bytes(2, "big") + p for p in packets)
            )
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await session.writer.drain()
            return
        if session.udp is None or session.udp_peer is None:
            return
        for packet in packets:
            session.udp.sendto(packet, session.udp_peer)
        await asyncio.sleep(UDP_FRAME_GAP_S)


def _session_id(req: RtspRequest) -> str:
    return req.headers.get("session", "").split(";")[0].strip()


def _float(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise RtspError(400, f"bad {name} {text!r}") from None


__all__ = ["IDLE_TIMEOUT_S", "SESSION_TIMEOUT_S", "ReplayServer"]
