"""A device's clock to a few milliseconds, for any protocol that tells time to the second.

ONVIF's GetSystemDateAndTime, ISAPI's ``System/time`` and Dahua's ``getCurrentTime`` all
answer in whole seconds, so one reading leaves up to a second of doubt: too much for a
frame pulled as evidence of an instant.  Reading the clock back to back until its
seconds roll over places the device's second boundary between two of our readings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

from vidaudit.readings import DeviceClock

#: ``fine_drift`` stops once the device's second boundary is bracketed this closely.
FINE_DRIFT_WANTED = dt.timedelta(milliseconds=15)
#: ...and re-brackets a boundary starting this long before it is due.
_LEAD_S = 0.15


async def fine_drift(
    read: Callable[[], Awaitable[DeviceClock]],
    now: Callable[[], dt.datetime],
    budget_s: float = 3.0,
    wanted: dt.timedelta = FINE_DRIFT_WANTED,
) -> dt.timedelta | None:
    """Device clock − ours (``now``), good to half the narrowest bracket found.

    drift = the device's new second − the moment half-way between the two readings that
    straddle it.  When that bracket is wider than ``wanted`` (a reply stalled: a busy
    device or collector), the next rollover is bracketed again, starting just before it
    is due; the narrowest bracket within ``budget_s`` wins.  None when the device gives
    no UTC time or never rolled over.
    """
    deadline = now() + dt.timedelta(seconds=budget_s)
    best: tuple[dt.timedelta, dt.timedelta] | None = None  # (half bracket, drift)
    previous = await read()
    if previous.utc is None:
        return None
    while now() < deadline:
        reading = await read()
        if reading.utc is None:
            return None
        if reading.utc > previous.utc:
            half = (reading.midpoint - previous.midpoint) / 2
            drift = reading.utc.replace(microsecond=0) - (previous.midpoint + half)
            if best is None or half < best[0]:
                best = (half, drift)
            if half <= wanted:
                break
            # Sleep until shortly before the next boundary (on our clock), then bracket it.
            next_tick = reading.utc.replace(microsecond=0) + dt.timedelta(seconds=1) - drift
            lead = half.total_seconds() + _LEAD_S  # our estimate's doubt too
            pause = (next_tick - now()).total_seconds() - lead
            if now() + dt.timedelta(seconds=max(pause, 0) + 1) > deadline:
                break  # no time left for another bracket
            if pause > 0:
                await asyncio.sleep(pause)
            reading = await read()
            if reading.utc is None:
                return None
        previous = reading
    return None if best is None else best[1]
