"""Recording control service (trc): recordings, recording jobs and their state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidaudit.sim.handlers.base import Handler
from vidaudit.sim.handlers.capabilities import recording_capabilities
from vidaudit.sim.soap import SoapRequest, required_text, text, xml_duration_days

if TYPE_CHECKING:
    from vidaudit.sim.device import SimChannel, SimDevice

PROFILE_SOURCE = "http://www.onvif.org/ver10/schema/Profile"


def recording_source(dev: SimDevice, ch: SimChannel) -> str:
    """tt:RecordingSourceInformation children (shared with the search service)."""
    t = ch.tokens
    return (
        f"<tt:SourceId>{text(t.source_id)}</tt:SourceId><tt:Name>{text(t.source_name)}</tt:Name>"
        f"<tt:Location>{text(dev.branch.name)}</tt:Location>"
        f"<tt:Description>{text(ch.plan.name)}</tt:Description>"
        f"<tt:Address>{PROFILE_SOURCE}</tt:Address>"
    )


def _item(dev: SimDevice, ch: SimChannel) -> str:
    tracks = "".join(
        f"<tt:Track><tt:TrackToken>{text(token)}</tt:TrackToken><tt:Configuration>"
        f"<tt:TrackType>{kind}</tt:TrackType><tt:Description>{kind}Track</tt:Description>"
        "</tt:Configuration></tt:Track>"
        for token, kind in ch.tracks
    )
    return (
        f"<trc:RecordingItem><tt:RecordingToken>{text(ch.tokens.recording)}</tt:RecordingToken>"
        f"<tt:Configuration><tt:Source>{recording_source(dev, ch)}</tt:Source>"
        f"<tt:Content>{text(ch.plan.name)}</tt:Content>"
        f"<tt:MaximumRetentionTime>{xml_duration_days(ch.plan.retention_days)}"
        f"</tt:MaximumRetentionTime></tt:Configuration><tt:Tracks>{tracks}</tt:Tracks>"
        "</trc:RecordingItem>"
    )


def get_recordings(dev: SimDevice, req: SoapRequest) -> str:
    def render() -> str:
        body = "".join(_item(dev, ch) for ch in dev.channels)
        return f"<trc:GetRecordingsResponse>{body}</trc:GetRecordingsResponse>"

    return dev.cached("GetRecordings", render)


def _job_configuration(dev: SimDevice, ch: SimChannel) -> str:
    tracks = "".join(
        f"<tt:Tracks><tt:SourceTag>tag{i}</tt:SourceTag><tt:Destination>{text(token)}"
        "</tt:Destination></tt:Tracks>"
        for i, (token, _kind) in enumerate(ch.tracks)
    )
    mode = "Active" if ch.recording_now(dev.now()) else "Idle"
    return (
        f"<tt:RecordingToken>{text(ch.tokens.recording)}</tt:RecordingToken>"
        f"<tt:Mode>{mode}</tt:Mode><tt:Priority>1</tt:Priority>"
        f'<tt:Source><tt:SourceToken Type="{PROFILE_SOURCE}"><tt:Token>{text(ch.tokens.profile)}'
        f"</tt:Token></tt:SourceToken><tt:AutoCreateReceiver>false</tt:AutoCreateReceiver>"
        f"{tracks}</tt:Source>"
    )


def get_recording_jobs(dev: SimDevice, req: SoapRequest) -> str:
    # trc:JobItem is a tt:GetRecordingJobsResponseItem and onvif.xsd is
    # elementFormDefault="qualified": its children are tt:, not trc: (the captured Axis
    # reply writes trc:JobToken; the client accepts that deviation, the simulator
    # speaks the schema).
    body = "".join(
        f"<trc:JobItem><tt:JobToken>{text(ch.tokens.job)}</tt:JobToken>"
        f"<tt:JobConfiguration>{_job_configuration(dev, ch)}</tt:JobConfiguration></trc:JobItem>"
        for ch in dev.channels
    )
    return f"<trc:GetRecordingJobsResponse>{body}</trc:GetRecordingJobsResponse>"


def get_recording_job_state(dev: SimDevice, req: SoapRequest) -> str:
    ch = dev.channel_by_job(required_text(req.body, "JobToken"))
    state = "Active" if ch.recording_now(dev.now()) else "Idle"
    tracks = "".join(
        f"<tt:Track><tt:SourceTag>tag{i}</tt:SourceTag><tt:Destination>{text(token)}"
        f"</tt:Destination><tt:State>{state}</tt:State></tt:Track>"
        for i, (token, _kind) in enumerate(ch.tracks)
    )
    return (
        "<trc:GetRecordingJobStateResponse><trc:State>"
        f"<tt:RecordingToken>{text(ch.tokens.recording)}</tt:RecordingToken><tt:State>{state}</tt:State>"
        f'<tt:Sources><tt:SourceToken Type="{PROFILE_SOURCE}"><tt:Token>{text(ch.tokens.profile)}'
        f"</tt:Token></tt:SourceToken><tt:State>{state}</tt:State><tt:Tracks>{tracks}</tt:Tracks>"
        "</tt:Sources></trc:State></trc:GetRecordingJobStateResponse>"
    )


def get_service_capabilities(dev: SimDevice, req: SoapRequest) -> str:
    return (
        f"<trc:GetServiceCapabilitiesResponse>{recording_capabilities(dev)}"
        "</trc:GetServiceCapabilitiesResponse>"
    )


OPERATIONS: dict[str, Handler] = {
    "GetRecordings": get_recordings,
    "GetRecordingJobs": get_recording_jobs,
    "GetRecordingJobState": get_recording_job_state,
    "GetServiceCapabilities": get_service_capabilities,
}
