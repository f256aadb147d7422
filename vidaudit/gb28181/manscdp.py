"""MANSCDP bodies (GB/T 28181-2016 Annex A): the XML an upper platform sends and reads.

Queries we send: ``Query{CmdType, SN, DeviceID[, StartTime, EndTime, Secrecy, Type]}``.
What devices send: ``Notify`` (Keepalive, MediaStatus) and ``Response`` (Catalog,
DeviceInfo, DeviceStatus, RecordInfo), usually declared ``encoding="GB2312"``.

Reading is strict and bounded like the ONVIF replies (``onvif/xmlsafety.py``): a DOCTYPE
or ENTITY anywhere is refused before parsing, the parser neither recovers, resolves
entities nor loads anything, and the body is already bounded by the SIP layer.  Text
declared GB2312 or GBK is decoded as GB18030, their superset: devices declare GB2312 and
then send GBK-only characters in channel names (e.g. 珺, 堃), which strict GB2312 refuses.

Times in MANSCDP are the device's local wall time without an offset
(``2026-11-20T10:00:00``); they come out naive here and the caller, who knows the
device's zone, makes them aware.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

# lxml ships no type information; used through ``Any`` as in onvif/xmlsafety.py.
from lxml import etree  # type: ignore[import-untyped]

CONTENT_TYPE = "Application/MANSCDP+xml"
_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_-]+)[\"'][^>]*\?>")
_ANY_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_FORBIDDEN = (b"<!DOCTYPE", b"<!ENTITY")
GB_ID = re.compile(r"^[0-9]{20}$")


class ManscdpError(ValueError):
    """A body that is not acceptable MANSCDP (the reason, never the body)."""


def _parser() -> Any:
    return etree.XMLParser(
        recover=False,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def decode_body(body: bytes) -> str:
    """The body as text, by its XML declaration (GB2312/GBK read as GB18030), else UTF-8,
    else GB18030 (some devices declare nothing and send GB2312)."""
    if any(marker in body for marker in _FORBIDDEN):
        raise ManscdpError("a DTD or entity declaration is not accepted")
    match = _DECLARATION.match(body)
    declared = match.group(1).decode("ascii").lower() if match else None
    if declared in ("gb2312", "gbk", "gb18030", "gb-2312"):
        order = ("gb18030", "utf-8")
    else:
        order = ("utf-8", "gb18030")
    for encoding in order:
        try:
            return body.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ManscdpError("the body is neither GB18030 nor UTF-8 text")


def parse_xml(body: bytes) -> Any:
    """The root element of a MANSCDP body (strict; see module doc)."""
    text = _ANY_DECLARATION.sub("", decode_body(body), count=1)
    try:
        root = etree.fromstring(text.encode("utf-8"), _parser())
    except etree.XMLSyntaxError as exc:
        raise ManscdpError(f"not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise ManscdpError("a DTD is not accepted")
    return root


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child(element: Any, name: str) -> Any:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def text_of(element: Any, name: str) -> str | None:
    child = _child(element, name)
    if child is None or child.text is None:
        return None
    value: str = child.text.strip()
    return value or None


def parse_time(value: str | None) -> dt.datetime | None:
    """MANSCDP local time (``YYYY-MM-DDTHH:MM:SS[.fff]``, a space also seen) -> naive."""
    if not value:
        return None
    text = value.strip().replace(" ", "T")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=None) if parsed.tzinfo is not None else parsed


def format_time(value: dt.datetime) -> str:
    """A naive (device local) time as MANSCDP writes it, whole seconds."""
    return value.replace(microsecond=0, tzinfo=None).isoformat(timespec="seconds")


# -- what we send ----------------------------------------------------------------------


def query(cmd_type: str, sn: int, device_id: str, **fields: str) -> bytes:
    """A ``Query`` body, GB2312-declared (our own content is ASCII)."""
    if not GB_ID.match(device_id):
        raise ValueError(f"not a 20-digit GB/T 28181 ID: {device_id!r}")
    root = etree.Element("Query")
    for name, value in (("CmdType", cmd_type), ("SN", str(sn)), ("DeviceID", device_id)):
        etree.SubElement(root, name).text = value
    for name, value in fields.items():
        etree.SubElement(root, name).text = value
    xml: bytes = etree.tostring(root, encoding="GB2312", xml_declaration=True)
    # lxml writes the declaration with single quotes; devices parse either.
    return xml


def record_info_query(sn: int, channel_id: str, start: dt.datetime, end: dt.datetime) -> bytes:
    """RecordInfo over [start, end), both device local time (A.2.4.5)."""
    return query(
        "RecordInfo",
        sn,
        channel_id,
        StartTime=format_time(start),
        EndTime=format_time(end),
        Secrecy="0",
        Type="all",
    )


# -- what devices send -----------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """Root kind (``Notify``, ``Response``, ``Query``, ``Control``), CmdType, SN, DeviceID."""

    kind: str
    cmd_type: str
    sn: int
    device_id: str
    root: Any


def envelope(body: bytes) -> Envelope:
    root = parse_xml(body)
    kind = _local(root.tag)
    if kind not in ("Notify", "Response", "Query", "Control"):
        raise ManscdpError(f"unknown MANSCDP root <{kind}>")
    cmd_type = text_of(root, "CmdType")
    sn = text_of(root, "SN")
    device_id = text_of(root, "DeviceID")
    if not cmd_type or sn is None or not sn.isdigit() or not device_id:
        raise ManscdpError(f"<{kind}> without CmdType, a numeric SN or DeviceID")
    return Envelope(kind, cmd_type, int(sn), device_id, root)


@dataclass(frozen=True)
class CatalogItem:
    device_id: str
    name: str | None
    manufacturer: str | None
    model: str | None
    parent_id: str | None
    #: ``ON``/``OFF`` (some firmware: ``ONLINE``/``OFFLINE``, ``OK``)
    status: str | None


@dataclass(frozen=True)
class RecordItem:
    device_id: str
    name: str | None
    #: device local wall time, naive
    start: dt.datetime
    end: dt.datetime
    type: str | None
    file_path: str | None


@dataclass(frozen=True)
class DeviceInfoAnswer:
    device_id: str
    name: str | None
    manufacturer: str | None
    model: str | None
    firmware: str | None
    channels: int | None
    ok: bool


@dataclass(frozen=True)
class DeviceStatusAnswer:
    device_id: str
    #: ``Online`` is ONLINE; ``Status`` is OK (the device works)
    online: bool
    working: bool
    #: ``Record`` ON/OFF; None when the device does not say
    recording: bool | None
    #: device local wall time, naive, whole seconds
    device_time: dt.datetime | None


def sum_num(root: Any) -> int | None:
    value = text_of(root, "SumNum")
    return int(value) if value is not None and value.isdigit() else None


def list_items(root: Any, list_name: str) -> list[Any]:
    """The ``Item`` elements of ``<DeviceList>``/``<RecordList>`` (may be absent)."""
    holder = _child(root, list_name)
    if holder is None:
        return []
    return [child for child in holder if _local(child.tag) == "Item"]


def catalog_item(item: Any) -> CatalogItem:
    device_id = text_of(item, "DeviceID")
    if not device_id:
        raise ManscdpError("Catalog item without DeviceID")
    return CatalogItem(
        device_id,
        text_of(item, "Name"),
        text_of(item, "Manufacturer"),
        text_of(item, "Model"),
        text_of(item, "ParentID"),
        text_of(item, "Status"),
    )


def record_item(item: Any) -> RecordItem:
    start = parse_time(text_of(item, "StartTime"))
    end = parse_time(text_of(item, "EndTime"))
    device_id = text_of(item, "DeviceID") or ""
    if start is None or end is None:
        raise ManscdpError("RecordInfo item without a readable StartTime/EndTime")
    if end < start:
        raise ManscdpError("RecordInfo item ends before it starts")
    return RecordItem(
        device_id,
        text_of(item, "Name"),
        start,
        end,
        text_of(item, "Type"),
        text_of(item, "FilePath"),
    )


def _ok(value: str | None) -> bool:
    return (value or "").upper() in ("OK", "ON", "ONLINE", "TRUE")


def device_info(root: Any) -> DeviceInfoAnswer:
    channels = text_of(root, "Channel")
    return DeviceInfoAnswer(
        text_of(root, "DeviceID") or "",
        text_of(root, "DeviceName"),
        text_of(root, "Manufacturer"),
        text_of(root, "Model"),
        text_of(root, "Firmware"),
        int(channels) if channels is not None and channels.isdigit() else None,
        _ok(text_of(root, "Result") or "OK"),
    )


def device_status(root: Any) -> DeviceStatusAnswer:
    record = text_of(root, "Record")
    return DeviceStatusAnswer(
        text_of(root, "DeviceID") or "",
        _ok(text_of(root, "Online")),
        _ok(text_of(root, "Status")),
        None if record is None else record.upper() == "ON",
        parse_time(text_of(root, "DeviceTime")),
    )


__all__ = [
    "CONTENT_TYPE",
    "GB_ID",
    "CatalogItem",
    "DeviceInfoAnswer",
    "DeviceStatusAnswer",
    "Envelope",
    "ManscdpError",
    "RecordItem",
    "catalog_item",
    "decode_body",
    "device_info",
    "device_status",
    "envelope",
    "format_time",
    "list_items",
    "parse_time",
    "parse_xml",
    "query",
    "record_info_query",
    "record_item",
    "sum_num",
    "text_of",
]
