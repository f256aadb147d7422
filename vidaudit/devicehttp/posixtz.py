"""POSIX ``TZ`` strings as devices report them: ``CST-8`` and Hikvision's ``CST-8:00:00``.

Pure; shared by the ONVIF and ISAPI readers.
"""

from __future__ import annotations

import datetime as dt
import re

# POSIX TZ: std name (alphabetic, or quoted <...>), then the offset *west* of UTC:
# "CST-8" is UTC+8, "BRT3" is UTC-3, "<+08>-8" is UTC+8.  Hikvision writes
# "CST-8:00:00"; ipycam writes "GMT+00:00".
_POSIX_TZ = re.compile(
    r"^\s*(?:<[^>]*>|[A-Za-z]{3,})"
    r"(?P<sign>[+-]?)(?P<h>\d{1,2})(?::(?P<m>\d{2}))?(?::(?P<s>\d{2}))?"
)


def posix_tz_offset(tz: str | None) -> dt.timedelta | None:
    """Standard-time UTC offset of a POSIX TZ string (east positive), or None.

    >>> posix_tz_offset("CST-8")
    datetime.timedelta(seconds=28800)
    >>> posix_tz_offset("BRT3")
    datetime.timedelta(days=-1, seconds=75600)
    """
    if not tz:
        return None
    match = _POSIX_TZ.match(tz)
    if match is None:
        return None
    hours = int(match["h"])
    minutes = int(match["m"] or 0)
    seconds = int(match["s"] or 0)
    if hours > 24 or minutes > 59 or seconds > 59:
        return None
    west = dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)
    # The sign is inverted: a positive POSIX offset is *west* of Greenwich.
    return west if match["sign"] == "-" else -west
