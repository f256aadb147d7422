"""What both kinds of reader share: lenient value conversions and host rewriting."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from vidaudit.onvif.models import TrackType

TRACK_TYPES: frozenset[str] = frozenset({"Video", "Audio", "Metadata", "Extended"})


def as_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def as_float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
    return None


def track_type(value: Any) -> TrackType:
    name = str(value).strip() if value is not None else ""
    return cast(TrackType, name) if name in TRACK_TYPES else "Unknown"


def rewrite_host(xaddr: str, target_url: str) -> str:
    """Put the configured target's scheme/host/port on a device-advertised XAddr."""
    parts, target = urlsplit(xaddr), urlsplit(target_url)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))
