"""Our ISAPI and Dahua readers against the simulated recorders: every quirk, and
answers equal to the simulator's truth (its own word, from its scenario)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests.sim.vendor_lab import vendor_http, vendor_lab, when
from vidaudit.dahua import DahuaDevice
from vidaudit.dahua import read_recorder as read_dahua
from vidaudit.errors import DeviceError
from vidaudit.isapi import IsapiDevice, ReadRequest
from vidaudit.isapi import read_recorder as read_isapi
from vidaudit.sim import running_fleet
from vidaudit.sim.device import SimDevice

pytestmark = pytest.mark.timeout(90)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _request(dev: SimDevice, days: int = 31) -> ReadRequest:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    return ReadRequest(tuple(ch.plan.number for ch in dev.channels), start, lookback_days=400)


Spans = list[tuple[dt.datetime, dt.datetime]]


def _same(ours: Spans, theirs: Spans, channel: str) -> None:
    """Equal, except that "now" (the end of footage still being recorded) is read by
    the device a moment before our clock took it: within 2 s."""
    assert len(ours) == len(theirs), (channel, ours[-3:], theirs[-3:])
    for (a0, a1), (b0, b1) in zip(ours, theirs, strict=True):
        assert abs(a0 - b0) <= dt.timedelta(seconds=2), channel
        assert abs(a1 - b1) <= dt.timedelta(seconds=2), channel


async def test_isapi_reader_matches_truth_with_paging_and_calendars() -> None:
    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device("HIK")
        truth = fleet.truth
        async with vendor_http(dev) as http:
            reading = await read_isapi(IsapiDevice(http), _request(dev))
            searches = dev.counters.requests
    assert reading.info.manufacturer == "Hikvision" and reading.info.serial.endswith(dev.serial)
    assert reading.clock.utc_source == "local+offset"
    assert reading.clock.drift is not None
    assert abs(reading.clock.drift.total_seconds() - 75) <= 1.5
    assert reading.rtsp_port == dev.rtsp_port  # the port the device reports
    assert [d.state for d in reading.disks or ()] == ["ok"]
    by_number = {c.number: c for c in reading.channels}
    for ch in dev.channels:
        got = by_number[ch.plan.number]
        expected = truth["channels"][ch.plan.id]
        assert got.exists
        assert got.earliest == when(expected["earliest"]), ch.plan.id
        merged = [
            (max(s, got.searched_from), min(e, got.searched_to))
            for s, e in ch.timeline.until(got.searched_to)
            if e > got.searched_from
        ]
        _same(list(got.segments), merged, ch.plan.id)
        assert got.camera_online is (not ch.plan.camera_offline)
        assert got.days_with_footage is not None
    # 30-minute files over 31 days are hundreds of matches: more than one 40-item page
    assert searches > 4 * 25


async def test_isapi_old_firmware_namespace_naive_time_sha256_and_small_pages() -> None:
    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device("HIKOLD")
        async with vendor_http(dev) as http:
            reading = await read_isapi(IsapiDevice(http), _request(dev))
    assert reading.clock.utc_source == "local+tz"  # no offset: CST-8:00:00 places it
    assert reading.clock.drift is not None and abs(reading.clock.drift.total_seconds()) <= 1.5
    assert [d.state for d in reading.disks or ()] == ["ok", "error"]
    (channel,) = reading.channels
    truth = fleet.truth["channels"]["HIKOLD-C1"]
    assert channel.earliest == when(truth["earliest"])  # walked back past the window
    assert channel.segments and channel.segments[0][0] == channel.searched_from


async def test_isapi_utc_z_time_and_unformatted_disk() -> None:
    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device("HIKZ")
        async with vendor_http(dev) as http:
            reading = await read_isapi(IsapiDevice(http), _request(dev))
    assert reading.clock.utc_source == "utc"
    assert [(d.status, d.state) for d in reading.disks or ()] == [("unformatted", "unformatted")]


async def test_isapi_wrong_password_is_auth() -> None:
    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device("HIK")
        async with vendor_http(dev, password="not-it") as http:
            with pytest.raises(DeviceError) as caught:
                await IsapiDevice(http).info()
    assert caught.value.kind == "auth"
    assert "not-it" not in str(caught.value)


async def test_dahua_reader_matches_truth_with_empty_400_and_no_disk() -> None:
    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device("DAH")
        truth = fleet.truth
        async with vendor_http(dev) as http:
            reading = await read_dahua(DahuaDevice(http, SHANGHAI), _request(dev))
            left_open = len(dev.dahua_finders.open)
    assert left_open == 0, "every finder is destroyed"
    assert reading.info.manufacturer == "Dahua" and reading.info.serial == dev.serial
    assert reading.clock.utc_source == "local+branch"
    assert reading.clock.drift is not None
    assert abs(reading.clock.drift.total_seconds() + 40) <= 1.5
    assert reading.disks == ()  # a recorder with no disk at all
    assert reading.rtsp_port == dev.rtsp_port
    by_number = {c.number: c for c in reading.channels}
    for ch in dev.channels:
        got = by_number[ch.plan.number]
        expected = truth["channels"][ch.plan.id]
        merged = [
            (max(s, got.searched_from), min(e, got.searched_to))
            for s, e in ch.timeline.until(got.searched_to)
            if e > got.searched_from
        ]
        _same(list(got.segments), merged, ch.plan.id)
        if ch.plan.id == "DAH-C3":
            # stopped 40 days ago: nothing in the window, findFile answered 400
            assert got.segments == () and got.earliest is None
        else:
            assert got.earliest == when(expected["earliest"]), ch.plan.id


async def test_dahua_finder_closed_when_a_page_fails() -> None:
    scenario = vendor_lab(
        devices={"DAH": {"fault": {"kind": "malformed", "operations": ["findNextFile"]}}}
    )
    async with running_fleet(scenario) as fleet:
        dev = fleet.device("DAH")
        async with vendor_http(dev) as http:
            with pytest.raises(DeviceError) as caught:
                await read_dahua(DahuaDevice(http, SHANGHAI), _request(dev))
            # the malformed page closed that connection; close/destroy still went out
            assert len(dev.dahua_finders.open) == 0
    assert caught.value.kind == "malformed"


async def test_dahua_searches_share_finders_three_requests_a_search() -> None:
    """Finders are reused within a read (see ``dahua.client.FinderPool``): a search is
    findFile + its pages + close; create and destroy are paid per finder, at most one
    per request slot of the device, not per search (which made a search 5 requests)."""
    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device("DAH")
        async with vendor_http(dev) as http:
            await read_dahua(DahuaDevice(http, SHANGHAI), _request(dev))
            slots = http.settings.max_connections_per_host
        calls = dev.dahua_finders.calls
    searches = calls["findFile"]
    channels = len(dev.channels)
    assert searches >= channels  # each channel searched at least once
    assert calls["close"] == searches  # every search ended on its finder
    assert 1 <= calls["factory.create"] <= min(slots, channels)
    assert calls["destroy"] == calls["factory.create"]
    assert not dev.dahua_finders.open
    # findFile + close per search; create + destroy per finder (was 4 per search)
    overhead = calls["findFile"] + calls["close"] + calls["factory.create"] + calls["destroy"]
    assert overhead <= 2 * searches + 2 * min(slots, channels) < 4 * searches


async def test_dahua_finders_destroyed_when_a_search_fails_mid_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The third findFile of the read answers HTTP 500: the read fails as a device
    fault, and every finder it made (some idle, some mid-search) is destroyed."""
    from vidaudit.sim import dahua as sim_dahua

    real_find = sim_dahua._find_file
    seen = 0

    def failing_third(*args: object) -> sim_dahua.Answer:
        nonlocal seen
        seen += 1
        if seen == 3:
            return 500, b"Error\r\nInternal Error!\r\n", sim_dahua.TEXT_TYPE
        return real_find(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sim_dahua, "_find_file", failing_third)
    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device("DAH")
        async with vendor_http(dev) as http:
            with pytest.raises(DeviceError) as caught:
                await read_dahua(DahuaDevice(http, SHANGHAI), _request(dev))
            left_open = dict(dev.dahua_finders.open)
        calls = dev.dahua_finders.calls
    assert caught.value.kind == "device_fault" and caught.value.operation == "findFile"
    assert seen >= 3 and calls["factory.create"] >= 1
    assert calls["destroy"] == calls["factory.create"]
    assert left_open == {}, "every finder is destroyed"
