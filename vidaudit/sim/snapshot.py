"""Snapshot JPEGs whose picture matches the channel's scenario (normal, black, blurred...).

Pictures are drawn with numpy/OpenCV at 640x360 - enough for the quality checks of R4
(black, no signal, frozen, blur, occlusion, colour cast, brightness, scene moved) - and
cached: a normal camera's picture changes once a minute (its time overlay ticks), a
frozen one never does.  Drawing runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import OrderedDict

import cv2
import numpy as np
import numpy.typing as npt

from vidaudit.sim.plan import Picture

WIDTH, HEIGHT = 640, 360
CACHE_SIZE = 256
#: How far (pixels) a "moved" camera's view is shifted from its reference.
MOVED_SHIFT = 120
Image = npt.NDArray[np.uint8]
#: looks made by the sensor (night, IR): the camera draws its OSD over them afterwards, so
#: the clock stays white; faults (blur, cover, cast...) spoil the OSD with the picture
SENSOR_LOOKS = frozenset({Picture.NIGHT, Picture.IR})


def scene(channel_id: str, shift: int = 0, people: bool = True) -> Image:
    """A bank-hall-like scene: floor, wall, counter, a few people; varies per channel.

    ``people=False`` leaves the hall empty: the replay video (``sim.rtsp.video``) draws
    its own moving people over it.
    """
    seed = int.from_bytes(hashlib.sha256(channel_id.encode()).digest()[:4], "big")
    rng = np.random.default_rng(seed)
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    wall = rng.integers(150, 210, 3)
    img[: HEIGHT // 2] = wall
    img[HEIGHT // 2 :] = (90, 100, 110)
    # Vertical gradient: real rooms are not flat colours (and blur detectors need edges).
    shaded = img.astype(np.float32) * np.linspace(0.8, 1.1, HEIGHT)[:, None, None]
    img = _u8(shaded)
    counter_y = HEIGHT // 2 + int(rng.integers(10, 50))
    cv2.rectangle(img, (40, counter_y), (WIDTH - 40, counter_y + 60), (60, 80, 120), -1)
    for x in range(80, WIDTH - 80, 120):
        cv2.rectangle(img, (x, counter_y - 70), (x + 70, counter_y - 10), (40, 40, 40), -1)
    for _ in range(int(rng.integers(2, 5)) if people else 0):
        cx = int(rng.integers(40, WIDTH - 40))
        cy = int(rng.integers(HEIGHT // 2, HEIGHT - 60))
        colour = tuple(int(c) for c in rng.integers(20, 200, 3))
        cv2.circle(img, (cx, cy - 45), 14, (150, 170, 200), -1)
        cv2.rectangle(img, (cx - 18, cy - 30), (cx + 18, cy + 30), colour, -1)
    img = _u8(img.astype(np.int16) + rng.integers(0, 12, img.shape, dtype=np.int16))
    if shift:
        matrix = np.array([[1, 0, shift], [0, 1, shift // 3]], dtype=np.float32)
        img = _u8(cv2.warpAffine(img, matrix, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REPLICATE))
    return img


def _u8(values: npt.NDArray[np.generic] | object) -> Image:
    """Clip to 0..255 and make it the 8-bit image OpenCV and the encoder expect."""
    return np.clip(np.asarray(values, dtype=np.float32), 0, 255).astype(np.uint8)


def overlay(img: Image, label: str, stamp: dt.datetime) -> None:
    # OSD as NVRs draw it: time top-left, channel name bottom-right (ASCII: cv2 has no CJK font).
    cv2.putText(
        img,
        stamp.strftime("%Y-%m-%d %H:%M:%S"),
        (12, 28),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.7,
        (255, 255, 255),
        2,
        cv2.LINE_AA,
    )
    cv2.putText(
        img,
        label,
        (WIDTH - 12 - 11 * len(label), HEIGHT - 16),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.6,
        (255, 255, 255),
        2,
        cv2.LINE_AA,
    )


def no_signal() -> Image:
    """The blue "no video" screen an NVR shows for a channel without input."""
    img = np.full((HEIGHT, WIDTH, 3), (160, 60, 20), np.uint8)
    cv2.putText(
        img,
        "NO VIDEO",
        (WIDTH // 2 - 90, HEIGHT // 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        1.2,
        (255, 255, 255),
        2,
        cv2.LINE_AA,
    )
    return img


def fault_transform(img: Image, picture: Picture) -> Image:
    """Turn a normal picture into the channel's faulty one (blur, cover, cast, exposure),
    or into its night look (dim and grainy; IR black-and-white).

    Shared with the replay video so a snapshot and a recorded frame show the same fault.
    """
    if picture is Picture.NIGHT:
        return _night(img)
    if picture is Picture.IR:
        return _infrared(img)
    if picture is Picture.BLUR:
        return _u8(cv2.GaussianBlur(img, (0, 0), 9))
    if picture is Picture.OCCLUDED:
        cv2.rectangle(img, (0, 0), (WIDTH, int(HEIGHT * 0.85)), (25, 25, 25), -1)
    elif picture is Picture.COLOUR_CAST:
        img[:, :, 1] = 0
        img[:, :, 0] = _u8(img[:, :, 0].astype(np.int16) + 80)
    elif picture is Picture.DARK:
        return (img // 6).astype(np.uint8)
    elif picture is Picture.BRIGHT:
        return _u8(img.astype(np.int16) + 150)
    return img


def _grain(shape: tuple[int, ...], sigma: float) -> npt.NDArray[np.float32]:
    # The sensor's noise at high gain: fresh for every picture (the camera is live).
    return np.random.default_rng().normal(0, sigma, shape).astype(np.float32)


def _night(img: Image) -> Image:
    """Lights off: a little light from the windows, the gain up (dim, grainy)."""
    xx = np.linspace(0, 1, WIDTH, dtype=np.float32)[None, :]
    yy = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None]
    falloff = 0.45 + 0.55 * np.exp(-((xx - 0.2) ** 2 + yy**2) * 2.5)
    dim = img.astype(np.float32) * 0.4 * falloff[..., None]
    return _u8(dim + _grain(img.shape, 5.0))


def _infrared(img: Image) -> Image:
    """IR mode: the IR-cut filter lifted, lit by the camera's own LEDs, no colour."""
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    xx = np.linspace(0, 1, WIDTH, dtype=np.float32)[None, :]
    yy = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None]
    spot = 0.55 + 0.6 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.55) ** 2) * 4)
    lit = _u8(gray * spot + _grain(gray.shape, 3.0))
    return np.asarray(cv2.cvtColor(lit, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


def draw(channel_id: str, picture: Picture, stamp: dt.datetime) -> Image:
    if picture is Picture.BLACK:
        return np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    if picture is Picture.NO_SIGNAL:
        return no_signal()
    img = scene(channel_id, shift=MOVED_SHIFT if picture is Picture.MOVED else 0)
    if picture in SENSOR_LOOKS:
        img = fault_transform(img, picture)
        overlay(img, channel_id, stamp)
        return img
    overlay(img, channel_id, stamp)
    return fault_transform(img, picture)


def encode_jpeg(img: Image) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise RuntimeError("OpenCV could not encode the snapshot")
    return bytes(buf.tobytes())


class SnapshotCache:
    """LRU of encoded JPEGs keyed by (channel, minute); frozen channels keep one key."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._size = size

    @staticmethod
    def key(channel_id: str, picture: Picture, stamp: dt.datetime) -> tuple[str, str]:
        moment = "frozen" if picture is Picture.FROZEN else stamp.strftime("%Y%m%d%H%M")
        return channel_id, moment

    def get(self, key: tuple[str, str]) -> bytes | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple[str, str], jpeg: bytes) -> None:
        self._items[key] = jpeg
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


def render(channel_id: str, picture: Picture, stamp: dt.datetime) -> bytes:
    """Draw and encode (CPU: run it in a thread)."""
    when = stamp.replace(second=0) if picture is not Picture.FROZEN else stamp
    return encode_jpeg(draw(channel_id, picture, when))
