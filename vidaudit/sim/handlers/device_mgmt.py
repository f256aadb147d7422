"""Device management service (tds): time, identity, services, capabilities, scopes."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from vidaudit.sim.handlers.base import Handler
from vidaudit.sim.handlers.capabilities import CAPABILITIES, device_capabilities
from vidaudit.sim.plan import DeviceKind, TimeReport
from vidaudit.sim.soap import (
    NS,
    SERVICE_PREFIX,
    SoapFault,
    SoapRequest,
    child_text,
    children,
    parse_bool,
    text,
    xml_bool,
)

if TYPE_CHECKING:
    from vidaudit.sim.device import SimDevice

#: ONVIF version the simulated firmware claims (2.60 era, like the captured devices).
VERSION = "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>"


def _datetime(tag: str, value: dt.datetime) -> str:
    return (
        f"<tt:{tag}><tt:Time><tt:Hour>{value.hour}</tt:Hour><tt:Minute>{value.minute}</tt:Minute>"
        f"<tt:Second>{value.second}</tt:Second></tt:Time><tt:Date><tt:Year>{value.year}</tt:Year>"
        f"<tt:Month>{value.month}</tt:Month><tt:Day>{value.day}</tt:Day></tt:Date></tt:{tag}>"
    )


def get_system_date_and_time(dev: SimDevice, req: SoapRequest) -> str:
    now = dev.now()
    report = dev.plan.time_report
    utc = _datetime("UTCDateTime", now) if report is not TimeReport.LOCAL_ONLY else ""
    local = (
        _datetime("LocalDateTime", dev.tz.local(now)) if report is not TimeReport.UTC_ONLY else ""
    )
    # A device that drifts is not synchronised: it says so the way real ones do.
    kind = "NTP" if abs(dev.plan.clock_drift_s) < 1 else "Manual"
    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        f"<tt:DateTimeType>{kind}</tt:DateTimeType>"
        f"<tt:DaylightSavings>{xml_bool(dev.tz.has_dst)}</tt:DaylightSavings>"
        f"<tt:TimeZone><tt:TZ>{text(dev.tz.text)}</tt:TZ></tt:TimeZone>{utc}{local}"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def get_device_information(dev: SimDevice, req: SoapRequest) -> str:
    f = dev.flavour
    model = f.nvr_model if dev.plan.kind is DeviceKind.NVR else f.camera_model
    return (
        "<tds:GetDeviceInformationResponse>"
        f"<tds:Manufacturer>{text(f.manufacturer)}</tds:Manufacturer>"
        f"<tds:Model>{text(model)}</tds:Model>"
        f"<tds:FirmwareVersion>{text(f.firmware)}</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{dev.serial}</tds:SerialNumber>"
        "<tds:HardwareId>V1.0</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


def get_services(dev: SimDevice, req: SoapRequest) -> str:
    include = parse_bool(child_text(req.body, "IncludeCapability"), "IncludeCapability")

    def render() -> str:
        out = []
        for service in dev.services():
            caps = (
                f"<tds:Capabilities>{CAPABILITIES[service](dev)}</tds:Capabilities>"
                if include
                else ""
            )
            out.append(
                f"<tds:Service><tds:Namespace>{NS[SERVICE_PREFIX[service]]}</tds:Namespace>"
                f"<tds:XAddr>{text(dev.xaddr(service))}</tds:XAddr>{caps}{VERSION}</tds:Service>"
            )
        return f"<tds:GetServicesResponse>{''.join(out)}</tds:GetServicesResponse>"

    return dev.cached(f"GetServices:{include}", render)


def get_service_capabilities(dev: SimDevice, req: SoapRequest) -> str:
    return (
        f"<tds:GetServiceCapabilitiesResponse>{device_capabilities(dev)}"
        "</tds:GetServiceCapabilitiesResponse>"
    )


_CATEGORIES = {"All", "Device", "Media", "Analytics", "Events", "Imaging", "PTZ"}


def get_capabilities(dev: SimDevice, req: SoapRequest) -> str:
    wanted = {(c.text or "").strip() for c in children(req.body, "Category")} or {"All"}
    unknown = wanted - _CATEGORIES
    if unknown:
        raise SoapFault("env:Sender", ("ter:InvalidArgVal",), f"unknown category {sorted(unknown)}")
    if wanted & {"Analytics", "Events", "Imaging", "PTZ"} and "All" not in wanted:
        raise SoapFault(
            "env:Receiver", ("ter:ActionNotSupported", "ter:NoSuchService"), "no such service"
        )
    parts = []
    if wanted & {"All", "Device"}:
        parts.append(
            f"<tt:Device><tt:XAddr>{text(dev.xaddr('device'))}</tt:XAddr><tt:System>"
            "<tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>false</tt:DiscoveryBye>"
            "<tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup>"
            "<tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>"
            "<tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tt:SupportedVersions>"
            "</tt:System></tt:Device>"
        )
    if wanted & {"All", "Media"}:
        parts.append(
            f"<tt:Media><tt:XAddr>{text(dev.xaddr('media'))}</tt:XAddr><tt:StreamingCapabilities>"
            "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
            "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
        )
    if "All" in wanted and not dev.plan.profile_s_only:
        parts.append(
            "<tt:Extension>"
            f"<tt:Recording><tt:XAddr>{text(dev.xaddr('recording'))}</tt:XAddr>"
            "<tt:ReceiverSource>false</tt:ReceiverSource><tt:MediaProfileSource>true</tt:MediaProfileSource>"
            "<tt:DynamicRecordings>false</tt:DynamicRecordings><tt:DynamicTracks>false</tt:DynamicTracks>"
            "<tt:MaxStringLength>64</tt:MaxStringLength></tt:Recording>"
            f"<tt:Search><tt:XAddr>{text(dev.xaddr('search'))}</tt:XAddr>"
            "<tt:MetadataSearch>false</tt:MetadataSearch></tt:Search>"
            f"<tt:Replay><tt:XAddr>{text(dev.xaddr('replay'))}</tt:XAddr></tt:Replay>"
            "</tt:Extension>"
        )
    return (
        f"<tds:GetCapabilitiesResponse><tds:Capabilities>{''.join(parts)}"
        "</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


def get_scopes(dev: SimDevice, req: SoapRequest) -> str:
    def render() -> str:
        kind = (
            "Network_Video_Storage"
            if dev.plan.kind is DeviceKind.NVR
            else "Network_Video_Transmitter"
        )
        items = [
            ("Fixed", f"onvif://www.onvif.org/type/{kind}"),
            ("Fixed", "onvif://www.onvif.org/Profile/Streaming"),
            ("Fixed", f"onvif://www.onvif.org/hardware/{dev.model}"),
            ("Configurable", f"onvif://www.onvif.org/name/{dev.plan.id}"),
            ("Configurable", f"onvif://www.onvif.org/location/{dev.branch.id}"),
        ]
        if not dev.plan.profile_s_only:
            items.append(("Fixed", "onvif://www.onvif.org/Profile/G"))
        scopes = "".join(
            f"<tds:Scopes><tt:ScopeDef>{d}</tt:ScopeDef><tt:ScopeItem>{text(i)}</tt:ScopeItem></tds:Scopes>"
            for d, i in items
        )
        return f"<tds:GetScopesResponse>{scopes}</tds:GetScopesResponse>"

    return dev.cached("GetScopes", render)


OPERATIONS: dict[str, Handler] = {
    "GetSystemDateAndTime": get_system_date_and_time,
    "GetDeviceInformation": get_device_information,
    "GetServices": get_services,
    "GetServiceCapabilities": get_service_capabilities,
    "GetCapabilities": get_capabilities,
    "GetScopes": get_scopes,
}
