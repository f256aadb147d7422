"""MANSCDP bodies: GB2312 as devices really send it, UTF-8, and refusal of what is unsafe."""

from __future__ import annotations

import datetime as dt

import pytest

from vidaudit.gb28181 import manscdp
from vidaudit.gb28181.manscdp import ManscdpError


def catalog(name: str, encoding: str, declared: str | None) -> bytes:
    head = f'<?xml version="1.0" encoding="{declared}"?>\r\n' if declared else ""
    text = (
        head + "<Response><CmdType>Catalog</CmdType><SN>7</SN>"
        "<DeviceID>34020000001110000001</DeviceID><SumNum>3</SumNum>"
        '<DeviceList Num="1"><Item><DeviceID>34020000001320000001</DeviceID>'
        f"<Name>{name}</Name><Status>ON</Status></Item></DeviceList></Response>"
    )
    return text.encode(encoding)


@pytest.mark.parametrize(
    ("name", "encoding", "declared"),
    [
        ("1号柜台", "gb2312", "GB2312"),
        # declared GB2312 but holding a GBK-only character, as devices do
        ("珺堃营业厅", "gbk", "GB2312"),
        ("1号柜台", "utf-8", "UTF-8"),
        ("1号柜台", "gb2312", None),  # no declaration at all
    ],
)
def test_catalog_names_decode_whatever_the_device_declared(
    name: str, encoding: str, declared: str | None
) -> None:
    envelope = manscdp.envelope(catalog(name, encoding, declared))
    assert (envelope.kind, envelope.cmd_type, envelope.sn) == ("Response", "Catalog", 7)
    assert manscdp.sum_num(envelope.root) == 3
    items = [manscdp.catalog_item(i) for i in manscdp.list_items(envelope.root, "DeviceList")]
    assert [(i.device_id, i.name, i.status) for i in items] == [
        ("34020000001320000001", name, "ON")
    ]


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><Response>&a;</Response>',
        b"<Response><CmdType>Catalog</CmdType>",  # truncated
        b"\xff\xfe\x00garbage",
        b"<Other><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>1</DeviceID></Other>",
        b"<Response><CmdType>Catalog</CmdType><SN>x</SN><DeviceID>1</DeviceID></Response>",
    ],
)
def test_unsafe_or_broken_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(ManscdpError):
        manscdp.envelope(body)


def test_record_items_and_device_status_read_local_times() -> None:
    body = (
        '<?xml version="1.0" encoding="GB2312"?><Response><CmdType>RecordInfo</CmdType>'
        "<SN>9</SN><DeviceID>34020000001320000001</DeviceID><SumNum>1</SumNum>"
        '<RecordList Num="1"><Item><DeviceID>34020000001320000001</DeviceID>'
        "<StartTime>2026-11-20T08:30:00</StartTime><EndTime>2026-11-20 17:30:00.000</EndTime>"
        "<Type>time</Type></Item></RecordList></Response>"
    ).encode("gb2312")
    root = manscdp.envelope(body).root
    item = manscdp.record_item(manscdp.list_items(root, "RecordList")[0])
    assert (item.start, item.end) == (
        dt.datetime(2026, 11, 20, 8, 30),
        dt.datetime(2026, 11, 20, 17, 30),
    )
    status = manscdp.device_status(
        manscdp.envelope(
            b"<Response><CmdType>DeviceStatus</CmdType><SN>1</SN>"
            b"<DeviceID>34020000001110000001</DeviceID><Result>OK</Result>"
            b"<Online>ONLINE</Online><Status>OK</Status><Record>OFF</Record>"
            b"<DeviceTime>2026-11-20T10:00:05</DeviceTime></Response>"
        ).root
    )
    assert status.online and status.working and status.recording is False
    assert status.device_time == dt.datetime(2026, 11, 20, 10, 0, 5)


def test_a_record_item_ending_before_it_starts_is_malformed() -> None:
    root = manscdp.parse_xml(
        b"<Item><DeviceID>1</DeviceID><StartTime>2026-11-20T10:00:00</StartTime>"
        b"<EndTime>2026-11-20T09:00:00</EndTime></Item>"
    )
    with pytest.raises(ManscdpError, match="ends before"):
        manscdp.record_item(root)


def test_queries_we_send() -> None:
    body = manscdp.record_info_query(
        42, "34020000001320000001", dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 2, 0, 0, 1)
    )
    assert body.startswith(b"<?xml version='1.0' encoding='GB2312'?>")
    root = manscdp.envelope(body).root
    assert manscdp.text_of(root, "StartTime") == "2026-11-01T00:00:00"
    assert manscdp.text_of(root, "EndTime") == "2026-11-02T00:00:01"
    assert manscdp.text_of(root, "Type") == "all"
    with pytest.raises(ValueError, match="20-digit"):
        manscdp.query("Catalog", 1, "not-an-id")
