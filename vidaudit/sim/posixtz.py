"""POSIX ``TZ`` strings as devices report them in ``GetSystemDateAndTime``.

ONVIF devices give their time zone as a POSIX string whose sign is inverted:
``CST-8`` is UTC+8 (China), ``BRT3`` is UTC-3 (the Axis fixture).  The simulator only
needs the standard offset; daylight-saving rules (``EST5EDT,M3.2.0,M11.1.0``) are
parsed far enough to say that DST exists, but not applied, because the fleet it
plays (Chinese bank branches) never observes DST.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_NAME = r"(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]{3,}>)"
_OFFSET = r"[+-]?\d{1,2}(?::\d{2}(?::\d{2})?)?"
_POSIX = re.compile(
    rf"^(?P<std>{_NAME})(?P<offset>{_OFFSET})(?P<dst>{_NAME}(?:{_OFFSET})?(?:,.*)?)?$"
)


@dataclass(frozen=True)
class PosixTz:
    text: str
    #: Local time minus UTC (so ``CST-8`` gives +8 h).
    utc_offset: dt.timedelta
    has_dst: bool

    def local(self, utc: dt.datetime) -> dt.datetime:
        """Device local wall time for a UTC instant (naive on purpose: it is a wall clock)."""
        return (utc + self.utc_offset).replace(tzinfo=None)

    @property
    def tzinfo(self) -> dt.timezone:
        return dt.timezone(self.utc_offset)


def parse_posix_tz(text: str) -> PosixTz:
    """Parse ``CST-8``, ``BRT3``, ``UTC0``, ``<+0530>-5:30``; raise ValueError otherwise."""
    match = _POSIX.match(text.strip())
    if not match:
        raise ValueError(f"not a POSIX TZ string: {text!r} (e.g. 'CST-8' for UTC+8)")
    raw = match.group("offset")
    sign = -1 if raw.startswith("-") else 1
    parts = [int(p) for p in raw.lstrip("+-").split(":")]
    hours, minutes, seconds = [*parts, 0, 0][:3]
    if hours > 24 or minutes > 59 or seconds > 59:
        raise ValueError(f"offset out of range in POSIX TZ {text!r}")
    posix_offset = dt.timedelta(hours=hours, minutes=minutes, seconds=seconds) * sign
    # POSIX offsets are "what to add to local time to get UTC": the inverse of ISO's.
    return PosixTz(text=text.strip(), utc_offset=-posix_offset, has_dst=bool(match.group("dst")))
