"""The dates a person can mean here, and parsers that stay inside them.

Python's dates run from year 1 to 9999, and arithmetic near either end overflows (a week
after 9999-12-31, a zone offset before 0001-01-01); SQLite and PostgreSQL have their own
ranges.  No recording, duty or plan of this product lies outside 2000-2199, so typed
dates are held to that range where they are read (a clear "bad request", never an
overflow deep inside a query).
"""

from __future__ import annotations

import datetime as dt

EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2199, 12, 31)


def plausible(day: dt.date) -> bool:
    return EARLIEST <= day <= LATEST


def parse_date(text: str) -> dt.date | None:
    """``YYYY-MM-DD`` inside the range, else None."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        return None
    return day if plausible(day) else None


def parse_instant(text: str, default_tz: dt.tzinfo) -> dt.datetime | None:
    """ISO 8601 inside the range (naive means ``default_tz``), else None."""
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if not plausible(at.date()):
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=default_tz)
