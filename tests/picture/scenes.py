"""Synthesized camera pictures for the diagnostics tests: a counter scene and its faults.

The scene is deterministic from a seed: a lit wall with a gradient, textured panels, a
counter, windows, and people-like shapes (head + body) whose positions come from ``people``
so that two samples of the same channel differ the way a live counter does. Faults are
made the way they happen on site: a lens cap or hand (dark, flat, with the scene left in a
corner), a defocused lens (Gaussian blur), a white-balance fault (channel gains), an iris
or exposure fault (gain and clipping), a camera knocked to look elsewhere (another scene).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]
SIZE = (640, 360)


def _texture(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> NDArray[np.float32]:
    height, width = shape
    small = rng.normal(0, 1, (max(1, height // cell), max(1, width // cell))).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def counter_scene(
    seed: int = 7,
    people: int = 3,
    people_seed: int = 0,
    size: tuple[int, int] = SIZE,
    layout: str = "counter",
) -> Image:
    """A BGR picture of a bank counter (``layout="counter"``) or of a ceiling corner
    (``layout="ceiling"``, what a camera knocked upwards sees)."""
    width, height = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.zeros((height, width, 3), np.float32)
    if layout == "counter":
        wall = 150 + 40 * (xx / width) - 30 * (yy / height)
        image[:] = np.dstack([wall * 0.95, wall, wall * 1.05])
        image += 25 * _texture(rng, (height, width), 6)[..., None]
        # Windows and posters on the wall.
        for x0, y0, w, h, colour in [
            (40, 30, 120, 90, (200, 210, 220)),
            (220, 40, 90, 110, (60, 90, 160)),
            (450, 25, 140, 80, (170, 120, 80)),
        ]:
            image[y0 : y0 + h, x0 : x0 + w] = colour
            image[y0 : y0 + h, x0 : x0 + w] += 30 * _texture(rng, (h, w), 3)[..., None]
        # The counter: a dark wood band with grain and a lighter top edge.
        top = int(height * 0.62)
        image[top:] = (70, 85, 105)
        image[top:] += 20 * _texture(rng, (height - top, width), 2)[..., None]
        image[top : top + 8] = (180, 190, 200)
        for x in range(0, width, 90):  # counter panels
            image[top + 8 :, x : x + 3] = (20, 30, 50)
    else:
        base = 120 + 60 * (yy / height)
        image[:] = np.dstack([base * 1.02, base, base * 0.95])
        image += 15 * _texture(rng, (height, width), 10)[..., None]
        for y in range(20, height, 70):  # ceiling tiles' grid
            image[y : y + 4] = (90, 90, 95)
        for x in range(30, width, 110):
            image[:, x : x + 4] = (90, 90, 95)
        cv2.circle(image, (width // 3, height // 3), 35, (240, 240, 235), -1)  # a lamp
    people_rng = np.random.default_rng(people_seed)
    for _ in range(people):
        cx = int(people_rng.uniform(0.1, 0.9) * width)
        cy = int(people_rng.uniform(0.45, 0.6) * height)
        scale = people_rng.uniform(0.8, 1.2) * height / 360
        shirt = tuple(float(c) for c in people_rng.uniform(30, 220, 3))
        body_w, body_h, head_r = int(45 * scale), int(110 * scale), int(18 * scale)
        cv2.rectangle(image, (cx - body_w // 2, cy), (cx + body_w // 2, cy + body_h), shirt, -1)
        cv2.circle(image, (cx, cy - head_r), head_r, (90, 120, 170), -1)
        cv2.circle(image, (cx, cy - head_r - head_r // 2), head_r - 2, (30, 30, 35), -1)
    image += rng.normal(0, 2.0, image.shape).astype(np.float32)  # sensor noise
    return np.clip(image, 0, 255).astype(np.uint8)


def black(size: tuple[int, int] = SIZE, seed: int = 1) -> Image:
    width, height = size
    noise = np.random.default_rng(seed).normal(4, 1.5, (height, width, 3))
    return np.clip(noise, 0, 255).astype(np.uint8)


def no_signal_screen(size: tuple[int, int] = SIZE) -> Image:
    """The blue 'NO VIDEO' screen an NVR shows for a channel without input."""
    width, height = size
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = (160, 40, 0)
    cv2.putText(
        image,
        "NO VIDEO",
        (width // 3, height // 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        1.2,
        (255, 255, 255),
        2,
    )
    return image


def add_noise(image: Image, sigma: float = 2.0, seed: int = 3) -> Image:
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def blurred(image: Image, sigma: float = 3.0) -> Image:
    """A defocused lens: the optics blur, then the sensor adds its noise as usual."""
    return add_noise(cv2.GaussianBlur(image, (0, 0), sigma))


def covered(image: Image, visible: tuple[float, float] = (0.35, 0.45), seed: int = 2) -> Image:
    """A hand or cloth over the lens: dark and flat, with the scene left in one corner."""
    height, width = image.shape[:2]
    noise = np.random.default_rng(seed).normal(28, 2.0, image.shape)
    out = np.clip(noise, 0, 255).astype(np.uint8)
    vh, vw = int(height * visible[1]), int(width * visible[0])
    out[height - vh :, width - vw :] = image[height - vh :, width - vw :]
    return out


def tinted(image: Image, gains: tuple[float, float, float] = (1.35, 1.1, 0.6)) -> Image:
    """A white-balance fault: per-channel gains (B, G, R); the default turns it blue-green."""
    return np.clip(image.astype(np.float32) * np.array(gains, np.float32), 0, 255).astype(np.uint8)


def exposed(image: Image, gain: float, offset: float = 0.0) -> Image:
    """An exposure fault: gain < 1 too dark, gain > 1 with offset over-exposed (clipped)."""
    return np.clip(image.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)


# --- what a camera adds to the scene, and what the night and the IR lamps do ---------------


def with_clock(image: Image, stamp: str, scale: float | None = None) -> Image:
    """The camera's on-screen clock (OSD) burnt in at the top left, white with a dark edge,
    sized like an NVR's for the picture's height (``scale`` overrides)."""
    out = image.copy()
    height = out.shape[0]
    size = scale if scale is not None else height / 520
    origin = (int(height * 0.03), int(height * 0.08))
    thickness = max(1, round(height / 240))
    cv2.putText(out, stamp, origin, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), thickness + 2)
    cv2.putText(out, stamp, origin, cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), thickness)
    return out


def jpeg_round_trip(image: Image, quality: int = 80) -> Image:
    """What a snapshot is: the camera's JPEG encoder's output, decoded again."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert decoded is not None
    return np.asarray(decoded, dtype=np.uint8)


def night(image: Image, light: float = 0.4, gain_noise: float = 6.0, seed: int = 4) -> Image:
    """The hall after closing: lights off, a little light from the windows and an exit
    sign; the camera raises its gain, so the picture is dim, grainy and a little soft."""
    height, width = image.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # light falls off away from the windows (top left) and the exit sign (top right)
    falloff = 0.45 + 0.55 * np.exp(-((xx / width - 0.2) ** 2 + (yy / height) ** 2) * 2.5)
    dim = image.astype(np.float32) * light * falloff[..., None]
    dim = cv2.GaussianBlur(dim, (0, 0), 0.8)
    cv2.rectangle(
        dim,
        (int(width * 0.82), int(height * 0.1)),
        (int(width * 0.9), int(height * 0.16)),
        (40, 200, 60),
        -1,
    )
    dim += np.random.default_rng(seed).normal(0, gain_noise, dim.shape).astype(np.float32)
    return np.clip(dim, 0, 255).astype(np.uint8)


def infrared(
    image: Image, seed: int = 5, tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
) -> Image:
    """The camera's IR mode at night: the IR-cut filter lifted, a black-and-white picture lit
    by its own IR LEDs (bright in the middle, darker at the edges), grainy; ``tint`` gives
    the faint colour some sensors keep in IR mode."""
    height, width = image.shape[:2]
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    spot = 0.55 + 0.6 * np.exp(-(((xx / width - 0.5) ** 2) + ((yy / height - 0.55) ** 2)) * 4)
    lit = gray * spot + np.random.default_rng(seed).normal(0, 4.0, gray.shape)
    mono = np.dstack([lit * tint[0], lit * tint[1], lit * tint[2]])
    return np.clip(mono, 0, 255).astype(np.uint8)
