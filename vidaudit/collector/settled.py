"""What earlier runs settled about the footage of channels read through a vendor API.

Why: ISAPI lists a recorder's footage file by file (hourly files, about 40 to a page), so
reading a 30-day window in full is some twenty-five requests per channel, where ONVIF's
event search needs one or two.  Past footage does not change but at known places (see
``readings.KnownFootage``), so a run keeps what it settled per channel and the next run
asks only for what is new and where the oldest footage now starts: two requests.

Every channel is still read in full at least every ``full_read_hours`` (default 24), so
what no check sees (footage deleted by hand, a gap a camera's own storage filled later)
is caught within a day.  Each recorder gets its own period between 75 % and 100 % of
that, fixed by its id, so full reads spread over the day instead of all coming back in
the run 24 hours after the first one.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterable

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from vidaudit.collector.model import ChannelReport, SettledChannel
from vidaudit.db.models import SettledFootageRow
from vidaudit.readings import KnownFootage

#: Rows written per statement (SQLite caps bound parameters per statement).
_BATCH = 500


def full_read_due(
    device_id: str, read_in_full_at: dt.datetime, now: dt.datetime, every: dt.timedelta
) -> bool:
    """Whether a channel of this recorder must be read in full again."""
    share = zlib.crc32(device_id.encode()) / 2**32
    return now - read_in_full_at >= every * (0.75 + 0.25 * share)


def _instant(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def load_settled(
    session: Session, now: dt.datetime, every: dt.timedelta
) -> dict[str, SettledChannel]:
    """Per channel id, what the last run settled, unless its full read is due (or
    ``every`` is zero: reuse nothing)."""
    if every <= dt.timedelta(0):
        return {}
    out: dict[str, SettledChannel] = {}
    for row in session.execute(select(SettledFootageRow)).scalars():
        if full_read_due(row.device_id, row.read_in_full_at, now, every):
            continue
        out[row.channel_id] = SettledChannel(
            row.device_id,
            row.api,
            row.number,
            KnownFootage(
                settled_until=row.settled_until,
                segments=tuple((_instant(s), _instant(e)) for s, e in row.segments),
                earliest=row.earliest,
                earliest_bounded=row.earliest_bounded,
                disks=row.disks,
                read_in_full_at=row.read_in_full_at,
            ),
        )
    return out


def store_settled(session: Session, channels: Iterable[ChannelReport], now: dt.datetime) -> int:
    """Replace the rows of every channel this run settled; the others keep theirs (a
    recorder that was down this run is built on again when it is back)."""
    rows = [
        {
            "channel_id": report.channel_id,
            "device_id": settled.device_id,
            "api": settled.api,
            "number": settled.number,
            "settled_until": settled.footage.settled_until,
            "segments": [[s.timestamp(), e.timestamp()] for s, e in settled.footage.segments],
            "earliest": settled.footage.earliest,
            "earliest_bounded": settled.footage.earliest_bounded,
            "disks": settled.footage.disks,
            "read_in_full_at": settled.footage.read_in_full_at,
            "updated_at": now,
        }
        for report in channels
        if (settled := report.settled) is not None
    ]
    for first in range(0, len(rows), _BATCH):
        batch = rows[first : first + _BATCH]
        session.execute(
            delete(SettledFootageRow).where(
                SettledFootageRow.channel_id.in_([row["channel_id"] for row in batch])
            )
        )
        session.execute(insert(SettledFootageRow), batch)
    return len(rows)
