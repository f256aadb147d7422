"""H.264 (RFC 6184) and H.265 (RFC 7798) RTP payloads back into access units.

Supported: single NAL unit packets, STAP-A / AP aggregation, FU-A / FU fragmentation,
i.e. packetization-mode 0 and 1 for H.264 and no DONL for H.265 (sprop-max-don-diff 0),
which is what cameras and NVRs send. Interleaved mode (STAP-B, MTAP, FU-B) is refused.

An access unit is every NAL unit sharing one RTP timestamp; it ends at the marker bit or
when the timestamp changes. Units come out in Annex B form (start codes), which is what
FFmpeg's parsers and decoders take from ``av.CodecContext``. A lost packet (a gap in
sequence numbers) damages the unit being built: it is dropped, and the caller waits for
the next clean point, since every frame up to there references what was lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vidaudit.media.errors import MediaError
from vidaudit.media.rtp import RtpPacket

VideoCodec = Literal["h264", "hevc"]

START_CODE = b"\x00\x00\x00\x01"
#: No camera frame comes near this; a stream that builds a bigger one is broken or hostile.
MAX_ACCESS_UNIT_BYTES = 16 * 1024 * 1024

_H264_IDR = 5
_H264_STAP_A, _H264_FU_A = 24, 28
_H264_UNSUPPORTED = frozenset({25, 26, 27, 29})  # STAP-B, MTAP16, MTAP24, FU-B
_H265_AP, _H265_FU, _H265_PACI = 48, 49, 50
_H265_IRAP = range(16, 24)  # BLA, IDR, CRA and reserved IRAP types


@dataclass(frozen=True, slots=True)
class AccessUnit:
    """One frame's NAL units (Annex B), its RTP timestamp and the first packet it came in."""

    data: bytes
    timestamp: int
    #: The unit holds an IDR (H.264) or IRAP (H.265) picture: decoding can start here.
    random_access: bool
    #: The first RTP packet of the unit (its ONVIF extension carries the frame's NTP time).
    first_packet: RtpPacket


class Depacketizer:
    """Feed RTP packets of one video stream in order; collect finished access units."""

    def __init__(self, codec: VideoCodec, what: str) -> None:
        self.codec = codec
        self.what = what
        self._nals: list[bytes] = []
        self._size = 0
        self._fragment: bytearray | None = None
        self._timestamp: int | None = None
        self._first: RtpPacket | None = None
        self._random_access = False
        self._damaged = False
        self._next_seq: int | None = None
        #: Packets whose sequence number showed a loss, since creation.
        self.losses = 0

    def push(self, packet: RtpPacket) -> list[AccessUnit]:
        """Add ``packet``; returns the access units it completed (zero, one or two)."""
        done: list[AccessUnit] = []
        if self._next_seq is not None and packet.sequence != self._next_seq:
            self.losses += 1
            self._damaged = True
            self._fragment = None
        self._next_seq = (packet.sequence + 1) & 0xFFFF
        if self._timestamp is not None and packet.timestamp != self._timestamp:
            self._finish(done)
        if self._timestamp is None:
            self._timestamp, self._first = packet.timestamp, packet
        if self.codec == "h264":
            self._h264(packet.payload)
        else:
            self._h265(packet.payload)
        if packet.marker:
            self._finish(done)
        return done

    def reset(self) -> None:
        """Forget everything in progress (a new PLAY starts a new stream)."""
        self._nals, self._size, self._fragment = [], 0, None
        self._timestamp, self._first = None, None
        self._random_access = self._damaged = False
        self._next_seq = None

    def _finish(self, done: list[AccessUnit]) -> None:
        if self._nals and not self._damaged and self._first is not None:
            assert self._timestamp is not None
            data = b"".join(START_CODE + nal for nal in self._nals)
            done.append(AccessUnit(data, self._timestamp, self._random_access, self._first))
        self._nals, self._size, self._fragment = [], 0, None
        self._timestamp, self._first = None, None
        self._random_access = self._damaged = False

    def _add(self, nal: bytes) -> None:
        if not nal:
            return
        self._size += len(nal) + len(START_CODE)
        if self._size > MAX_ACCESS_UNIT_BYTES:
            raise MediaError(
                "malformed", f"{self.what}: an access unit exceeds {MAX_ACCESS_UNIT_BYTES} bytes"
            )
        if self.codec == "h264":
            self._random_access |= nal[0] & 0x1F == _H264_IDR
        elif len(nal) >= 2:
            self._random_access |= (nal[0] >> 1) & 0x3F in _H265_IRAP
        self._nals.append(nal)

    def _aggregate(self, body: bytes) -> None:
        offset = 0
        while offset + 2 <= len(body):
            size = int.from_bytes(body[offset : offset + 2], "big")
            offset += 2
            if size == 0 or offset + size > len(body):
                raise MediaError("malformed", f"{self.what}: a bad aggregation packet")
            self._add(body[offset : offset + size])
            offset += size

    def _fragment_part(self, start: bool, end: bool, header: bytes, body: bytes) -> None:
        if start:
            self._fragment = bytearray(header)
        elif self._fragment is None:
            # The start of this NAL unit was lost (or came before our PLAY): drop it.
            self._damaged = True
            return
        self._fragment += body
        if len(self._fragment) > MAX_ACCESS_UNIT_BYTES:
            raise MediaError("malformed", f"{self.what}: a fragmented NAL unit is too big")
        if end:
            self._add(bytes(self._fragment))
            self._fragment = None

    def _h264(self, payload: bytes) -> None:
        if not payload:
            return
        nal_type = payload[0] & 0x1F
        if 1 <= nal_type <= 23:
            self._add(payload)
        elif nal_type == _H264_STAP_A:
            self._aggregate(payload[1:])
        elif nal_type == _H264_FU_A:
            if len(payload) < 2:
                raise MediaError("malformed", f"{self.what}: a truncated FU-A packet")
            fu = payload[1]
            header = bytes([(payload[0] & 0xE0) | (fu & 0x1F)])
            self._fragment_part(bool(fu & 0x80), bool(fu & 0x40), header, payload[2:])
        elif nal_type in _H264_UNSUPPORTED:
            raise MediaError(
                "unsupported", f"{self.what}: H.264 interleaved packetization (type {nal_type})"
            )
        else:
            raise MediaError("malformed", f"{self.what}: H.264 NAL unit type {nal_type}")

    def _h265(self, payload: bytes) -> None:
        if len(payload) < 2:
            return
        nal_type = (payload[0] >> 1) & 0x3F
        if nal_type < _H265_AP:
            self._add(payload)
        elif nal_type == _H265_AP:
            self._aggregate(payload[2:])
        elif nal_type == _H265_FU:
            if len(payload) < 3:
                raise MediaError("malformed", f"{self.what}: a truncated H.265 FU packet")
            fu = payload[2]
            header = bytes([(payload[0] & 0x81) | ((fu & 0x3F) << 1), payload[1]])
            self._fragment_part(bool(fu & 0x80), bool(fu & 0x40), header, payload[3:])
        elif nal_type == _H265_PACI:
            raise MediaError("unsupported", f"{self.what}: H.265 PACI packets")
        else:
            raise MediaError("malformed", f"{self.what}: H.265 NAL unit type {nal_type}")
