"""R6.identity, pure: is the device answering the one pinned for this address?
(Pinning and accepting live in collector/identity.py.)"""

from __future__ import annotations

from dataclasses import dataclass

from vidaudit.compliance.model import Severity, Violation

RULE = "R6.identity"


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """What identifies a recorder's hardware, as it reported it (None: not reported)."""

    serial: str | None = None
    #: sha256 of the TLS certificate the device presented (https only)
    cert_sha256: str | None = None

    def differs_from(self, pinned: DeviceIdentity) -> bool:
        """Another device, as far as we can tell: a pinned part that is now different
        or missing (a device that stops giving its serial is not trusted to be the same)."""
        return any(
            was is not None and now != was
            for was, now in ((pinned.serial, self.serial), (pinned.cert_sha256, self.cert_sha256))
        )

    def describe(self) -> str:
        parts = [f"serial {self.serial or '?'}"]
        if self.cert_sha256:
            parts.append(f"certificate {self.cert_sha256[:16]}…")
        return ", ".join(parts)


def identity_violation(pinned: DeviceIdentity, seen: DeviceIdentity) -> Violation | None:
    """Pure: R6.identity when another device answers than the one pinned."""
    if not seen.differs_from(pinned):
        return None
    return Violation(
        RULE,
        Severity.CRITICAL,
        f"another device answers at this address: {seen.describe()} "
        f"(pinned: {pinned.describe()}); its footage is not judged until a person accepts "
        "it (vidaudit inventory accept-identity)",
        {
            "pinned_serial": pinned.serial,
            "seen_serial": seen.serial,
            "pinned_cert": pinned.cert_sha256,
            "seen_cert": seen.cert_sha256,
        },
    )
