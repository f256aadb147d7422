"""One vocabulary of failure kinds for the whole of vidaudit (a leaf: imports nothing of ours).

Device I/O (``onvif``, ``isapi``, ``dahua``, ``gb28181``), decoding (``media``), the
collector, pulls, snapshots and the web all say why something failed with one of these
kinds; the rules store it (R6.offline), the pages translate it.  Every one of them is a
``VidauditError`` with a ``kind`` from here and a ``message`` safe to store and show (no
secret in it).

Every device reader raises the one ``DeviceError`` defined here, so the collector sorts a
failure the same way whichever road a recorder was read by.  How each protocol decides the
kind lives beside the protocol: ``onvif.errors`` (SOAP faults, HTTP status of a SOAP call),
``devicehttp.client`` (plain HTTP: ``auth`` on 401 after the digest challenge was answered,
``unsupported`` on 403/404/405/501 of an endpoint), ``media.errors`` (RTSP, decoding),
``gb28181.errors`` (a GB/T 28181 exchange through the SIP service, its own exception).

==============  ====================================================================
kind            meaning
==============  ====================================================================
unreachable     nothing answered: refused, reset, DNS, connect timed out, 5xx on RTSP
timeout         connected, but no complete answer within the budget
auth            the device refused our credentials
unsupported     the device does not do what we asked (service, operation, range)
malformed       the bytes are not what the protocol promises
device_fault    the device answered with a fault we cannot sort further
not_found       no footage (or no file, no recording) at what we asked for
config          our side: cameras.yaml or the environment is incomplete, e.g. a
                password reference that does not resolve on this machine
==============  ====================================================================
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args


class ErrorKind(StrEnum):
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    AUTH = "auth"
    UNSUPPORTED = "unsupported"
    MALFORMED = "malformed"
    DEVICE_FAULT = "device_fault"
    NOT_FOUND = "not_found"
    CONFIG = "config"


#: The kinds a device call can fail with (``onvif.errors`` says how each is detected).
DeviceErrorKind = Literal[
    "unreachable", "timeout", "auth", "unsupported", "malformed", "device_fault"
]
DEVICE_ERROR_KINDS: tuple[DeviceErrorKind, ...] = get_args(DeviceErrorKind)
#: The kinds opening or decoding video can fail with (``media.errors``).
MediaErrorKind = Literal["unreachable", "timeout", "auth", "not_found", "malformed", "unsupported"]
#: The kinds a GB/T 28181 exchange through the service can fail with (``gb28181.errors``):
#: a device call's, and ``not_found`` for playback of a range without footage.
GbErrorKind = Literal[
    "unreachable", "timeout", "auth", "unsupported", "malformed", "device_fault", "not_found"
]

#: Why a device could not be read, as a run stores it: the device's kinds, and ours.
DEVICE_STATUS_KINDS: tuple[ErrorKind, ...] = (
    ErrorKind.UNREACHABLE,
    ErrorKind.TIMEOUT,
    ErrorKind.AUTH,
    ErrorKind.UNSUPPORTED,
    ErrorKind.MALFORMED,
    ErrorKind.DEVICE_FAULT,
    ErrorKind.CONFIG,
)


class VidauditError(Exception):
    """A failure sorted into a kind; ``message`` is safe to log, store and show."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind!r}, {self.message!r})"


class DeviceError(VidauditError):
    """A failed device call (any protocol), sorted into a kind the collector can act on.

    ``message`` is safe to store and show: it never contains the password (device
    wrappers scrub it, and nothing formats a request body into it).
    """

    def __init__(
        self, kind: DeviceErrorKind, message: str, *, operation: str | None = None
    ) -> None:
        super().__init__(kind, message)
        self.kind: DeviceErrorKind = kind
        self.operation = operation

    def scrubbed(self, secret: str) -> DeviceError:
        """The same error with every occurrence of ``secret`` replaced."""
        if not secret or secret not in self.message:
            return self
        return DeviceError(self.kind, self.message.replace(secret, "***"), operation=self.operation)


class ConfigError(VidauditError):
    """Our configuration cannot be used as it stands (kind ``config``): a password
    reference that does not resolve, a channel the device cannot be asked for.  Commands
    report it in one line and exit 2 before writing anything."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorKind.CONFIG, message)
