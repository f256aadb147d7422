"""SIP messages (RFC 3261) as GB/T 28181 uses them: strict parsing, plain building.

Why our own and not a library: see ``vidaudit/gb28181/__init__.py``.

Strict means: a message that is not one of ours to understand is refused with
``SipParseError`` (the transport counts and logs it, never crashes): a start line that is
neither ``METHOD uri SIP/2.0`` nor ``SIP/2.0 code reason``, header folding, a header
without a colon, more than ``MAX_HEADERS`` headers, a body shorter than its
``Content-Length``, a request without Via, From, To, Call-ID or CSeq, a CSeq whose method
is not the request's, anything larger than ``MAX_MESSAGE_BYTES``.

Header values are text.  Devices put Chinese display names in From/To and send them in
GB2312 (GB/T 28181's character set), so header bytes that are not UTF-8 are read as
GB18030 (a superset of GB2312 and GBK); the body stays bytes (``manscdp`` decodes it).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

#: Largest message accepted.  MANSCDP answers are split by the device into messages that
#: fit a UDP datagram (GB/T 28181 asks for <= 1500 bytes over UDP); over TCP a RecordInfo
#: answer with many items per message can be tens of kB.
MAX_MESSAGE_BYTES = 256 * 1024
MAX_HEADERS = 64
MAX_HEADER_BYTES = 16 * 1024
SIP_VERSION = "SIP/2.0"
#: RFC 3261 §8.1.1.7: the magic cookie every branch we make starts with.
BRANCH_COOKIE = "z9hG4bK"

COMPACT = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Content-Length",
        "Content-Type",
        "Max-Forwards",
        "Expires",
        "Date",
        "WWW-Authenticate",
        "Authorization",
        "User-Agent",
        "Subject",
        "Supported",
        "Allow",
        "Route",
        "Record-Route",
    )
}
_METHOD = re.compile(r"^[A-Z]{2,16}$")
_TOKEN_HEADER = re.compile(r"^[A-Za-z0-9!%*_+`'~.-]{1,64}$")
REQUIRED = ("via", "from", "to", "call-id", "cseq")


class SipParseError(ValueError):
    """Bytes that are not an acceptable SIP message; the reason, never the content."""


def _canonical(name: str) -> str:
    lower = name.lower()
    if lower in COMPACT:
        return COMPACT[lower]
    return _CANONICAL.get(lower, name)


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", "replace")


@dataclass
class SipMessage:
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    # -- headers ------------------------------------------------------------------
    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive; compact forms understood)."""
        wanted = _canonical(name).lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def headers_named(self, name: str) -> list[str]:
        """Every value of a header, comma-separated lists split (Via, Contact, Route)."""
        wanted = _canonical(name).lower()
        out: list[str] = []
        for key, value in self.headers:
            if key.lower() == wanted:
                out.extend(split_list(value))
        return out

    def set(self, name: str, value: str) -> None:
        name = _canonical(name)
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))

    def add(self, name: str, value: str) -> None:
        self.headers.append((_canonical(name), value))

    @property
    def call_id(self) -> str:
        return self.header("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.header("CSeq") or "")

    @property
    def branch(self) -> str | None:
        """The top Via's branch parameter."""
        vias = self.headers_named("Via")
        return param(vias[0], "branch") if vias else None

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def _head(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        lines = [self._head()]
        for name, value in self.headers:
            if name.lower() == "content-length":
                continue
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name} carries a line break")
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        # Header text is UTF-8 (RFC 3261 §7.3.1); bodies carry their own charset.
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass
class SipRequest(SipMessage):
    method: str = ""
    uri: str = ""

    def _head(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"


@dataclass
class SipResponse(SipMessage):
    status: int = 0
    reason: str = ""

    def _head(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"


def parse(data: bytes, *, stream: bool = False) -> SipRequest | SipResponse:
    """One SIP message.  ``stream``: it came over TCP, where Content-Length is mandatory
    (RFC 3261 §18.3) and framing was done by the reader; over UDP the body is what
    follows the headers, cut to Content-Length when given."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipParseError("no blank line after the headers")
    if len(head) > MAX_HEADER_BYTES:
        raise SipParseError(f"headers larger than {MAX_HEADER_BYTES} bytes")
    lines = head.split(b"\r\n")
    start = _text(lines[0]).strip()
    message: SipRequest | SipResponse
    if start.startswith(SIP_VERSION + " "):
        parts = start.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
            raise SipParseError("bad status line")
        status = int(parts[1])
        if not 100 <= status <= 699:
            raise SipParseError("status code out of range")
        message = SipResponse(status=status, reason=parts[2] if len(parts) > 2 else "")
    else:
        parts = start.split(" ")
        if len(parts) != 3 or parts[2] != SIP_VERSION or not _METHOD.match(parts[0]):
            raise SipParseError("bad request line")
        if not parts[1].lower().startswith(("sip:", "sips:")):
            raise SipParseError("request URI is not a SIP URI")
        message = SipRequest(method=parts[0], uri=parts[1])
    if len(lines) - 1 > MAX_HEADERS:
        raise SipParseError(f"more than {MAX_HEADERS} headers")
    for raw in lines[1:]:
        if not raw:
            continue
        if raw[:1] in (b" ", b"\t"):
            raise SipParseError("folded header lines are not accepted")
        name, colon, value = raw.partition(b":")
        name_text = name.decode("ascii", "replace").strip()
        if not colon or not _TOKEN_HEADER.match(name_text):
            raise SipParseError("bad header line")
        message.headers.append((_canonical(name_text), _text(value).strip()))
    length_text = message.header("Content-Length")
    if length_text is not None:
        if not length_text.isdigit():
            raise SipParseError("bad Content-Length")
        length = int(length_text)
        if length > len(body):
            raise SipParseError("body shorter than Content-Length (truncated)")
        body = body[:length]
    elif stream:
        raise SipParseError("no Content-Length on a stream transport")
    message.body = body
    if isinstance(message, SipRequest):
        missing = [name for name in REQUIRED if message.header(name) is None]
        if missing:
            raise SipParseError(f"request without {', '.join(missing)}")
        number, method = message.cseq
        if method != message.method and not (message.method == "ACK" and method == "ACK"):
            raise SipParseError("CSeq method differs from the request method")
        del number
    return message


def parse_cseq(value: str) -> tuple[int, str]:
    number, _, method = value.strip().partition(" ")
    if not number.isdigit() or not method.strip():
        raise SipParseError("bad CSeq")
    return int(number), method.strip()


def split_list(value: str) -> list[str]:
    """A header's comma-separated values; commas inside ``<...>`` or quotes do not split."""
    out: list[str] = []
    current: list[str] = []
    depth = 0
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and not quoted and depth == 0:
            out.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    tail = "".join(current).strip()
    if tail:
        out.append(tail)
    return out


def param(value: str, name: str) -> str | None:
    """A ``;name=value`` parameter of a header value (outside any ``<...>``)."""
    outside = value.rsplit(">", 1)[-1] if ">" in value else value
    for part in outside.split(";")[1:]:
        key, _, found = part.partition("=")
        if key.strip().lower() == name.lower():
            return found.strip().strip('"')
    return None


def address_uri(value: str) -> str:
    """The URI of a name-addr (``"名" <sip:x@y>;tag=1``) or addr-spec (``sip:x@y;tag=1``)."""
    if "<" in value:
        return value.split("<", 1)[1].split(">", 1)[0].strip()
    return value.split(";", 1)[0].strip()


def uri_user(uri: str) -> str | None:
    """``sip:34020000001110000001@3402000000`` -> ``34020000001110000001``."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    if "@" not in rest:
        return None
    return rest.split("@", 1)[0] or None


def uri_hostport(uri: str) -> tuple[str, int | None]:
    """Host and port of a SIP URI (port None when not given)."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    rest = rest.split("@", 1)[-1].split(";", 1)[0].split("?", 1)[0]
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port = rest.partition(":")
    return host, int(port) if port.isdigit() else None


def new_branch() -> str:
    return BRANCH_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{host}"


def response_to(
    request: SipRequest,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipResponse:
    """A response to ``request`` (RFC 3261 §8.2.6): Via, From, To, Call-ID, CSeq copied;
    a To tag added to a final response when the request had none."""
    response = SipResponse(status=status, reason=reason)
    for via in request.headers_named("Via"):
        response.add("Via", via)
    response.add("From", request.header("From") or "")
    to = request.header("To") or ""
    if status >= 200 and to_tag is not None and param(to, "tag") is None:
        to = f"{to};tag={to_tag}"
    response.add("To", to)
    response.add("Call-ID", request.call_id)
    response.add("CSeq", request.header("CSeq") or "")
    for name, value in headers:
        response.add(name, value)
    response.body = body
    return response


def build_request(
    method: str,
    uri: str,
    *,
    via: str,
    from_: str,
    to: str,
    call_id: str,
    cseq: int,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipRequest:
    request = SipRequest(method=method, uri=uri)
    request.add("Via", via)
    request.add("From", from_)
    request.add("To", to)
    request.add("Call-ID", call_id)
    request.add("CSeq", f"{cseq} {method}")
    request.add("Max-Forwards", "70")
    for name, value in headers:
        request.add(name, value)
    request.body = body
    return request


__all__ = [
    "MAX_MESSAGE_BYTES",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "address_uri",
    "build_request",
    "new_branch",
    "new_call_id",
    "new_tag",
    "param",
    "parse",
    "parse_cseq",
    "response_to",
    "split_list",
    "uri_hostport",
    "uri_user",
]
