"""Frames at exact instants from ONVIF replay (Profile G): RTSP PLAY with a clock range.

``pull_replay_frames`` takes the URI from ``GetReplayUri`` and, per stretch of close
instants, sends ``PLAY`` with ``Require: onvif-replay``, ``Range: clock=START-[END]`` and
``Rate-Control: no`` (send as fast as possible, not in real time). The server starts at the
clean point at or before START; packets are depacketized (H.264/H.265), decoded with PyAV
from the first clean point, and the decoded frame whose instant is nearest each requested
instant is kept. A frame's instant comes from the 0xABAC header extension (its NTP time); a
server without it is placed by the RTP clock: ``RTP-Info: rtptime`` marks the start of the
``Range`` the PLAY answer reports.

``mode="npt"`` is for plain RTSP servers (no ONVIF replay): ``Range: npt=`` relative to
``origin``, the instant the stream's position zero shows, and no ``Require`` header.

Memory is bounded: TCP is read through a small buffer (the server is throttled by TCP's
window while we decode), UDP through a bounded queue (overflow counts as loss), access
units are capped in size, and only the previous decoded frame and the chosen ones are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import SecretStr

from vidaudit.media.clip import RecordedUnits
from vidaudit.media.decode_walk import to_bgr
from vidaudit.media.depacketize import AccessUnit, Depacketizer
from vidaudit.media.errors import MediaError
from vidaudit.media.nearest import FramePicker
from vidaudit.media.pulled import PulledFrame, require_aware
from vidaudit.media.ranges import (
    CLOCK_RANGE,
    NPT_RANGE,
    format_clock,
    format_npt,
    parse_clock,
    parse_npt,
    rtp_info,
)
from vidaudit.media.rtp import (
    RtpFormatError,
    RtpPacket,
    parse_rtp,
    rtcp_has_bye,
    seq_newer_or_equal,
    signed_rtp_delta,
)
from vidaudit.media.rtsp_client import (
    Interleaved,
    RtspConnection,
    RtspResponse,
    RtspStatusError,
    VideoTrack,
    content_base,
    parse_sdp,
    split_credentials,
)
from vidaudit.media.stretches import plan_stretches
from vidaudit.media.udp import UdpReceiver, udp_pair
from vidaudit.media.unit_decoder import UnitDecoder
from vidaudit.media.vendor_urls import redact

ReplayMode = Literal["clock", "npt"]
RtpTransport = Literal["tcp", "udp"]

#: Instants closer than this share one PLAY: decoding on (at ``Rate-Control: no`` speed)
#: is cheaper than a PAUSE/PLAY round trip plus decoding from a clean point again.
DEFAULT_REUSE_WITHIN = timedelta(seconds=4)
_TEARDOWN_TIMEOUT_S = 2.0


class _Session:
    """One replay session: DESCRIBE/SETUP once, then a PLAY per stretch of instants."""

    def __init__(
        self,
        conn: RtspConnection,
        url: str,
        *,
        mode: ReplayMode,
        origin: datetime | None,
        transport: RtpTransport,
        window_end: datetime | None,
        deadline: float | None,
    ) -> None:
        self.conn = conn
        self.url = url
        self.mode = mode
        self.origin = origin
        self.transport = transport
        self.window_end = window_end
        self.deadline = deadline
        self.what = conn.what
        self.track: VideoTrack | None = None
        self.aggregate_url = url
        self.udp: tuple[asyncio.DatagramTransport, UdpReceiver] | None = None
        self.udp_rtcp: tuple[asyncio.DatagramTransport, UdpReceiver] | None = None
        self.keepalive_method = "GET_PARAMETER"
        self.rtp_channel, self.rtcp_channel = 0, 1
        self.last_request_at = time.monotonic()
        self.playing = False
        #: Time to the first decoded frame of the last PLAY (from sending it), for benches.
        self.first_frame_s: float | None = None
        #: Packets lost during the last PLAY (``walk``).
        self.losses = 0

    async def setup(self) -> None:
        conn = self.conn
        described = await conn.request("DESCRIBE", self.url, {"Accept": "application/sdp"})
        base = content_base(described, self.url)
        self.aggregate_url = base
        self.track = parse_sdp(described.body.decode("utf-8", "replace"), base, self.what)
        if self.transport == "tcp":
            spec = "RTP/AVP/TCP;unicast;interleaved=0-1"
        else:
            sockname = conn.local_address()
            rtp_t, rtp_p, rtcp_t, rtcp_p = await udp_pair(sockname)
            self.udp, self.udp_rtcp = (rtp_t, rtp_p), (rtcp_t, rtcp_p)
            port = rtp_t.get_extra_info("sockname")[1]
            spec = f"RTP/AVP;unicast;client_port={port}-{port + 1}"
        answer = await conn.request("SETUP", self.track.control_url, {"Transport": spec})
        self.last_request_at = time.monotonic()
        if conn.session is None:
            raise MediaError("malformed", f"{self.what}: SETUP answered without a Session")
        transport_answer = (answer.header("transport") or "").lower()
        if self.transport == "tcp" and "interleaved=0-1" not in transport_answer.replace(" ", ""):
            # Servers may pick other channels; accept what they say.
            match = re.search(r"interleaved=(\d+)-(\d+)", transport_answer)
            if match is None:
                raise MediaError("unsupported", f"{self.what}: the server refused RTP over TCP")
            self.rtp_channel, self.rtcp_channel = int(match[1]), int(match[2])
        else:
            self.rtp_channel, self.rtcp_channel = 0, 1

    async def play(self, start: datetime) -> tuple[RtspResponse, int]:
        conn = self.conn
        if self.playing:
            await conn.request("PAUSE", self.aggregate_url)
            self.playing = False
            if self.udp is not None:
                receiver = self.udp[1]
                while not receiver.queue.empty():  # datagrams of the paused PLAY
                    receiver.queue.get_nowait()
        headers: dict[str, str] = {}
        if self.mode == "clock":
            end = format_clock(self.window_end) if self.window_end is not None else ""
            headers["Range"] = f"clock={format_clock(start)}-{end}"
            headers["Rate-Control"] = "no"
        else:
            assert self.origin is not None
            end = ""
            if self.window_end is not None:
                end = format_npt(self.window_end - self.origin)
            headers["Range"] = f"npt={format_npt(start - self.origin)}-{end}"
        try:
            response = await conn.request("PLAY", self.aggregate_url, headers)
        except RtspStatusError as exc:
            if exc.status == 457:
                raise MediaError(
                    "not_found",
                    f"{self.what}: no footage at {start.isoformat()} (457 Invalid Range)",
                ) from exc
            raise
        self.playing = True
        self.last_request_at = time.monotonic()
        return response, conn.last_cseq

    def _range_start(self, response: RtspResponse, requested: datetime) -> datetime:
        """The instant the PLAY answer says the stream starts at (``RTP-Info`` marks it)."""
        header = response.header("range") or ""
        clock = CLOCK_RANGE.search(header)
        if clock is not None:
            with contextlib.suppress(ValueError):
                return parse_clock(clock[1])
        npt = NPT_RANGE.search(header)
        if npt is not None and self.origin is not None:
            with contextlib.suppress(ValueError):
                return self.origin + parse_npt(npt[1])
        return requested

    async def _next_packet(self) -> RtpPacket | None:
        """The next RTP packet of the video track; None: the server ended the stream."""
        if self.udp is not None:
            assert self.udp_rtcp is not None
            receiver, rtcp = self.udp[1], self.udp_rtcp[1]
            if rtcp.bye.is_set():
                rtcp.bye.clear()
                return None
            try:
                async with asyncio.timeout(self.conn.timeout_s):
                    data = await receiver.queue.get()
            except TimeoutError:
                raise MediaError(
                    "timeout", f"{self.what}: no RTP within {self.conn.timeout_s:g} s"
                ) from None
            return self._parse(data)
        while True:
            item = await self.conn.read_item()
            if isinstance(item, Interleaved):
                if item.channel == self.rtp_channel:
                    return self._parse(item.data)
                if item.channel == self.rtcp_channel and rtcp_has_bye(item.data):
                    return None
            elif item.status >= 300:
                # An answer to our keep-alive: the server may not know GET_PARAMETER.
                self.keepalive_method = "OPTIONS"

    def _parse(self, data: bytes) -> RtpPacket:
        try:
            return parse_rtp(data)
        except RtpFormatError as exc:
            raise MediaError("malformed", f"{self.what}: {exc}") from exc

    async def _keep_alive(self) -> None:
        now = time.monotonic()
        if now - self.last_request_at < self.conn.session_timeout_s / 2:
            return
        self.last_request_at = now
        if self.udp is not None:
            with contextlib.suppress(RtspStatusError):
                await self.conn.request(self.keepalive_method, self.aggregate_url)
            return
        self.conn.send(self.keepalive_method, self.aggregate_url)
        await self.conn.drain()

    async def walk(self, start: datetime) -> AsyncGenerator[tuple[AccessUnit, datetime]]:
        """PLAY from ``start`` and yield each access unit from the first clean point on,
        with the instant it shows, until the server ends the stream (or the caller stops).

        After a packet loss, units are skipped up to the next clean point: every unit
        until then references what was lost.  ``self.losses`` counts the losses."""
        assert self.track is not None
        track = self.track
        response, play_cseq = await self.play(start)
        del play_cseq  # see module notes: the 0xABAC CSeq byte is not reliable across servers
        info = rtp_info(response, track.control_url)
        range_start = self._range_start(response, start)
        depacketizer = Depacketizer(track.codec, self.what)
        rtp_base = info.rtptime
        first_seq = info.seq
        synced = False  # from a clean point on, and again after a loss
        self.losses = 0
        ended = False
        while not ended:
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise MediaError("timeout", f"{self.what}: the time budget ran out")
            await self._keep_alive()
            packet = await self._next_packet()
            if packet is None:
                return
            if packet.payload_type != track.payload_type:
                continue
            if first_seq is not None:
                if not seq_newer_or_equal(packet.sequence, first_seq):
                    continue  # sent before this PLAY took effect
                first_seq = None
            onvif = packet.onvif
            ended = onvif is not None and onvif.terminal
            units = depacketizer.push(packet)
            if depacketizer.losses != self.losses:
                self.losses, synced = depacketizer.losses, False
            for unit in units:
                first = unit.first_packet.onvif
                if not synced:
                    if not (unit.random_access or (first is not None and first.clean_point)):
                        continue
                    synced = True
                if first is not None:
                    instant = first.instant
                else:
                    if rtp_base is None:
                        rtp_base = unit.timestamp
                    ticks = signed_rtp_delta(unit.timestamp, rtp_base)
                    instant = range_start + timedelta(seconds=ticks / track.clock_rate)
                yield unit, instant

    async def pull(self, targets: list[tuple[int, datetime]]) -> tuple[FramePicker, datetime]:
        """PLAY from the first target and pick the frame nearest each; returns the picker."""
        assert self.track is not None
        track = self.track
        start = targets[0][1]
        sent_at = time.monotonic()
        decoder = UnitDecoder(track.codec, track.parameter_sets, self.what)
        picker = FramePicker(targets)
        self.first_frame_s = None
        async with contextlib.aclosing(self.walk(start)) as units:
            async for unit, instant in units:
                for candidate in await asyncio.to_thread(decoder.decode, unit, instant):
                    if self.first_frame_s is None:
                        self.first_frame_s = time.monotonic() - sent_at
                    picker.offer(candidate)
                if not picker.pending:
                    break
        if picker.pending:
            for candidate in await asyncio.to_thread(decoder.flush):
                picker.offer(candidate)
        return picker, start

    async def close(self) -> None:
        conn = self.conn
        try:
            if conn.session is not None:
                # TEARDOWN always, so the NVR frees its playback slot (they have few).
                conn.timeout_s = min(conn.timeout_s, _TEARDOWN_TIMEOUT_S)
                with contextlib.suppress(MediaError):
                    await conn.request("TEARDOWN", self.aggregate_url)
        finally:
            for pair in (self.udp, self.udp_rtcp):
                if pair is not None:
                    pair[0].close()
            await conn.close()


async def _open_session(
    uri: str,
    username: str,
    password: SecretStr,
    timeout_s: float,
    mode: ReplayMode,
    origin: datetime | None,
    transport: RtpTransport,
    window_end: datetime | None,
    max_wall_s: float | None,
) -> _Session:
    url = split_credentials(uri)
    what = f"replaying {redact(uri)}"
    deadline = None if max_wall_s is None else time.monotonic() + max_wall_s
    conn = await RtspConnection.open(url, username, password, timeout_s=timeout_s, what=what)
    if mode == "clock":
        # ONVIF Streaming: the Require header goes with every request of a replay session.
        conn.common_headers["Require"] = "onvif-replay"
    return _Session(
        conn,
        url,
        mode=mode,
        origin=origin,
        transport=transport,
        window_end=window_end,
        deadline=deadline,
    )


def _check_arguments(
    timeout_s: float,
    mode: ReplayMode,
    origin: datetime | None,
    window_end: datetime | None,
) -> None:
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    if window_end is not None:
        require_aware(window_end, "window_end")
    if mode == "npt":
        if origin is None:
            raise ValueError('mode="npt" needs origin, the instant of position zero')
        require_aware(origin, "origin")


async def pull_replay_frames(
    uri: str,
    username: str,
    password: SecretStr,
    instants: Sequence[datetime],
    *,
    timeout_s: float,
    transport: RtpTransport = "tcp",
    window_end: datetime | None = None,
    mode: ReplayMode = "clock",
    origin: datetime | None = None,
    reuse_within: timedelta = DEFAULT_REUSE_WITHIN,
    max_wall_s: float | None = None,
    max_delta: timedelta | None = None,
) -> list[PulledFrame]:
    """The decoded frame nearest each instant of a replay URI, in request order.

    ``instants`` are aware datetimes. ``timeout_s`` bounds the connect and every read;
    ``max_wall_s`` (default none) the whole pull. ``window_end`` is sent as the end of each
    PLAY range. ``mode="npt"`` needs ``origin``. ``max_delta``: a frame further than this
    from its instant (the instant lies in a gap) raises ``MediaError("not_found")``; by
    default the nearest frame is returned whatever its distance, and ``delta_ms`` says it.

    ``PulledFrame.offset`` is the frame's distance from the start of the PLAY range it came
    from (the first instant of its stretch). Raises ``MediaError`` (``auth``, ``not_found``
    for 404/454/457 or an instant past the recording, ``unsupported`` for 551, ``timeout``,
    ``unreachable``, ``malformed``); messages never carry the password.
    """
    _check_arguments(timeout_s, mode, origin, window_end)
    for index, instant in enumerate(instants):
        require_aware(instant, f"instants[{index}]")
    if not instants:
        return []
    source = f"{redact(uri)}#v0"
    session = await _open_session(
        uri, username, password, timeout_s, mode, origin, transport, window_end, max_wall_s
    )
    what = session.what
    results: dict[int, PulledFrame] = {}
    try:
        await session.setup()
        for stretch in plan_stretches(instants, reuse_within):
            picker, play_start = await session.pull(stretch)
            for index, target in picker.remaining():
                last = picker.prev
                period = max(picker.longest_gap, timedelta(milliseconds=100))
                if last is None:
                    raise MediaError(
                        "not_found", f"{what}: no frame decoded for {target.isoformat()}"
                    )
                if target - last.instant > period:
                    raise MediaError(
                        "not_found",
                        f"{what}: no footage at {target.isoformat()} "
                        f"(the stream ended at {last.instant.isoformat()})",
                    )
                picker.take_last(index)
            for index, target in stretch:
                chosen = picker.chosen[index]
                delta = chosen.instant - target
                if max_delta is not None and abs(delta) > max_delta:
                    raise MediaError(
                        "not_found",
                        f"{what}: no footage at {target.isoformat()} "
                        f"(nearest frame at {chosen.instant.isoformat()})",
                    )
                image = await asyncio.to_thread(to_bgr, chosen.frame)
                results[index] = PulledFrame(
                    requested=target,
                    actual=chosen.instant.astimezone(target.tzinfo),
                    delta_ms=delta / timedelta(milliseconds=1),
                    offset=chosen.instant - play_start,
                    image=image,
                    keyframe_distance=chosen.keyframe_distance,
                    source=source,
                )
    finally:
        await session.close()
    return [results[index] for index in range(len(instants))]


async def pull_replay_units(
    uri: str,
    username: str,
    password: SecretStr,
    start: datetime,
    end: datetime,
    *,
    timeout_s: float,
    mode: ReplayMode = "clock",
    origin: datetime | None = None,
    transport: RtpTransport = "tcp",
    max_wall_s: float | None = None,
    max_start_delay: timedelta = timedelta(seconds=5),
    max_bytes: int = 256 * 1024 * 1024,
) -> RecordedUnits:
    """The access units of ``[start, end]`` as recorded (no decoding), from the clean point
    at or before ``start`` to the last unit at or before ``end``: what a clip is made of.

    The PLAY range is open-ended (``Rate-Control: no`` in clock mode, so the server sends
    as fast as it can): reading stops at the first unit after ``end``.  A server that
    honoured a closed range could stop without a word at its end (some send no RTCP BYE),
    and the read would wait for its timeout.

    Raises ``MediaError("not_found")`` when the first unit is more than
    ``max_start_delay`` after ``start`` (there is no footage at the start) and
    ``MediaError("malformed")`` when the clip would exceed ``max_bytes``.
    """
    _check_arguments(timeout_s, mode, origin, None)
    require_aware(start, "start")
    require_aware(end, "end")
    if end <= start:
        raise ValueError("end must be after start")
    session = await _open_session(
        uri, username, password, timeout_s, mode, origin, transport, None, max_wall_s
    )
    units: list[tuple[AccessUnit, datetime]] = []
    size = 0
    try:
        await session.setup()
        assert session.track is not None
        async with contextlib.aclosing(session.walk(start)) as walk:
            async for unit, instant in walk:
                if not units and instant > start + max_start_delay:
                    raise MediaError(
                        "not_found",
                        f"{session.what}: no footage at {start.isoformat()} "
                        f"(the stream starts at {instant.isoformat()})",
                    )
                if instant > end:
                    break
                size += len(unit.data)
                if size > max_bytes:
                    raise MediaError(
                        "malformed", f"{session.what}: the clip exceeds {max_bytes} bytes"
                    )
                units.append((unit, instant))
        track = session.track
        losses = session.losses
    finally:
        await session.close()
    if not units:
        raise MediaError("not_found", f"{session.what}: no footage from {start.isoformat()}")
    return RecordedUnits(
        codec=track.codec,
        parameter_sets=track.parameter_sets,
        units=[(unit.data, instant, unit.random_access) for unit, instant in units],
        losses=losses,
        source=f"{redact(uri)}#v0",
    )
