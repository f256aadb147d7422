"""Error kinds of the GB/T 28181 road: the project's vocabulary (``vidaudit.errors``), and
how a recorder's answer is sorted into it.

* ``unreachable``  the device is not registered (never registered, expired, stopped
  keeping alive), or the service that holds registrations cannot be reached.
* ``timeout``      the device did not answer a query, or not all of it, in time.
* ``auth``         the device refused us (403 to a query or an INVITE).
* ``malformed``    the device's answer is not acceptable SIP or MANSCDP.
* ``unsupported``  the device answered that it does not do this (405, 415, 501).
* ``device_fault`` any other refusal (4xx/5xx/6xx).
* ``not_found``    playback: no footage in the requested range (404, 488 from some NVRs).
"""

from __future__ import annotations

from vidaudit.errors import GbErrorKind, VidauditError


class GbError(VidauditError):
    """A failed GB/T 28181 exchange; ``message`` is safe to store and show."""

    def __init__(self, kind: GbErrorKind, message: str) -> None:
        super().__init__(kind, message)
        self.kind: GbErrorKind = kind


def kind_for_status(status: int) -> GbErrorKind:
    """A device's final refusal sorted into a kind."""
    if status in (401, 403, 407):
        return "auth"
    if status in (405, 415, 420, 501):
        return "unsupported"
    if status in (404, 488):
        return "not_found"
    if status == 408:
        return "timeout"
    return "device_fault"


__all__ = ["GbError", "GbErrorKind", "kind_for_status"]
