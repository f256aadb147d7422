"""Vendor flavours: the names, tokens, paths and quirks that make a simulated device look
like a Hikvision, Dahua, Uniview, Axis or Milesight one.

Tokens and quirks copy what real devices return (see ../shared/fixtures/onvif/ex_onvif):
Axis SD-card recording tokens ``SD_DISK_<date>_<time>_<hash>`` with tracks ``VIDEO001``,
``AUDIO001``, ``META001`` and one job per recording named like the recording; Uniview's
``GetRecordingSummary`` with ``DataFrom`` 1970-01-01 and search tokens ``SearchToken[n]``;
Milesight's ``EarliestRecording`` 1970-01-01T00:03:15Z in search results.  Playback URLs
follow the vendors' own schemes (Hikvision ``/Streaming/tracks/101?starttime=...`` in UTC,
Dahua ``/cam/playback?channel=1&starttime=2025_03_15_16_00_00`` in device local time).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

#: Devices that lie about their oldest footage report these instead (real captures).
UNIVIEW_BOGUS_DATA_FROM = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MILESIGHT_BOGUS_EARLIEST = dt.datetime(1970, 1, 1, 0, 3, 15, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Tokens:
    profile: str
    source: str
    recording: str
    job: str
    video_track: str
    audio_track: str
    metadata_track: str | None
    #: RecordingSourceInformation.SourceId as the device reports it.
    source_id: str
    source_name: str


@dataclass(frozen=True)
class Flavour:
    vendor: str
    manufacturer: str
    nvr_model: str
    camera_model: str
    firmware: str
    #: Service paths; Axis serves every service on one path.
    paths: dict[str, str]
    #: Inventory ``playback`` value.
    playback: str
    #: GetRecordingSummary DataFrom = 1970-01-01 (Uniview).
    summary_data_from_bogus: bool = False
    #: Search results give EarliestRecording and track DataFrom = 1970 (Milesight).
    search_earliest_bogus: bool = False
    #: Largest page GetEventSearchResults / GetRecordingSearchResults hands out.
    page_limit: int = 100
    #: HTTP status for a refused WS-UsernameToken (the ONVIF core spec says 400).
    ws_auth_fail_status: int = 400
    search_handle_format: str = "SearchToken_{n}"

    def tokens(self, device_id: str, number: int) -> Tokens:
        n = number
        if self.vendor == "hikvision":
            return Tokens(
                profile=f"Profile_{n}01",
                source=f"VideoSource_{n}",
                recording=f"{n}01",
                job=f"RecordJob_{n}01",
                video_track=f"VideoTrack_{n}01",
                audio_track=f"AudioTrack_{n}01",
                metadata_track=None,
                source_id=f"VideoSource_{n}",
                source_name=f"Camera {n:02d}",
            )
        if self.vendor == "dahua":
            return Tokens(
                profile=f"MediaProfile{n - 1:03d}00",
                source=f"{n - 1:03d}",
                recording=f"Record_{n - 1:03d}",
                job=f"RecordJob_{n - 1:03d}",
                video_track=f"VideoTrack_{n - 1:03d}",
                audio_track=f"AudioTrack_{n - 1:03d}",
                metadata_track=None,
                source_id=f"{n - 1:03d}",
                source_name=f"Channel{n}",
            )
        if self.vendor == "uniview":
            return Tokens(
                profile=f"media_profile{n}",
                source=f"VideoSourceToken{n}",
                recording=f"RecordingToken{n}",
                job=f"RecordingJobToken{n}",
                video_track=f"VideoTrackToken{n}",
                audio_track=f"AudioTrackToken{n}",
                metadata_track=None,
                source_id=f"VideoSourceToken{n}",
                source_name=f"IPC{n}",
            )
        if self.vendor == "axis":
            # Axis names SD-card recordings after their creation time plus a hash; make
            # both deterministic from the device so truth and inventory stay stable.
            digest = hashlib.sha256(f"{device_id}/{n}".encode()).hexdigest()[:8].upper()
            token = f"SD_DISK_20240{(n % 9) + 1}15_0{n % 10}1729_{digest}"
            return Tokens(
                profile=f"profile_{n}_h264",
                source=str(n - 1),
                recording=token,
                job=token,
                video_track="VIDEO001",
                audio_track="AUDIO001",
                metadata_track="META001",
                source_id="",
                source_name=f"Camera{n}",
            )
        if self.vendor == "milesight":
            return Tokens(
                profile=f"ProfileToken_{n}_1",
                source=f"VideoSourceToken_{n}",
                recording=f"OnvifRecordingToken_{n}",
                job=f"OnvifRecordingJobToken_{n}",
                video_track=f"videotracktoken_{n}",
                audio_track=f"audiotracktoken_{n}",
                metadata_track=f"metadatatracktoken_{n}",
                source_id=f"SourceId_{n}",
                source_name=f"IpCamera_{n}",
            )
        return Tokens(
            profile=f"Profile_{n}",
            source=f"VideoSource_{n}",
            recording=f"Recording_{n}",
            job=f"RecordingJob_{n}",
            video_track=f"Video_{n}",
            audio_track=f"Audio_{n}",
            metadata_track=None,
            source_id=f"VideoSource_{n}",
            source_name=f"Channel {n}",
        )

    def replay_uri(
        self,
        host: str,
        rtsp_port: int,
        number: int,
        recording_token: str,
        start: dt.datetime,
        end: dt.datetime,
        local_offset: dt.timedelta,
    ) -> str:
        """The URI GetReplayUri returns; the replay server (sampler issue) will serve it."""
        base = f"rtsp://{host}:{rtsp_port}"
        if self.vendor == "hikvision":
            return (
                f"{base}/Streaming/tracks/{number}01?starttime={start:%Y%m%dT%H%M%SZ}"
                f"&endtime={end:%Y%m%dT%H%M%SZ}"
            )
        if self.vendor == "dahua":
            # Dahua playback times are device local wall time, not UTC.
            ls, le = (start + local_offset), (end + local_offset)
            return (
                f"{base}/cam/playback?channel={number}&subtype=0"
                f"&starttime={ls:%Y_%m_%d_%H_%M_%S}&endtime={le:%Y_%m_%d_%H_%M_%S}"
            )
        if self.vendor == "axis":
            return (
                f"{base}/onvif-media/record/play.amp?onvifreplayid={recording_token}"
                "&onvifreplayext=1&streamtype=unicast&session_timeout=30"
            )
        return f"{base}/onvif/replay/{recording_token}"

    def stream_uri(self, host: str, rtsp_port: int, number: int, profile_token: str) -> str:
        base = f"rtsp://{host}:{rtsp_port}"
        if self.vendor == "hikvision":
            return f"{base}/Streaming/Channels/{number}01"
        if self.vendor == "dahua":
            return f"{base}/cam/realmonitor?channel={number}&subtype=0"
        if self.vendor == "axis":
            return f"{base}/onvif-media/media.amp?profile={profile_token}"
        return f"{base}/onvif/live/{profile_token}"


_STD_PATHS = {
    "device": "/onvif/device_service",
    "media": "/onvif/media_service",
    "recording": "/onvif/recording_service",
    "search": "/onvif/search_service",
    "replay": "/onvif/replay_service",
}

FLAVOURS: dict[str, Flavour] = {
    "hikvision": Flavour(
        vendor="hikvision",
        manufacturer="HIKVISION",
        nvr_model="DS-7616NI-K2",
        camera_model="DS-2CD2T47G2-L",
        firmware="V4.62.210 build 230518",
        paths={
            "device": "/onvif/device_service",
            "media": "/onvif/Media",
            "recording": "/onvif/Recording",
            "search": "/onvif/SearchRecording",
            "replay": "/onvif/Replay",
        },
        playback="hikvision-url",
        page_limit=50,
        ws_auth_fail_status=401,
    ),
    "dahua": Flavour(
        vendor="dahua",
        manufacturer="Dahua",
        nvr_model="DHI-NVR4216-16P-4KS2",
        camera_model="DH-IPC-HFW2431S",
        firmware="V4.001.0000000.1.R, Build Date 2023-06-12",
        paths=dict(_STD_PATHS),
        playback="dahua-url",
    ),
    "uniview": Flavour(
        vendor="uniview",
        manufacturer="Uniview",
        nvr_model="NVR302-16E2",
        camera_model="IPC2124LE-ADF28KM-G",
        firmware="NVR-B3801.20.10.230301",
        paths=dict(_STD_PATHS),
        playback="onvif-replay",
        summary_data_from_bogus=True,
        search_handle_format="SearchToken[{n}]",
    ),
    "axis": Flavour(
        vendor="axis",
        manufacturer="AXIS",
        nvr_model="S3008",
        camera_model="P3245-LV",
        firmware="11.8.64",
        paths={name: "/onvif/services" for name in _STD_PATHS}
        | {"device": "/onvif/device_service"},
        playback="onvif-replay",
    ),
    "milesight": Flavour(
        vendor="milesight",
        manufacturer="Milesight Technology Co.,Ltd.",
        nvr_model="MS-N5016-UPT",
        camera_model="MS-C8165-PE",
        firmware="61.8.0.3-r8",
        paths=dict(_STD_PATHS),
        playback="onvif-replay",
        search_earliest_bogus=True,
        search_handle_format="RecordingSearchToken_{n}",
    ),
    "onvif": Flavour(
        vendor="onvif",
        manufacturer="vidaudit-sim",
        nvr_model="SIM-NVR-16",
        camera_model="SIM-IPC-1",
        firmware="1.0.0",
        paths=dict(_STD_PATHS),
        playback="onvif-replay",
    ),
}


def flavour(vendor: str) -> Flavour:
    try:
        return FLAVOURS[vendor]
    except KeyError:
        raise ValueError(f"unknown vendor flavour {vendor!r}; one of {sorted(FLAVOURS)}") from None
