"""Device time values: POSIX TZ strings, ONVIF DateTime structs, reported instants.

Pure functions; no I/O and no clock.
"""

from __future__ import annotations

import datetime as dt

from vidaudit.devicehttp.posixtz import posix_tz_offset
from vidaudit.onvif.models import PLAUSIBLE_SINCE, ReportedTime

__all__ = ["posix_tz_offset", "reported", "struct_datetime", "wall_time", "xs_datetime"]


def wall_time(year: int, month: int, day: int, hour: int, minute: int, second: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` as a device reported it (not validated)."""
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def struct_datetime(
    year: int, month: int, day: int, hour: int, minute: int, second: int, tz: dt.tzinfo
) -> dt.datetime | None:
    """Build an aware datetime from an ONVIF Date/Time struct; None if invalid.

    Some firmware reports second 60 (leap second) or hour 24; we roll those over rather
    than drop the reading.
    """
    try:
        base = dt.datetime(year, month, day, tzinfo=tz)
    except ValueError:
        return None
    if not (0 <= hour <= 24 and 0 <= minute <= 60 and 0 <= second <= 61):
        return None
    return base + dt.timedelta(hours=hour, minutes=minute, seconds=second)


def reported(value: object) -> ReportedTime | None:
    """Wrap a device-reported xs:dateTime (as zeep parsed it) with its plausibility."""
    if not isinstance(value, dt.datetime):
        return None
    assumed = value.tzinfo is None or value.utcoffset() is None
    aware = value.replace(tzinfo=dt.UTC) if assumed else value.astimezone(dt.UTC)
    return ReportedTime(raw=aware, plausible=aware >= PLAUSIBLE_SINCE, assumed_utc=assumed)


def xs_datetime(value: dt.datetime) -> str:
    """An aware instant as ``YYYY-MM-DDTHH:MM:SSZ`` (what every firmware parses).

    Fractions are dropped: several NVRs reject ``.123Z`` in search requests.
    """
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass an aware instant")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def xs_duration(seconds: float) -> str:
    return f"PT{max(0, round(seconds))}S"
