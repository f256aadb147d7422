"""GetProfiles and GetRecordingJobs read from the checked tree give what zeep gives."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from zeep.loader import parse_xml

from tests.onvif_testkit import soap
from vidaudit.onvif import DeviceError
from vidaudit.onvif.convert import profiles_reply, recording_jobs_reply
from vidaudit.onvif.xmlsafety import check_reply
from vidaudit.onvif.zeepclient import SERVICES, ZEEP_SETTINGS, load_document, service_proxy

PROFILES = soap(
    '<trt:GetProfilesResponse><trt:Profiles token="media_profile1" fixed="true">'
    "<tt:Name>柜台1</tt:Name>"
    '<tt:VideoSourceConfiguration token="VSC1"><tt:Name>vs</tt:Name><tt:UseCount>1</tt:UseCount>'
    "<tt:SourceToken>VideoSource_1</tt:SourceToken>"
    '<tt:Bounds x="0" y="0" width="1920" height="1080"/></tt:VideoSourceConfiguration>'
    '<tt:AudioSourceConfiguration token="ASC1"><tt:Name>as</tt:Name><tt:UseCount>1</tt:UseCount>'
    "<tt:SourceToken>AudioSource_1</tt:SourceToken></tt:AudioSourceConfiguration>"
    '<tt:VideoEncoderConfiguration token="VEC1"><tt:Name>ve</tt:Name><tt:UseCount>1</tt:UseCount>'
    "<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>1920</tt:Width>"
    "<tt:Height>1080</tt:Height></tt:Resolution><tt:Quality>5</tt:Quality>"
    "<tt:RateControl><tt:FrameRateLimit>25</tt:FrameRateLimit>"
    "<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>4096</tt:BitrateLimit>"
    "</tt:RateControl><tt:SessionTimeout>PT60S</tt:SessionTimeout>"
    "</tt:VideoEncoderConfiguration></trt:Profiles>"
    '<trt:Profiles token="bare"><tt:Name>no config</tt:Name></trt:Profiles>'
    "</trt:GetProfilesResponse>"
)


def payload(body: bytes) -> Any:
    return check_reply(body).payload


async def zeep_reply(service: str, operation: str, body: bytes) -> Any:
    document = await load_document(SERVICES[service], asyncio.Lock())
    proxy = service_proxy(document, SERVICES[service], "http://127.0.0.1/", None, None)
    envelope = parse_xml(body, None, settings=ZEEP_SETTINGS)
    return proxy._binding.get(operation).process_reply(envelope)


async def test_profiles_match_zeep() -> None:
    ours = profiles_reply(payload(PROFILES))
    theirs = await zeep_reply("media", "GetProfiles", PROFILES)
    assert [p.token for p in ours] == [p.token for p in theirs] == ["media_profile1", "bare"]
    first, bare = ours
    z = theirs[0]
    assert (first.name, first.video_source_token, first.video_source_config_token) == (
        z.Name,
        z.VideoSourceConfiguration.SourceToken,
        z.VideoSourceConfiguration.token,
    )
    assert (first.encoding, first.width, first.height, first.framerate_limit) == (
        z.VideoEncoderConfiguration.Encoding,
        z.VideoEncoderConfiguration.Resolution.Width,
        z.VideoEncoderConfiguration.Resolution.Height,
        z.VideoEncoderConfiguration.RateControl.FrameRateLimit,
    )
    assert first.has_audio and not bare.has_audio and bare.video_source_token is None


def test_profile_without_token_is_malformed() -> None:
    body = soap(
        "<trt:GetProfilesResponse><trt:Profiles><tt:Name>x</tt:Name></trt:Profiles>"
        "</trt:GetProfilesResponse>"
    )
    with pytest.raises(DeviceError, match="profile without token"):
        profiles_reply(payload(body))


async def test_captured_axis_jobs_match_zeep(ex_onvif: Path) -> None:
    body = (ex_onvif / "get_recording_jobs.xml").read_bytes()
    ours = recording_jobs_reply(payload(body))
    theirs = await zeep_reply("recording", "GetRecordingJobs", body)
    assert [(j.token, j.recording_token, j.mode, j.priority) for j in ours] == [
        (
            z.JobToken,
            z.JobConfiguration.RecordingToken,
            z.JobConfiguration.Mode,
            z.JobConfiguration.Priority,
        )
        for z in theirs
    ]
    assert ours[0].source_tokens == ("profile_1_h264",)


#: A GetRecordingJobs reply as the schema has it: JobItem's children are tt: (onvif.xsd is
#: elementFormDefault="qualified" and GetRecordingJobsResponseItem is defined there).
CONFORMANT_JOBS = soap(
    "<trc:GetRecordingJobsResponse><trc:JobItem><tt:JobToken>RecordJob_101</tt:JobToken>"
    "<tt:JobConfiguration><tt:RecordingToken>101</tt:RecordingToken><tt:Mode>Active</tt:Mode>"
    '<tt:Priority>1</tt:Priority><tt:Source><tt:SourceToken Type="http://www.onvif.org/ver10/'
    'schema/Profile"><tt:Token>Profile_101</tt:Token></tt:SourceToken>'
    "<tt:Tracks><tt:SourceTag>tag0</tt:SourceTag><tt:Destination>VideoTrack_101"
    "</tt:Destination></tt:Tracks></tt:Source></tt:JobConfiguration></trc:JobItem>"
    "</trc:GetRecordingJobsResponse>"
)


async def test_conformant_jobs_are_read_like_zeep_reads_them() -> None:
    from vidaudit.onvif.schemas import problems_in_reply

    assert problems_in_reply(CONFORMANT_JOBS) == ()  # the input is what the schema says
    (job,) = recording_jobs_reply(payload(CONFORMANT_JOBS))
    assert (job.token, job.recording_token, job.mode, job.priority, job.source_tokens) == (
        "RecordJob_101",
        "101",
        "Active",
        1,
        ("Profile_101",),
    )
    (theirs,) = await zeep_reply("recording", "GetRecordingJobs", CONFORMANT_JOBS)
    assert (theirs.JobToken, theirs.JobConfiguration.RecordingToken) == (job.token, "101")


def test_job_without_token_is_malformed_in_either_form() -> None:
    for prefix in ("tt", "trc"):
        body = soap(
            f"<trc:GetRecordingJobsResponse><trc:JobItem><{prefix}:JobConfiguration>"
            f"<tt:RecordingToken>101</tt:RecordingToken></{prefix}:JobConfiguration>"
            "</trc:JobItem></trc:GetRecordingJobsResponse>"
        )
        with pytest.raises(DeviceError, match="lacks JobToken"):
            recording_jobs_reply(payload(body))
