"""Recording search service (tse): summary, recording information, FindRecordings and
FindEvents sessions whose events mirror the channel's footage intervals exactly.

Events follow the RecordingSearch spec, section "Recording Event Descriptions":
``tns1:RecordingHistory/Recording/State`` (Source RecordingToken, Data ``IsRecording``)
and ``tns1:RecordingHistory/Track/State`` (Source RecordingToken + Track, Data
``IsDataPresent``).  A search from StartPoint to an earlier EndPoint runs backwards and
returns results newest first; ``IncludeStartState`` adds virtual events giving the state
at StartPoint (and at EndPoint for a backward search).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vidaudit.sim.handlers.base import Handler
from vidaudit.sim.handlers.capabilities import search_capabilities
from vidaudit.sim.handlers.recording import recording_source
from vidaudit.sim.soap import (
    SoapRequest,
    child,
    child_text,
    children,
    invalid_arg,
    parse_bool,
    parse_datetime,
    parse_duration,
    parse_int,
    required_text,
    text,
    xml_bool,
    xml_datetime,
)
from vidaudit.sim.vendors import MILESIGHT_BOGUS_EARLIEST, UNIVIEW_BOGUS_DATA_FROM

if TYPE_CHECKING:
    from vidaudit.sim.device import SimChannel, SimDevice

RECORDING_TOPIC = "RecordingHistory/Recording/State"
TRACK_TOPIC = "RecordingHistory/Track/State"
CONCRETE_SET = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
FAR_FUTURE = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def get_service_capabilities(dev: SimDevice, req: SoapRequest) -> str:
    return (
        f"<tse:GetServiceCapabilitiesResponse>{search_capabilities(dev)}"
        "</tse:GetServiceCapabilitiesResponse>"
    )


def get_recording_summary(dev: SimDevice, req: SoapRequest) -> str:
    now = dev.now()
    earliest = [e for ch in dev.channels if (e := ch.timeline.earliest) is not None]
    latest = [x for ch in dev.channels if (x := ch.timeline.latest(now)) is not None]
    data_from = min(earliest, default=now)
    if dev.flavour.summary_data_from_bogus:
        # Uniview NVRs answer 1970-01-01 here whatever they hold (captured fixture).
        data_from = UNIVIEW_BOGUS_DATA_FROM
    return (
        "<tse:GetRecordingSummaryResponse><tse:Summary>"
        f"<tt:DataFrom>{xml_datetime(data_from)}</tt:DataFrom>"
        f"<tt:DataUntil>{xml_datetime(max(latest, default=now))}</tt:DataUntil>"
        f"<tt:NumberRecordings>{len(dev.channels)}</tt:NumberRecordings>"
        "</tse:Summary></tse:GetRecordingSummaryResponse>"
    )


def recording_information(dev: SimDevice, ch: SimChannel, tag: str) -> str:
    now = dev.now()
    earliest = ch.timeline.earliest
    latest = ch.timeline.latest(now)
    first, last = earliest or now, latest or now
    if dev.flavour.search_earliest_bogus:
        # Milesight reports a boot-time epoch as the oldest footage (captured fixture).
        first = MILESIGHT_BOGUS_EARLIEST
    span = (
        f"<tt:EarliestRecording>{xml_datetime(first)}</tt:EarliestRecording>"
        f"<tt:LatestRecording>{xml_datetime(last)}</tt:LatestRecording>"
        if earliest is not None
        else ""
    )
    tracks = "".join(
        f"<tt:Track><tt:TrackToken>{text(token)}</tt:TrackToken><tt:TrackType>{kind}</tt:TrackType>"
        f"<tt:Description>{kind}Track</tt:Description>"
        f"<tt:DataFrom>{xml_datetime(first)}</tt:DataFrom><tt:DataTo>{xml_datetime(last)}</tt:DataTo>"
        "</tt:Track>"
        for token, kind in ch.tracks
    )
    status = "Recording" if ch.recording_now(now) else "Stopped"
    return (
        f"<{tag}><tt:RecordingToken>{text(ch.tokens.recording)}</tt:RecordingToken>"
        f"<tt:Source>{recording_source(dev, ch)}</tt:Source>{span}"
        f"<tt:Content>{text(ch.plan.name)}</tt:Content>{tracks}"
        f"<tt:RecordingStatus>{status}</tt:RecordingStatus></{tag}>"
    )


def get_recording_information(dev: SimDevice, req: SoapRequest) -> str:
    token = required_text(req.body, "RecordingToken")
    ch = dev.channel_by_recording(token, fault_detail="InvalidToken")
    info = recording_information(dev, ch, "tse:RecordingInformation")
    return f"<tse:GetRecordingInformationResponse>{info}</tse:GetRecordingInformationResponse>"


def _scope(dev: SimDevice, req: SoapRequest) -> list[SimChannel]:
    scope = child(req.body, "Scope")
    if scope is None:
        raise invalid_arg("missing Scope")
    sources = {(c.text or "").strip() for c in children(scope, "IncludedSources")}
    # SourceReference is <Token> inside; some clients send the bare text.
    for c in children(scope, "IncludedSources"):
        token = child_text(c, "Token")
        if token:
            sources.add(token)
    sources.discard("")
    recordings = {(c.text or "").strip() for c in children(scope, "IncludedRecordings")}
    recordings.discard("")
    for token in recordings:
        dev.channel_by_recording(token, fault_detail="InvalidToken")
    if not sources and not recordings:
        return list(dev.channels)
    return [
        ch
        for ch in dev.channels
        if ch.tokens.recording in recordings
        or ch.tokens.source in sources
        or ch.tokens.profile in sources
    ]


def find_recordings(dev: SimDevice, req: SoapRequest) -> str:
    channels = _scope(dev, req)
    max_matches = parse_int(child_text(req.body, "MaxMatches"), "MaxMatches")
    if max_matches is not None:
        channels = channels[: max(0, max_matches)]
    keepalive = parse_duration(required_text(req.body, "KeepAliveTime"), "KeepAliveTime")
    session = dev.searches.create("recordings", channels, keepalive, dev.now())
    return (
        f"<tse:FindRecordingsResponse><tse:SearchToken>{text(session.token)}</tse:SearchToken>"
        "</tse:FindRecordingsResponse>"
    )


def _page_size(dev: SimDevice, req: SoapRequest) -> int:
    max_results = parse_int(child_text(req.body, "MaxResults"), "MaxResults")
    if max_results is not None and max_results < 1:
        raise invalid_arg("MaxResults must be at least 1")
    # MinResults / WaitTime only matter to a search that is still running; ours have
    # every result ready, so they are accepted and need no waiting.
    parse_int(child_text(req.body, "MinResults"), "MinResults")
    parse_duration(child_text(req.body, "WaitTime"), "WaitTime")
    return min(max_results or dev.flavour.page_limit, dev.flavour.page_limit)


def get_recording_search_results(dev: SimDevice, req: SoapRequest) -> str:
    session = dev.searches.get(required_text(req.body, "SearchToken"), "recordings", dev.now())
    page = session.take(_page_size(dev, req))
    state = "Completed" if session.completed else "Searching"
    infos = "".join(recording_information(dev, ch, "tt:RecordingInformation") for ch in page)
    return (
        "<tse:GetRecordingSearchResultsResponse><tse:ResultList>"
        f"<tt:SearchState>{state}</tt:SearchState>{infos}"
        "</tse:ResultList></tse:GetRecordingSearchResultsResponse>"
    )


@dataclass(frozen=True, slots=True)
class EventHit:
    time: dt.datetime
    channel: SimChannel
    #: None for Recording/State, else the track token.
    track: str | None
    value: bool
    start_state: bool


def _topics(req: SoapRequest) -> set[str]:
    """Topics the SearchFilter asks for (both recording-history topics when absent)."""
    search_filter = child(req.body, "SearchFilter")
    wanted: set[str] = set()
    expressions = children(search_filter, "TopicExpression") if search_filter is not None else []
    if not expressions:
        return {RECORDING_TOPIC, TRACK_TOPIC}
    for expr in expressions:
        for part in (expr.text or "").split("|"):
            path = part.strip()
            # Drop the namespace prefix whatever the client called it (tns1:, ns0:, ...).
            if ":" in path.split("/")[0]:
                path = path.split(":", 1)[1]
            path = path.rstrip("/")
            if path in (RECORDING_TOPIC, TRACK_TOPIC):
                wanted.add(path)
            elif path in ("RecordingHistory//.", "RecordingHistory", "RecordingHistory/Track//."):
                wanted |= {TRACK_TOPIC} if "Track" in path else {RECORDING_TOPIC, TRACK_TOPIC}
    return wanted


def _events_for(
    ch: SimChannel,
    topics: set[str],
    start: dt.datetime,
    end: dt.datetime | None,
    include_start_state: bool,
    now: dt.datetime,
) -> list[EventHit]:
    forward = end is None or end >= start
    lo, hi = (start, end or FAR_FUTURE) if forward else (end or start, start)
    hits: list[EventHit] = []
    streams: list[str | None] = []
    if RECORDING_TOPIC in topics:
        streams.append(None)
    if TRACK_TOPIC in topics:
        streams.extend(token for token, _kind in ch.tracks)
    if include_start_state:
        points = [start] if forward or end is None else [start, end]
        for point in points:
            state = ch.timeline.recording_at(point) and point < now
            hits.extend(EventHit(point, ch, s, state, True) for s in streams)
    for t, value in ch.timeline.transitions(lo, hi, now):
        # The start state already stands for a change exactly at StartPoint.
        if include_start_state and t == start:
            continue
        hits.extend(EventHit(t, ch, s, value, False) for s in streams)
    return hits


def find_events(dev: SimDevice, req: SoapRequest) -> str:
    now = dev.now()
    start = parse_datetime(required_text(req.body, "StartPoint"), "StartPoint")
    end_text = child_text(req.body, "EndPoint")
    end = parse_datetime(end_text, "EndPoint") if end_text else None
    include = parse_bool(required_text(req.body, "IncludeStartState"), "IncludeStartState")
    keepalive = parse_duration(required_text(req.body, "KeepAliveTime"), "KeepAliveTime")
    max_matches = parse_int(child_text(req.body, "MaxMatches"), "MaxMatches")
    channels = _scope(dev, req)
    topics = _topics(req)
    hits: list[EventHit] = []
    for ch in channels:
        hits.extend(_events_for(ch, topics, start, end, include, now))
    backward = end is not None and end < start
    # Start-state events lead at their instant; recording events before track events.
    hits.sort(key=lambda h: (h.time, not h.start_state, h.channel.plan.number, h.track is not None))
    if backward:
        hits.reverse()
    if max_matches is not None:
        hits = hits[: max(0, max_matches)]
    session = dev.searches.create("events", hits, keepalive, now, start, end)
    return (
        f"<tse:FindEventsResponse><tse:SearchToken>{text(session.token)}</tse:SearchToken>"
        "</tse:FindEventsResponse>"
    )


def _event(hit: EventHit) -> str:
    ch = hit.channel
    when = xml_datetime(hit.time)
    operation = "Initialized" if hit.start_state else "Changed"
    if hit.track is None:
        topic, source, name = RECORDING_TOPIC, "", "IsRecording"
    else:
        topic = TRACK_TOPIC
        source = f'<tt:SimpleItem Name="Track" Value="{text(hit.track)}"/>'
        name = "IsDataPresent"
    return (
        f"<tt:Result><tt:RecordingToken>{text(ch.tokens.recording)}</tt:RecordingToken>"
        f"<tt:TrackToken>{text(hit.track or '')}</tt:TrackToken><tt:Time>{when}</tt:Time>"
        f'<tt:Event><wsnt:Topic Dialect="{CONCRETE_SET}">tns1:{topic}</wsnt:Topic>'
        f'<wsnt:Message><tt:Message UtcTime="{when}" PropertyOperation="{operation}">'
        f'<tt:Source><tt:SimpleItem Name="RecordingToken" Value="{text(ch.tokens.recording)}"/>'
        f'{source}</tt:Source><tt:Data><tt:SimpleItem Name="{name}" Value="{xml_bool(hit.value)}"/>'
        "</tt:Data></tt:Message></wsnt:Message></tt:Event>"
        f"<tt:StartStateEvent>{xml_bool(hit.start_state)}</tt:StartStateEvent></tt:Result>"
    )


def get_event_search_results(dev: SimDevice, req: SoapRequest) -> str:
    session = dev.searches.get(required_text(req.body, "SearchToken"), "events", dev.now())
    page = session.take(_page_size(dev, req))
    state = "Completed" if session.completed else "Searching"
    results = "".join(_event(hit) for hit in page)
    return (
        "<tse:GetEventSearchResultsResponse><tse:ResultList>"
        f"<tt:SearchState>{state}</tt:SearchState>{results}"
        "</tse:ResultList></tse:GetEventSearchResultsResponse>"
    )


def get_search_state(dev: SimDevice, req: SoapRequest) -> str:
    token = required_text(req.body, "SearchToken")
    session = dev.searches.peek(token, dev.now())
    if session is None:
        raise invalid_arg(f"unknown or expired search token {token!r}", "InvalidToken")
    dev.searches.get(token, session.kind, dev.now())  # a request about it keeps it alive
    state = "Completed" if session.completed else "Searching"
    return (
        f"<tse:GetSearchStateResponse><tse:State>{state}</tse:State></tse:GetSearchStateResponse>"
    )


def end_search(dev: SimDevice, req: SoapRequest) -> str:
    now = dev.now()
    session = dev.searches.end(required_text(req.body, "SearchToken"), now)
    # Spec: the original EndPoint when the search completed, else how far it got;
    # for FindRecordings the value is undefined, so the device's time is given.
    if session.kind == "events" and session.completed:
        endpoint = session.end_point or now
    elif session.kind == "events":
        hit = session.results[session.cursor] if session.cursor < len(session.results) else None
        endpoint = hit.time if isinstance(hit, EventHit) else (session.start_point or now)
    else:
        endpoint = now
    return (
        f"<tse:EndSearchResponse><tse:Endpoint>{xml_datetime(endpoint)}</tse:Endpoint>"
        "</tse:EndSearchResponse>"
    )


OPERATIONS: dict[str, Handler] = {
    "GetServiceCapabilities": get_service_capabilities,
    "GetRecordingSummary": get_recording_summary,
    "GetRecordingInformation": get_recording_information,
    "FindRecordings": find_recordings,
    "GetRecordingSearchResults": get_recording_search_results,
    "FindEvents": find_events,
    "GetEventSearchResults": get_event_search_results,
    "GetSearchState": get_search_state,
    "EndSearch": end_search,
}
