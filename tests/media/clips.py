"""Test clips written with PyAV: H.264, fixed GOP, a time code and a burnt-in time per frame."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from tests.media.timecode import block_side, draw_timecode


@dataclass(frozen=True)
class Clip:
    path: Path
    fps: int
    frames: int
    gop_frames: int

    @property
    def frame_ms(self) -> float:
        return 1000 / self.fps


def _background(width: int, height: int, seed: int) -> NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    return cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)


def render_frame(background: NDArray[np.uint8], index: int, fps: int) -> NDArray[np.uint8]:
    """Frame ``index``: background, a moving box, the time code and the visible time."""
    image = background.copy()
    height, width = image.shape[:2]
    millis = round(index * 1000 / fps)
    x = (index * 7) % (width - 60)
    cv2.rectangle(image, (x, height // 2), (x + 50, height // 2 + 80), (40, 40, 200), -1)
    draw_timecode(image, millis)
    text = f"{millis // 60000:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d} #{index}"
    y = block_side(width) + 30
    cv2.putText(image, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 4)
    cv2.putText(image, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return image


def write_clip(
    path: Path,
    *,
    seconds: float = 6.0,
    fps: int = 25,
    gop_seconds: float = 2.0,
    size: tuple[int, int] = (640, 360),
    bframes: int = 0,
    preset: str = "veryfast",
    seed: int = 1,
    first_pts: int = 0,
) -> Clip:
    """Write an H.264 clip; the container follows the suffix (.mp4, .mkv, .ts).

    ``first_pts`` (in frames) shifts every timestamp, as NVR exports do; the time code
    still counts from the clip's first frame.
    """
    width, height = size
    frames = round(seconds * fps)
    gop = round(gop_seconds * fps)
    background = _background(width, height, seed)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {
            "preset": preset,
            "crf": "23",
            # A fixed GOP: keyframes exactly every `gop` frames, never on scene cuts.
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}",
        }
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(render_frame(background, index, fps), "bgr24")
            frame.pts = first_pts + index
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return Clip(path, fps, frames, gop)
