"""The ONVIF schemas, as onvif-zeep-async ships them, loaded once: is a message conformant?

Used by ``vidaudit probe`` to say which of a device's replies are off-schema, and by the
tests that hold our simulator and our requests to the standard (``tests/onvif/
test_schema_conformance.py``): we write both the client and the simulated devices, so
only a schema neither of us wrote can tell when they agree on a mistake.

Why lxml (libxml2's XSD validator) and not the ``xmlschema`` package: lxml is already a
dependency and the parser every reply goes through; it loads ``onvif.xsd`` with the six
WSDL schemas in about a second and validates a reply in well under a millisecond, where
``xmlschema`` (pure Python) takes several times longer for both.  Its messages name the
element and what the schema expected there, which is what a failing test must print.

The message elements (``trc:GetRecordingJobsResponse`` ...) are not in an ``.xsd``: each
service's WSDL embeds its own ``xs:schema`` in ``wsdl:types``, importing ``onvif.xsd``
by a relative ``schemaLocation``.  Those embedded schemas are lifted out whole (with the
namespace declarations in scope on the WSDL root, which they rely on) and served to
libxml2 from memory, through a resolver, under a URL inside the WSDL folder so their
relative imports resolve to the shipped files.  A small root schema imports every
namespace, so one ``XMLSchema`` covers every service.  No file is written, nothing is
fetched from the network (``xml.xsd``'s own imports of w3.org are never followed:
``no_network``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

# lxml ships no type information (see xmlsafety.py).
from lxml import etree  # type: ignore[import-untyped]

from vidaudit.onvif.zeepclient import WSDL_DIR

_XS = "http://www.w3.org/2001/XMLSchema"
_WSDL = "http://schemas.xmlsoap.org/wsdl/"
TT = "http://www.onvif.org/ver10/schema"

#: The services whose operations vidaudit or its simulator use, by WSDL file.
WSDL_FILES: dict[str, str] = {
    "http://www.onvif.org/ver10/device/wsdl": "devicemgmt.wsdl",
    "http://www.onvif.org/ver10/media/wsdl": "media.wsdl",
    "http://www.onvif.org/ver10/recording/wsdl": "recording.wsdl",
    "http://www.onvif.org/ver10/search/wsdl": "search.wsdl",
    "http://www.onvif.org/ver10/replay/wsdl": "replay.wsdl",
    "http://www.onvif.org/ver10/events/wsdl": "events.wsdl",
}
_EMBEDDED = "vidaudit-embedded-"  # URL prefix of a lifted WSDL schema


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One complaint of the validator about one message."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class _EmbeddedSchemas(etree.Resolver):  # type: ignore[misc]
    """Serves the ``xs:schema`` lifted out of each WSDL to libxml2 by URL."""

    def __init__(self, documents: dict[str, bytes]) -> None:
        super().__init__()
        self._documents = documents

    def resolve(self, url: str, public_id: str | None, context: Any) -> Any:
        document = self._documents.get(url.rpartition("/")[2])
        return None if document is None else self.resolve_string(document, context, base_url=url)


def _embedded_schema(wsdl: str) -> bytes:
    """The ``xs:schema`` inside ``wsdl``'s ``wsdl:types``, as a document of its own."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, remove_comments=True)
    root = etree.parse(str(WSDL_DIR / wsdl), parser).getroot()
    schema = root.find(f"{{{_WSDL}}}types/{{{_XS}}}schema")
    if schema is None:
        raise RuntimeError(f"{wsdl} embeds no xs:schema")
    # tostring keeps the namespace declarations inherited from wsdl:definitions (the
    # device WSDL's schema uses the xs prefix declared only there).
    data: bytes = etree.tostring(schema)
    return data


@functools.cache
def onvif_schema() -> Any:
    """One ``etree.XMLSchema`` over ``onvif.xsd`` and every service's WSDL schema."""
    documents = {
        f"{_EMBEDDED}{wsdl}.xsd": _embedded_schema(wsdl)
        for wsdl in sorted(set(WSDL_FILES.values()))
    }
    imports = "".join(
        f'<xs:import namespace="{namespace}" schemaLocation="{_EMBEDDED}{wsdl}.xsd"/>'
        for namespace, wsdl in WSDL_FILES.items()
    )
    root = (
        f'<xs:schema xmlns:xs="{_XS}" targetNamespace="urn:vidaudit:onvif-messages">'
        f'<xs:import namespace="{TT}" schemaLocation="onvif.xsd"/>{imports}</xs:schema>'
    ).encode()
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_EmbeddedSchemas(documents))
    # The base URL puts the root (and so the lifted schemas) in the WSDL folder: their
    # ``./onvif.xsd`` and ``./b-2.xsd`` imports resolve to the shipped files.
    document = etree.fromstring(root, parser, base_url=(WSDL_DIR / "vidaudit-root.xsd").as_uri())
    return etree.XMLSchema(document)


def problems(element: Any) -> tuple[SchemaProblem, ...]:
    """What the ONVIF schemas say against one message element (a SOAP Body's child),
    or ``()`` when it is valid.  The element is validated as a document of its own, so
    the envelope around it (SOAP 1.2, not in these schemas) plays no part.
    """
    schema = onvif_schema()
    document = etree.fromstring(etree.tostring(element))
    if schema.validate(document):
        return ()
    return tuple(SchemaProblem(entry.line, entry.message) for entry in schema.error_log)


def problems_in_reply(body: bytes) -> tuple[SchemaProblem, ...]:
    """``problems`` of the first element in a SOAP envelope's Body (a reply or a
    request).  A SOAP Fault is not an ONVIF message: ``()`` (SOAP 1.2 faults are
    checked by whoever reads them).  Raises ``xmlsafety.UnsafeXml`` for a body that is
    not an acceptable SOAP envelope at all.
    """
    from vidaudit.onvif.xmlsafety import check_reply

    checked = check_reply(body)
    if checked.fault is not None or checked.payload is None:
        return ()
    return problems(checked.payload)
