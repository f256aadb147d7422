"""ISAPI replies -> our types.  Pure functions over bytes; no I/O, no clock.

Every reply is parsed strictly (``devicehttp.xmlstrict``) and read by *local name*:
Hikvision firmware answers in ``http://www.hikvision.com/ver20/XMLSchema`` or
``http://www.isapi.org/ver20/XMLSchema`` (and one captured NVR switches to ``ver10``
inside ``hddList``: ../shared/fixtures/isapi/ContentMgmt.Storage.hdd1_nas1.ok.xml).
A required element that is missing is ``malformed``; a ``ResponseStatus`` body where a
result was expected is the device's own error, sorted by its status code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal
from xml.sax.saxutils import escape

from vidaudit.devicehttp.posixtz import posix_tz_offset
from vidaudit.devicehttp.xmlstrict import (
    UnsafeXml,
    child,
    children,
    local,
    parse_strict,
    text_of,
    texts,
)
from vidaudit.errors import DeviceError, DeviceErrorKind
from vidaudit.readings import DeviceClock, DeviceInfo, Disk, DiskState

MB = 1024 * 1024

#: ISAPI ``ResponseStatus/statusCode`` (vendor guide, error code dictionary):
#: 4 Invalid Operation (``notSupport``), 3 Device Error, 5 Invalid XML Format,
#: 6 Invalid XML Content, 2 Device Busy, 7 Reboot Required.
_STATUS_KINDS: dict[str, DeviceErrorKind] = {"4": "unsupported"}


def root(body: bytes, expected: str, operation: str) -> Any:
    """The checked root element, which must be called ``expected`` (any namespace)."""
    try:
        element = parse_strict(body)
    except UnsafeXml as exc:
        raise DeviceError("malformed", f"{operation}: {exc}", operation=operation) from None
    name = local(element)
    if name == "ResponseStatus" and expected != "ResponseStatus":
        raise response_status_error(element, operation)
    if name != expected:
        raise DeviceError(
            "malformed",
            f"{operation}: root element {name}, expected {expected}",
            operation=operation,
        )
    return element


def response_status_error(element: Any, operation: str) -> DeviceError:
    """A ``ResponseStatus`` body (captures: ResponseStatus.*.xml) as a DeviceError."""
    code = text_of(element, "statusCode") or "?"
    words = text_of(element, "statusString") or ""
    sub = text_of(element, "subStatusCode") or ""
    kind: DeviceErrorKind = _STATUS_KINDS.get(code, "device_fault")
    if sub == "notSupport":
        kind = "unsupported"
    return DeviceError(
        kind, f"{operation}: ISAPI status {code} {words} ({sub})".strip(), operation=operation
    )


def _required(element: Any, name: str, operation: str) -> str:
    value = text_of(element, name)
    if value is None:
        raise DeviceError("malformed", f"{operation}: reply lacks {name}", operation=operation)
    return value


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


# -- System ---------------------------------------------------------------------------


def device_info(body: bytes) -> DeviceInfo:
    """``GET /ISAPI/System/deviceInfo`` (captures: System.deviceInfo.*.xml).  ISAPI has
    no manufacturer field: the API itself says Hikvision."""
    op = "deviceInfo"
    info = root(body, "DeviceInfo", op)
    firmware = " ".join(
        part
        for part in (text_of(info, "firmwareVersion"), text_of(info, "firmwareReleasedDate"))
        if part
    )
    return DeviceInfo(
        manufacturer="Hikvision",
        model=_required(info, "model", op),
        firmware=firmware,
        serial=text_of(info, "serialNumber") or "",
        hardware_id=text_of(info, "hardwareVersion") or "",
    )


def parse_time(text: str, local_offset: dt.timedelta | None) -> tuple[dt.datetime, str] | None:
    """An ISAPI time as an aware UTC instant and how it was read.

    ``...+08:00`` local with offset (current firmware), ``...Z`` UTC (vendor guide
    §4.2.4: "a few old-version devices will return the time in TZ format"), or no offset
    at all (older firmware): local wall time, placed by ``local_offset``.
    """
    text = text.strip()
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is not None:
        if text[-1] in "Zz":  # the usual search match: already UTC
            return value.replace(tzinfo=dt.UTC), "utc"
        return value.astimezone(dt.UTC), "local+offset"
    if local_offset is None:
        return None
    return (value - local_offset).replace(tzinfo=dt.UTC), "local+tz"


def device_time(body: bytes, sent_at: dt.datetime, received_at: dt.datetime) -> DeviceClock:
    """``GET /ISAPI/System/time`` -> ``Time{timeMode, localTime, timeZone}``."""
    op = "time"
    time = root(body, "Time", op)
    local_text = _required(time, "localTime", op)
    tz = text_of(time, "timeZone")
    tz_offset = posix_tz_offset(tz)
    read = parse_time(local_text, tz_offset)
    if read is None:
        raise DeviceError("malformed", f"{op}: unreadable localTime", operation=op)
    utc, source = read
    try:
        stated = dt.datetime.fromisoformat(local_text)
    except ValueError:
        stated = None
    observed = stated.utcoffset() if stated is not None and stated.tzinfo is not None else None
    if source == "utc":
        observed = None  # ``Z`` says nothing about the device's zone
    offset = observed if observed is not None else tz_offset
    wall = (utc + offset) if offset is not None else None
    return DeviceClock(
        sent_at=sent_at,
        received_at=received_at,
        utc=utc,
        utc_source=source,  # type: ignore[arg-type]
        local_wall=None if wall is None else wall.strftime("%Y-%m-%dT%H:%M:%S"),
        local=None if wall is None or offset is None else wall.replace(tzinfo=dt.timezone(offset)),
        tz=tz,
        tz_offset=tz_offset,
        observed_offset=observed,
        daylight_savings=None,
        time_source=text_of(time, "timeMode"),
    )


# -- ContentMgmt/Storage ----------------------------------------------------------------

_DISK_STATES: dict[str, DiskState] = {
    "ok": "ok",
    "idle": "ok",  # spun down (disk sleep), healthy
    "sleeping": "ok",
    "unformatted": "unformatted",
    "uninitialized": "unformatted",
    "notexist": "absent",
    "nonexistent": "absent",
    "absent": "absent",
    "error": "error",
    "abnormal": "error",
    "smartfailed": "error",
    "offline": "error",
    "mismatch": "error",
    "exception": "error",
}


def disk_state(status: str) -> DiskState:
    return _DISK_STATES.get(status.strip().lower(), "other")


def _mb(value: str | None) -> int | None:
    number = _int(value)
    return None if number is None or number < 0 else number * MB


def storage(body: bytes) -> tuple[Disk, ...]:
    """``GET /ISAPI/ContentMgmt/Storage`` -> every HDD and NAS; sizes are MB on the wire.
    Captures: ContentMgmt.Storage.hdd1.ok.xml, ...hdd1_nas1.ok.xml, the NVR dumps."""
    op = "Storage"
    element = root(body, "storage", op)
    disks: list[Disk] = []
    for kind, list_name, item_name in (("hdd", "hddList", "hdd"), ("nas", "nasList", "nas")):
        for item in children(child(element, list_name), item_name):
            status = text_of(item, "status") or ""
            ident = text_of(item, "hddName") or text_of(item, "id") or str(len(disks) + 1)
            disks.append(
                Disk(
                    id=ident,
                    status=status,
                    state=disk_state(status) if status else "other",
                    capacity_bytes=_mb(text_of(item, "capacity")),
                    free_bytes=_mb(text_of(item, "freeSpace")),
                    kind=kind,
                )
            )
    return tuple(disks)


# -- InputProxy channels ----------------------------------------------------------------


def channel_ids(body: bytes) -> tuple[int, ...]:
    """``GET /ISAPI/ContentMgmt/InputProxy/channels`` -> the IP channels' numbers."""
    element = root(body, "InputProxyChannelList", "InputProxy/channels")
    out = []
    for item in children(element, "InputProxyChannel"):
        number = _int(text_of(item, "id"))
        if number is not None:
            out.append(number)
    return tuple(out)


def channel_status(body: bytes) -> dict[int, bool]:
    """``GET /ISAPI/ContentMgmt/InputProxy/channels/status`` -> camera online per channel.

    No public capture exists; the shape (``InputProxyChannelStatusList/
    InputProxyChannelStatus{id, online, chanDetectResult}``) is the vendor guide's, as
    ../shared/design/vendor-notes.md records it."""
    element = root(body, "InputProxyChannelStatusList", "InputProxy/channels/status")
    out: dict[int, bool] = {}
    for item in children(element, "InputProxyChannelStatus"):
        number = _int(text_of(item, "id"))
        online = text_of(item, "online")
        if number is not None and online is not None:
            out[number] = online.lower() == "true"
    return out


# -- Security/adminAccesses -------------------------------------------------------------


def rtsp_port(body: bytes) -> int | None:
    """``GET /ISAPI/Security/adminAccesses`` -> the RTSP port (captured DS-7608NXI-I2 uses
    10554, not 554: why the port must be read, not assumed)."""
    element = root(body, "AdminAccessProtocolList", "adminAccesses")
    for item in children(element, "AdminAccessProtocol"):
        if (text_of(item, "protocol") or "").upper() != "RTSP":
            continue
        if (text_of(item, "enabled") or "true").lower() == "false":
            return None
        port = _int(text_of(item, "portNo"))
        if port is not None and 0 < port < 65536:
            return port
    return None


# -- record/tracks/{id}/dailyDistribution -----------------------------------------------


def daily_request(year: int, month: int) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<trackDailyParam>'
        f"<year>{year}</year><monthOfYear>{month}</monthOfYear></trackDailyParam>"
    ).encode()


def daily_distribution(body: bytes, year: int, month: int) -> frozenset[dt.date]:
    """``trackDailyDistribution/dayList/day{dayOfMonth, record}`` -> the days with footage
    (device-local dates).  Shape from the vendor guide's example (no public capture)."""
    op = "dailyDistribution"
    element = root(body, "trackDailyDistribution", op)
    days: set[dt.date] = set()
    for item in children(child(element, "dayList"), "day"):
        fields = texts(item)
        number = _int(fields.get("dayOfMonth"))
        if number is None or fields.get("record", "").lower() != "true":
            continue
        try:
            days.add(dt.date(year, month, number))
        except ValueError:
            raise DeviceError(
                "malformed", f"{op}: day {number} of {year}-{month:02d}", operation=op
            ) from None
    return frozenset(days)


# -- ContentMgmt/search -----------------------------------------------------------------

SearchStatus = Literal["OK", "MORE", "NO MATCHES"]


@dataclass(frozen=True, slots=True)
class SearchPage:
    status: SearchStatus
    #: (trackID, start, end) per match, device-clock UTC.
    items: tuple[tuple[int, dt.datetime, dt.datetime], ...]


def _isapi_utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def search_request(
    search_id: str,
    track: int,
    start: dt.datetime,
    end: dt.datetime,
    position: int,
    max_results: int,
) -> bytes:
    """``CMSearchDescription`` as the vendor guide's example sends it.  ``trackIDList``
    (``trackList`` in some clients) and the vendor's spelling ``searchResultPostion``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<CMSearchDescription>'
        f"<searchID>{escape(search_id)}</searchID>"
        f"<trackIDList><trackID>{track}</trackID></trackIDList>"
        "<timeSpanList><timeSpan>"
        f"<startTime>{_isapi_utc(start)}</startTime><endTime>{_isapi_utc(end)}</endTime>"
        "</timeSpan></timeSpanList>"
        f"<maxResults>{max_results}</maxResults>"
        f"<searchResultPostion>{position}</searchResultPostion>"
        "<metadataList><metadataDescriptor>//recordType.meta.std-cgi.com</metadataDescriptor>"
        "</metadataList></CMSearchDescription>"
    ).encode()


_STATUS_WORDS: dict[str, SearchStatus] = {"OK": "OK", "MORE": "MORE", "NO MATCHES": "NO MATCHES"}


def search_page(body: bytes, local_offset: dt.timedelta | None) -> SearchPage:
    """``CMSearchResult{responseStatusStrg, matchList/searchMatchItem{trackID,
    timeSpan{startTime, endTime}}}``.  Times are UTC with ``Z`` on current firmware;
    a time without offset is the device's local time."""
    op = "search"
    element = root(body, "CMSearchResult", op)
    word = " ".join((_required(element, "responseStatusStrg", op)).upper().split())
    status = _STATUS_WORDS.get(word)
    if status is None:
        raise DeviceError("malformed", f"{op}: responseStatusStrg {word!r}", operation=op)
    items = []
    for item in children(child(element, "matchList"), "searchMatchItem"):
        span = child(item, "timeSpan")
        times = {} if span is None else texts(span)
        start_text, end_text = times.get("startTime"), times.get("endTime")
        start = parse_time(start_text, local_offset) if start_text else None
        end = parse_time(end_text, local_offset) if end_text else None
        if start is None or end is None:
            raise DeviceError("malformed", f"{op}: match without readable times", operation=op)
        track = _int(texts(item).get("trackID")) or 0
        if end[0] > start[0]:
            items.append((track, start[0], end[0]))
    return SearchPage(status, tuple(items))


def track_id(channel: int, stream: int = 1) -> int:
    """Channel 1 main stream is track 101 (channel × 100 + stream)."""
    return channel * 100 + stream


__all__ = [
    "SearchPage",
    "channel_ids",
    "channel_status",
    "daily_distribution",
    "daily_request",
    "device_info",
    "device_time",
    "disk_state",
    "rtsp_port",
    "search_page",
    "search_request",
    "storage",
    "track_id",
]
