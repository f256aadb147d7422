"""Strict, bounded XML parsing for device replies, and reading them by local name.

Devices are parsed with a parser configured to refuse, not to repair:

* ``recover=False``      not well-formed (garbage, truncated) -> error
* a ``<!DOCTYPE``/``<!ENTITY`` anywhere in the bytes is refused before parsing, so a
  billion-laughs body is ``malformed`` by our rule; behind that, ``resolve_entities=False``,
  ``load_dtd=False``, ``no_network=True`` (entities never expanded, nothing fetched)
  and a post-parse DOCTYPE check
* ``huge_tree=False``    libxml2's depth/text-size guards stay on

The size bound is applied before this, while the body is read (``client.read_bounded``).

ISAPI replies come in two namespaces (``http://www.hikvision.com/ver20/XMLSchema`` and
``http://www.isapi.org/ver20/XMLSchema``; one captured NVR even switches to ``ver10``
inside ``hddList``), so ISAPI is read by local name: ``child``/``children``/``text_of``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# lxml ships no type information and lxml-stubs is not a project dependency: elements
# are handled through ``Any`` in this module and its callers.
from lxml import etree  # type: ignore[import-untyped]


class UnsafeXml(ValueError):
    """The reply is not acceptable XML (carries the reason, never the body)."""


def _parser() -> Any:
    # A parser per call: lxml parsers are not safe to share between threads, and
    # building one costs ~2 us.
    return etree.XMLParser(
        recover=False,
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


#: ``<!DOCTYPE`` / ``<!ENTITY`` in the encodings a device may use.  Neither SOAP nor
#: ISAPI has any use for a DTD, so its mere presence is refusal; checked on the bytes so
#: the XML parser never processes a declaration (libxml2's own amplification guard would
#: catch a billion-laughs body too, but that is a library default, not our decision).
_DECLARATIONS = tuple(
    marker.encode(encoding)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for encoding in ("ascii", "utf-16-le", "utf-16-be")
)


def parse_strict(body: bytes) -> Any:
    """Parse ``body`` or raise UnsafeXml; a DOCTYPE (hence any entity) is refused."""
    if not body.strip():
        raise UnsafeXml("empty body")
    if any(marker in body for marker in _DECLARATIONS):
        raise UnsafeXml("DTD/entity declarations are refused")
    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"not well-formed XML ({exc.msg})") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UnsafeXml("DTD/entity declarations are refused")
    return root


def local(element: Any) -> str:
    """``{ns}name`` -> ``name`` (comments and PIs are removed by the parser)."""
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


# The lookups below use lxml's ``{*}name`` (any namespace, or none), which lxml matches
# in C: an ISAPI search page of 40 matches is read with a few hundred of them, and a
# Python loop over every child per lookup cost more than the rest of a request.


def children(element: Any, name: str) -> Iterator[Any]:
    """Direct children called ``name`` in any namespace."""
    if element is None:
        return iter(())
    found: Iterator[Any] = element.iterchildren(f"{{*}}{name}")
    return found


def child(element: Any, name: str) -> Any:
    """The first direct child called ``name`` in any namespace, or None."""
    return None if element is None else element.find(f"{{*}}{name}")


def text_of(element: Any, name: str) -> str | None:
    """Stripped text of the first child ``name``; None when absent or empty."""
    if element is None:
        return None
    text = element.findtext(f"{{*}}{name}")
    if not text:
        return None
    value: str = text.strip()
    return value or None


def texts(element: Any) -> dict[str, str]:
    """Stripped text of every direct child that has some, by local name (the first of a
    name wins): one pass for the many small records of a list reply."""
    out: dict[str, str] = {}
    for node in element:
        text = node.text
        if text and node.tag.rpartition("}")[2] not in out:
            value = text.strip()
            if value:
                out[node.tag.rpartition("}")[2]] = value
    return out


def path(element: Any, *names: str) -> Any:
    """Walk direct children by local name; None as soon as one is missing."""
    if element is None:
        return None
    return element.find("/".join(f"{{*}}{name}" for name in names))
