"""Media service ver10 (trt): profiles, video sources, stream and snapshot URIs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidaudit.sim.handlers.base import Handler
from vidaudit.sim.handlers.capabilities import media_capabilities
from vidaudit.sim.soap import SoapRequest, attr, child, child_text, invalid_arg, required_text, text

if TYPE_CHECKING:
    from vidaudit.sim.device import SimChannel, SimDevice

WIDTH, HEIGHT = 1920, 1080


def _profile(dev: SimDevice, ch: SimChannel) -> str:
    t = ch.tokens
    audio_src = audio_enc = ""
    if ch.plan.audio:
        audio_src = (
            f"<tt:AudioSourceConfiguration token={attr(f'AudioSourceConfig_{ch.plan.number}')}>"
            f"<tt:Name>AudioSource_{ch.plan.number}</tt:Name><tt:UseCount>1</tt:UseCount>"
            f"<tt:SourceToken>AudioSource_{ch.plan.number}</tt:SourceToken></tt:AudioSourceConfiguration>"
        )
        audio_enc = (
            f"<tt:AudioEncoderConfiguration token={attr('AudioEncoder_' + str(ch.plan.number))}>"
            f"<tt:Name>AudioEncoder_{ch.plan.number}</tt:Name><tt:UseCount>1</tt:UseCount>"
            "<tt:Encoding>G711</tt:Encoding><tt:Bitrate>64</tt:Bitrate><tt:SampleRate>8</tt:SampleRate>"
            "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address>"
            "</tt:Address><tt:Port>0</tt:Port><tt:TTL>0</tt:TTL><tt:AutoStart>false</tt:AutoStart>"
            "</tt:Multicast><tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:AudioEncoderConfiguration>"
        )
    return (
        f'<trt:Profiles token={attr(t.profile)} fixed="true">'
        f"<tt:Name>{text(ch.plan.name)}</tt:Name>"
        f"<tt:VideoSourceConfiguration token={attr('VideoSourceConfig_' + str(ch.plan.number))}>"
        f"<tt:Name>VideoSourceConfig_{ch.plan.number}</tt:Name><tt:UseCount>1</tt:UseCount>"
        f"<tt:SourceToken>{text(t.source)}</tt:SourceToken>"
        f'<tt:Bounds x="0" y="0" width="{WIDTH}" height="{HEIGHT}"/></tt:VideoSourceConfiguration>'
        f"{audio_src}"
        f"<tt:VideoEncoderConfiguration token={attr('VideoEncoder_' + str(ch.plan.number))}>"
        f"<tt:Name>MainStream_{ch.plan.number}</tt:Name><tt:UseCount>1</tt:UseCount>"
        f"<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>{WIDTH}</tt:Width>"
        f"<tt:Height>{HEIGHT}</tt:Height></tt:Resolution><tt:Quality>5</tt:Quality>"
        "<tt:RateControl><tt:FrameRateLimit>25</tt:FrameRateLimit><tt:EncodingInterval>1"
        "</tt:EncodingInterval><tt:BitrateLimit>4096</tt:BitrateLimit></tt:RateControl>"
        "<tt:H264><tt:GovLength>50</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264>"
        "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address>"
        "</tt:Address><tt:Port>0</tt:Port><tt:TTL>0</tt:TTL><tt:AutoStart>false</tt:AutoStart>"
        "</tt:Multicast><tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>"
        f"{audio_enc}</trt:Profiles>"
    )


def get_profiles(dev: SimDevice, req: SoapRequest) -> str:
    def render() -> str:
        body = "".join(_profile(dev, ch) for ch in dev.channels)
        return f"<trt:GetProfilesResponse>{body}</trt:GetProfilesResponse>"

    return dev.cached("GetProfiles", render)


def get_profile(dev: SimDevice, req: SoapRequest) -> str:
    ch = dev.channel_by_profile(required_text(req.body, "ProfileToken"))
    body = _profile(dev, ch).replace("trt:Profiles", "trt:Profile")
    return f"<trt:GetProfileResponse>{body}</trt:GetProfileResponse>"


def get_video_sources(dev: SimDevice, req: SoapRequest) -> str:
    def render() -> str:
        body = "".join(
            f"<trt:VideoSources token={attr(ch.tokens.source)}><tt:Framerate>25</tt:Framerate>"
            f"<tt:Resolution><tt:Width>{WIDTH}</tt:Width><tt:Height>{HEIGHT}</tt:Height>"
            "</tt:Resolution></trt:VideoSources>"
            for ch in dev.channels
        )
        return f"<trt:GetVideoSourcesResponse>{body}</trt:GetVideoSourcesResponse>"

    return dev.cached("GetVideoSources", render)


def _media_uri(uri: str) -> str:
    return (
        f"<trt:MediaUri><tt:Uri>{text(uri)}</tt:Uri><tt:InvalidAfterConnect>false"
        "</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
        "<tt:Timeout>PT60S</tt:Timeout></trt:MediaUri>"
    )


def check_stream_setup(req: SoapRequest) -> None:
    setup = child(req.body, "StreamSetup")
    if setup is None:
        raise invalid_arg("missing StreamSetup")
    stream = child_text(setup, "Stream")
    if stream not in ("RTP-Unicast", "RTP-Multicast"):
        raise invalid_arg(
            f"StreamSetup/Stream must be RTP-Unicast or RTP-Multicast, not {stream!r}"
        )
    transport = child(setup, "Transport")
    protocol = child_text(transport, "Protocol") if transport is not None else None
    if protocol not in ("UDP", "TCP", "RTSP", "HTTP"):
        raise invalid_arg(f"StreamSetup/Transport/Protocol {protocol!r} is not supported")


def get_stream_uri(dev: SimDevice, req: SoapRequest) -> str:
    check_stream_setup(req)
    ch = dev.channel_by_profile(required_text(req.body, "ProfileToken"))
    uri = dev.flavour.stream_uri(dev.host, dev.rtsp_port, ch.plan.number, ch.tokens.profile)
    return f"<trt:GetStreamUriResponse>{_media_uri(uri)}</trt:GetStreamUriResponse>"


def get_snapshot_uri(dev: SimDevice, req: SoapRequest) -> str:
    ch = dev.channel_by_profile(required_text(req.body, "ProfileToken"))
    uri = _media_uri(dev.snapshot_url(ch))
    return f"<trt:GetSnapshotUriResponse>{uri}</trt:GetSnapshotUriResponse>"


def get_service_capabilities(dev: SimDevice, req: SoapRequest) -> str:
    return (
        f"<trt:GetServiceCapabilitiesResponse>{media_capabilities(dev)}"
        "</trt:GetServiceCapabilitiesResponse>"
    )


OPERATIONS: dict[str, Handler] = {
    "GetProfiles": get_profiles,
    "GetProfile": get_profile,
    "GetVideoSources": get_video_sources,
    "GetStreamUri": get_stream_uri,
    "GetSnapshotUri": get_snapshot_uri,
    "GetServiceCapabilities": get_service_capabilities,
}
