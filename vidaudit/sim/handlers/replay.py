"""Replay service (trp): the RTSP URI a recording plays from, and its capabilities."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidaudit.sim.handlers.base import Handler
from vidaudit.sim.handlers.capabilities import replay_capabilities
from vidaudit.sim.handlers.media import check_stream_setup
from vidaudit.sim.soap import SoapRequest, required_text, text

if TYPE_CHECKING:
    from vidaudit.sim.device import SimDevice


def get_replay_uri(dev: SimDevice, req: SoapRequest) -> str:
    check_stream_setup(req)
    ch = dev.channel_by_recording(required_text(req.body, "RecordingToken"))
    uri = text(dev.replay_uri(ch))
    return f"<trp:GetReplayUriResponse><trp:Uri>{uri}</trp:Uri></trp:GetReplayUriResponse>"


def get_replay_configuration(dev: SimDevice, req: SoapRequest) -> str:
    return (
        "<trp:GetReplayConfigurationResponse><trp:Configuration>"
        "<tt:SessionTimeout>PT60S</tt:SessionTimeout></trp:Configuration>"
        "</trp:GetReplayConfigurationResponse>"
    )


def get_service_capabilities(dev: SimDevice, req: SoapRequest) -> str:
    return (
        f"<trp:GetServiceCapabilitiesResponse>{replay_capabilities(dev)}"
        "</trp:GetServiceCapabilitiesResponse>"
    )


OPERATIONS: dict[str, Handler] = {
    "GetReplayUri": get_replay_uri,
    "GetReplayConfiguration": get_replay_configuration,
    "GetServiceCapabilities": get_service_capabilities,
}
