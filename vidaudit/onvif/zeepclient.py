"""The untyped boundary with onvif-zeep-async and zeep: documents, tokens, proxies.

What we take from the library, and why:

* the bundled ONVIF WSDLs and its process-wide **document cache**
  (``onvif.client._cached_document``): a parsed WSDL is reused by every device, with the
  library's ``FastDateTime``/``ForgivingTime`` types registered (cameras that send
  ``2024-08-17T00:61:16Z`` or ``2010-01-01-00:00:00``).  It is private API, hence pinned
  by a test (``test_document_cache_is_shared``);
* ``ZeepAsyncClient`` (zeep's async client with the ONVIF ns prefixes) to build one
  service proxy per device and service, bound to our ``BoundedTransport``;
* ``UsernameDigestTokenDtDiff``: WS-Security UsernameToken digest whose ``Created``
  follows the device clock through ``dt_diff`` (Zulu timestamps, which Hikvision needs);
* the library's ``FastDateTime`` for the ``xs:dateTime`` values that the hand-written
  search-result readers (``convert``) take from the lxml tree, so those times parse
  exactly as zeep would have parsed them.

What we do not take: ``ONVIFCamera``/``ONVIFService`` (one aiohttp session per service,
90 s timeouts, no size bound), and its WS-Addressing plugin (a no-op for the device,
media, recording, search and replay operations we call).

Nothing returned from here leaves ``vidaudit.onvif``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import zeep.exceptions
from zeep.settings import Settings


def _import_quietly(name: str) -> ModuleType:
    # onvif/client.py calls logging.basicConfig(level=INFO) at import time; a library
    # must not configure the application's root logger, so undo that side effect.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return importlib.import_module(name)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


_onvif_client: Any = _import_quietly("onvif.client")
_onvif_definition: Any = importlib.import_module("onvif.definition")
_onvif_types: Any = importlib.import_module("onvif.types")

WSDL_DIR = Path(_onvif_client.__file__).parent / "wsdl"


@dataclass(frozen=True, slots=True)
class ServiceDef:
    name: str
    namespace: str
    wsdl: Path
    binding: str  # ``{namespace}BindingName``


def _service_defs() -> dict[str, ServiceDef]:
    table: dict[str, dict[str, str]] = _onvif_definition.SERVICES
    return {
        name: ServiceDef(
            name=name,
            namespace=entry["ns"],
            wsdl=WSDL_DIR / entry["wsdl"],
            binding=f"{{{entry['ns']}}}{entry['binding']}",
        )
        for name, entry in table.items()
        if name in {"devicemgmt", "media", "recording", "search", "replay", "events"}
    }


SERVICES: dict[str, ServiceDef] = _service_defs()
#: Namespace -> our short service name, for every namespace the library knows.
NAMESPACE_NAMES: dict[str, str] = {
    entry["ns"]: name
    for name, entry in _onvif_definition.SERVICES.items()
    if name not in {"pullpoint", "notification", "subscription"}
}

#: Reply parsing settings (the library's DEFAULT_SETTINGS turn ``xml_huge_tree`` on).
#: Well-formedness is already enforced by ``xmlsafety``; ``strict=False`` keeps zeep's
#: schema leniency for real firmware (missing optional-in-practice elements).
ZEEP_SETTINGS = Settings(
    strict=False,
    xml_huge_tree=False,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
)
#: The same, but zeep hands back the transport's ``HttpReply`` untouched: for the paged
#: search operations whose replies ``convert`` reads from the already-checked tree.
#: A separate Settings object, not ``settings(raw_response=True)``: that override is
#: thread-local, so concurrent coroutines on one event loop would see each other's.
ZEEP_RAW_SETTINGS = Settings(
    strict=False,
    raw_response=True,
    xml_huge_tree=False,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
)

#: zeep failures while turning a checked reply into objects: the device's XML does not
#: match the schema.  (Faults and HTTP errors are raised earlier by the transport.)
ZEEP_REPLY_ERRORS: tuple[type[Exception], ...] = (
    zeep.exceptions.Fault,
    zeep.exceptions.TransportError,
    zeep.exceptions.XMLSyntaxError,
    zeep.exceptions.XMLParseError,
    zeep.exceptions.UnexpectedElementError,
    zeep.exceptions.LookupError,
    zeep.exceptions.ValidationError,
    zeep.exceptions.DTDForbidden,
    zeep.exceptions.EntitiesForbidden,
    zeep.exceptions.ExternalReferenceForbidden,
    zeep.exceptions.NamespaceError,
)


async def load_document(service: ServiceDef, lock: asyncio.Lock) -> Any:
    """The parsed WSDL for ``service`` from the library's process-wide cache.

    The first load parses in a worker thread (~0.1-0.3 s); ``lock`` makes concurrent
    first uses wait for that one parse instead of racing to build duplicates.
    """
    async with lock:
        return await _onvif_client._cached_document(str(service.wsdl))


def make_token(username: str, password: str) -> Any:
    """A WS-Security UsernameToken (PasswordDigest, Nonce, Created) for one device."""
    return _onvif_client.UsernameDigestTokenDtDiff(
        username, password, dt_diff=None, use_digest=True
    )


def set_token_offset(token: Any, offset: dt.timedelta | None) -> None:
    """Make the token's ``Created`` (and so its digest) follow the device clock."""
    token.dt_diff = offset


def service_proxy(
    document: Any,
    service: ServiceDef,
    xaddr: str,
    transport: Any,
    wsse: Any,
    *,
    raw: bool = False,
) -> Any:
    """A zeep service proxy for one device's service, posting through ``transport``.

    With ``raw`` its operations return the transport's ``HttpReply`` instead of zeep
    objects (requests, WS-Security and the transport's checks are unchanged).
    """
    client = _onvif_client.ZeepAsyncClient(
        wsdl=document,
        wsse=wsse,
        transport=transport,
        settings=ZEEP_RAW_SETTINGS if raw else ZEEP_SETTINGS,
    )
    return client.create_service(service.binding, xaddr)


_FAST_DATETIME: Any = _onvif_types.FastDateTime()


def parse_datetime(value: str) -> dt.datetime | None:
    """An ``xs:dateTime`` as the library's registered type parses it, None if it cannot.

    Same leniency as zeep's path (``2010-01-01-00:00:00``, ``00:61:16`` overflow), and
    the same outcome for garbage: zeep logs the ValueError and yields None.
    """
    if len(value) == 20 and value[10] == "T" and value[19] == "Z":
        # The canonical form (nearly every timestamp a device sends, thousands per run):
        # the library would only strip nothing and hand it to an ISO 8601 parser, so go
        # straight to one; anything it refuses takes the library's lenient path below.
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    try:
        parsed = _FAST_DATETIME.pythonvalue(value)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, dt.datetime) else None
