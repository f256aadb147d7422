"""Pure pieces of the device layer: time parsing, XML refusal rules, error sorting."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
import zeep.exceptions
from zeep.loader import parse_xml

from tests.onvif_testkit import FakeDevice, soap
from vidaudit.inventory.schema import Credentials
from vidaudit.onvif import DeviceError, DeviceTarget, open_device, posix_tz_offset
from vidaudit.onvif.convert import device_clock
from vidaudit.onvif.errors import kind_for_fault, kind_for_status
from vidaudit.onvif.timeparse import reported, xs_datetime
from vidaudit.onvif.xmlsafety import UnsafeXml, check_reply, parse_strict
from vidaudit.onvif.zeepclient import ZEEP_SETTINGS

H = dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("tz", "offset"),
    [
        ("CST-8", 8 * H),  # China: POSIX sign inverted
        ("BRT3", -3 * H),
        ("<+08>-8", 8 * H),
        ("CST-8:00:00", 8 * H),  # Hikvision spelling
        ("EST5EDT,M3.2.0,M11.1.0", -5 * H),  # standard offset; DST rule not applied
        ("IST-5:30", 5 * H + dt.timedelta(minutes=30)),
        ("GMT0", dt.timedelta(0)),
        ("GMT+00:00", dt.timedelta(0)),  # ipycam
        ("", None),
        ("Asia/Shanghai", None),  # not POSIX: unknown rather than guessed
    ],
)
def test_posix_tz_offset(tz: str, offset: dt.timedelta | None) -> None:
    assert posix_tz_offset(tz) == offset


def _struct(tag: str, y: int, mo: int, d: int, h: int, mi: int, s: int) -> str:
    return (
        f"<tt:{tag}><tt:Time><tt:Hour>{h}</tt:Hour><tt:Minute>{mi}</tt:Minute>"
        f"<tt:Second>{s}</tt:Second></tt:Time><tt:Date><tt:Year>{y}</tt:Year>"
        f"<tt:Month>{mo}</tt:Month><tt:Day>{d}</tt:Day></tt:Date></tt:{tag}>"
    )


def _clock_payload(inner: str) -> Any:
    return check_reply(
        soap(
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            f"{inner}</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )
    ).payload


def test_clock_without_utc_uses_local_and_tz() -> None:
    # Older firmware sends only LocalDateTime; CST-8 means local = UTC+8.
    reply = _clock_payload(
        "<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        "<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone>"
        + _struct("LocalDateTime", 2025, 3, 15, 16, 0, 5)
    )
    sent = dt.datetime(2025, 3, 15, 8, 0, 0, tzinfo=dt.UTC)
    clock = device_clock(reply, sent, sent + dt.timedelta(seconds=2))
    assert clock.utc == dt.datetime(2025, 3, 15, 8, 0, 5, tzinfo=dt.UTC)
    assert clock.utc_source == "local+tz"
    assert clock.drift == dt.timedelta(seconds=4)  # 08:00:05 - midpoint 08:00:01
    assert clock.local is not None and clock.local.utcoffset() == 8 * H
    assert clock.daylight_savings is False and clock.time_source == "Manual"


def test_clock_without_any_time_is_unknown_not_wrong() -> None:
    now = dt.datetime.now(dt.UTC)
    clock = device_clock(_clock_payload("<tt:DateTimeType>NTP</tt:DateTimeType>"), now, now)
    assert clock.utc is None and clock.drift is None and clock.utc_source == "none"


def test_clock_with_garbage_fields_is_unknown_not_wrong() -> None:
    reply = _clock_payload(
        _struct("UTCDateTime", 2025, 3, 15, 8, 0, 0).replace("<tt:Hour>8<", "<tt:Hour>x<")
    )
    now = dt.datetime.now(dt.UTC)
    clock = device_clock(reply, now, now)
    assert clock.utc is None and clock.utc_source == "none"


def test_clock_reply_without_its_struct_is_malformed() -> None:
    reply = check_reply(soap("<tds:GetSystemDateAndTimeResponse/>")).payload
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(DeviceError) as caught:
        device_clock(reply, now, now)
    assert caught.value.kind == "malformed"


def test_reported_time_flags_before_2000_and_naive() -> None:
    old = reported(dt.datetime(1970, 1, 1, 0, 3, 15, tzinfo=dt.UTC))
    assert old is not None and not old.plausible and old.value is None
    assert old.raw.year == 1970  # kept, for the record
    naive = reported(dt.datetime(2025, 3, 1, 8, 0))
    assert naive is not None and naive.assumed_utc and naive.raw.tzinfo is dt.UTC
    assert reported(None) is None


def test_xs_datetime_is_utc_zulu() -> None:
    cst = dt.timezone(8 * H)
    assert (
        xs_datetime(dt.datetime(2025, 3, 15, 16, 0, 0, 500, tzinfo=cst)) == "2025-03-15T08:00:00Z"
    )
    with pytest.raises(ValueError, match="naive"):
        xs_datetime(dt.datetime(2025, 3, 15))


def test_target_refuses_credentials_in_url() -> None:
    with pytest.raises(ValueError, match="credentials"):
        DeviceTarget.parse("http://admin:pw@10.0.0.1/onvif/device_service")
    assert DeviceTarget.parse("http://10.0.0.1").url == "http://10.0.0.1/onvif/device_service"
    target = DeviceTarget.from_host("fe80::1", 8080)
    assert target.port == 8080 and target.host == "fe80::1"


@pytest.mark.parametrize(
    ("subcodes", "status", "kind"),
    [
        (("Sender", "NotAuthorized"), 400, "auth"),
        (("Sender", "FailedAuthentication"), 500, "auth"),
        (("Receiver", "ActionNotSupported"), 400, "unsupported"),
        (("Sender", "InvalidArgVal", "NoProfile"), 400, "device_fault"),
        (("Receiver",), 401, "auth"),  # ipycam: 401 + generic fault
        (("Receiver",), 500, "device_fault"),
    ],
)
def test_fault_kinds(subcodes: tuple[str, ...], status: int, kind: str) -> None:
    assert kind_for_fault(subcodes, status) == kind


def test_status_kinds() -> None:
    assert [kind_for_status(s) for s in (401, 403, 404, 501, 500, 503, 302)] == [
        "auth",
        "auth",
        "unsupported",
        "unsupported",
        "device_fault",
        "device_fault",
        "device_fault",
    ]


def test_soap11_fault_is_read() -> None:
    body = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
        b"<faultcode>wsse:FailedAuthentication</faultcode><faultstring>bad token</faultstring>"
        b"</s:Fault></s:Body></s:Envelope>"
    )
    fault = check_reply(body).fault
    assert fault is not None and "FailedAuthentication" in fault.subcodes
    assert kind_for_fault(fault.subcodes, 500) == "auth"


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
        b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://evil.example/x.dtd"><x/>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'.encode(
            "utf-16"
        ),
    ],
)
def test_declarations_are_refused_before_parsing(body: bytes) -> None:
    with pytest.raises(UnsafeXml, match="DTD"):
        parse_strict(body)


def test_zeep_layer_also_refuses_dtd_and_huge_trees() -> None:
    # Second line of defence: our zeep settings, unlike onvif-zeep-async's defaults.
    assert ZEEP_SETTINGS.xml_huge_tree is False
    assert (
        ZEEP_SETTINGS.forbid_dtd and ZEEP_SETTINGS.forbid_entities and ZEEP_SETTINGS.forbid_external
    )
    with pytest.raises(zeep.exceptions.DTDForbidden):
        parse_xml(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', None, settings=ZEEP_SETTINGS)


def test_scrubbed_removes_secret() -> None:
    err = DeviceError("auth", "token for p4ss refused", operation="GetProfiles")
    clean = err.scrubbed("p4ss")
    assert clean.message == "token for *** refused" and clean.kind == "auth"
    assert clean.operation == "GetProfiles"


async def test_fine_drift_reads_the_clock_to_milliseconds(
    fake: FakeDevice, creds: Credentials
) -> None:
    """The device answers in whole seconds; the rollover between two readings places its
    second boundary, so the drift comes out to a few milliseconds, not up to a second."""
    fake.clock_offset = dt.timedelta(seconds=12, milliseconds=345)
    async with open_device(fake.url, creds) as device:
        coarse = await device.clock()
        fine = await device.fine_drift()
    assert fine is not None
    assert abs(fine.total_seconds() - 12.345) < 0.03
    assert coarse.drift is not None and abs(coarse.drift.total_seconds() - 12.345) < 1.1


async def test_fine_drift_brackets_again_after_a_slow_reply(
    fake: FakeDevice, creds: Credentials
) -> None:
    """Replies that leave the device 250 ms after it read its clock put the boundary
    125 ms off the midpoint; once replies are prompt again, the next second boundary is
    bracketed closely and that reading wins."""
    fake.clock_offset = dt.timedelta(seconds=-7, milliseconds=-210)
    slow_until = asyncio.get_running_loop().time() + 1.3
    fake.reply_delay_s = lambda: 0.25 if asyncio.get_running_loop().time() < slow_until else 0.0
    async with open_device(fake.url, creds) as device:
        fine = await device.fine_drift()
    assert fine is not None
    assert abs(fine.total_seconds() - (-7.210)) < 0.03
