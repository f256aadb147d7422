"""Refuse hostile or broken SOAP replies before zeep sees them.

onvif-zeep-async parses with ``xml_huge_tree=True`` and ``strict=False`` (lxml
``recover=True``): a truncated or garbled body is "recovered" into a partial tree and
can come out as an empty, valid-looking result.  So every reply is first parsed here
with a parser configured to refuse, not to repair:

* ``recover=False``      not well-formed (garbage, truncated) -> error
* a ``<!DOCTYPE``/``<!ENTITY`` anywhere in the bytes is refused before parsing, so a
  billion-laughs body is ``malformed`` by our rule; behind that, ``resolve_entities=False``,
  ``load_dtd=False``, ``no_network=True`` (entities never expanded, nothing fetched)
  and a post-parse DOCTYPE check
* ``huge_tree=False``    libxml2's depth/text-size guards stay on

The size bound is applied before this (while reading, in ``transport.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# lxml ships no type information and lxml-stubs is not a project dependency: the
# parser is used through ``Any`` in this one module.
from lxml import etree  # type: ignore[import-untyped]

# The strict parser is shared with the ISAPI reader (plain XML over HTTP).
from vidaudit.devicehttp.xmlstrict import UnsafeXml, parse_strict
from vidaudit.onvif.namespaces import CONCRETE_SET, SOAP11_ENV, SOAP12_ENV, TOPICS, WSNT

__all__ = ["UnsafeXml", "parse_strict"]

_ENVELOPES = (SOAP12_ENV, SOAP11_ENV)


@dataclass(frozen=True, slots=True)
class SoapFault:
    code: str | None
    #: Local names of Code/Value and every nested Subcode/Value (SOAP 1.2), or of
    #: faultcode (SOAP 1.1), e.g. ``("Sender", "NotAuthorized")``.
    subcodes: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class CheckedReply:
    #: Qualified name of the first element in the SOAP Body, ``{ns}local``.
    body_element: str | None
    fault: SoapFault | None
    #: That first Body element itself (lxml), so the paged search readers in
    #: ``convert`` can use this strict parse instead of a second one by zeep.
    payload: Any = None


def _local(text: str | None) -> str | None:
    """Local part of a QName-valued text such as ``ter:NotAuthorized``."""
    if not text:
        return None
    text = text.strip()
    return text.rpartition(":")[2] or None


def _fault(fault: Any) -> SoapFault:
    names: list[str] = []
    code: str | None = None
    if etree.QName(fault).namespace == SOAP12_ENV:
        ns = {"e": SOAP12_ENV}
        code = fault.findtext("e:Code/e:Value", namespaces=ns)
        node = fault.find("e:Code", namespaces=ns)
        while node is not None:
            value = _local(node.findtext("e:Value", namespaces=ns))
            if value:
                names.append(value)
            node = node.find("e:Subcode", namespaces=ns)
        reason = fault.findtext("e:Reason/e:Text", default="", namespaces=ns)
    else:
        code = fault.findtext("faultcode")
        # SOAP 1.1 dotted codes, e.g. "wsse:FailedAuthentication" or "Client.Auth".
        for part in (code or "").replace(".", ":").split(":"):
            if part.strip():
                names.append(part.strip())
        reason = fault.findtext("faultstring", default="")
    return SoapFault(code=code, subcodes=tuple(names), reason=" ".join(reason.split())[:300])


def check_reply(body: bytes) -> CheckedReply:
    """Parse strictly and report the Body's first element and any Fault."""
    root = parse_strict(body)
    qname = etree.QName(root)
    if qname.localname != "Envelope" or qname.namespace not in _ENVELOPES:
        raise UnsafeXml(f"root element is {qname.text}, not a SOAP Envelope")
    soap_body = root.find(f"{{{qname.namespace}}}Body")
    if soap_body is None:
        raise UnsafeXml("SOAP Envelope without Body")
    first = next((child for child in soap_body if isinstance(child.tag, str)), None)
    if first is None:
        return CheckedReply(body_element=None, fault=None)
    if etree.QName(first).localname == "Fault" and etree.QName(first).namespace in _ENVELOPES:
        return CheckedReply(body_element=first.tag, fault=_fault(first))
    return CheckedReply(body_element=first.tag, fault=None, payload=first)


def request_element(envelope: Any) -> str | None:
    """``{ns}Operation`` of the request envelope zeep built."""
    for ns in _ENVELOPES:
        soap_body = envelope.find(f"{{{ns}}}Body")
        if soap_body is not None:
            first = next((child for child in soap_body if isinstance(child.tag, str)), None)
            return None if first is None else str(first.tag)
    return None


def serialize(envelope: Any) -> bytes:
    """The request envelope zeep built, as UTF-8 bytes with an XML declaration."""
    data: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
    return data


def local_name(qualified: str) -> str:
    """``{ns}local`` -> ``local``."""
    return qualified.rpartition("}")[2]


# -- request helpers (the one place that builds lxml elements) ----------------------


def topic_expression(topics: tuple[str, ...]) -> Any:
    """``wsnt:TopicExpression`` selecting ``tns1:<topic>|...`` (FindEvents SearchFilter).

    zeep cannot build the ``xs:any`` content of tt:EventFilter from a dict, so the
    element is made here and passed through as ``_value_1``.
    """
    element = etree.Element(
        f"{{{WSNT}}}TopicExpression",
        attrib={"Dialect": CONCRETE_SET},
        nsmap={"wsnt": WSNT, "tns1": TOPICS},
    )
    element.text = "|".join(f"tns1:{topic}" for topic in topics)
    return element
