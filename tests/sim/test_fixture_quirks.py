"""The simulator's vendor flavours against real captured responses (../shared fixtures):
same element structure, same quirks, and the truth checks still hold with them."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from lxml import etree

from tests.sim.conftest import ALL_DAYS, fixture_file, soap, username_token
from tests.sim.test_truth import check_fleet
from vidaudit.sim import parse_scenario, running_fleet
from vidaudit.sim.device import SimDevice

pytestmark = pytest.mark.timeout(60)
BODY = "{http://www.w3.org/2003/05/soap-envelope}Body"

QUIRKS = {
    "seed": 5,
    "branches": [
        {
            "id": "FIX",
            "name": "夹具网点",
            "hours": ALL_DAYS,
            "devices": [
                {
                    "id": "AXIS",
                    "kind": "camera",
                    "vendor": "axis",
                    "posix_tz": "BRT3",
                    "channels": [
                        {"id": "AXIS-C1", "role": "atm", "audio": True},
                        {"id": "AXIS-C2", "role": "entrance", "audio": True},
                    ],
                },
                {"id": "UNV", "vendor": "uniview", "channels": 8},
                {
                    "id": "MS",
                    "kind": "camera",
                    "vendor": "milesight",
                    "channels": [{"id": "MS-C1", "role": "atm", "audio": True}],
                },
            ],
        }
    ],
}


def paths(element: etree._Element, prefix: str = "") -> set[str]:
    out = set()
    for child in element:
        if not isinstance(child.tag, str):
            continue
        here = f"{prefix}/{etree.QName(child).localname}"
        out.add(here)
        out |= paths(child, here)
    return out


def body_of(data: bytes) -> etree._Element:
    body = etree.fromstring(data).find(BODY)
    assert body is not None
    return body[0]


def fixture_body(name: str) -> etree._Element:
    return body_of(fixture_file(name).read_bytes())


async def call(dev: SimDevice, service: str, body: str) -> etree._Element:
    envelope = soap(body, username_token(dev.plan.username, dev.plan.password, dev.now()))
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            dev.xaddr(service), data=envelope, timeout=aiohttp.ClientTimeout(total=10)
        ) as resp,
    ):
        return body_of(await resp.read())


def text(element: etree._Element, local: str) -> str:
    found = element.xpath(f"//*[local-name()='{local}']")
    return found[0].text.strip()


async def test_responses_match_captured_structure_and_quirks() -> None:
    async with running_fleet(parse_scenario(QUIRKS)) as fleet:
        axis, unv, ms = fleet.device("AXIS"), fleet.device("UNV"), fleet.device("MS")

        real = fixture_body("get_recording_summary.xml")
        ours = await call(unv, "search", "<tse:GetRecordingSummary/>")
        assert paths(ours) == paths(real)
        assert text(ours, "DataFrom") == text(real, "DataFrom") == "1970-01-01T00:00:00Z"
        assert text(ours, "NumberRecordings") == text(real, "NumberRecordings") == "8"

        real = fixture_body("get_system_date_and_time.xml")
        ours = await call(axis, "device", "<tds:GetSystemDateAndTime/>")
        assert paths(ours) == paths(real)
        assert text(ours, "TZ") == text(real, "TZ") == "BRT3"
        for doc in (ours, real):
            utc = int(doc.xpath("//*[local-name()='UTCDateTime']//*[local-name()='Hour']")[0].text)
            local = int(
                doc.xpath("//*[local-name()='LocalDateTime']//*[local-name()='Hour']")[0].text
            )
            assert (utc - local) % 24 == 3

        real = fixture_body("get_recordings.xml")
        ours = await call(axis, "recording", "<trc:GetRecordings/>")
        assert paths(ours) == paths(real)
        sd = re.compile(r"^SD_DISK_\d{8}_\d{6}_[0-9A-F]{8}$")
        for doc in (ours, real):
            tokens = [e.text for e in doc.xpath("//*[local-name()='RecordingToken']")]
            assert tokens and all(sd.match(t) for t in tokens)
            tracks = {e.text for e in doc.xpath("//*[local-name()='TrackToken']")}
            assert tracks == {"VIDEO001", "AUDIO001", "META001"}

        real = fixture_body("get_recording_jobs.xml")
        ours = await call(axis, "recording", "<trc:GetRecordingJobs/>")
        assert paths(real) <= paths(ours)
        for doc in (ours, real):
            assert text(doc, "JobToken") == text(
                doc, "RecordingToken"
            )  # Axis: one job per recording

        real = fixture_body("get_recording_search_results.xml")
        started = await call(
            ms,
            "search",
            "<tse:FindRecordings><tse:Scope/>"
            "<tse:KeepAliveTime>PT10S</tse:KeepAliveTime></tse:FindRecordings>",
        )
        token = text(started, "SearchToken")
        assert token.startswith("RecordingSearchToken_")  # like find_recordings.xml
        ours = await call(
            ms,
            "search",
            "<tse:GetRecordingSearchResults><tse:SearchToken>"
            f"{token}</tse:SearchToken></tse:GetRecordingSearchResults>",
        )
        assert paths(ours) == paths(real)
        assert text(ours, "EarliestRecording") == text(real, "EarliestRecording")
        assert text(ours, "EarliestRecording") == "1970-01-01T00:03:15Z"

        real_token = text(fixture_body("find_events.xml"), "SearchToken")
        ours = await call(
            unv,
            "search",
            "<tse:FindEvents><tse:StartPoint>2026-01-01T00:00:00Z"
            "</tse:StartPoint><tse:Scope/><tse:IncludeStartState>false"
            "</tse:IncludeStartState><tse:KeepAliveTime>PT10S</tse:KeepAliveTime>"
            "</tse:FindEvents>",
        )
        assert re.sub(r"\d+", "N", text(ours, "SearchToken")) == re.sub(r"\d+", "N", real_token)

        real = fixture_body("get_replay_uri.xml")
        ours = await call(
            axis,
            "replay",
            "<trp:GetReplayUri xmlns:trp='http://www.onvif.org/"
            "ver10/replay/wsdl' xmlns:tt='http://www.onvif.org/ver10/schema'>"
            "<trp:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport>"
            "<tt:Protocol>RTSP</tt:Protocol></tt:Transport></trp:StreamSetup>"
            f"<trp:RecordingToken>{axis.channels[0].tokens.recording}"
            "</trp:RecordingToken></trp:GetReplayUri>",
        )
        real_url, our_url = urlsplit(text(real, "Uri")), urlsplit(text(ours, "Uri"))
        assert real_url.path == our_url.path == "/onvif-media/record/play.amp"
        assert set(parse_qs(real_url.query)) == set(parse_qs(our_url.query))

        for name, service, prefix in (
            ("get_recording_service_capabilities.xml", "recording", "trc"),
            ("get_replay_service_capabilities.xml", "replay", "trp"),
        ):
            real = fixture_body(name)
            ours = await call(
                axis,
                service,
                f"<{prefix}:GetServiceCapabilities xmlns:{prefix}="
                f"'{etree.QName(real).namespace}'/>",
            )
            assert set(real[0].attrib) <= set(ours[0].attrib), name

        real_fault = etree.fromstring(fixture_file("soap_fault.xml").read_bytes()).find(BODY)[0]
        ours_fault = await call(
            axis,
            "media",
            "<trt:GetStreamUri><trt:StreamSetup/>"
            "<trt:ProfileToken>nope</trt:ProfileToken></trt:GetStreamUri>",
        )
        assert {p for p in paths(ours_fault) if "Detail" not in p} <= paths(real_fault)


async def test_truth_holds_with_the_captured_quirks(tmp_path: Path) -> None:
    fixture_file("README.md")  # the quirks come from there; skip the pair together
    truth = await check_fleet(parse_scenario(QUIRKS), tmp_path)
    assert truth["devices"]["UNV"]["summary_data_from_bogus"] is True
    assert truth["devices"]["AXIS"]["posix_tz"] == "BRT3"
    assert truth["devices"]["AXIS"]["utc_offset_s"] == -3 * 3600
