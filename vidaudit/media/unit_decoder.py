"""PyAV decoding of depacketised access units, each frame back with its unit's instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import av
import av.error

from vidaudit.media.depacketize import AccessUnit, VideoCodec
from vidaudit.media.errors import MediaError
from vidaudit.media.nearest import Candidate

#: Decoded-but-unplaced frames remembered per stream (B-frame reordering needs a few).
MAX_PENDING_UNITS = 64


class UnitDecoder:
    """PyAV decoding of access units; each frame comes back with its unit's instant."""

    def __init__(self, codec: VideoCodec, parameter_sets: tuple[bytes, ...], what: str) -> None:
        self.what = what
        try:
            self._context = av.CodecContext.create(codec, "r")
        except (av.error.FFmpegError, ValueError) as exc:
            raise MediaError("unsupported", f"{what}: no {codec} decoder: {exc}") from exc
        self._prefix = b"".join(b"\x00\x00\x00\x01" + ps for ps in parameter_sets)
        self._instants: dict[int, datetime] = {}
        self._counter = 0
        self._since_key: int | None = None

    def decode(self, unit: AccessUnit, instant: datetime) -> list[Candidate]:
        data = unit.data
        if self._counter == 0 and self._prefix:
            # Out-of-band parameter sets (SDP sprop-*) go in front of the first unit.
            data = self._prefix + data
        packet = av.Packet(data)
        packet.pts = self._counter
        self._instants[self._counter] = instant
        self._counter += 1
        if len(self._instants) > MAX_PENDING_UNITS:
            del self._instants[min(self._instants)]
        return self._run(packet)

    def flush(self) -> list[Candidate]:
        return self._run(None)

    def _run(self, packet: av.Packet[Any] | None) -> list[Candidate]:
        try:
            frames = self._context.decode(packet)
        except av.error.FFmpegError as exc:
            raise MediaError("malformed", f"{self.what}: decoding failed: {exc}") from exc
        out: list[Candidate] = []
        for frame in frames:
            instant = self._instants.pop(frame.pts, None) if frame.pts is not None else None
            if instant is None:
                continue  # a frame whose unit we no longer know (should not happen)
            if frame.key_frame:
                self._since_key = 0
            elif self._since_key is not None:
                self._since_key += 1
            out.append(Candidate(frame, instant, self._since_key))
        return out
