"""Recorded video synthesized on demand: any instant of any channel, deterministically.

No disk holds 30 days of footage: a frame is a pure function of (channel, picture
scenario, instant on the device clock).  Frames sit at exact multiples of ``FRAME_MS``
since the epoch (device clock), so "the frame nearest instant T" is well defined.  GOPs
start at multiples of ``GOP_MS`` or at the start of a recorded section (the first GOP of a
section may be shorter), each one an independently encoded closed GOP (IDR + P frames,
H.264 constrained baseline, no B frames).  Every frame carries the visible OSD time
(device local time, like an NVR's overlay) and the machine-readable time code
(``timecode.py``) drawn last so no fault transform can hide it.

Encoding is CPU work: run ``encode_gop`` in a worker thread (``GopCache`` does).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

from vidaudit.sim import snapshot
from vidaudit.sim.plan import Picture
from vidaudit.sim.rtsp.timecode import draw_timecode

WIDTH, HEIGHT = snapshot.WIDTH, snapshot.HEIGHT
FPS = 10
FRAME_MS = 1000 // FPS
GOP_MS = 2000
#: A frozen camera shows the same picture all day: the one of the day's first instant.
FROZEN_PERIOD_MS = 86_400_000
NAL_SEI, NAL_IDR, NAL_SPS, NAL_PPS, NAL_AUD = 6, 5, 7, 8, 9
ENCODER_OPTIONS = {
    "preset": "ultrafast",
    "tune": "zerolatency",
    "bframes": "0",
    # One thread: x264's output is then bit-exact run to run (deterministic footage).
    "threads": "1",
    # Only the first frame of an encode is an IDR: our GOP boundaries are decided here.
    "keyint": "1000",
    "scenecut": "0",
    "profile": "baseline",
    "crf": "26",
}


@dataclass(frozen=True)
class ChannelLook:
    """What a channel's recorded picture looks like (everything rendering depends on)."""

    channel_id: str
    picture: Picture
    #: Device local time minus UTC, for the OSD (the device's POSIX TZ).
    utc_offset_ms: int


@dataclass(frozen=True)
class AccessUnit:
    """One encoded frame: its instant (ms since epoch, device clock) and NAL units."""

    ms: int
    keyframe: bool
    nals: tuple[bytes, ...]


@dataclass(frozen=True)
class _Walker:
    y: int
    x0: float
    amplitude: float
    period_ms: int
    phase: float
    colour: tuple[int, int, int]


@functools.lru_cache(maxsize=64)
def _background(channel_id: str, moved: bool) -> np.ndarray:
    img = snapshot.scene(channel_id, shift=snapshot.MOVED_SHIFT if moved else 0, people=False)
    img.setflags(write=False)
    return img


@functools.lru_cache(maxsize=256)
def _walkers(channel_id: str) -> tuple[_Walker, ...]:
    seed = int.from_bytes(hashlib.sha256(f"{channel_id}:people".encode()).digest()[:4], "big")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(int(rng.integers(2, 5))):
        out.append(
            _Walker(
                y=int(rng.integers(HEIGHT // 2 + 20, HEIGHT - 40)),
                x0=float(rng.uniform(120, WIDTH - 120)),
                amplitude=float(rng.uniform(60, 200)),
                period_ms=int(rng.integers(20_000, 90_000)),
                phase=float(rng.uniform(0, 2 * math.pi)),
                colour=(
                    int(rng.integers(20, 200)),
                    int(rng.integers(20, 200)),
                    int(rng.integers(20, 200)),
                ),
            )
        )
    return tuple(out)


def render_frame(look: ChannelLook, ms: int) -> np.ndarray:
    """The BGR picture the channel recorded at ``ms`` (device clock), time code included."""
    picture = look.picture
    if picture is Picture.BLACK:
        img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    elif picture is Picture.NO_SIGNAL:
        img = _no_signal().copy()
    else:
        # A frozen camera repeats one picture (OSD included); only the time code, which
        # the recorder stamps, keeps moving.
        shown = ms - ms % FROZEN_PERIOD_MS if picture is Picture.FROZEN else ms
        img = _background(look.channel_id, picture is Picture.MOVED).copy()
        for w in _walkers(look.channel_id):
            x = int(w.x0 + w.amplitude * math.sin(2 * math.pi * shown / w.period_ms + w.phase))
            cv2.circle(img, (x, w.y - 45), 14, (150, 170, 200), -1)
            cv2.rectangle(img, (x - 18, w.y - 30), (x + 18, w.y + 30), w.colour, -1)
        # Device local wall time (an aware value only so strftime has something to format).
        local = dt.datetime.fromtimestamp((shown + look.utc_offset_ms) / 1000, dt.UTC)
        if picture in snapshot.SENSOR_LOOKS:
            img = snapshot.fault_transform(img, picture)
        snapshot.overlay(img, look.channel_id, local)
        if picture in snapshot.SENSOR_LOOKS:
            pass
        elif picture is Picture.BLUR:
            # Cheaper than the snapshot's Gaussian (sigma 9) and as soft: 20 frames per GOP.
            small = cv2.resize(img, (WIDTH // 12, HEIGHT // 12), interpolation=cv2.INTER_AREA)
            img = cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR).astype(
                np.uint8, copy=False
            )
        else:
            img = snapshot.fault_transform(img, picture)
    draw_timecode(img, ms)
    return img


@functools.cache
def _no_signal() -> np.ndarray:
    return snapshot.no_signal()


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (start codes removed)."""
    out: list[bytes] = []
    i, n = 0, len(data)
    starts: list[int] = []
    while i < n - 2:
        if data[i] == 0 and data[i + 1] == 0 and data[i + 2] == 1:
            starts.append(i + 3)
            i += 3
        else:
            i += 1
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else n
        nal = data[s:end]
        # A 4-byte start code leaves a trailing zero on the previous NAL.
        while k + 1 < len(starts) and nal.endswith(b"\x00"):
            nal = nal[:-1]
        if nal:
            out.append(nal)
    return out


def encode_gop(look: ChannelLook, start_ms: int, count: int) -> list[AccessUnit]:
    """Encode frames start_ms, start_ms + FRAME_MS, ... (``count`` of them) as one closed GOP."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height = WIDTH, HEIGHT
    codec.pix_fmt = "yuv420p"
    codec.time_base = Fraction(1, FPS)
    codec.framerate = Fraction(FPS)
    codec.options = dict(ENCODER_OPTIONS)
    codec.open()
    packets = []
    for i in range(count):
        yuv = cv2.cvtColor(
            render_frame(look, start_ms + i * FRAME_MS), cv2.COLOR_BGR2YUV_I420
        ).astype(np.uint8, copy=False)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = i
        packets.extend(codec.encode(frame))
    packets.extend(codec.encode(None))
    out = []
    for i, packet in enumerate(packets):
        # SEI (x264's settings banner) and AUDs carry nothing a player needs.
        nals = tuple(
            n for n in split_annexb(bytes(packet)) if n[0] & 0x1F not in (NAL_SEI, NAL_AUD)
        )
        out.append(
            AccessUnit(start_ms + i * FRAME_MS, any(n[0] & 0x1F == NAL_IDR for n in nals), nals)
        )
    return out


@functools.cache
def parameter_sets() -> tuple[bytes, bytes]:
    """(SPS, PPS): fixed by the encoder settings, identical for every GOP we encode."""
    first = encode_gop(ChannelLook("probe", Picture.BLACK, 0), 0, 1)[0]
    sps = next(n for n in first.nals if n[0] & 0x1F == NAL_SPS)
    pps = next(n for n in first.nals if n[0] & 0x1F == NAL_PPS)
    return sps, pps


GopKey = tuple[str, Picture, int, int, int]


class GopCache:
    """LRU of encoded GOPs keyed by (channel, picture, OSD offset, GOP start, frame count).

    Concurrent requests for one GOP share a single encode (one future in flight).
    """

    def __init__(self, size: int = 24, encoder: Callable[..., list[AccessUnit]] = encode_gop):
        self._items: OrderedDict[GopKey, list[AccessUnit]] = OrderedDict()
        self._pending: dict[GopKey, asyncio.Future[list[AccessUnit]]] = {}
        self._size = size
        self._encoder = encoder
        self.encoded = 0
        self.hits = 0

    async def get(self, look: ChannelLook, start_ms: int, count: int) -> list[AccessUnit]:
        key: GopKey = (look.channel_id, look.picture, look.utc_offset_ms, start_ms, count)
        found = self._items.get(key)
        if found is not None:
            self.hits += 1
            self._items.move_to_end(key)
            return found
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(self._encoder, look, start_ms, count))
            self._pending[key] = pending
            pending.add_done_callback(lambda f, k=key: self._settle(k, f))  # type: ignore[misc]
        # shield: one reader giving up must not cancel the encode others wait for.
        return await asyncio.shield(pending)

    def _settle(self, key: GopKey, future: asyncio.Future[list[AccessUnit]]) -> None:
        self._pending.pop(key, None)
        if future.cancelled() or future.exception() is not None:
            return
        self.encoded += 1
        self._items[key] = future.result()
        while len(self._items) > self._size:
            self._items.popitem(last=False)


__all__ = [
    "FPS",
    "FRAME_MS",
    "GOP_MS",
    "HEIGHT",
    "WIDTH",
    "AccessUnit",
    "ChannelLook",
    "GopCache",
    "encode_gop",
    "parameter_sets",
    "render_frame",
    "split_annexb",
]
