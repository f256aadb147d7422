"""The SIP layer is strict: what is not a SIP message of ours to understand is refused."""

from __future__ import annotations

import pytest

from vidaudit.gb28181.sip import (
    MAX_MESSAGE_BYTES,
    SipParseError,
    SipRequest,
    SipResponse,
    address_uri,
    param,
    parse,
    response_to,
    uri_hostport,
    uri_user,
)

REGISTER = (
    "REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    "v: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK1\r\n"
    "f: <sip:34020000001110000001@3402000000>;tag=1\r\n"
    "t: <sip:34020000001110000001@3402000000>\r\n"
    "i: abc@10.0.0.5\r\n"
    "CSeq: 1 REGISTER\r\n"
    "m: <sip:34020000001110000001@10.0.0.5:5060>\r\n"
    "Expires: 3600\r\n"
    "l: 0\r\n\r\n"
)


def test_compact_headers_are_understood() -> None:
    message = parse(REGISTER.encode())
    assert isinstance(message, SipRequest) and message.method == "REGISTER"
    assert message.header("Via") == "SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK1"
    assert message.branch == "z9hG4bK1" and message.call_id == "abc@10.0.0.5"
    assert message.cseq == (1, "REGISTER")
    assert uri_user(address_uri(message.header("To") or "")) == "34020000001110000001"


def test_gb2312_display_names_in_headers_are_read() -> None:
    data = REGISTER.replace("f: <sip", 'f: "柜台" <sip').encode("gb18030")
    message = parse(data)
    assert (message.header("From") or "").startswith('"柜台"')


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"garbage\r\n\r\n", "bad request line"),
        (b"REGISTER sip:a@b SIP/2.0\r\nVia: x\r\n", "no blank line"),
        (REGISTER.replace("CSeq: 1 REGISTER", "CSeq: 1 INVITE").encode(), "CSeq method"),
        (REGISTER.replace("i: abc@10.0.0.5\r\n", "").encode(), "without call-id"),
        (REGISTER.replace("Expires: 3600", " folded").encode(), "folded"),
        (REGISTER.replace("l: 0", "l: 500").encode(), "truncated"),
        (REGISTER.replace("sip:34020000002000000001@3402000000", "http://x").encode(), "SIP URI"),
        (b"SIP/2.0 099 Odd\r\n\r\n", "out of range"),
        (REGISTER.replace("Expires: 3600", "Bad Header: x").encode(), "bad header line"),
        (REGISTER.encode() + b"x" * MAX_MESSAGE_BYTES, "larger than"),
    ],
)
def test_what_is_not_sip_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(SipParseError, match=reason):
        parse(data)


def test_stream_messages_need_a_content_length() -> None:
    with pytest.raises(SipParseError, match="Content-Length"):
        parse(REGISTER.replace("l: 0\r\n", "").encode(), stream=True)
    assert parse(REGISTER.replace("l: 0\r\n", "").encode()).body == b""


def test_body_is_cut_to_content_length_over_udp() -> None:
    data = REGISTER.replace("l: 0", "l: 4").encode() + b"bodyTRAILING"
    assert parse(data).body == b"body"


def test_a_response_copies_the_transaction_headers_and_tags_the_to() -> None:
    request = parse(REGISTER.encode())
    assert isinstance(request, SipRequest)
    response = response_to(request, 401, "Unauthorized", to_tag="t1", headers=[("X", "y")])
    again = parse(response.to_bytes())
    assert isinstance(again, SipResponse) and again.status == 401
    assert again.branch == "z9hG4bK1" and again.call_id == request.call_id
    assert param(again.header("To") or "", "tag") == "t1"
    assert again.header("CSeq") == "1 REGISTER"


def test_header_injection_is_refused_when_building() -> None:
    request = parse(REGISTER.encode())
    assert isinstance(request, SipRequest)
    request.set("Subject", "a\r\nEvil: 1")
    with pytest.raises(ValueError, match="line break"):
        request.to_bytes()


def test_uri_parts() -> None:
    assert uri_hostport("sip:34020000001110000001@10.0.0.5:5061;transport=tcp") == (
        "10.0.0.5",
        5061,
    )
    assert uri_hostport("sip:x@[::1]:5060") == ("::1", 5060)
    assert uri_user("sip:3402000000") is None
