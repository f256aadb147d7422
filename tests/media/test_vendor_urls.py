"""Vendor playback URLs: exact strings, time zones, credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from vidaudit.media.vendor_urls import dahua_playback_url, hikvision_playback_url, redact

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 20, 10, 32, 15, tzinfo=SHANGHAI)  # 02:32:15 UTC
END = START + timedelta(minutes=15)


def test_hikvision_main_stream_in_utc() -> None:
    url = hikvision_playback_url("10.1.2.3", 1, START, END)
    assert url == (
        "rtsp://10.1.2.3:554/Streaming/tracks/101"
        "?starttime=20261120T023215Z&endtime=20261120T024715Z"
    )


def test_hikvision_sub_stream_channel_12_port_and_credentials() -> None:
    url = hikvision_playback_url(
        "nvr.branch7.example",
        12,
        START.astimezone(UTC),
        END,
        stream="sub",
        port=8554,
        username="admin",
        password="p@ss:w/rd#1",
    )
    assert url == (
        "rtsp://admin:p%40ss%3Aw%2Frd%231@nvr.branch7.example:8554/Streaming/tracks/1202"
        "?starttime=20261120T023215Z&endtime=20261120T024715Z"
    )
    assert redact(url) == (
        "rtsp://nvr.branch7.example:8554/Streaming/tracks/1202"
        "?starttime=20261120T023215Z&endtime=20261120T024715Z"
    )


def test_hikvision_utc_date_rolls_back_across_midnight() -> None:
    early = datetime(2026, 11, 21, 6, 0, tzinfo=SHANGHAI)  # 22:00 UTC the day before
    url = hikvision_playback_url("h", 3, early, early + timedelta(seconds=30))
    assert "starttime=20261120T220000Z&endtime=20261120T220030Z" in url


def test_dahua_in_device_local_time() -> None:
    utc_start = START.astimezone(UTC)
    url = dahua_playback_url("10.1.2.4", 1, utc_start, END, device_tz=SHANGHAI)
    assert url == (
        "rtsp://10.1.2.4:554/cam/playback?channel=1&subtype=0"
        "&starttime=2026_11_20_10_32_15&endtime=2026_11_20_10_47_15"
    )


def test_dahua_fixed_offset_sub_stream_and_user_only() -> None:
    url = dahua_playback_url(
        "10.1.2.4",
        5,
        START,
        END,
        device_tz=timedelta(hours=-3),
        stream="sub",
        username="viewer@branch",
    )
    assert url == (
        "rtsp://viewer%40branch@10.1.2.4:554/cam/playback?channel=5&subtype=1"
        "&starttime=2026_11_19_23_32_15&endtime=2026_11_19_23_47_15"
    )
    assert redact(url).startswith("rtsp://10.1.2.4:554/cam/playback?")


def test_dahua_with_a_timezone_object() -> None:
    url = dahua_playback_url("h", 2, START, END, device_tz=timezone(timedelta(hours=8)))
    assert "starttime=2026_11_20_10_32_15" in url


def test_ipv6_host_is_bracketed() -> None:
    url = hikvision_playback_url("fd00::7", 1, START, END, username="u", password="p")
    assert url.startswith("rtsp://u:p@[fd00::7]:554/")
    assert redact(url).startswith("rtsp://[fd00::7]:554/")


def test_naive_times_and_bad_arguments_are_refused() -> None:
    naive = datetime(2026, 11, 20, 10, 32, 15)
    with pytest.raises(ValueError, match="timezone-aware"):
        hikvision_playback_url("h", 1, naive, END)
    with pytest.raises(ValueError, match="timezone-aware"):
        dahua_playback_url("h", 1, START, naive, device_tz=SHANGHAI)
    with pytest.raises(ValueError, match="not after"):
        hikvision_playback_url("h", 1, END, START)
    with pytest.raises(ValueError, match="channel"):
        hikvision_playback_url("h", 0, START, END)
    with pytest.raises(ValueError, match="host"):
        hikvision_playback_url("h/evil", 1, START, END)
    with pytest.raises(ValueError, match="password without"):
        hikvision_playback_url("h", 1, START, END, password="x")


def test_redact_leaves_urls_without_credentials_alone() -> None:
    assert redact("rtsp://10.0.0.1:554/x?a=b") == "rtsp://10.0.0.1:554/x?a=b"
    assert redact("/data/export.mp4") == "/data/export.mp4"
