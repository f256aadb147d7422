"""Dahua HTTP API replies -> our types.  Pure functions over bytes; no I/O, no clock.

Dahua CGIs answer ``key=value`` lines (CRLF); a failure is the line ``Error`` followed
by a reason (capture: ../shared/fixtures/dahua/mediaFileFind.factory.close.error.txt).
Times are the device's local wall time with no offset: the branch's time zone places
them (``to_utc``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass

from vidaudit.errors import DeviceError
from vidaudit.readings import DeviceClock, DeviceInfo, Disk, DiskState

#: Bodies are small key=value lists; more lines than this is not a Dahua reply.
MAX_LINES = 200_000
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_PADDED_WALL = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", re.ASCII)


def lines(body: bytes, operation: str) -> dict[str, str]:
    """``key=value`` lines as a dict; ``Error`` bodies become ``device_fault``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise DeviceError(
            "malformed", f"{operation}: not UTF-8 text", operation=operation
        ) from None
    rows = text.splitlines()
    if len(rows) > MAX_LINES:
        raise DeviceError("malformed", f"{operation}: too many lines", operation=operation)
    if rows and rows[0].strip() == "Error":
        reason = " ".join(r.strip() for r in rows[1:3])[:200]
        raise DeviceError("device_fault", f"{operation}: Error {reason}", operation=operation)
    out: dict[str, str] = {}
    for row in rows:
        key, sep, value = row.partition("=")
        if sep:
            out[key.strip()] = value.strip()
        elif row.strip() and row.strip() != "OK":
            raise DeviceError(
                "malformed", f"{operation}: a line that is not key=value", operation=operation
            )
    return out


def ok(body: bytes, operation: str) -> None:
    """An ``OK`` acknowledgement (capture: mediaFileFind.findFile.ok.txt)."""
    text = body.decode("utf-8", "replace").strip()
    if text == "OK":
        return
    lines(body, operation)  # raises on an Error body
    raise DeviceError("malformed", f"{operation}: expected OK", operation=operation)


def device_info(system: bytes, device_type: bytes | None, software: bytes | None) -> DeviceInfo:
    """``magicBox.cgi?action=getSystemInfo`` (+ ``getDeviceType``, ``getSoftwareVersion``).

    Captures: magicBox.*.txt.  Lorex/OEM NVRs give a number as ``deviceType`` (``31``);
    ``updateSerial`` then names the real model (``DHI-NVR4108HS-8P-4KS2``)."""
    info = lines(system, "getSystemInfo")
    model = ""
    if device_type is not None:
        model = lines(device_type, "getDeviceType").get("type", "")
    model = model or info.get("deviceType", "")
    if not model or model.isdigit():
        model = info.get("updateSerial") or model
    if not model:
        raise DeviceError("malformed", "getSystemInfo: no device type", operation="getSystemInfo")
    firmware = ""
    if software is not None:
        version = lines(software, "getSoftwareVersion")
        firmware = " ".join(v for v in (version.get("version"), version.get("BuildDate")) if v)
    return DeviceInfo(
        manufacturer="Dahua",
        model=model,
        firmware=firmware,
        serial=info.get("serialNumber", ""),
        hardware_id=info.get("hardwareVersion", ""),
    )


def to_utc(wall: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """A device-local wall time (naive) as a UTC instant in the branch's zone."""
    return wall.replace(tzinfo=zone).astimezone(dt.UTC)


def from_utc(instant: dt.datetime, zone: dt.tzinfo) -> str:
    """A UTC instant as the device-local wall time Dahua CGIs take."""
    return instant.astimezone(zone).strftime(_TIME_FORMAT)


def parse_wall(text: str, operation: str) -> dt.datetime:
    text = text.strip()
    # Every file of a search is two of these: the zero-padded form the captures show is
    # read by slicing (strptime, twice as slow, was a tenth of a scheduled poll's CPU);
    # anything else, unpadded fields included, still goes through strptime's checks.
    if _PADDED_WALL.fullmatch(text):
        with contextlib.suppress(ValueError):  # e.g. month 13: strptime says so below
            return dt.datetime(  # noqa: DTZ001 -- wall time
                int(text[:4]),
                int(text[5:7]),
                int(text[8:10]),
                int(text[11:13]),
                int(text[14:16]),
                int(text[17:]),
            )
    try:
        return dt.datetime.strptime(text, _TIME_FORMAT)  # noqa: DTZ007 -- wall time
    except ValueError:
        raise DeviceError(
            "malformed", f"{operation}: unreadable time", operation=operation
        ) from None


def current_time(
    body: bytes, sent_at: dt.datetime, received_at: dt.datetime, zone: dt.tzinfo
) -> DeviceClock:
    """``global.cgi?action=getCurrentTime`` -> ``result=2026-11-20 10:32:15`` (local, no
    offset: the branch's zone applies).  No public capture; vendor-notes.md shape."""
    op = "getCurrentTime"
    text = lines(body, op).get("result")
    if not text:
        raise DeviceError("malformed", f"{op}: no result", operation=op)
    wall = parse_wall(text, op)
    utc = to_utc(wall, zone)
    return DeviceClock(
        sent_at=sent_at,
        received_at=received_at,
        utc=utc,
        utc_source="local+branch",
        local_wall=wall.strftime("%Y-%m-%dT%H:%M:%S"),
        local=utc.astimezone(zone),
        tz=None,
        tz_offset=None,
        observed_offset=utc.astimezone(zone).utcoffset(),
        daylight_savings=None,
        time_source=None,
    )


_INFO_KEY = re.compile(r"^list\.info\[(\d+)\]\.(.+)$")
_DETAIL_KEY = re.compile(r"^Detail\[(\d+)\]\.(.+)$")

_DISK_STATES: dict[str, DiskState] = {
    "success": "ok",
    "normal": "ok",
    "sleep": "ok",
    "error": "error",
    "failure": "error",
    "abnormal": "error",
    "nonformat": "unformatted",
    "noformat": "unformatted",
    "unformatted": "unformatted",
    "notexist": "absent",
    "nodisk": "absent",
    "offline": "absent",
}


def _bytes(value: str | None) -> int | None:
    """``2000324395008.000000`` -> 2000324395008 (Dahua sends sizes as floats)."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return None if number < 0 or number != number else int(number)


def storage(body: bytes) -> tuple[Disk, ...]:
    """``storageDevice.cgi?action=getDeviceAllInfo`` -> ``list.info[i].{Name, State,
    Detail[k].{TotalBytes, UsedBytes, IsError, Path}}`` (vendor-notes.md shape; no
    capture).  A disk's capacity is the sum of its partitions; any partition in error
    puts the disk in error.  A new disk may show 100 % used: pre-allocation."""
    values = lines(body, "getDeviceAllInfo")
    disks: dict[int, dict[str, str]] = {}
    details: dict[int, dict[int, dict[str, str]]] = {}
    for key, value in values.items():
        match = _INFO_KEY.match(key)
        if match is None:
            continue
        index, rest = int(match.group(1)), match.group(2)
        detail = _DETAIL_KEY.match(rest)
        if detail is not None:
            details.setdefault(index, {}).setdefault(int(detail.group(1)), {})[detail.group(2)] = (
                value
            )
        else:
            disks.setdefault(index, {})[rest] = value
    out = []
    for index in sorted(set(disks) | set(details)):
        fields = disks.get(index, {})
        parts = [details[index][k] for k in sorted(details.get(index, {}))]
        status = fields.get("State", "")
        state: DiskState = _DISK_STATES.get(status.lower(), "other") if status else "ok"
        if any(p.get("IsError", "false").lower() == "true" for p in parts):
            state = "error"
        total = [_bytes(p.get("TotalBytes")) for p in parts]
        used = [_bytes(p.get("UsedBytes")) for p in parts]
        capacity = None if not parts or None in total else sum(t or 0 for t in total)
        free = (
            None
            if capacity is None or None in used
            else max(0, capacity - sum(u or 0 for u in used))
        )
        out.append(
            Disk(
                id=fields.get("Name") or str(index),
                status=status or ("Error" if state == "error" else "Success"),
                state=state,
                capacity_bytes=capacity,
                free_bytes=free,
            )
        )
    return tuple(out)


def rtsp_port(body: bytes) -> int | None:
    """``configManager.cgi?action=getConfig&name=RTSP`` -> ``table.RTSP.Port=554``
    (Dahua HTTP API document's shape; no capture)."""
    values = lines(body, "getConfig RTSP")
    if values.get("table.RTSP.Enable", "true").lower() == "false":
        return None
    try:
        port = int(values.get("table.RTSP.Port", ""))
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


def finder(body: bytes) -> str:
    """``factory.create`` -> ``result=<object id>`` (capture: mediaFileFind.factory.create)."""
    value = lines(body, "factory.create").get("result", "")
    if not value or not value.isdigit():
        raise DeviceError("malformed", "factory.create: no object id", operation="factory.create")
    return value


_ITEM_KEY = re.compile(r"^items\[(\d+)\]\.(StartTime|EndTime|Channel)$")


@dataclass(frozen=True, slots=True)
class FilePage:
    #: ``found=K`` as the device says (the python-amcrest page 2 capture says 2 and
    #: lists one item: counted, never trusted).
    found: int
    #: (start, end) local wall times of the items actually listed.
    items: tuple[tuple[dt.datetime, dt.datetime], ...]


def file_page(body: bytes) -> FilePage:
    """``findNextFile`` -> ``found=K`` and ``items[i].StartTime/EndTime/...``
    (captures: mediaFileFind.findNextFile.*.txt)."""
    op = "findNextFile"
    values = lines(body, op)
    try:
        found = int(values.get("found", ""))
    except ValueError:
        raise DeviceError("malformed", f"{op}: no found=", operation=op) from None
    items: dict[int, dict[str, str]] = {}
    for key, value in values.items():
        match = _ITEM_KEY.match(key)
        if match is not None:
            items.setdefault(int(match.group(1)), {})[match.group(2)] = value
    out = []
    for index in sorted(items):
        fields = items[index]
        if "StartTime" not in fields or "EndTime" not in fields:
            raise DeviceError("malformed", f"{op}: item without times", operation=op)
        start, end = parse_wall(fields["StartTime"], op), parse_wall(fields["EndTime"], op)
        if end > start:
            out.append((start, end))
    return FilePage(found, tuple(out))
