"""RTP packets (RFC 3550) and the ONVIF replay header extension 0xABAC.

The ONVIF Streaming specification (section "RTP header extension") puts, in every packet
of a replayed stream, a header extension with profile 0xABAC and at least three 32-bit
words::

    | 0xABAC                        | length (>= 3)                 |
    | NTP timestamp, seconds since 1900-01-01 UTC                   |
    | NTP timestamp, fraction (1/2**32 s)                           |
    |C|E|D|T| mbz   | CSeq          | padding                       |

C: the packet belongs to a clean point (a frame decoding can start at); E: last packet of a
contiguous section (a gap follows); D: first packet after a discontinuity; T: last packet
of the requested range. CSeq is the low byte of the CSeq of the PLAY that caused the
packet, which tells packets of an earlier PLAY from those of the current one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ONVIF_REPLAY_PROFILE = 0xABAC
_NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
_HEADER = struct.Struct("!BBHII")


class RtpFormatError(ValueError):
    """The bytes are not a valid RTP packet."""


@dataclass(frozen=True, slots=True)
class OnvifReplayExtension:
    """The contents of an 0xABAC header extension."""

    ntp_seconds: int
    ntp_fraction: int
    clean_point: bool
    end_of_section: bool
    discontinuity: bool
    terminal: bool
    cseq_low: int

    @property
    def instant(self) -> datetime:
        """The NTP timestamp as an aware UTC datetime (microsecond resolution).

        NTP era 0 only: timestamps after 2036-02-07 wrap, and no recorder uses era 1 yet.
        """
        micros = (self.ntp_fraction * 1_000_000 + (1 << 31)) >> 32
        return _NTP_EPOCH + timedelta(seconds=self.ntp_seconds, microseconds=micros)


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet; ``payload`` excludes the CSRC list, header extension and padding."""

    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    extension_profile: int | None
    extension: bytes
    payload: bytes

    @property
    def onvif(self) -> OnvifReplayExtension | None:
        """The ONVIF replay extension, when the packet carries one."""
        if self.extension_profile != ONVIF_REPLAY_PROFILE or len(self.extension) < 12:
            return None
        seconds, fraction, flags, cseq = struct.unpack_from("!IIBB", self.extension)
        return OnvifReplayExtension(
            ntp_seconds=seconds,
            ntp_fraction=fraction,
            clean_point=bool(flags & 0x80),
            end_of_section=bool(flags & 0x40),
            discontinuity=bool(flags & 0x20),
            terminal=bool(flags & 0x10),
            cseq_low=cseq,
        )


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP packet, or raise ``RtpFormatError``."""
    if len(data) < _HEADER.size:
        raise RtpFormatError(f"an RTP packet of {len(data)} bytes is shorter than its header")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise RtpFormatError(f"RTP version {first >> 6}, expected 2")
    end = len(data)
    if first & 0x20:  # padding: the last byte counts the padding bytes, itself included
        padding = data[-1]
        if padding == 0 or padding > end - _HEADER.size:
            raise RtpFormatError(f"bad RTP padding length {padding}")
        end -= padding
    offset = _HEADER.size + 4 * (first & 0x0F)
    profile: int | None = None
    extension = b""
    if first & 0x10:
        if offset + 4 > end:
            raise RtpFormatError("RTP header extension runs past the packet")
        profile, words = struct.unpack_from("!HH", data, offset)
        offset += 4
        extension = data[offset : offset + 4 * words]
        offset += 4 * words
    if offset > end:
        raise RtpFormatError("RTP header runs past the packet")
    return RtpPacket(
        marker=bool(second & 0x80),
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        extension_profile=profile,
        extension=extension,
        payload=data[offset:end],
    )


RTCP_BYE = 203


def rtcp_has_bye(data: bytes) -> bool:
    """Whether a (compound) RTCP packet contains a BYE: the sender ended the stream."""
    offset = 0
    while offset + 4 <= len(data):
        packet_type = data[offset + 1]
        if packet_type == RTCP_BYE:
            return True
        words = struct.unpack_from("!H", data, offset + 2)[0]
        offset += 4 * (words + 1)
    return False


def seq_newer_or_equal(seq: int, reference: int) -> bool:
    """Whether 16-bit RTP sequence number ``seq`` is at or after ``reference`` (mod 2**16)."""
    return (seq - reference) & 0xFFFF < 0x8000


class TimestampUnwrapper:
    """Turns 32-bit RTP timestamps into a monotonic-ish 64-bit count (handles wrap-around)."""

    def __init__(self) -> None:
        self._last32: int | None = None
        self._last: int = 0

    def unwrap(self, timestamp: int) -> int:
        if self._last32 is None:
            self._last32, self._last = timestamp, timestamp
            return timestamp
        delta = (timestamp - self._last32) & 0xFFFFFFFF
        if delta >= 0x80000000:  # behind: B-frames or reordering, not a wrap
            delta -= 0x100000000
        self._last32 = timestamp
        self._last += delta
        return self._last


def signed_rtp_delta(timestamp: int, reference: int) -> int:
    """``timestamp - reference`` for 32-bit RTP timestamps, as a signed difference."""
    delta = (timestamp - reference) & 0xFFFFFFFF
    return delta - 0x100000000 if delta >= 0x80000000 else delta
