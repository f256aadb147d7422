"""Replies zeep deserialised -> our dataclasses (GetCapabilities, video sources, stream,
snapshot and replay URIs, GetRecordings, the recording summary, job states).

These are read rarely (once per device, or only for a pull), so zeep's generic path
costs nothing that matters; the replies every probe reads are read from the tree
(``convert.tree``).  zeep gives None for schema elements the device left out, and raw
lxml elements for ``xs:any`` content (GetCapabilities Extension).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from vidaudit.onvif.convert.common import as_float, as_int, rewrite_host, track_type
from vidaudit.onvif.errors import DeviceError
from vidaudit.onvif.models import (
    Recording,
    RecordingSummary,
    ReplayUri,
    Service,
    Track,
    VideoSource,
)
from vidaudit.onvif.namespaces import CAPABILITY_NAMESPACES, TT
from vidaudit.onvif.timeparse import reported
from vidaudit.onvif.zeepclient import NAMESPACE_NAMES


def get(obj: Any, *path: str) -> Any:
    """Walk attributes; None as soon as one is missing."""
    for name in path:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj


def text(obj: Any, *path: str) -> str:
    value = get(obj, *path)
    return "" if value is None else str(value).strip()


def required(obj: Any, *path: str, operation: str) -> str:
    value = text(obj, *path)
    if not value:
        raise DeviceError(
            "malformed", f"{operation}: reply lacks {'/'.join(path)}", operation=operation
        )
    return value


def listed(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _raw_capabilities(elements: list[Any]) -> dict[str, str]:
    """XAddrs from raw ``tt:Capabilities/Extension`` children (zeep leaves ``xs:any``
    content as lxml elements: Recording/Search/Replay live there on Profile G devices).
    """
    found: dict[str, str] = {}
    for element in elements:
        tag = getattr(element, "tag", None)
        if not isinstance(tag, str):
            continue
        name = tag.rpartition("}")[2]
        xaddr = element.findtext(f"{{{TT}}}XAddr")
        if name in CAPABILITY_NAMESPACES and xaddr:
            found[name] = xaddr.strip()
    return found


def capabilities(reply: Any, target_url: str, override_host: bool) -> tuple[Service, ...]:
    """Fallback for firmware without GetServices: XAddrs from GetCapabilities."""
    xaddrs: dict[str, str] = {}
    for name in ("Analytics", "Device", "Events", "Imaging", "Media", "PTZ"):
        xaddr = text(reply, name, "XAddr")
        if xaddr:
            xaddrs[name] = xaddr
    extension = get(reply, "Extension")
    for name in ("DeviceIO", "Recording", "Search", "Replay", "Receiver"):
        xaddr = text(extension, name, "XAddr")
        if xaddr:
            xaddrs[name] = xaddr
    xaddrs.update(
        {
            k: v
            for k, v in _raw_capabilities(listed(get(extension, "_value_1"))).items()
            if k not in xaddrs
        }
    )
    result = tuple(
        Service(
            namespace=CAPABILITY_NAMESPACES[name],
            xaddr=rewrite_host(xaddr, target_url) if override_host else xaddr,
            version=None,
            name=NAMESPACE_NAMES.get(CAPABILITY_NAMESPACES[name]),
        )
        for name, xaddr in xaddrs.items()
    )
    if not result:
        raise DeviceError("malformed", "GetCapabilities: no XAddr", operation="GetCapabilities")
    return result


# -- media ---------------------------------------------------------------------------


def video_sources(reply: Any) -> tuple[VideoSource, ...]:
    return tuple(
        VideoSource(
            token=required(source, "token", operation="GetVideoSources"),
            width=as_int(get(source, "Resolution", "Width")),
            height=as_int(get(source, "Resolution", "Height")),
            framerate=as_float(get(source, "Framerate")),
        )
        for source in listed(reply)
    )


def media_uri(reply: Any, operation: str) -> str:
    uri = text(reply, "Uri") or (text(reply) if isinstance(reply, str) else "")
    if not uri:
        raise DeviceError("malformed", f"{operation}: reply without Uri", operation=operation)
    return uri


# -- recording / search / replay ---------------------------------------------------------


def recording_item(item: Any) -> Recording:
    op = "GetRecordings"
    config = get(item, "Configuration")
    retention = get(config, "MaximumRetentionTime")
    tracks = tuple(
        Track(
            token=required(track, "TrackToken", operation=op),
            type=track_type(get(track, "Configuration", "TrackType")),
            description=text(track, "Configuration", "Description"),
            data_from=None,
            data_to=None,
        )
        for track in listed(get(item, "Tracks", "Track"))
    )
    return Recording(
        token=required(item, "RecordingToken", operation=op),
        source_id=text(config, "Source", "SourceId"),
        source_name=text(config, "Source", "Name"),
        source_location=text(config, "Source", "Location"),
        source_description=text(config, "Source", "Description"),
        source_address=text(config, "Source", "Address"),
        content=text(config, "Content"),
        earliest=None,
        latest=None,
        tracks=tracks,
        status=None,
        max_retention=retention if isinstance(retention, dt.timedelta) else None,
        origin="recording",
    )


def job_state(reply: Any) -> str:
    # GetRecordingJobStateResponse/State is tt:RecordingJobStateInformation whose own
    # State element holds Active/PartiallyActive/Idle/Error; both are required.
    state = text(reply, "State") or text(reply)
    if not state:
        op = "GetRecordingJobState"
        raise DeviceError("malformed", f"{op}: reply lacks State", operation=op)
    return state


def recording_summary(reply: Any) -> RecordingSummary:
    op = "GetRecordingSummary"
    count = as_int(get(reply, "NumberRecordings"))
    if count is None:
        raise DeviceError("malformed", f"{op}: reply lacks NumberRecordings", operation=op)
    return RecordingSummary(
        data_from=reported(get(reply, "DataFrom")),
        data_until=reported(get(reply, "DataUntil")),
        number_recordings=count,
    )


def replay_uri(reply: Any, recording_token: str) -> ReplayUri:
    return ReplayUri(recording_token=recording_token, uri=media_uri(reply, "GetReplayUri"))
