"""The error vocabulary every device reader shares (ONVIF, ISAPI, Dahua HTTP).

A leaf module: it imports nothing of vidaudit, so protocol packages can raise the same
``DeviceError`` and the collector sorts a failure the same way whichever road a recorder
was read by.  How each protocol decides the kind lives beside the protocol
(``onvif/errors.py`` for SOAP faults, ``devicehttp/client.py`` for plain HTTP).

Kinds:

* ``unreachable``  connection refused / reset / DNS failure / TCP connect timed out.
* ``timeout``      connected, but the call did not complete within its budget.
* ``auth``         credentials refused (HTTP 401 after answering the challenge, ...).
* ``unsupported``  the device does not do that (HTTP 404/405/501, an ISAPI 403
                   "notSupport", a missing ONVIF service).
* ``malformed``    garbage, truncated, oversized, DTD/entities, missing fields.
* ``device_fault`` the device answered with an error of its own (HTTP 5xx, SOAP fault).
"""

from __future__ import annotations

from typing import Literal, get_args

ErrorKind = Literal["unreachable", "timeout", "auth", "unsupported", "malformed", "device_fault"]
ERROR_KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)


class DeviceError(Exception):
    """A failed device call, sorted into a kind the collector can act on.

    ``message`` is safe to store and show: it never contains the password (device
    wrappers scrub it, and nothing here formats a request body).
    """

    def __init__(self, kind: ErrorKind, message: str, *, operation: str | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind: ErrorKind = kind
        self.message = message
        self.operation = operation

    def __repr__(self) -> str:
        return f"DeviceError({self.kind!r}, {self.message!r})"

    def scrubbed(self, secret: str) -> DeviceError:
        """The same error with every occurrence of ``secret`` replaced."""
        if not secret or secret not in self.message:
            return self
        return DeviceError(self.kind, self.message.replace(secret, "***"), operation=self.operation)
