"""SOAP 1.2 on the wire: parse requests with a hardened lxml parser, render responses and
faults from string templates (no zeep on the server side: a request must cost well under
a millisecond of CPU).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from lxml import etree  # type: ignore[import-untyped]

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS = {
    "tt": "http://www.onvif.org/ver10/schema",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "trc": "http://www.onvif.org/ver10/recording/wsdl",
    "tse": "http://www.onvif.org/ver10/search/wsdl",
    "trp": "http://www.onvif.org/ver10/replay/wsdl",
    "ter": "http://www.onvif.org/ver10/error",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "tns1": "http://www.onvif.org/ver10/topics",
}
#: Namespace prefix of each service (our service names are the keys everywhere).
SERVICE_PREFIX = {
    "device": "tds",
    "media": "trt",
    "recording": "trc",
    "search": "tse",
    "replay": "trp",
}
SERVICE_OF_NS = {NS[prefix]: service for service, prefix in SERVICE_PREFIX.items()}
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

_NS_DECL = " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items())
_HEAD = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<env:Envelope xmlns:env="{SOAP12}" {_NS_DECL}><env:Body>'
)
_TAIL = "</env:Body></env:Envelope>"

#: Requests are small; anything bigger is refused before parsing.
MAX_REQUEST_BYTES = 512 * 1024

# SOAP 1.2 forbids a DTD in a message; with no DTD there is no entity to expand, so an
# entity bomb or an external entity can never reach the parser's resolver.
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)


def envelope(body: str) -> bytes:
    return (_HEAD + body + _TAIL).encode("utf-8")


def text(value: object) -> str:
    return escape(str(value))


def attr(value: object) -> str:
    """A quoted attribute value, e.g. ``token={attr(t)}``."""
    return quoteattr(str(value))


def xml_datetime(value: dt.datetime) -> str:
    """``2025-03-15T16:28:00Z``: UTC, whole seconds, as devices write it."""
    v = value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)
    # f-string fields: several times cheaper than strftime, and this runs per event.
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}Z"


def xml_bool(value: bool) -> str:
    return "true" if value else "false"


class SoapFault(Exception):
    """A SOAP 1.2 fault with ONVIF subcodes (``env:Sender / ter:InvalidArgVal / ter:NoProfile``)."""

    def __init__(
        self,
        code: str,
        subcodes: tuple[str, ...],
        reason: str,
        *,
        status: int = 500,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(f"{code} {'/'.join(subcodes)}: {reason}")
        self.code = code
        self.subcodes = subcodes
        self.reason = reason
        self.status = status
        self.headers = headers

    def render(self) -> bytes:
        inner = ""
        for sub in reversed(self.subcodes):
            inner = f"<env:Subcode><env:Value>{sub}</env:Value>{inner}</env:Subcode>"
        return envelope(
            f"<env:Fault><env:Code><env:Value>{self.code}</env:Value>{inner}</env:Code>"
            f'<env:Reason><env:Text xml:lang="en">{text(self.reason)}</env:Text></env:Reason>'
            "</env:Fault>"
        )


def invalid_arg(reason: str, detail: str | None = None) -> SoapFault:
    subs = ("ter:InvalidArgVal", f"ter:{detail}") if detail else ("ter:InvalidArgVal",)
    return SoapFault("env:Sender", subs, reason)


def not_supported(operation: str) -> SoapFault:
    return SoapFault(
        "env:Receiver",
        ("ter:ActionNotSupported",),
        f"Optional Action Not Implemented: {operation}",
    )


@dataclass(frozen=True)
class SoapRequest:
    namespace: str
    operation: str
    body: etree._Element
    header: etree._Element | None

    @property
    def service(self) -> str | None:
        return SERVICE_OF_NS.get(self.namespace)


def parse_request(data: bytes) -> SoapRequest:
    """Parse a SOAP 1.2 request; malformed input becomes a ``env:Sender`` fault."""
    if len(data) > MAX_REQUEST_BYTES:
        raise SoapFault("env:Sender", ("ter:InvalidArgs",), "request too large", status=413)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise SoapFault(
            "env:Sender", ("ter:InvalidArgs",), "a SOAP message must not have a DTD", status=400
        )
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault(
            "env:Sender", ("ter:InvalidArgs",), f"not well-formed XML: {exc}", status=400
        ) from None
    if root.tag == f"{{{SOAP11}}}Envelope":
        raise SoapFault("env:VersionMismatch", (), "SOAP 1.2 only", status=400)
    if root.tag != f"{{{SOAP12}}}Envelope":
        raise SoapFault("env:Sender", ("ter:InvalidArgs",), "not a SOAP envelope", status=400)
    header = body = None
    for child in root:
        if child.tag == f"{{{SOAP12}}}Header":
            header = child
        elif child.tag == f"{{{SOAP12}}}Body":
            body = child
    if body is None or len(body) == 0:
        raise SoapFault("env:Sender", ("ter:InvalidArgs",), "empty SOAP body", status=400)
    op = body[0]
    qname = etree.QName(op)
    return SoapRequest(qname.namespace or "", qname.localname, op, header)


def local(element: etree._Element) -> str:
    return str(etree.QName(element).localname)


def child(element: etree._Element, name: str) -> etree._Element | None:
    """First child with local name ``name`` (namespaces vary by client; ONVIF names don't)."""
    for c in element:
        if isinstance(c.tag, str) and local(c) == name:
            return c
    return None


def children(element: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str) and local(c) == name]


def child_text(element: etree._Element, name: str) -> str | None:
    found = child(element, name)
    if found is None:
        return None
    return (found.text or "").strip()


def required_text(element: etree._Element, name: str) -> str:
    value = child_text(element, name)
    if not value:
        raise invalid_arg(f"missing {name}")
    return value


def parse_datetime(value: str, name: str) -> dt.datetime:
    """xs:dateTime; without an offset it is taken as UTC (ONVIF times are UTC)."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise invalid_arg(f"{name} is not an xs:dateTime: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def parse_bool(value: str | None, name: str, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise invalid_arg(f"{name} is not an xs:boolean: {value!r}")


def parse_int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise invalid_arg(f"{name} is not an xs:int: {value!r}") from None


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str | None, name: str) -> dt.timedelta | None:
    """xs:duration without years/months (``PT10S``, ``PT1M``, ``P1DT2H``)."""
    if value is None or value == "":
        return None
    match = _DURATION.match(value.strip())
    if not match or value.strip() in ("P", "PT"):
        raise invalid_arg(f"{name} is not a supported xs:duration: {value!r}")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return dt.timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])


def xml_duration_days(days: float) -> str:
    return f"P{max(0, round(days))}D"
