"""A read that builds on what an earlier one settled (``readings.KnownFootage``) finds the
same footage as a read in full, with two requests per channel, and falls back to a read
in full when it cannot be sure: the disks changed, the oldest day it knew is gone."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

import pytest

from tests.sim.vendor_lab import vendor_http, vendor_lab
from vidaudit.dahua import DahuaDevice
from vidaudit.dahua import read_recorder as read_dahua
from vidaudit.devicehttp.footage import UNSETTLED
from vidaudit.isapi import IsapiDevice, ReadRequest
from vidaudit.isapi import read_recorder as read_isapi
from vidaudit.readings import ChannelFootage, KnownFootage, RecorderReading
from vidaudit.sim import running_fleet
from vidaudit.sim.device import SimDevice
from vidaudit.sim.timeline import Timeline

pytestmark = pytest.mark.timeout(90)
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Per recorder, the calls a read makes whatever it builds on (clock, identity, disks,
#: channel list and state, RTSP port).
DEVICE_CALLS = {"HIK": 6, "DAH": 5}


def _request(dev: SimDevice, known: Mapping[int, KnownFootage] | None = None) -> ReadRequest:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    numbers = tuple(ch.plan.number for ch in dev.channels)
    return ReadRequest(numbers, start, lookback_days=400, known=known or {})


def _settled(reading: RecorderReading) -> dict[int, KnownFootage]:
    out = {}
    for channel in reading.channels:
        assert channel.settled is not None
        out[channel.number] = channel.settled
    return out


async def _read(dev: SimDevice, known: Mapping[int, KnownFootage] | None = None) -> RecorderReading:
    async with vendor_http(dev) as http:
        if dev.plan.vendor == "dahua":
            return await read_dahua(DahuaDevice(http, SHANGHAI), _request(dev, known))
        return await read_isapi(IsapiDevice(http), _request(dev, known))


def _assert_same(built: ChannelFootage, full: ChannelFootage) -> None:
    """Equal but for "now": the two reads end a moment apart."""
    slack = dt.timedelta(seconds=5)
    assert built.earliest == full.earliest, built.number
    assert len(built.segments) == len(full.segments), (built.segments[-3:], full.segments[-3:])
    for (a0, a1), (b0, b1) in zip(built.segments, full.segments, strict=True):
        assert abs(a0 - b0) <= slack and abs(a1 - b1) <= slack, built.number
    if full.latest is None:  # nothing in the window (a channel stopped long ago)
        assert built.latest is None and not built.segments
    else:
        assert built.latest is not None and abs(built.latest - full.latest) <= slack


@pytest.mark.parametrize("device", ["HIK", "DAH"])
async def test_a_read_built_on_the_last_one_equals_a_full_read(device: str) -> None:
    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device(device)
        first = await _read(dev)
        before = dev.counters.requests
        built = await _read(dev, _settled(first))
        built_requests = dev.counters.requests - before
        before = dev.counters.requests
        full = await _read(dev)
        full_requests = dev.counters.requests - before
        assert not dev.dahua_finders.open, "every finder is destroyed"
    assert not any(c.continued for c in first.channels + full.channels)
    assert all(c.continued for c in built.channels)
    for ours, theirs in zip(built.channels, full.channels, strict=True):
        _assert_same(ours, theirs)
        assert ours.settled is not None and theirs.settled is not None
        # what the next read may rely on is older than the unsettled margin
        # (the device's "now" moves with each read's drift, measured to the second)
        assert ours.settled.settled_until <= ours.searched_to - UNSETTLED + dt.timedelta(seconds=1)
        # and the time of the last full read is carried, not renewed
        first_settled = _settled(first)[ours.number]
        assert ours.settled.read_in_full_at == first_settled.read_in_full_at
        # the settled mark never moves back (a stopped channel's merged footage would
        # otherwise pull it to the start of its last long stretch)
        assert ours.settled.settled_until >= first_settled.settled_until
    channels = len(dev.channels)
    # two searches per channel (Dahua: a finder's create, findFile, findNextFile until
    # found=0, close and destroy for each), against the calendars and pages of a full read
    per_search = 1 if device == "HIK" else 6
    assert built_requests <= DEVICE_CALLS[device] + 2 * per_search * channels + 1
    # ISAPI pages 40 files at a time (the lab's recorder cuts 30-minute files): the full
    # read is several times dearer.  A Dahua finder pages 100 files, but costs five
    # requests however little it finds, so the saving there is smaller.
    assert full_requests > (5 if device == "HIK" else 1.5) * built_requests


async def test_the_overwritten_oldest_footage_is_found_again() -> None:
    """A full recorder overwrites its oldest files: the built read follows the edge."""
    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device("HIK")
        first = await _read(dev)
        channel = dev.channels[0]
        old = channel.timeline
        assert old.earliest is not None
        edge = old.earliest + dt.timedelta(hours=5, minutes=13)
        channel.timeline = Timeline(tuple((max(s, edge), e) for s, e in old.intervals if e > edge))
        built = await _read(dev, _settled(first))
        full = await _read(dev)
    number = channel.plan.number
    ours = next(c for c in built.channels if c.number == number)
    theirs = next(c for c in full.channels if c.number == number)
    assert ours.continued and ours.earliest == edge
    _assert_same(ours, theirs)


async def test_a_changed_disk_or_a_lost_oldest_day_means_a_full_read() -> None:
    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device("HIK")
        first = _settled(await _read(dev))
        # the recorder's disks are not those the earlier read saw (swapped, formatted)
        swapped = {n: dataclasses.replace(k, disks="hdd:1:999:ok") for n, k in first.items()}
        after_swap = await _read(dev, swapped)
        # footage older than a day past the known oldest is gone: more changed than
        # overwriting explains
        channel = dev.channels[0]
        old = channel.timeline
        assert old.earliest is not None
        cut = old.earliest + dt.timedelta(days=2)
        channel.timeline = Timeline(tuple((max(s, cut), e) for s, e in old.intervals if e > cut))
        after_loss = await _read(dev, first)
    assert not any(c.continued for c in after_swap.channels)
    lost = {c.number: c for c in after_loss.channels}
    assert not lost[channel.plan.number].continued
    assert lost[channel.plan.number].earliest == cut
    assert all(c.continued for n, c in lost.items() if n != channel.plan.number)


def test_the_settled_mark_never_moves_back() -> None:
    """A channel that stopped recording: what was settled is one merged stretch, and no
    new file starts.  The mark stays where the last read put it, not at the stretch's
    start (from which the next read would search the whole stretch again)."""
    from vidaudit.devicehttp.footage import footage

    now = dt.datetime(2026, 11, 18, 2, 30, tzinfo=dt.UTC)
    start = now - dt.timedelta(days=31)
    stretch = (now - dt.timedelta(days=20), now - dt.timedelta(days=3))
    read_at = now - dt.timedelta(hours=1)

    def built_on(mark: dt.datetime | None) -> dt.datetime:
        got = footage(
            1,
            start,
            now,
            [stretch],
            earliest=stretch[0],
            earliest_bounded=False,
            disks="hdd:1:4000:ok",
            read_in_full_at=read_at,
            continued=True,
            settled_before=mark,
        )
        assert got.settled is not None
        return got.settled.settled_until

    assert built_on(stretch[1]) == stretch[1]
    # without the earlier mark, the merged stretch's start would be all there is
    assert built_on(None) == stretch[0]
