"""The simulated Hikvision recorder's ISAPI (served beside ONVIF on the same port).

Replies follow the real captures in ../shared/fixtures/isapi where one exists for the
endpoint (``tests/sim/test_vendor_api_structure.py`` compares the element structure):
``System/deviceInfo`` (System.deviceInfo.nvr.DS-7608NXI-I2.xml), ``ContentMgmt/Storage``
(ContentMgmt.Storage.hdd1.ok.xml), ``Security/adminAccesses`` and
``ContentMgmt/InputProxy/channels`` (the NVR dumps), error bodies
(ResponseStatus.*.xml).  No public capture exists for ``System/time``,
``InputProxy/channels/status``, ``record/tracks/*/dailyDistribution`` and
``ContentMgmt/search``: those follow the vendor guide's shapes as
../shared/design/vendor-notes.md records them (and the guide's own example reply for
search and the day calendar).

Quirks as scenario options (``vendor_api:``): the namespace (``isapi.org`` or
``hikvision.com``), a page cap of about 40 matches whatever ``maxResults`` says with
``MORE`` / ``OK`` / ``NO MATCHES``, old-firmware times (no offset, or ``Z``), disk states.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import OrderedDict
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from lxml import etree  # type: ignore[import-untyped]

from vidaudit.sim.files import files
from vidaudit.sim.plan import IsapiTime

if TYPE_CHECKING:
    from vidaudit.sim.device import SimChannel, SimDevice

NAMESPACES = {
    "isapi": "http://www.isapi.org/ver20/XMLSchema",
    "hikvision": "http://www.hikvision.com/ver20/XMLSchema",
}
XML_TYPE = 'application/xml; charset="UTF-8"'
MB = 1024 * 1024
#: Searches kept for paging (``searchID`` -> matches), per device.
SEARCH_CACHE = 32

#: The status word ISAPI firmware writes for each scenario disk state.
DISK_WORDS = {
    "ok": "ok",
    "idle": "idle",
    "error": "error",
    "unformatted": "unformatted",
    "absent": "notexist",
}

Answer = tuple[int, bytes, str]


class IsapiError(Exception):
    def __init__(self, status: int, code: int, words: str, sub: str) -> None:
        super().__init__(words)
        self.status, self.code, self.words, self.sub = status, code, words, sub


def _doc(dev: SimDevice, root: str, inner: str) -> bytes:
    ns = NAMESPACES[dev.plan.vendor_api.namespace]
    return (
        f'<?xml version="1.0" encoding="UTF-8" ?>\n<{root} version="2.0" xmlns="{ns}">'
        f"{inner}</{root}>"
    ).encode()


def error_body(dev: SimDevice, path: str, error: IsapiError) -> bytes:
    """``ResponseStatus`` as in ResponseStatus.badXmlContent.picture.xml."""
    return _doc(
        dev,
        "ResponseStatus",
        f"<requestURL>{escape(path)}</requestURL><statusCode>{error.code}</statusCode>"
        f"<statusString>{escape(error.words)}</statusString>"
        f"<subStatusCode>{escape(error.sub)}</subStatusCode>",
    )


def _parse_body(body: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        raise IsapiError(400, 5, "Invalid XML Format", "badXmlFormat") from None


def _find(element: etree._Element, name: str) -> str | None:
    for node in element.iter():
        if isinstance(node.tag, str) and etree.QName(node).localname == name:
            return (node.text or "").strip()
    return None


def _time_text(dev: SimDevice, instant: dt.datetime) -> str:
    """A device instant as this firmware writes it (System/time and search results)."""
    style = dev.plan.vendor_api.time_format
    local = dev.tz.local(instant)
    if style is IsapiTime.UTC:
        return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if style is IsapiTime.NAIVE:
        return local.strftime("%Y-%m-%dT%H:%M:%S")
    offset = int(dev.tz.utc_offset.total_seconds() // 60)
    sign = "+" if offset >= 0 else "-"
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S")
        + f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    )


def _search_time(dev: SimDevice, instant: dt.datetime) -> str:
    if dev.plan.vendor_api.time_format is IsapiTime.NAIVE:
        return dev.tz.local(instant).strftime("%Y-%m-%dT%H:%M:%S")
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _posix_hikvision(dev: SimDevice) -> str:
    """``CST-8`` written the Hikvision way, ``CST-8:00:00``."""
    text = dev.plan.posix_tz
    if ":" in text:
        return text
    return text + ":00:00"


def device_info(dev: SimDevice) -> bytes:
    fw, _, build = dev.flavour.firmware.partition(" build ")
    return _doc(
        dev,
        "DeviceInfo",
        f"<deviceName>{escape(dev.plan.name)}</deviceName>"
        f"<deviceID>{dev.serial.lower()[:8]}-0000-0000-0000-000000000000</deviceID>"
        f"<model>{escape(dev.model)}</model>"
        f"<serialNumber>{escape(dev.model)}{dev.serial}</serialNumber>"
        "<macAddress>00:00:5e:00:53:10</macAddress>"
        f"<firmwareVersion>{escape(fw)}</firmwareVersion>"
        f"<firmwareReleasedDate>build {escape(build or '230518')}</firmwareReleasedDate>"
        "<encoderVersion>V5.0</encoderVersion>"
        "<encoderReleasedDate>build 230530</encoderReleasedDate>"
        f"<deviceType>{'NVR' if dev.plan.kind.value == 'nvr' else 'IPCamera'}</deviceType>"
        "<telecontrolID>255</telecontrolID>"
        "<hardwareVersion>0100000092010000</hardwareVersion>",
    )


def device_time(dev: SimDevice) -> bytes:
    return _doc(
        dev,
        "Time",
        "<timeMode>NTP</timeMode>"
        f"<localTime>{_time_text(dev, dev.now().replace(microsecond=0))}</localTime>"
        f"<timeZone>{_posix_hikvision(dev)}</timeZone>",
    )


def storage(dev: SimDevice) -> bytes:
    hdds = "".join(
        f"<hdd><id>{i}</id><hddName>hdd{i}</hddName><hddPath></hddPath>"
        f"<hddType>SATA</hddType><status>{DISK_WORDS[d.status]}</status>"
        f"<capacity>{round(d.capacity_gb * 1024)}</capacity>"
        f"<freeSpace>{round(d.free_gb * 1024)}</freeSpace>"
        "<property>RW</property><group>1</group></hdd>"
        for i, d in enumerate(dev.plan.vendor_api.disks, start=1)
    )
    return _doc(
        dev,
        "storage",
        f'<hddList>{hdds}</hddList><nasList></nasList><workMode opt="group,quota">quota</workMode>',
    )


def admin_accesses(dev: SimDevice) -> bytes:
    return _doc(
        dev,
        "AdminAccessProtocolList",
        "<AdminAccessProtocol><id>1</id><enabled>true</enabled><protocol>HTTP</protocol>"
        f"<portNo>{dev.port}</portNo></AdminAccessProtocol>"
        "<AdminAccessProtocol><id>2</id><enabled>true</enabled><protocol>RTSP</protocol>"
        f"<portNo>{dev.rtsp_port}</portNo></AdminAccessProtocol>",
    )


def _source(ch: SimChannel) -> str:
    return (
        "<sourceInputPortDescriptor><proxyProtocol>HIKVISION</proxyProtocol>"
        "<addressingFormatType>ipaddress</addressingFormatType>"
        f"<ipAddress>192.168.254.{ch.plan.number + 1}</ipAddress>"
        "<managePortNo>8000</managePortNo><srcInputPort>1</srcInputPort>"
        "<userName>admin</userName><streamType>auto</streamType>"
        "<model>DS-2CD2T47G2-L</model></sourceInputPortDescriptor>"
    )


def channels(dev: SimDevice) -> bytes:
    items = "".join(
        f"<InputProxyChannel><id>{ch.plan.number}</id><name>{escape(ch.plan.name)}</name>"
        f"{_source(ch)}</InputProxyChannel>"
        for ch in dev.channels
    )
    return _doc(dev, "InputProxyChannelList", items)


def channel_status(dev: SimDevice) -> bytes:
    # vendor-notes.md: InputProxy/channels/status -> online, chanDetectResult.
    items = "".join(
        f"<InputProxyChannelStatus><id>{ch.plan.number}</id>{_source(ch)}"
        f"<online>{'false' if ch.plan.camera_offline else 'true'}</online>"
        f"<chanDetectResult>{'offline' if ch.plan.camera_offline else 'connect'}"
        "</chanDetectResult></InputProxyChannelStatus>"
        for ch in dev.channels
    )
    return _doc(dev, "InputProxyChannelStatusList", items)


def _channel_for_track(dev: SimDevice, track: int) -> SimChannel:
    number, stream = divmod(track, 100)
    ch = dev.channel_by_number(number)
    if ch is None or stream not in (1, 2):
        raise IsapiError(400, 6, "Invalid Content", "badParameters")
    return ch


def daily_distribution(dev: SimDevice, track: int, body: bytes) -> bytes:
    """The vendor guide's example: every day of the month listed, ``record`` true/false,
    ``recordType`` only on days with footage."""
    ch = _channel_for_track(dev, track)
    param = _parse_body(body)
    try:
        year = int(_find(param, "year") or "")
        month = int(_find(param, "monthOfYear") or "")
        last = calendar.monthrange(year, month)[1]
    except ValueError:
        raise IsapiError(400, 6, "Invalid Content", "badParameters") from None
    now = dev.now()
    offset = dev.tz.utc_offset
    days = []
    for day in range(1, last + 1):
        start = dt.datetime(year, month, day, tzinfo=dt.UTC) - offset
        has = next(files(ch.timeline, start, start + dt.timedelta(days=1), now, 1440, offset), None)
        record = has is not None
        days.append(
            f"<day><id>{day}</id><dayOfMonth>{day}</dayOfMonth>"
            f"<record>{'true' if record else 'false'}</record>"
            + ("<recordType>time</recordType>" if record else "")
            + "</day>"
        )
    return _doc(dev, "trackDailyDistribution", f"<dayList>{''.join(days)}</dayList>")


def _instant(text: str | None) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise IsapiError(400, 6, "Invalid Content", "badParameters") from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class SearchCache:
    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, int, str, str], list[tuple[dt.datetime, dt.datetime]]]
        self._items = OrderedDict()

    def get(self, key: tuple[str, int, str, str]) -> list[tuple[dt.datetime, dt.datetime]] | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(
        self, key: tuple[str, int, str, str], value: list[tuple[dt.datetime, dt.datetime]]
    ) -> None:
        self._items[key] = value
        while len(self._items) > SEARCH_CACHE:
            self._items.popitem(last=False)


def search(dev: SimDevice, body: bytes) -> bytes:
    """``CMSearchDescription`` -> ``CMSearchResult`` (vendor guide's example reply)."""
    request = _parse_body(body)
    search_id = _find(request, "searchID") or ""
    try:
        track = int(_find(request, "trackID") or "")
        position = int(_find(request, "searchResultPostion") or "0")
        wanted = int(_find(request, "maxResults") or "40")
    except ValueError:
        raise IsapiError(400, 6, "Invalid Content", "badParameters") from None
    start_text, end_text = _find(request, "startTime"), _find(request, "endTime")
    ch = _channel_for_track(dev, track)
    key = (search_id, track, start_text or "", end_text or "")
    matches = dev.isapi_searches.get(key)
    if matches is None:
        lo, hi = _instant(start_text), _instant(end_text)
        api = dev.plan.vendor_api
        matches = list(files(ch.timeline, lo, hi, dev.now(), api.file_minutes, dev.tz.utc_offset))
        dev.isapi_searches.put(key, matches)
    cap = min(max(wanted, 1), dev.plan.vendor_api.page_cap)
    page = matches[position : position + cap]
    if not matches:
        status = "NO MATCHES"
    elif position + len(page) < len(matches):
        status = "MORE"
    else:
        status = "OK"
    items = "".join(
        "<searchMatchItem><sourceID>{00000000-0000-0000-0000-000000000000}</sourceID>"
        f"<trackID>{track}</trackID><timeSpan>"
        f"<startTime>{_search_time(dev, s)}</startTime><endTime>{_search_time(dev, e)}</endTime>"
        "</timeSpan><mediaSegmentDescriptor><contentType>video</contentType>"
        "<codecType>H.264-BP</codecType><playbackURI>"
        + escape(
            f"rtsp://{dev.host}:{dev.rtsp_port}/Streaming/tracks/{track}/"
            f"?starttime={s:%Y%m%dT%H%M%SZ}&endtime={e:%Y%m%dT%H%M%SZ}"
        )
        + "</playbackURI></mediaSegmentDescriptor></searchMatchItem>"
        for s, e in page
    )
    return _doc(
        dev,
        "CMSearchResult",
        f"<searchID>{escape(search_id)}</searchID><responseStatus>true</responseStatus>"
        f"<responseStatusStrg>{status}</responseStatusStrg>"
        f"<numOfMatches>{len(page)}</numOfMatches>"
        + (f"<matchList>{items}</matchList>" if page else ""),
    )


def operation_of(method: str, path: str) -> str:
    """A short name for fault targeting (``fault.operations``)."""
    if path.endswith("/dailyDistribution"):
        return "dailyDistribution"
    return path.rsplit("/", 1)[-1] or path


def answer(dev: SimDevice, method: str, path: str, body: bytes) -> Answer:
    try:
        return 200, _route(dev, method, path, body), XML_TYPE
    except IsapiError as error:
        return error.status, error_body(dev, path, error), XML_TYPE


def _route(dev: SimDevice, method: str, path: str, body: bytes) -> bytes:
    gets = {
        "/ISAPI/System/deviceInfo": device_info,
        "/ISAPI/System/time": device_time,
        "/ISAPI/ContentMgmt/Storage": storage,
        "/ISAPI/ContentMgmt/InputProxy/channels": channels,
        "/ISAPI/ContentMgmt/InputProxy/channels/status": channel_status,
        "/ISAPI/Security/adminAccesses": admin_accesses,
    }
    if method == "GET" and path in gets:
        return gets[path](dev)
    if method == "POST" and path == "/ISAPI/ContentMgmt/search":
        return search(dev, body)
    prefix, suffix = "/ISAPI/ContentMgmt/record/tracks/", "/dailyDistribution"
    if method == "POST" and path.startswith(prefix) and path.endswith(suffix):
        track = path[len(prefix) : -len(suffix)]
        if track.isdigit():
            return daily_distribution(dev, int(track), body)
    # What the dumped NVRs answer for endpoints they lack: 403 with notSupport.
    raise IsapiError(403, 4, "Invalid Operation", "notSupport")
