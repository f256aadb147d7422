"""The capture folder holds every protocol's calls side by side, one folder each, and reads
back exactly what was written (the layout issue 14's ISAPI and Dahua probes will use)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidaudit.capture.layout import (
    FORMAT,
    MANIFEST,
    Call,
    CaptureError,
    find_captures,
    load_capture,
    write_capture,
)

ENVELOPE = b"<s:Envelope/>"
TIMEOUT = {"kind": "timeout", "message": "no reply"}
CALLS = [
    Call("onvif", "GetDeviceInformation", ENVELOPE, b"<s:Envelope>ok</s:Envelope>", 200, None),
    Call("isapi", "GET /ISAPI/System/deviceInfo", b"GET", b"<DeviceInfo/>", 200, None),
    Call("dahua", "GET magicBox.cgi?action=getSystemInfo", b"GET", None, None, TIMEOUT),
    Call("onvif", "GetServices", ENVELOPE, b"<s:Envelope>s</s:Envelope>", 200, None),
]


def test_one_folder_per_protocol_and_it_reads_back(tmp_path: Path) -> None:
    folder = tmp_path / "cap"
    write_capture(folder, {"device": {"model": "X"}}, CALLS)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == [
        "dahua/003-GET_magicBox.cgi_action_getSystemInfo.request.txt",  # no reply came
        "isapi/002-GET_ISAPI_System_deviceInfo.reply.txt",
        "isapi/002-GET_ISAPI_System_deviceInfo.request.txt",
        MANIFEST,
        "onvif/001-GetDeviceInformation.reply.xml",
        "onvif/001-GetDeviceInformation.request.xml",
        "onvif/004-GetServices.reply.xml",
        "onvif/004-GetServices.request.xml",
    ]
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format"] == FORMAT and manifest["device"] == {"model": "X"}
    assert [c["n"] for c in manifest["calls"]] == [1, 2, 3, 4]  # the order made, all protocols
    loaded = load_capture(folder)
    assert loaded.calls == CALLS
    assert list(loaded.replies("onvif")) == ["GetDeviceInformation", "GetServices"]
    assert list(loaded.replies("isapi")) == ["GET /ISAPI/System/deviceInfo"]
    assert find_captures(tmp_path) == [folder]


def test_a_capture_is_never_overwritten(tmp_path: Path) -> None:
    write_capture(tmp_path, {}, CALLS[:1])
    before = (tmp_path / MANIFEST).read_bytes()
    with pytest.raises(FileExistsError):
        write_capture(tmp_path, {}, CALLS)
    assert (tmp_path / MANIFEST).read_bytes() == before


def test_a_broken_manifest_names_the_file_and_the_call(tmp_path: Path) -> None:
    write_capture(tmp_path, {}, CALLS[:2])
    (tmp_path / "isapi" / "002-GET_ISAPI_System_deviceInfo.request.txt").unlink()
    with pytest.raises(CaptureError, match=r"manifest\.json: calls\[1\]"):
        load_capture(tmp_path)
