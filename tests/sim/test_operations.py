"""Every ONVIF operation the simulator answers, driven by onvif-zeep-async."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
import pytest
import zeep.exceptions

from tests.sim.conftest import (
    STREAM_SETUP,
    camera,
    lab_scenario,
    soap,
    topic_filter,
    username_token,
)
from vidaudit.sim import running_fleet

pytestmark = pytest.mark.timeout(60)

ONLINE = ["HIK", "DAH", "UNV", "AXIS", "MS"]


@pytest.mark.parametrize("device_id", ONLINE)
async def test_every_operation_parses(device_id: str) -> None:
    async with running_fleet(lab_scenario()) as fleet:
        dev = fleet.device(device_id)
        truth = fleet.truth
        async with asyncio.timeout(30), camera(dev) as cam:
            await cam.update_xaddrs()
            dm = await cam.create_devicemgmt_service()
            info = await dm.GetDeviceInformation()
            assert info.Manufacturer == truth["devices"][device_id]["manufacturer"]
            assert info.Model == truth["devices"][device_id]["model"]
            clock = await dm.GetSystemDateAndTime()
            assert dev.plan.posix_tz == clock.TimeZone.TZ
            services = await dm.GetServices({"IncludeCapability": True})
            namespaces = {s.Namespace for s in services}
            assert "http://www.onvif.org/ver10/search/wsdl" in namespaces
            assert all(s.Capabilities is not None for s in services)
            bare = await dm.GetServices({"IncludeCapability": False})
            assert all(s.Capabilities is None for s in bare)
            caps = await dm.GetCapabilities({"Category": "All"})
            assert caps.Media.XAddr.startswith(f"http://127.0.0.1:{dev.port}/")
            scopes = await dm.GetScopes()
            assert any("Profile/G" in s.ScopeItem for s in scopes)
            assert (await dm.GetServiceCapabilities()).Security.UsernameToken is True

            media = await cam.create_media_service()
            profiles = await media.GetProfiles()
            channels = [truth["channels"][c.plan.id] for c in dev.channels]
            assert [p.token for p in profiles] == [c["profile_token"] for c in channels]
            sources = await media.GetVideoSources()
            assert [s.token for s in sources] == [c["source_token"] for c in channels]
            uri = await media.GetStreamUri(
                {"ProfileToken": profiles[0].token, "StreamSetup": STREAM_SETUP}
            )
            assert uri.Uri.startswith(f"rtsp://127.0.0.1:{dev.rtsp_port}/")
            jpeg = await cam.get_snapshot(profiles[0].token)
            assert jpeg is not None and jpeg[:2] == b"\xff\xd8"
            assert (await media.GetServiceCapabilities()).SnapshotUri is True

            rec = await cam.create_recording_service()
            recordings = await rec.GetRecordings()
            assert [r.RecordingToken for r in recordings] == [
                c["recording_token"] for c in channels
            ]
            assert [[t.TrackToken for t in r.Tracks.Track] for r in recordings] == [
                c["track_tokens"] for c in channels
            ]
            jobs = await rec.GetRecordingJobs()
            state = await rec.GetRecordingJobState({"JobToken": jobs[0].JobToken})
            assert state.State == ("Active" if channels[0]["recording"] else "Idle")
            assert (await rec.GetServiceCapabilities()).MaxRecordings == len(channels)

            search = await cam.create_search_service()
            summary = await search.GetRecordingSummary()
            assert summary.NumberRecordings == len(channels)
            token = await search.FindRecordings({"Scope": {}, "KeepAliveTime": "PT10S"})
            result = await search.GetRecordingSearchResults({"SearchToken": token})
            assert result.SearchState == "Completed"
            assert len(result.RecordingInformation) == len(channels)
            assert await search.EndSearch({"SearchToken": token}) is not None
            one = await search.GetRecordingInformation(
                {"RecordingToken": channels[0]["recording_token"]}
            )
            assert one.RecordingToken == channels[0]["recording_token"]
            token = await search.FindEvents(
                {
                    "StartPoint": dt.datetime.now(dt.UTC) - dt.timedelta(days=3),
                    "Scope": {"IncludedRecordings": [channels[0]["recording_token"]]},
                    "SearchFilter": topic_filter("RecordingHistory/Track/State"),
                    "IncludeStartState": True,
                    "KeepAliveTime": "PT10S",
                }
            )
            events = await search.GetEventSearchResults({"SearchToken": token, "MaxResults": 10})
            assert events.Result and events.Result[0].StartStateEvent is True
            await search.EndSearch({"SearchToken": token})
            assert (await search.GetServiceCapabilities()).MetadataSearch is False

            replay = await cam.create_replay_service()
            replay_uri = await replay.GetReplayUri(
                {"RecordingToken": channels[0]["recording_token"], "StreamSetup": STREAM_SETUP}
            )
            assert replay_uri.startswith(f"rtsp://127.0.0.1:{dev.rtsp_port}/")
            assert (await replay.GetServiceCapabilities()).RTP_RTSP_TCP is True


async def test_vendor_flavours_show_in_tokens_and_uris() -> None:
    async with running_fleet(lab_scenario()) as fleet:
        channels = fleet.truth["channels"]
        assert channels["HIK-C1"]["replay_uri"].split("?")[0].endswith("/Streaming/tracks/101")
        assert "starttime=" in channels["HIK-C1"]["replay_uri"]
        assert "/cam/playback?channel=1&subtype=0&starttime=" in channels["DAH-C1"]["replay_uri"]
        assert channels["AXIS-C1"]["recording_token"].startswith("SD_DISK_")
        assert channels["AXIS-C1"]["track_tokens"] == ["VIDEO001", "AUDIO001", "META001"]
        assert channels["UNV-C1"]["profile_token"] == "media_profile1"
        assert fleet.truth["devices"]["UNV"]["summary_data_from_bogus"] is True
        assert fleet.truth["devices"]["MS"]["search_earliest_bogus"] is True


async def test_drifted_device_needs_the_devices_clock() -> None:
    async with running_fleet(lab_scenario()) as fleet:
        dev = fleet.device("DRIFT")  # -900 s: outside the ±5 min window
        async with asyncio.timeout(20):
            async with camera(dev) as cam:
                dm = await cam.create_devicemgmt_service()
                with pytest.raises(zeep.exceptions.Fault) as caught:
                    await dm.GetDeviceInformation()
                assert [q.localname for q in caught.value.subcodes] == ["NotAuthorized"]
            async with camera(dev, adjust_time=True) as cam:
                await cam.update_xaddrs()
                assert abs(cam.dt_diff.total_seconds() + 900) < 3
                dm = await cam.create_devicemgmt_service()
                assert (await dm.GetDeviceInformation()).Manufacturer == "HIKVISION"


async def test_local_time_only_device_omits_utc() -> None:
    async with (
        running_fleet(lab_scenario()) as fleet,
        asyncio.timeout(20),
        camera(fleet.device("MS")) as cam,
    ):
        dm = await cam.create_devicemgmt_service()
        clock = await dm.GetSystemDateAndTime()
        assert clock.UTCDateTime is None
        local = clock.LocalDateTime
        shown = dt.datetime(
            local.Date.Year,
            local.Date.Month,
            local.Date.Day,
            local.Time.Hour,
            local.Time.Minute,
            local.Time.Second,
            tzinfo=dt.timezone(dt.timedelta(hours=8)),
        )
        assert abs((shown - dt.datetime.now(dt.UTC)).total_seconds()) < 5


async def test_brt3_device_reports_utc_minus_3() -> None:
    async with (
        running_fleet(lab_scenario()) as fleet,
        asyncio.timeout(20),
        camera(fleet.device("AXIS")) as cam,
    ):
        dm = await cam.create_devicemgmt_service()
        clock = await dm.GetSystemDateAndTime()
        utc, local = clock.UTCDateTime, clock.LocalDateTime
        assert clock.TimeZone.TZ == "BRT3"
        assert (utc.Time.Hour - local.Time.Hour) % 24 == 3


async def test_profile_s_only_device_has_no_recording_services() -> None:
    async with running_fleet(lab_scenario()) as fleet:
        dev = fleet.device("GEN")
        assert fleet.truth["devices"]["GEN"]["search_supported"] is False
        async with asyncio.timeout(20), camera(dev) as cam:
            await cam.update_xaddrs()
            dm = await cam.create_devicemgmt_service()
            namespaces = {s.Namespace for s in await dm.GetServices({"IncludeCapability": False})}
            assert namespaces == {
                "http://www.onvif.org/ver10/device/wsdl",
                "http://www.onvif.org/ver10/media/wsdl",
            }
            caps = await dm.GetCapabilities({"Category": "All"})
            assert caps.Extension is None
            assert len(await (await cam.create_media_service()).GetProfiles()) == 2
        # A client that tries anyway (the XAddr is guessable) is told it is not supported.
        body = soap(
            "<tse:GetRecordingSummary/>",
            username_token(dev.plan.username, dev.plan.password, dev.now()),
        )
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                dev.xaddr("search"), data=body, timeout=aiohttp.ClientTimeout(total=10)
            ) as resp,
        ):
            text = await resp.text()
        assert resp.status == 500
        assert "ter:ActionNotSupported" in text


async def _raw(dev_url: str, body: bytes) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            dev_url,
            data=body,
            timeout=aiohttp.ClientTimeout(total=10),
            headers={"Content-Type": "application/soap+xml"},
        ) as resp,
    ):
        return resp.status, await resp.text()


async def test_unknown_operations_and_bad_arguments_are_soap_faults() -> None:
    async with running_fleet(lab_scenario()) as fleet:
        dev = fleet.device("HIK")

        def auth() -> str:
            return username_token(dev.plan.username, dev.plan.password, dev.now())

        status, text = await _raw(
            dev.device_url,
            soap("<tds:SetHostname><tds:Name>x</tds:Name></tds:SetHostname>", auth()),
        )
        assert status == 500 and "ter:ActionNotSupported" in text and "env:Receiver" in text
        status, text = await _raw(
            dev.xaddr("search"),
            soap(
                "<tse:FindEvents><tse:StartPoint>yesterday</tse:StartPoint><tse:Scope/>"
                "<tse:IncludeStartState>true</tse:IncludeStartState>"
                "<tse:KeepAliveTime>PT10S</tse:KeepAliveTime></tse:FindEvents>",
                auth(),
            ),
        )
        assert "ter:InvalidArgVal" in text and "env:Sender" in text
        async with asyncio.timeout(20), camera(dev) as cam:
            await cam.update_xaddrs()
            media = await cam.create_media_service()
            with pytest.raises(zeep.exceptions.Fault) as caught:
                await media.GetStreamUri({"ProfileToken": "nope", "StreamSetup": STREAM_SETUP})
            assert caught.value.subcodes[-1].localname == "NoProfile"
            replay = await cam.create_replay_service()
            with pytest.raises(zeep.exceptions.Fault) as caught:
                await replay.GetReplayUri({"RecordingToken": "nope", "StreamSetup": STREAM_SETUP})
            assert [q.localname for q in caught.value.subcodes] == ["InvalidArgVal", "NoRecording"]
            rec = await cam.create_recording_service()
            with pytest.raises(zeep.exceptions.Fault) as caught:
                await rec.GetRecordingJobState({"JobToken": "nope"})
            assert caught.value.subcodes[-1].localname == "NoRecordingJob"
            search = await cam.create_search_service()
            with pytest.raises(zeep.exceptions.Fault) as caught:
                await search.GetEventSearchResults({"SearchToken": "nope"})
            assert caught.value.subcodes[-1].localname == "InvalidToken"


async def test_search_sessions_keep_alive_and_end(monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_fleet(lab_scenario()) as fleet:
        dev = fleet.device("UNV")
        async with asyncio.timeout(20), camera(dev) as cam:
            await cam.update_xaddrs()
            search = await cam.create_search_service()
            token = await search.FindRecordings({"Scope": {}, "KeepAliveTime": "PT1S"})
            assert token == "SearchToken[1]"  # Uniview's token style (captured fixture)
            # The device's clock moves on 2 s (as a drifting clock would) instead of the
            # test sleeping: the 1 s keep-alive has run out, whatever the machine's speed.
            monkeypatch.setattr(dev, "_drift", dev._drift + dt.timedelta(seconds=2))
            with pytest.raises(zeep.exceptions.Fault):  # keep-alive ran out
                await search.GetRecordingSearchResults({"SearchToken": token})
            token = await search.FindRecordings({"Scope": {}, "KeepAliveTime": "PT10S"})
            page = await search.GetRecordingSearchResults({"SearchToken": token, "MaxResults": 1})
            assert page.SearchState == "Searching" and len(page.RecordingInformation) == 1
            page = await search.GetRecordingSearchResults({"SearchToken": token, "MaxResults": 5})
            assert page.SearchState == "Completed" and len(page.RecordingInformation) == 1
            await search.EndSearch({"SearchToken": token})
            with pytest.raises(zeep.exceptions.Fault):
                await search.EndSearch({"SearchToken": token})


async def test_backward_event_search_runs_newest_first() -> None:
    async with running_fleet(lab_scenario()) as fleet:
        dev = fleet.device("HIK")
        ch = fleet.truth["channels"]["HIK-C2"]  # business hours: two changes a day
        now = dt.datetime.now(dt.UTC)
        async with asyncio.timeout(20), camera(dev) as cam:
            await cam.update_xaddrs()
            search = await cam.create_search_service()
            token = await search.FindEvents(
                {
                    "StartPoint": now,
                    "EndPoint": now - dt.timedelta(days=4),
                    "Scope": {"IncludedRecordings": [ch["recording_token"]]},
                    "SearchFilter": topic_filter("RecordingHistory/Recording/State"),
                    "IncludeStartState": False,
                    "KeepAliveTime": "PT10S",
                }
            )
            result = await search.GetEventSearchResults({"SearchToken": token})
            times = [r.Time for r in result.Result]
            assert len(times) >= 6 and times == sorted(times, reverse=True)
            assert all(r.TrackToken in ("", None) for r in result.Result)
            items = {
                i.Name: i.Value for i in result.Result[0].Event.Message._value_1.Data.SimpleItem
            }
            assert set(items) == {"IsRecording"}
