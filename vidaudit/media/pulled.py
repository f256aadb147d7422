"""What a frame pull returns, and how requested instants become offsets into a source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

#: An instant is either an offset from the start of the source, or an absolute (aware)
#: datetime, which needs the source's start instant to be placed.
Instant = datetime | timedelta

BgrImage = NDArray[np.uint8]


@dataclass(frozen=True, eq=False)
class PulledFrame:
    """One decoded frame chosen as the nearest to a requested instant.

    ``requested`` and ``actual`` are of the same kind as the request: both offsets, or both
    aware datetimes. ``offset`` is always the frame's position from the start of the source
    (the file's first frame, or the stream's first frame for a URL).
    """

    requested: Instant
    actual: Instant
    #: ``actual - requested`` in milliseconds (negative: the frame is before the instant).
    delta_ms: float
    offset: timedelta
    #: The frame, BGR, height × width × 3.
    image: BgrImage
    #: Frames shown after the last keyframe, up to and including this one (0: a keyframe);
    #: None when decoding did not start at a keyframe.
    keyframe_distance: int | None
    #: The path, or the URL without credentials, plus the stream index.
    source: str


def require_aware(value: datetime, name: str) -> None:
    """Refuse a naive datetime: device, branch and collector clocks differ (architecture.md)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def to_offsets(instants: Sequence[Instant], start: datetime | None) -> list[timedelta]:
    """Each instant as an offset from ``start`` (offsets pass through unchanged)."""
    if start is not None:
        require_aware(start, "start instant")
    offsets: list[timedelta] = []
    for index, instant in enumerate(instants):
        if isinstance(instant, timedelta):
            offsets.append(instant)
            continue
        require_aware(instant, f"instants[{index}]")
        if start is None:
            raise ValueError(
                f"instants[{index}] is an absolute time ({instant.isoformat()}) but the "
                "source's start instant is unknown; pass it, or pass offsets"
            )
        offsets.append(instant - start)
    return offsets


def format_offset(offset: timedelta) -> str:
    """An offset for messages: ``+75.240 s`` / ``-1.000 s`` (timedelta's str shows -1 day)."""
    return f"{offset.total_seconds():+.3f} s"


def make_pulled(
    requested: Instant,
    start: datetime | None,
    offset: timedelta,
    requested_offset: timedelta,
    image: BgrImage,
    keyframe_distance: int | None,
    source: str,
) -> PulledFrame:
    """A ``PulledFrame`` whose ``actual`` has the same kind as ``requested``."""
    actual: Instant
    if isinstance(requested, datetime):
        assert start is not None  # to_offsets refused absolute instants without a start
        actual = start + offset
    else:
        actual = offset
    delta = offset - requested_offset
    return PulledFrame(
        requested=requested,
        actual=actual,
        delta_ms=delta / timedelta(milliseconds=1),
        offset=offset,
        image=image,
        keyframe_distance=keyframe_distance,
        source=source,
    )
