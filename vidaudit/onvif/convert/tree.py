"""Replies read from the lxml tree ``xmlsafety.check_reply`` already parsed -> our
dataclasses: everything a probe reads on every run (clock, device information,
services, profiles, recording jobs, search tokens and the paged search results).

Why by hand: zeep's generic deserialisation cost about as much CPU as the rest of each
call, and for the search pages (which grow with footage history) it was the collector's
largest cost; the comments above each group say more.  The namespaces are the ONVIF
schema's (``vidaudit.onvif.namespaces``).  A required field that is missing raises
``DeviceError("malformed")``; optional ones become None/"".
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from vidaudit.onvif.convert.common import as_bool, rewrite_host, track_type
from vidaudit.onvif.errors import DeviceError
from vidaudit.onvif.models import (
    DeviceClock,
    DeviceInfo,
    Profile,
    Recording,
    RecordingEvent,
    RecordingJob,
    ReportedTime,
    Service,
    Track,
)
from vidaudit.onvif.namespaces import TDS, TRC, TRT, TSE, TT, WSNT
from vidaudit.onvif.timeparse import posix_tz_offset, reported, struct_datetime, wall_time
from vidaudit.onvif.zeepclient import NAMESPACE_NAMES, parse_datetime


def _child(element: Any, tag: str) -> Any:
    """The first child ``tag`` (``{namespace}local``) of an lxml element, or None.

    ``iterchildren`` rather than ``find``/``findtext``: those go through lxml's
    Python-level ElementPath (2-3 us each against 0.7 us), and the readers below make
    tens of thousands of these lookups per run.
    """
    return None if element is None else next(element.iterchildren(tag), None)


def _child_text(element: Any, tag: str) -> str:
    """Stripped text of the first child ``tag``; "" when absent or empty."""
    child = _child(element, tag)
    return "" if child is None or child.text is None else str(child.text).strip()


def _require(value: str, tag: str, operation: str) -> str:
    """``value``, or ``malformed`` naming the missing element ``tag``."""
    if not value:
        name = tag.rpartition("}")[2]
        raise DeviceError("malformed", f"{operation}: reply lacks {name}", operation=operation)
    return value


def _required_child(element: Any, tag: str, operation: str) -> str:
    return _require(_child_text(element, tag), tag, operation)


def _int_text(element: Any, tag: str) -> int | None:
    value = _child_text(element, tag)
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _float_text(element: Any, tag: str) -> float | None:
    value = _child_text(element, tag)
    try:
        return float(value) if value else None
    except ValueError:
        return None


# -- device management -------------------------------------------------------------


# Read from the tree ``xmlsafety.check_reply`` already parsed, like the search pages
# below: every probe makes these calls, and zeep's generic deserialisation of even these
# small replies cost about as much CPU as the rest of the call (~0.2 ms each).


def device_info(response: Any) -> DeviceInfo:
    """``tds:GetDeviceInformationResponse``."""
    op = "GetDeviceInformation"
    return DeviceInfo(
        manufacturer=_required_child(response, f"{{{TDS}}}Manufacturer", op),
        model=_required_child(response, f"{{{TDS}}}Model", op),
        firmware=_child_text(response, f"{{{TDS}}}FirmwareVersion"),
        serial=_child_text(response, f"{{{TDS}}}SerialNumber"),
        hardware_id=_child_text(response, f"{{{TDS}}}HardwareId"),
    )


def _date_parts(node: Any) -> tuple[int, int, int, int, int, int] | None:
    """A ``tt:DateTime`` (Date: Year, Month, Day; Time: Hour, Minute, Second)."""
    if node is None:
        return None
    date, time = _child(node, f"{{{TT}}}Date"), _child(node, f"{{{TT}}}Time")
    if date is None or time is None:
        return None
    parts = (
        _int_text(date, f"{{{TT}}}Year"),
        _int_text(date, f"{{{TT}}}Month"),
        _int_text(date, f"{{{TT}}}Day"),
        _int_text(time, f"{{{TT}}}Hour"),
        _int_text(time, f"{{{TT}}}Minute"),
        _int_text(time, f"{{{TT}}}Second"),
    )
    if any(part is None for part in parts):
        return None
    return cast(tuple[int, int, int, int, int, int], parts)


def device_clock(response: Any, sent_at: dt.datetime, received_at: dt.datetime) -> DeviceClock:
    """``tds:GetSystemDateAndTimeResponse`` plus the instants we sent and received."""
    reply = None if response is None else _child(response, f"{{{TDS}}}SystemDateAndTime")
    if reply is None:
        raise DeviceError(
            "malformed",
            "GetSystemDateAndTime: reply lacks SystemDateAndTime",
            operation="GetSystemDateAndTime",
        )
    tz = _child_text(_child(reply, f"{{{TT}}}TimeZone"), f"{{{TT}}}TZ") or None
    tz_offset = posix_tz_offset(tz)
    utc_parts = _date_parts(_child(reply, f"{{{TT}}}UTCDateTime"))
    local_parts = _date_parts(_child(reply, f"{{{TT}}}LocalDateTime"))

    utc = struct_datetime(*utc_parts, tz=dt.UTC) if utc_parts else None
    local_naive_utc = struct_datetime(*local_parts, tz=dt.UTC) if local_parts else None
    observed: dt.timedelta | None = None
    if utc is not None and local_naive_utc is not None:
        seconds = (local_naive_utc - utc).total_seconds()
        observed = dt.timedelta(minutes=round(seconds / 60))
        # More than a day apart is a broken clock struct, not a time zone.
        if abs(observed) > dt.timedelta(hours=26):
            observed = None

    source: str = "utc" if utc is not None else "none"
    if utc is None and local_naive_utc is not None and tz_offset is not None:
        # No UTCDateTime (older Dahua/Tiandy firmware): local wall time minus the TZ's
        # standard offset.  DST rules in the TZ string are not applied.
        utc = local_naive_utc - tz_offset
        source = "local+tz"

    offset = observed if observed is not None else tz_offset
    local = None
    if local_naive_utc is not None and offset is not None:
        local = local_naive_utc.replace(tzinfo=dt.timezone(offset))

    return DeviceClock(
        sent_at=sent_at,
        received_at=received_at,
        utc=utc,
        utc_source=cast(Any, source),
        local_wall=wall_time(*local_parts) if local_parts else None,
        local=local,
        tz=tz,
        tz_offset=tz_offset,
        observed_offset=observed,
        daylight_savings=as_bool(_child_text(reply, f"{{{TT}}}DaylightSavings")),
        time_source=_child_text(reply, f"{{{TT}}}DateTimeType") or None,
    )


def services(response: Any, target_url: str, override_host: bool) -> tuple[Service, ...]:
    """``tds:GetServicesResponse`` -> each service's namespace, XAddr and version."""
    found: list[Service] = []
    for entry in response.iterchildren(f"{{{TDS}}}Service"):
        namespace = _child_text(entry, f"{{{TDS}}}Namespace")
        xaddr = _child_text(entry, f"{{{TDS}}}XAddr")
        if not namespace or not xaddr:
            continue  # skip a half-filled entry rather than drop the whole list
        version = _child(entry, f"{{{TDS}}}Version")
        major = None if version is None else _int_text(version, f"{{{TT}}}Major")
        minor = None if version is None else _int_text(version, f"{{{TT}}}Minor")
        found.append(
            Service(
                namespace=namespace,
                xaddr=rewrite_host(xaddr, target_url) if override_host else xaddr,
                version=(major, minor) if major is not None and minor is not None else None,
                name=NAMESPACE_NAMES.get(namespace),
            )
        )
    if not found:
        raise DeviceError(
            "malformed", "GetServices: no usable service entry", operation="GetServices"
        )
    return tuple(found)


# -- paged search results, read from the checked lxml tree -----------------------------
#
# Hand-written rather than zeep-deserialised: GetEventSearchResults and
# GetRecordingSearchResults are the only replies that grow with footage history (an
# NVR's event pages run to thousands of results per probe), and zeep's generic path is
# the collector's largest CPU cost there -- each FindEventResult's ``wsnt:Message`` is
# ``xs:any`` content that zeep resolves against the schema element by element, about
# 0.2 ms per event (~20 ms per page of 100).  ``xmlsafety.check_reply`` has already
# parsed the reply strictly (size bound, no DTD, no Fault, expected response element),
# so these readers walk that tree: same namespaces as the ONVIF schema (``tse`` search
# WSDL, ``tt`` schema, ``wsnt`` WS-BaseNotification b-2), same dateTime parsing as zeep
# (``zeepclient.parse_datetime``), same results as the zeep-object readers had.

_Q_RESULT_LIST = f"{{{TSE}}}ResultList"
_Q_SEARCH_STATE = f"{{{TT}}}SearchState"
_Q_RESULT = f"{{{TT}}}Result"
_Q_RECORDING_INFORMATION = f"{{{TT}}}RecordingInformation"
_Q_RECORDING_TOKEN = f"{{{TT}}}RecordingToken"
_Q_TRACK_TOKEN = f"{{{TT}}}TrackToken"
_Q_TIME = f"{{{TT}}}Time"
_Q_EVENT = f"{{{TT}}}Event"
_Q_START_STATE = f"{{{TT}}}StartStateEvent"
_Q_TOPIC = f"{{{WSNT}}}Topic"
_Q_MESSAGE = f"{{{WSNT}}}Message"
_Q_DATA = f"{{{TT}}}Data"
_Q_SIMPLE_ITEM = f"{{{TT}}}SimpleItem"
_Q_SOURCE = f"{{{TT}}}Source"
_Q_TRACK = f"{{{TT}}}Track"
_Q_TRACK_TYPE = f"{{{TT}}}TrackType"
_Q_DESCRIPTION = f"{{{TT}}}Description"
_Q_DATA_FROM = f"{{{TT}}}DataFrom"
_Q_DATA_TO = f"{{{TT}}}DataTo"
_Q_SOURCE_ID = f"{{{TT}}}SourceId"
_Q_NAME = f"{{{TT}}}Name"
_Q_LOCATION = f"{{{TT}}}Location"
_Q_ADDRESS = f"{{{TT}}}Address"
_Q_CONTENT = f"{{{TT}}}Content"
_Q_EARLIEST = f"{{{TT}}}EarliestRecording"
_Q_LATEST = f"{{{TT}}}LatestRecording"
_Q_RECORDING_STATUS = f"{{{TT}}}RecordingStatus"


def _time_of(element: Any) -> ReportedTime | None:
    value = _text_of(element)
    return reported(parse_datetime(value)) if value else None


def search_token(response: Any, operation: str) -> str:
    """``tse:FindRecordingsResponse`` / ``tse:FindEventsResponse`` -> the SearchToken."""
    return _required_child(response, f"{{{TSE}}}SearchToken", operation)


def _result_list(response: Any, operation: str) -> tuple[Any, bool]:
    """``tse:ResultList`` of a search-results reply and whether SearchState is Completed."""
    result_list = _child(response, _Q_RESULT_LIST)
    if result_list is None:
        raise DeviceError("malformed", f"{operation}: reply lacks ResultList", operation=operation)
    return result_list, _child_text(result_list, _Q_SEARCH_STATE) == "Completed"


def recording_search_page(response: Any) -> tuple[tuple[Recording, ...], bool]:
    """``tse:GetRecordingSearchResultsResponse`` -> (recordings, search Completed)."""
    result_list, completed = _result_list(response, "GetRecordingSearchResults")
    return (
        tuple(
            recording_information(info)
            for info in result_list.iterchildren(_Q_RECORDING_INFORMATION)
        ),
        completed,
    )


def recording_information(info: Any) -> Recording:
    """One ``tt:RecordingInformation`` element.  Each element's children are indexed in
    one pass (``_first_children``): a page of 16 recordings asks for ~300 fields."""
    op = "GetRecordingSearchResults"
    fields = _first_children(info)
    source = _first_children(fields[_Q_SOURCE]) if _Q_SOURCE in fields else {}
    tracks = []
    for track in info.iterchildren(_Q_TRACK):
        parts = _first_children(track)
        tracks.append(
            Track(
                token=_require(_text_of(parts.get(_Q_TRACK_TOKEN)), _Q_TRACK_TOKEN, op),
                type=track_type(_text_of(parts.get(_Q_TRACK_TYPE))),
                description=_text_of(parts.get(_Q_DESCRIPTION)),
                data_from=_time_of(parts.get(_Q_DATA_FROM)),
                data_to=_time_of(parts.get(_Q_DATA_TO)),
            )
        )
    token = _require(_text_of(fields.get(_Q_RECORDING_TOKEN)), _Q_RECORDING_TOKEN, op)
    return Recording(
        token=token,
        source_id=_text_of(source.get(_Q_SOURCE_ID)),
        source_name=_text_of(source.get(_Q_NAME)),
        source_location=_text_of(source.get(_Q_LOCATION)),
        source_description=_text_of(source.get(_Q_DESCRIPTION)),
        source_address=_text_of(source.get(_Q_ADDRESS)),
        content=_text_of(fields.get(_Q_CONTENT)),
        earliest=_time_of(fields.get(_Q_EARLIEST)),
        latest=_time_of(fields.get(_Q_LATEST)),
        tracks=tuple(tracks),
        status=_text_of(fields.get(_Q_RECORDING_STATUS)) or None,
        max_retention=None,
        origin="search",
    )


def event_search_page(
    response: Any, topics: tuple[str, ...]
) -> tuple[tuple[RecordingEvent, ...], bool]:
    """``tse:GetEventSearchResultsResponse`` -> (recording-state events in the device's
    order, search Completed); results on other topics are skipped.
    """
    result_list, completed = _result_list(response, "GetEventSearchResults")
    events = (recording_event(result, topics) for result in result_list.iterchildren(_Q_RESULT))
    return tuple(event for event in events if event is not None), completed


_EVENT_ITEMS = ("IsDataPresent", "IsRecording", "State")


def _topic_text(topic: Any) -> str:
    """Text of ``wsnt:Topic`` (mixed content: the text and any text between children;
    the Dialect attribute is not needed to match ``tns1:RecordingHistory/...``).
    """
    if topic is None:
        return ""
    parts = [topic.text or ""]
    parts.extend(child.tail or "" for child in topic)
    return "".join(parts).strip()


def _message_item(message: Any) -> tuple[str | None, bool | None]:
    """(name, value) of the ``tt:Data/tt:SimpleItem`` that carries the recording state,
    from ``wsnt:Message``'s ``xs:any`` content (normally ``tt:Message``; any ``tt:Data``
    under it counts, as vendor wrappers exist).
    """
    if message is None:
        return None, None
    for data in message.iter(_Q_DATA):
        for item in data.iterchildren(_Q_SIMPLE_ITEM):
            name = (item.get("Name") or "").strip()
            if name in _EVENT_ITEMS:
                return name, as_bool(item.get("Value"))
    return None, None


def _text_of(element: Any) -> str:
    return "" if element is None or element.text is None else str(element.text).strip()


def _first_children(element: Any) -> dict[Any, Any]:
    """Tag -> first child with that tag: one pass over the children instead of a
    ``find`` per field (each ``find`` walks them again; this is the per-event hot path).
    """
    found: dict[Any, Any] = {}
    for child in element:
        found.setdefault(child.tag, child)
    return found


def recording_event(result: Any, topics: tuple[str, ...]) -> RecordingEvent | None:
    """One ``tt:Result`` (FindEventResult), or None when it is not a recording-state
    event.
    """
    fields = _first_children(result)
    event = fields.get(_Q_EVENT)
    parts = {} if event is None else _first_children(event)
    topic = _topic_text(parts.get(_Q_TOPIC))
    if not any(topic.endswith(wanted) for wanted in topics):
        return None
    time_text = _text_of(fields.get(_Q_TIME))
    instant = reported(parse_datetime(time_text)) if time_text else None
    if instant is None:
        raise DeviceError(
            "malformed",
            "GetEventSearchResults: event without Time",
            operation="GetEventSearchResults",
        )
    name, value = _message_item(parts.get(_Q_MESSAGE))
    return RecordingEvent(
        time=instant,
        recording_token=_text_of(fields.get(_Q_RECORDING_TOKEN)),
        track_token=_text_of(fields.get(_Q_TRACK_TOKEN)) or None,
        topic=topic,
        name=name,
        value=value,
        start_state=as_bool(_text_of(fields.get(_Q_START_STATE))) is True,
    )


# -- GetProfiles and GetRecordingJobs, read from the checked tree -----------------------
# Like the search pages above, these replies are read from the tree the safety check
# already parsed: through zeep each cost ~5 ms per NVR (16 profiles with their full
# configurations), the largest share of a probe after the searches.


def profiles_reply(response: Any) -> tuple[Profile, ...]:
    """``trt:GetProfilesResponse`` -> profiles in the device's order."""
    result: list[Profile] = []
    for profile in response.iterchildren(f"{{{TRT}}}Profiles"):
        token = (profile.get("token") or "").strip()
        if not token:
            raise DeviceError(
                "malformed", "GetProfiles: profile without token", operation="GetProfiles"
            )
        source = _child(profile, f"{{{TT}}}VideoSourceConfiguration")
        encoder = _child(profile, f"{{{TT}}}VideoEncoderConfiguration")
        resolution = None if encoder is None else _child(encoder, f"{{{TT}}}Resolution")
        rate = None if encoder is None else _child(encoder, f"{{{TT}}}RateControl")
        result.append(
            Profile(
                token=token,
                name=_child_text(profile, f"{{{TT}}}Name"),
                video_source_token=_child_text(source, f"{{{TT}}}SourceToken") or None,
                video_source_config_token=(source.get("token") if source is not None else None)
                or None,
                video_encoder_token=(encoder.get("token") if encoder is not None else None) or None,
                encoding=_child_text(encoder, f"{{{TT}}}Encoding") or None,
                width=None if resolution is None else _int_text(resolution, f"{{{TT}}}Width"),
                height=None if resolution is None else _int_text(resolution, f"{{{TT}}}Height"),
                framerate_limit=(
                    None if rate is None else _float_text(rate, f"{{{TT}}}FrameRateLimit")
                ),
                has_audio=_child(profile, f"{{{TT}}}AudioEncoderConfiguration") is not None
                or _child(profile, f"{{{TT}}}AudioSourceConfiguration") is not None,
            )
        )
    return tuple(result)


def _schema_or_deviation(element: Any, local: str, deviation: str) -> Any:
    """Child ``tt:<local>`` as the schema puts it, else ``<deviation>:<local>``."""
    found = _child(element, f"{{{TT}}}{local}")
    return found if found is not None else _child(element, f"{{{deviation}}}{local}")


def recording_jobs_reply(response: Any) -> tuple[RecordingJob, ...]:
    """``trc:GetRecordingJobsResponse`` -> jobs (configuration; state is asked apart).

    ``trc:JobItem`` is a ``tt:GetRecordingJobsResponseItem``, and ``onvif.xsd`` is
    ``elementFormDefault="qualified"``: its JobToken and JobConfiguration are ``tt:``.
    Axis firmware writes them ``trc:`` (captured: ../shared/fixtures/onvif/ex_onvif/
    get_recording_jobs.xml, tests/onvif/test_onvif_fixtures.py::
    test_axis_sd_disk_recordings_without_search); that form is accepted too.
    """
    op = "GetRecordingJobs"
    jobs = []
    for item in response.iterchildren(f"{{{TRC}}}JobItem"):
        config = _schema_or_deviation(item, "JobConfiguration", TRC)
        if config is None:
            raise DeviceError("malformed", f"{op}: job without JobConfiguration", operation=op)
        job_token = _text_of(_schema_or_deviation(item, "JobToken", TRC))
        sources = tuple(
            token
            for source in config.iterchildren(f"{{{TT}}}Source")
            if (token := _child_text(_child(source, f"{{{TT}}}SourceToken"), f"{{{TT}}}Token"))
        )
        jobs.append(
            RecordingJob(
                token=_require(job_token, "JobToken", op),
                recording_token=_required_child(config, f"{{{TT}}}RecordingToken", op),
                mode=_child_text(config, f"{{{TT}}}Mode"),
                priority=_int_text(config, f"{{{TT}}}Priority"),
                source_tokens=sources,
                state=None,
            )
        )
    return tuple(jobs)
