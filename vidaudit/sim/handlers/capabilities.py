"""Service capability elements, shared by GetServices(IncludeCapability) and each
service's GetServiceCapabilities."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vidaudit.sim.device import SimDevice


def device_capabilities(dev: SimDevice) -> str:
    return (
        "<tds:Capabilities>"
        '<tds:Network IPFilter="false" ZeroConfiguration="false" IPVersion6="false" '
        'DynDNS="false" Dot11Configuration="false" HostnameFromDHCP="false" NTP="1"/>'
        '<tds:Security TLS1.0="false" TLS1.1="false" TLS1.2="false" OnboardKeyGeneration="false" '
        'AccessPolicyConfig="false" DefaultAccessPolicy="false" Dot1X="false" '
        'RemoteUserHandling="false" X.509Token="false" SAMLToken="false" KerberosToken="false" '
        'UsernameToken="true" HttpDigest="true" RELToken="false" MaxUsers="16"/>'
        '<tds:System DiscoveryResolve="false" DiscoveryBye="false" RemoteDiscovery="false" '
        'SystemBackup="false" SystemLogging="false" FirmwareUpgrade="false" '
        'HttpFirmwareUpgrade="false" HttpSystemBackup="false" HttpSystemLogging="false" '
        'HttpSupportInformation="false"/>'
        "</tds:Capabilities>"
    )


def media_capabilities(dev: SimDevice) -> str:
    return (
        '<trt:Capabilities SnapshotUri="true" Rotation="false" VideoSourceMode="false" OSD="false">'
        f'<trt:ProfileCapabilities MaximumNumberOfProfiles="{max(1, len(dev.channels))}"/>'
        '<trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true" '
        'NonAggregateControl="false" NoRTSPStreaming="false"/>'
        "</trt:Capabilities>"
    )


def recording_capabilities(dev: SimDevice) -> str:
    n = max(1, len(dev.channels))
    return (
        '<trc:Capabilities DynamicRecordings="false" DynamicTracks="false" '
        f'Encoding="H264 H265 G711" MaxRate="16384" MaxTotalRate="{16384 * n}" '
        f'MaxRecordings="{n}" MaxRecordingJobs="{n}" Options="true" MetadataRecording="false"/>'
    )


def search_capabilities(dev: SimDevice) -> str:
    return '<tse:Capabilities MetadataSearch="false" GeneralStartEvents="false"/>'


def replay_capabilities(dev: SimDevice) -> str:
    return (
        '<trp:Capabilities ReversePlayback="false" SessionTimeoutRange="0 4294967295" '
        'RTP_RTSP_TCP="true"/>'
    )


CAPABILITIES = {
    "device": device_capabilities,
    "media": media_capabilities,
    "recording": recording_capabilities,
    "search": search_capabilities,
    "replay": replay_capabilities,
}
