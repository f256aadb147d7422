"""Error kinds: every device, network and library failure becomes one ``DeviceError``.

The kinds are the project's one vocabulary (``vidaudit.errors``); this module says how a
device call's failure is sorted into one of them.

How each kind is detected (the mapping lives in ``transport.py`` and ``device.py``):

* ``unreachable``  connection refused / reset / DNS failure / TCP connect timed out /
  server closed the connection before answering.
* ``timeout``      connected, but the call did not complete within its budget
  (``call_timeout_s``, or what remained of the device deadline).
* ``auth``         HTTP 401/403, or a SOAP fault with subcode ``ter:NotAuthorized`` /
  ``wsse:FailedAuthentication`` (and friends, see ``AUTH_SUBCODES``).
* ``unsupported``  SOAP fault ``ter:ActionNotSupported`` (and friends), HTTP 404/405/501,
  or the device does not advertise the service at all.
* ``malformed``    body is not well-formed XML, is truncated, is larger than
  ``max_response_bytes``, carries a DTD/entities, is not the expected
  ``<Operation>Response``, or does not have the fields the schema promises.
* ``device_fault`` any other SOAP fault, HTTP 5xx (or other unexpected status).
"""

from __future__ import annotations

# The exception and its kinds are shared with the other device readers (ISAPI, Dahua).
from vidaudit.errors import DEVICE_ERROR_KINDS, DeviceError, DeviceErrorKind

__all__ = ["AUTH_SUBCODES", "ERROR_KINDS", "UNSUPPORTED_SUBCODES", "DeviceError", "ErrorKind"]

ErrorKind = DeviceErrorKind
ERROR_KINDS: tuple[ErrorKind, ...] = DEVICE_ERROR_KINDS

#: Local names of SOAP fault (sub)codes that mean "your credentials were refused".
#: ONVIF Core §5.11.2 names ``ter:NotAuthorized``; WS-Security names
#: ``wsse:FailedAuthentication`` / ``InvalidSecurityToken``; some Dahua firmware answers
#: ``ter:Unauthorized``.
AUTH_SUBCODES = frozenset(
    {
        "NotAuthorized",
        "Unauthorized",
        "FailedAuthentication",
        "InvalidSecurityToken",
        "InvalidSecurity",
        "FailedCheck",
    }
)
#: Local names that mean "this device does not do that".
UNSUPPORTED_SUBCODES = frozenset(
    {
        "ActionNotSupported",
        "NotSupported",
        "NoSuchService",
        "InvalidAction",
        "OperationNotSupported",
    }
)


def kind_for_fault(subcodes: tuple[str, ...], http_status: int) -> ErrorKind:
    """Sort a SOAP fault by its (sub)code local names, then by the HTTP status."""
    names = set(subcodes)
    if names & AUTH_SUBCODES:
        return "auth"
    if names & UNSUPPORTED_SUBCODES:
        return "unsupported"
    if http_status in (401, 403):
        # ipycam and some Hikvision firmware answer a bad token with HTTP 401 and a
        # generic Receiver fault that names no subcode.
        return "auth"
    return "device_fault"


def kind_for_status(http_status: int) -> ErrorKind:
    """Sort an HTTP failure that carried no SOAP fault."""
    if http_status in (401, 403):
        return "auth"
    if http_status in (404, 405, 501):
        return "unsupported"
    return "device_fault"
