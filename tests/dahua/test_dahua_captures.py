"""Every Dahua-family capture in ../shared/fixtures/dahua, read by our parsers.

Written by Dahua, Amcrest and Lorex devices (or quoted from them), not by us; see that
folder's SOURCES.md for which are byte-exact.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.conftest import shared_path
from vidaudit.dahua import parse
from vidaudit.errors import DeviceError


def dahua_dir() -> Path:
    return shared_path("fixtures", "dahua")


def capture(name: str) -> bytes:
    return (dahua_dir() / name).read_bytes()


CAPTURES = {
    "magicBox.getDeviceType.IPC-HDW5831R-ZE.docstring.txt",
    "magicBox.getSoftwareVersion.IPC-HDW5831R-ZE.docstring.txt",
    "magicBox.getSoftwareVersion.amcrest.readme-example.txt",
    "magicBox.getSystemInfo.IPC-HDW5831R-ZE.docstring.txt",
    "magicBox.getSystemInfo.Lorex-NVR4108HS-8P-4KS2.comment.txt",
    "mediaFileFind.factory.close.error.txt",
    "mediaFileFind.factory.create.txt",
    "mediaFileFind.findFile.ok.txt",
    "mediaFileFind.findNextFile.found0.txt",
    "mediaFileFind.findNextFile.items.page1.txt",
    "mediaFileFind.findNextFile.items.page2.txt",
}


def test_every_capture_is_covered_by_a_test() -> None:
    present = {p.name for p in dahua_dir().glob("*.txt")}
    assert present <= CAPTURES, f"captures without a test: {sorted(present - CAPTURES)}"


def test_camera_identity_from_system_info_type_and_version() -> None:
    info = parse.device_info(
        capture("magicBox.getSystemInfo.IPC-HDW5831R-ZE.docstring.txt"),
        capture("magicBox.getDeviceType.IPC-HDW5831R-ZE.docstring.txt"),
        capture("magicBox.getSoftwareVersion.IPC-HDW5831R-ZE.docstring.txt"),
    )
    assert (info.manufacturer, info.model) == ("Dahua", "IPC-HDW5831R-ZE")
    assert info.firmware == "2.800.0000016.0.R,build:2020-06-05"
    assert info.serial == "REDACTED"  # redacted in the capture; read all the same
    assert info.hardware_id == "1.00"


def test_oem_nvr_numeric_device_type_falls_back_to_update_serial() -> None:
    # Lorex (Dahua OEM) NVRs say deviceType=31; updateSerial names the real model.
    info = parse.device_info(
        capture("magicBox.getSystemInfo.Lorex-NVR4108HS-8P-4KS2.comment.txt"), None, None
    )
    assert info.model == "DHI-NVR4108HS-8P-4KS2"
    assert info.serial == "ND0219110NNNNN"


def test_software_version_with_build_date_line() -> None:
    # The README example has no trailing CRLF and a separate BuildDate line.
    info = parse.device_info(
        capture("magicBox.getSystemInfo.IPC-HDW5831R-ZE.docstring.txt"),
        None,
        capture("magicBox.getSoftwareVersion.amcrest.readme-example.txt"),
    )
    assert info.firmware == "2.420.AC00.15.R 2016-09-08"


def test_finder_lifecycle_bodies() -> None:
    assert parse.finder(capture("mediaFileFind.factory.create.txt")) == "123"
    parse.ok(capture("mediaFileFind.findFile.ok.txt"), "findFile")
    assert parse.file_page(capture("mediaFileFind.findNextFile.found0.txt")).found == 0
    with pytest.raises(DeviceError) as caught:
        parse.ok(capture("mediaFileFind.factory.close.error.txt"), "close")
    assert caught.value.kind == "device_fault"
    assert "Invalid Request" in caught.value.message


def test_file_pages_are_read_as_listed_not_as_counted() -> None:
    first = parse.file_page(capture("mediaFileFind.findNextFile.items.page1.txt"))
    assert first.found == 2
    assert first.items == (
        (dt.datetime(2020, 1, 6, 6, 5), dt.datetime(2020, 1, 6, 6, 13)),
        (dt.datetime(2020, 1, 6, 6, 13), dt.datetime(2020, 1, 6, 6, 21)),
    )
    # "found=2" with one item: the item is what counts (SOURCES.md notes the oddity).
    second = parse.file_page(capture("mediaFileFind.findNextFile.items.page2.txt"))
    assert second.found == 2
    assert second.items == (
        (dt.datetime(2020, 1, 6, 6, 36, 10), dt.datetime(2020, 1, 6, 6, 36, 44)),
    )


def test_file_times_are_local_wall_time_in_the_branch_zone() -> None:
    page = parse.file_page(capture("mediaFileFind.findNextFile.items.page1.txt"))
    zone = dt.timezone(dt.timedelta(hours=8))
    start = parse.to_utc(page.items[0][0], zone)
    assert start == dt.datetime(2020, 1, 5, 22, 5, tzinfo=dt.UTC)
    assert parse.from_utc(start, zone) == "2020-01-06 06:05:00"


@pytest.mark.parametrize(
    "text",
    [
        "2020-01-06 06:13:00",  # the captures' form
        " 2026-11-20 23:59:59 ",
        "2024-02-29 00:00:00",
        "2011-1-1 12:00:00",  # unpadded: strptime's path
        "2023-02-29 00:00:00",  # no such day
        "2020-13-06 06:13:00",
        "2020-01-06T06:13:00",
        "2020-01-06 06:13:0x",
        "2020-01-06 06:13:60",
        "２０２０-01-06 06:13:00",  # non-ASCII digits
        "2020-01-06 06:13",
        "",
    ],
)
def test_wall_times_read_as_strptime_reads_them(text: str) -> None:
    """The sliced fast path accepts and refuses exactly what strptime does."""
    try:
        expected: dt.datetime | None = dt.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(DeviceError) as caught:
            parse.parse_wall(text, "findNextFile")
        assert caught.value.kind == "malformed"
    else:
        assert parse.parse_wall(text, "findNextFile") == expected
