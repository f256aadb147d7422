"""Replies -> our dataclasses.  Everything zeep- or lxml-shaped is ``Any`` here.

Two kinds of reader, one module each: ``tree`` reads what every probe asks for from the
lxml tree ``xmlsafety.check_reply`` already parsed (fast); ``objects`` reads the rarer
replies zeep deserialised.  ``common`` holds what both share.  Callers use this package
(``convert.device_clock(...)``) and need not know which kind a reply gets.
"""

from vidaudit.onvif.convert.objects import (
    capabilities,
    job_state,
    listed,
    media_uri,
    recording_item,
    recording_summary,
    replay_uri,
    video_sources,
)
from vidaudit.onvif.convert.tree import (
    device_clock,
    device_info,
    event_search_page,
    profiles_reply,
    recording_event,
    recording_information,
    recording_jobs_reply,
    recording_search_page,
    search_token,
    services,
)

__all__ = [
    "capabilities",
    "device_clock",
    "device_info",
    "event_search_page",
    "job_state",
    "listed",
    "media_uri",
    "profiles_reply",
    "recording_event",
    "recording_information",
    "recording_item",
    "recording_jobs_reply",
    "recording_search_page",
    "recording_summary",
    "replay_uri",
    "search_token",
    "services",
    "video_sources",
]
