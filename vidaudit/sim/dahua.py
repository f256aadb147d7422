"""The simulated Dahua recorder's HTTP API (``/cgi-bin/*.cgi``, beside ONVIF).

Replies follow the captures in ../shared/fixtures/dahua (``magicBox`` and
``mediaFileFind`` bodies: ``key=value`` lines with CRLF, ``OK``, ``found=0``, the
``Error`` body); ``tests/sim/test_vendor_api_structure.py`` compares their keys.  No
capture exists for ``global.cgi?action=getCurrentTime``,
``storageDevice.cgi?action=getDeviceAllInfo`` and ``configManager.cgi`` ``RTSP``:
those follow the shapes ../shared/design/vendor-notes.md records (the Dahua HTTP API
document's).  Times are the device's local wall time, no offset.  With
``vendor_api.empty_find_400``, ``findFile`` answers HTTP 400 when the window holds
nothing, as some firmware is reported to.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from vidaudit.sim.files import files

if TYPE_CHECKING:
    from vidaudit.sim.device import SimDevice

TEXT_TYPE = "text/plain;charset=utf-8"
#: Finders a device keeps open at once (real NVRs hold a handful; old ones are dropped).
MAX_FINDERS = 64
BAD_REQUEST = b"Error\r\nBad Request!\r\n"
#: Dahua's word for each scenario disk state.
DISK_WORDS = {
    "ok": "Success",
    "idle": "Success",
    "error": "Error",
    "unformatted": "NoFormat",
    "absent": "NotExist",
}

Answer = tuple[int, bytes, str]


@dataclass
class Finder:
    channel: int | None = None
    matches: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)
    cursor: int = 0


class Finders:
    """A device's finders.  A finder serves search after search: ``findFile`` again
    after ``close`` starts a new one on the same object, as a public client run against
    real Dahua NVRs relies on (github.com/Maor-Zohar/netikot-proj ``devices.py``,
    ``DahuaDevice.check_nvr``: one finder per recorder, ``close`` after each camera,
    ``destroy`` at the end).  ``close`` ends the search: we drop its results so a reader
    paging a closed search finds nothing rather than an earlier channel's files (no
    source says what a device answers then).  An object unknown or destroyed is
    refused with the ``Error`` body of mediaFileFind.factory.close.error.txt."""

    def __init__(self) -> None:
        self._next = itertools.count(3000)
        self.open: OrderedDict[str, Finder] = OrderedDict()
        #: mediaFileFind requests by action, for tests counting a reader's requests.
        self.calls: Counter[str] = Counter()

    def create(self) -> str:
        handle = str(next(self._next))
        self.open[handle] = Finder()
        while len(self.open) > MAX_FINDERS:
            self.open.popitem(last=False)
        return handle


def _lines(pairs: list[tuple[str, str]]) -> bytes:
    return "".join(f"{k}={v}\r\n" for k, v in pairs).encode()


def _wall(dev: SimDevice, instant: dt.datetime) -> str:
    return dev.tz.local(instant).strftime("%Y-%m-%d %H:%M:%S")


def _instant(dev: SimDevice, text: str) -> dt.datetime | None:
    try:
        wall = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 -- device wall
    except ValueError:
        return None
    return (wall - dev.tz.utc_offset).replace(tzinfo=dt.UTC)


def operation_of(path: str, query: str) -> str:
    params = dict(parse_qsl(query))
    return params.get("action", path.rsplit("/", 1)[-1])


def answer(dev: SimDevice, path: str, query: str) -> Answer:
    params = dict(parse_qsl(query, keep_blank_values=True))
    action = params.get("action", "")
    cgi = path.removeprefix("/cgi-bin/")
    if cgi == "magicBox.cgi":
        return _magic_box(dev, action)
    if cgi == "global.cgi" and action == "getCurrentTime":
        return 200, _lines([("result", _wall(dev, dev.now()))]), TEXT_TYPE
    if cgi == "storageDevice.cgi" and action == "getDeviceAllInfo":
        return 200, _storage(dev), TEXT_TYPE
    if cgi == "configManager.cgi" and action == "getConfig" and params.get("name") == "RTSP":
        pairs = [
            ("table.RTSP.Enable", "true"),
            ("table.RTSP.Port", str(dev.rtsp_port)),
            ("table.RTSP.RTP.EndPort", "40000"),
            ("table.RTSP.RTP.StartPort", "20000"),
        ]
        return 200, _lines(pairs), TEXT_TYPE
    if cgi == "mediaFileFind.cgi":
        return _media_file_find(dev, action, params)
    if cgi.endswith(".cgi") and cgi in {"magicBox.cgi", "global.cgi", "configManager.cgi"}:
        return 400, BAD_REQUEST, TEXT_TYPE
    return 404, b"Error\r\nNot Found!\r\n", TEXT_TYPE


def _magic_box(dev: SimDevice, action: str) -> Answer:
    model = dev.model
    if action == "getSystemInfo":
        # Keys as magicBox.getSystemInfo.IPC-HDW5831R-ZE.docstring.txt lists them.
        pairs = [
            ("appAutoStart", "true"),
            ("deviceType", model),
            ("hardwareVersion", "1.00"),
            ("processor", "ST7108"),
            ("serialNumber", dev.serial),
            ("updateSerial", model),
        ]
        return 200, _lines(pairs), TEXT_TYPE
    if action == "getDeviceType":
        return 200, _lines([("type", model)]), TEXT_TYPE
    if action == "getSoftwareVersion":
        version = dev.flavour.firmware.split(",")[0].strip()
        return 200, _lines([("version", version)]), TEXT_TYPE
    return 400, BAD_REQUEST, TEXT_TYPE


def _storage(dev: SimDevice) -> bytes:
    pairs: list[tuple[str, str]] = []
    gb = 1024**3
    for i, disk in enumerate(dev.plan.vendor_api.disks):
        total = disk.capacity_gb * gb
        used = total - disk.free_gb * gb
        prefix = f"list.info[{i}]"
        pairs += [
            (f"{prefix}.Detail[0].IsError", "true" if disk.status == "error" else "false"),
            (f"{prefix}.Detail[0].Path", f"/dev/sd{chr(ord('a') + i)}1"),
            (f"{prefix}.Detail[0].TotalBytes", f"{total:.6f}"),
            (f"{prefix}.Detail[0].Type", "ReadWrite"),
            (f"{prefix}.Detail[0].UsedBytes", f"{used:.6f}"),
            (f"{prefix}.Name", f"/dev/sd{chr(ord('a') + i)}"),
            (f"{prefix}.State", DISK_WORDS[disk.status]),
        ]
    return _lines(pairs)


def _media_file_find(dev: SimDevice, action: str, params: dict[str, str]) -> Answer:
    finders = dev.dahua_finders
    finders.calls[action] += 1
    if action == "factory.create":
        return 200, _lines([("result", finders.create())]), TEXT_TYPE
    finder = finders.open.get(params.get("object", ""))
    if finder is None:
        # As the capture mediaFileFind.factory.close.error.txt answers an unknown object.
        return 400, b"Error\r\nErrorID=2, Detail=Invalid Request!\r\n", TEXT_TYPE
    if action == "findFile":
        return _find_file(dev, finder, params)
    if action == "findNextFile":
        try:
            count = max(1, min(int(params.get("count", "100")), 100))
        except ValueError:
            return 400, BAD_REQUEST, TEXT_TYPE
        page = finder.matches[finder.cursor : finder.cursor + count]
        finder.cursor += len(page)
        return 200, _items(dev, finder.channel or 1, page), TEXT_TYPE
    if action == "close":
        finder.channel, finder.matches, finder.cursor = None, [], 0
        return 200, b"OK\r\n", TEXT_TYPE
    if action == "destroy":
        finders.open.pop(params.get("object", ""), None)
        return 200, b"OK\r\n", TEXT_TYPE
    return 400, BAD_REQUEST, TEXT_TYPE


def _find_file(dev: SimDevice, finder: Finder, params: dict[str, str]) -> Answer:
    try:
        number = int(params.get("condition.Channel", ""))
    except ValueError:
        return 400, BAD_REQUEST, TEXT_TYPE
    lo = _instant(dev, params.get("condition.StartTime", ""))
    hi = _instant(dev, params.get("condition.EndTime", ""))
    ch = dev.channel_by_number(number)  # NVR channels are 1-based
    if lo is None or hi is None or ch is None:
        return 400, BAD_REQUEST, TEXT_TYPE
    api = dev.plan.vendor_api
    finder.channel = number
    finder.matches = list(
        files(ch.timeline, lo, hi, dev.now(), api.file_minutes, dev.tz.utc_offset)
    )
    finder.cursor = 0
    if not finder.matches and api.empty_find_400:
        return 400, BAD_REQUEST, TEXT_TYPE
    return 200, b"OK\r\n", TEXT_TYPE


def _items(dev: SimDevice, channel: int, page: list[tuple[dt.datetime, dt.datetime]]) -> bytes:
    """``found=K`` and items with the keys of mediaFileFind.findNextFile.items.page1.txt
    (without its traffic-camera Summary lines, which an NVR's video files lack)."""
    pairs = [("found", str(len(page)))]
    for i, (start, end) in enumerate(page):
        local = dev.tz.local(start)
        name = f"/mnt/dvr/{local:%Y-%m-%d}/{channel - 1:03d}/dav/{local:%H}/"
        name += f"{local:%H.%M.%S}-{dev.tz.local(end):%H.%M.%S}[R][0@0][0].dav"
        pairs += [
            (f"items[{i}].Channel", str(channel - 1)),
            (f"items[{i}].Cluster", "0"),
            (f"items[{i}].Compressed", "false"),
            (f"items[{i}].Disk", "0"),
            (f"items[{i}].Duration", str(int((end - start).total_seconds()))),
            (f"items[{i}].EndTime", _wall(dev, end)),
            (f"items[{i}].FilePath", name),
            (f"items[{i}].Flags[0]", "Timing"),
            (f"items[{i}].Length", str(int((end - start).total_seconds()) * 262144)),
            (f"items[{i}].Overwrites", "0"),
            (f"items[{i}].Partition", "0"),
            (f"items[{i}].Redundant", "false"),
            (f"items[{i}].Repeat", "0"),
            (f"items[{i}].StartTime", _wall(dev, start)),
            (f"items[{i}].Type", "dav"),
            (f"items[{i}].WorkDir", "/mnt/dvr"),
            (f"items[{i}].WorkDirSN", "0"),
        ]
    return _lines(pairs)
