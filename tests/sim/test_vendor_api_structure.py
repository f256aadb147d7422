"""Each simulated ISAPI/Dahua reply has the element (or key) structure of the real
capture of the same endpoint in ../shared/fixtures: the simulator may leave optional
parts out, but must not invent structure no real device sent.

Endpoints without a public capture (System/time, channels/status, dailyDistribution,
search; Dahua getCurrentTime, getDeviceAllInfo, RTSP config) are checked against the
vendor documentation's shapes recorded in ../shared/design/vendor-notes.md instead.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from lxml import etree

from tests.conftest import shared_path
from tests.isapi.captures import DUMPS, capture, dump_reply
from tests.sim.vendor_lab import vendor_http, vendor_lab
from vidaudit.sim import running_fleet

pytestmark = pytest.mark.timeout(60)

NAMESPACES = {"http://www.isapi.org/ver20/XMLSchema", "http://www.hikvision.com/ver20/XMLSchema"}


def paths(body: bytes) -> set[str]:
    """Every element's path by local names, e.g. ``storage/hddList/hdd/status``."""
    root = etree.fromstring(body)
    out: set[str] = set()

    def walk(node: Any, prefix: str) -> None:
        here = f"{prefix}/{etree.QName(node).localname}" if prefix else etree.QName(node).localname
        out.add(here)
        for child in node:
            if isinstance(child.tag, str):
                walk(child, here)

    walk(root, "")
    return out


def keys(body: bytes) -> set[str]:
    """``key=value`` keys with indices normalised: ``items[3].EndTime`` -> ``items[].EndTime``."""
    out = set()
    for line in body.decode().splitlines():
        key, sep, _ = line.partition("=")
        if sep:
            out.add(re.sub(r"\[\d+\]", "[]", key))
    return out


ISAPI_CAPTURED = {
    "/ISAPI/System/deviceInfo": [("System.deviceInfo.nvr.DS-7608NXI-I2.xml", None)],
    "/ISAPI/ContentMgmt/Storage": [
        ("ContentMgmt.Storage.hdd1.ok.xml", None),
        *[(d, "ContentMgmt/Storage") for d in DUMPS],
    ],
    "/ISAPI/Security/adminAccesses": [(d, "Security/adminAccesses") for d in DUMPS],
    "/ISAPI/ContentMgmt/InputProxy/channels": [
        (d, "ContentMgmt/InputProxy/channels") for d in DUMPS
    ],
}

#: vendor-notes.md (the vendor guide's shapes) for endpoints no public capture shows.
ISAPI_DOCUMENTED = {
    ("GET", "/ISAPI/System/time", None): {
        "Time",
        "Time/timeMode",
        "Time/localTime",
        "Time/timeZone",
    },
    ("GET", "/ISAPI/ContentMgmt/InputProxy/channels/status", None): {
        "InputProxyChannelStatusList",
        "InputProxyChannelStatusList/InputProxyChannelStatus",
        "InputProxyChannelStatusList/InputProxyChannelStatus/id",
        "InputProxyChannelStatusList/InputProxyChannelStatus/online",
        "InputProxyChannelStatusList/InputProxyChannelStatus/chanDetectResult",
    },
    (
        "POST",
        "/ISAPI/ContentMgmt/record/tracks/101/dailyDistribution",
        b"<trackDailyParam><year>2026</year><monthOfYear>1</monthOfYear></trackDailyParam>",
    ): {
        "trackDailyDistribution",
        "trackDailyDistribution/dayList",
        "trackDailyDistribution/dayList/day",
        "trackDailyDistribution/dayList/day/id",
        "trackDailyDistribution/dayList/day/dayOfMonth",
        "trackDailyDistribution/dayList/day/record",
    },
}


async def test_isapi_replies_have_the_captured_structure() -> None:
    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device("HIK")
        async with vendor_http(dev) as http:
            for endpoint, sources in ISAPI_CAPTURED.items():
                reply = await http.request("GET", endpoint, operation=endpoint)
                ours = paths(reply.body)
                assert etree.QName(etree.fromstring(reply.body)).namespace in NAMESPACES
                # Firmware differ in optional fields: the simulator may use any field
                # some real device of this endpoint sent, and no other.
                seen: set[str] = set()
                for name, dumped in sources:
                    body = capture(name) if dumped is None else dump_reply(name, dumped)
                    theirs = paths(body)
                    assert min(ours) == min(theirs), (endpoint, name)  # same root
                    seen |= theirs
                invented = ours - seen
                assert not invented, (endpoint, sorted(invented))
            for (method, endpoint, body), documented in ISAPI_DOCUMENTED.items():
                reply = await http.request(
                    method,
                    endpoint,
                    operation=endpoint,
                    body=body,
                    content_type="application/xml" if body else None,
                )
                ours = paths(reply.body)
                assert documented <= ours, (endpoint, sorted(documented - ours))


async def test_isapi_error_body_has_the_captured_structure() -> None:
    async with running_fleet(vendor_lab()) as fleet, vendor_http(fleet.device("HIK")) as http:
        reply = await http.request(
            "GET", "/ISAPI/Nothing/here", operation="x", accept=frozenset({403})
        )
    ours = paths(reply.body)
    assert ours <= paths(capture("ResponseStatus.badXmlContent.picture.xml"))
    assert "ResponseStatus/subStatusCode" in ours


async def test_isapi_search_result_has_the_vendor_guide_shape() -> None:
    # vendor-notes.md: CMSearchResult{searchID, responseStatus, responseStatusStrg,
    # numOfMatches, matchList/searchMatchItem{sourceID, trackID, timeSpan{startTime,
    # endTime}, mediaSegmentDescriptor{contentType, codecType, playbackURI}}}
    wanted = {
        "CMSearchResult/" + p
        for p in (
            "searchID",
            "responseStatus",
            "responseStatusStrg",
            "numOfMatches",
            "matchList/searchMatchItem/sourceID",
            "matchList/searchMatchItem/trackID",
            "matchList/searchMatchItem/timeSpan/startTime",
            "matchList/searchMatchItem/timeSpan/endTime",
            "matchList/searchMatchItem/mediaSegmentDescriptor/contentType",
            "matchList/searchMatchItem/mediaSegmentDescriptor/codecType",
            "matchList/searchMatchItem/mediaSegmentDescriptor/playbackURI",
        )
    }
    from vidaudit.isapi.parse import search_request

    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device("HIK")
        now = dev.now()
        body = search_request("ABC", 101, now - (now - now.replace(hour=0)), now, 0, 100)
        async with vendor_http(dev) as http:
            reply = await http.request(
                "POST",
                "/ISAPI/ContentMgmt/search",
                operation="search",
                body=body,
                content_type="application/xml",
            )
    assert wanted <= paths(reply.body)


DAHUA_CAPTURED = {
    "magicBox.cgi?action=getSystemInfo": "magicBox.getSystemInfo.IPC-HDW5831R-ZE.docstring.txt",
    "magicBox.cgi?action=getDeviceType": "magicBox.getDeviceType.IPC-HDW5831R-ZE.docstring.txt",
    "magicBox.cgi?action=getSoftwareVersion": (
        "magicBox.getSoftwareVersion.IPC-HDW5831R-ZE.docstring.txt"
    ),
    "mediaFileFind.cgi?action=factory.create": "mediaFileFind.factory.create.txt",
}


async def test_dahua_replies_have_the_captured_keys() -> None:
    folder = shared_path("fixtures", "dahua")
    async with running_fleet(vendor_lab()) as fleet:
        dev = fleet.device("DAH")
        async with vendor_http(dev) as http:
            for target, name in DAHUA_CAPTURED.items():
                cgi, _, query = target.partition("?")
                params = dict(p.split("=", 1) for p in query.split("&"))
                reply = await http.request("GET", f"/cgi-bin/{cgi}", params=params, operation=cgi)
                assert keys(reply.body) <= keys((folder / name).read_bytes()), target
                assert reply.body.endswith(b"\r\n")  # CRLF lines, as the captures
            # the finder's life: create -> findFile (OK) -> findNextFile items -> found=0
            created = await http.request(
                "GET",
                "/cgi-bin/mediaFileFind.cgi",
                params={"action": "factory.create"},
                operation="create",
            )
            handle = created.body.decode().split("=")[1].strip()
            now = dev.now().astimezone(dev.tz.tzinfo)
            found = await http.request(
                "GET",
                "/cgi-bin/mediaFileFind.cgi",
                params={
                    "action": "findFile",
                    "object": handle,
                    "condition.Channel": "1",
                    "condition.StartTime": f"{now:%Y-%m-%d} 00:00:00",
                    "condition.EndTime": f"{now:%Y-%m-%d %H:%M:%S}",
                    "condition.Types[0]": "dav",
                },
                operation="findFile",
            )
            assert found.body == (folder / "mediaFileFind.findFile.ok.txt").read_bytes()
            page = await http.request(
                "GET",
                "/cgi-bin/mediaFileFind.cgi",
                params={"action": "findNextFile", "object": handle, "count": "100"},
                operation="next",
            )
            captured = keys((folder / "mediaFileFind.findNextFile.items.page1.txt").read_bytes())
            # the capture's Summary.TrafficCar lines belong to a traffic camera's files
            assert keys(page.body) <= captured
            assert {"found", "items[].StartTime", "items[].EndTime"} <= keys(page.body)
            last = await http.request(
                "GET",
                "/cgi-bin/mediaFileFind.cgi",
                params={"action": "findNextFile", "object": handle, "count": "100"},
                operation="next",
            )
            assert last.body == (folder / "mediaFileFind.findNextFile.found0.txt").read_bytes()
            # vendor-notes.md shapes (no capture): getCurrentTime, getDeviceAllInfo
            clock = await http.request(
                "GET",
                "/cgi-bin/global.cgi",
                params={"action": "getCurrentTime"},
                operation="time",
            )
            assert keys(clock.body) == {"result"}
