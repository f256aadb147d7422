"""Redaction of captured traffic, for every protocol a capture may hold: ONVIF (SOAP),
Hikvision ISAPI (XML) and Dahua's CGI (``key=value`` lines).  The ISAPI and Dahua replies
are real captures (../shared/fixtures); what identifies a device must not survive."""

from __future__ import annotations

from tests.conftest import shared_path
from vidaudit.capture.redact import Redactor


def test_redactor_replaces_addresses_and_keeps_namespaces() -> None:
    r = Redactor(secrets=["pa55word!"], names=["admin"])
    reply = (
        '<e xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:v="http://vendor.example.cn/ns">'
        "<tt:Uri>rtsp://admin:pa55word!@10.1.2.3:554/Streaming/tracks/101</tt:Uri>"
        "<tt:XAddr>http://nvr-fy001.bank.local/onvif/device_service</tt:XAddr>"
        "<tt:XAddr>http://[fe80::1]:80/onvif</tt:XAddr>"
        "<tt:HwAddress>AC:CC:8E:12:34:56</tt:HwAddress><tt:IPv4Address>10.1.2.3</tt:IPv4Address>"
        "<tds:SerialNumber>DS-7616NI-K20120190101CCWR</tds:SerialNumber>"
        "<tds:FirmwareVersion>61.8.0.3-r8</tds:FirmwareVersion>"
        '<tt:Realm value="DS-7616NI-K20120190101CCWR">10.1.2.3</tt:Realm>'
        "<tt:Namespace>http://www.onvif.org/ver10/device/wsdl</tt:Namespace>"
        "<v:Note>ask admin, MAC ac-cc-8e-12-34-56</v:Note></e>"
    )
    out = r.text(reply)
    for secret in (
        *("pa55word!", "admin", "10.1.2.3", "nvr-fy001.bank.local", "fe80::1"),
        *("AC:CC:8E:12:34:56", "ac-cc-8e-12-34-56", "DS-7616NI-K20120190101CCWR"),
    ):
        assert secret not in out, secret
    assert "rtsp://USER:PASSWORD@192.0.2.1:554/Streaming/tracks/101" in out
    assert "http://device-1.example/onvif/device_service" in out
    assert "http://[2001:db8::1]:80/onvif" in out
    assert out.count("02:00:00:00:00:01") == 2  # the same MAC, one placeholder
    assert "<tt:IPv4Address>192.0.2.1</tt:IPv4Address>" in out  # the same IP, the same one
    assert "SERIAL-1" in out and 'value="SERIAL-1"' in out
    assert "61.8.0.3-r8" in out  # a firmware version is not an address
    assert "http://www.onvif.org/ver10/device/wsdl" in out
    assert 'xmlns:v="http://vendor.example.cn/ns"' in out  # namespace URIs stay


def test_isapi_device_info_loses_its_serial_and_mac() -> None:
    # A real DS-7608NXI-I2 reply: <serialNumber> and <macAddress>, lower camel case.
    reply = shared_path("fixtures", "isapi", "System.deviceInfo.nvr.DS-7608NXI-I2.xml")
    text = reply.read_text(encoding="utf-8")
    serial = "DS-7608NXI-I0/0P/S0000000000CCRRJ00000000WCVU"
    assert serial in text and "00:00:5e:00:53:01" in text
    r = Redactor()
    out = r.text(text)
    assert serial not in out and "00:00:5e:00:53:01" not in out
    assert "<serialNumber>SERIAL-1</serialNumber>" in out
    assert "<macAddress>02:00:00:00:00:01</macAddress>" in out
    assert "<model>DS-7608NXI-I2/8P/S</model>" in out  # the model is what a capture is for
    assert "<firmwareVersion>V4.62.210</firmwareVersion>" in out
    assert 'xmlns="http://www.isapi.org/ver20/XMLSchema"' in out
    # The same serial elsewhere (a digest realm, a JSON status) gets the same placeholder.
    assert r.text(f'{{"serialNumber": "{serial}", "ip": "10.0.0.7"}}') == (
        '{"serialNumber": "SERIAL-1", "ip": "192.0.2.1"}'
    )


def test_dahua_system_info_lines_lose_the_serial_and_addresses() -> None:
    # A real getSystemInfo reply (its publisher already blanked the serial: the line's
    # value is replaced whatever it holds).
    reply = shared_path("fixtures", "dahua", "magicBox.getSystemInfo.IPC-HDW5831R-ZE.docstring.txt")
    text = reply.read_text(encoding="utf-8") + "IPAddress=192.168.1.108\n"
    out = Redactor().text(text)
    assert "serialNumber=SERIAL-1" in out.splitlines()
    assert "IPAddress=192.0.2.1" in out.splitlines()
    assert "deviceType=IPC-HDW5831R-ZE" in out.splitlines()
    # a long colon-separated version string is not a MAC address
    assert "updateSerialCloudUpgrade=IPC-HDW5830R-Z:07:01:08:70:52:00:09:0E" in out
