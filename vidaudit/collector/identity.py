"""Which recorder answers at a device's address: pinned on first contact, checked after.

An NVR swapped for another, or a port forward pointing at the wrong box, still answers
ONVIF at the configured address, and everything it says (recordings, retention, clock)
would be judged as the configured device's.  So the collector pins what identifies the
hardware on first contact — its serial number (every reader reports one: ONVIF
GetDeviceInformation, Hikvision ISAPI deviceInfo, Dahua getSerialNo) and, over https,
its certificate's fingerprint — and when another identity answers later it reports
``R6.identity`` for the device and judges none of its channels compliant until a person
accepts the new identity (``vidaudit inventory accept-identity DEVICE``, registered in
the review register).

Generic over the device API: readers fill ``DeviceIdentity``; nothing here knows ONVIF.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.compliance.identity import DeviceIdentity
from vidaudit.db.models import DeviceIdentityRow
from vidaudit.review.register import Entry, append


def load_pins(session: Session) -> dict[str, DeviceIdentity]:
    return {
        row.device_id: DeviceIdentity(row.serial, row.cert_sha256)
        for row in session.scalars(select(DeviceIdentityRow))
    }


def record_identities(
    session: Session, seen: Iterable[tuple[str, DeviceIdentity]], now: dt.datetime
) -> None:
    """Pin first contacts; keep the latest other identity seen (for the person who
    decides); forget it once the pinned device answers again.  A part the pin lacks
    (no certificate: pinned over http, or before certificates were noted over https)
    is pinned the first time the device gives it while the rest matches: the same
    first-contact trust as the pin itself, and from then on it is checked."""
    seen = list(seen)
    # only the rows of the devices seen: called once per stored batch of a large fleet
    ids = sorted({device_id for device_id, _identity in seen})
    rows = {
        r.device_id: r
        for r in session.scalars(
            select(DeviceIdentityRow).where(DeviceIdentityRow.device_id.in_(ids))
        )
    }
    for device_id, identity in seen:
        if identity.serial is None and identity.cert_sha256 is None:
            continue
        row = rows.get(device_id)
        if row is None:
            session.add(
                DeviceIdentityRow(
                    device_id=device_id,
                    serial=identity.serial,
                    cert_sha256=identity.cert_sha256,
                    pinned_at=now,
                    pinned_by="first contact",
                    seen_serial=None,
                    seen_cert_sha256=None,
                    seen_at=None,
                )
            )
        elif identity.differs_from(DeviceIdentity(row.serial, row.cert_sha256)):
            row.seen_serial, row.seen_cert_sha256, row.seen_at = (
                identity.serial,
                identity.cert_sha256,
                now,
            )
        else:
            if row.seen_at is not None:
                row.seen_serial = row.seen_cert_sha256 = row.seen_at = None
            if row.serial is None and identity.serial is not None:
                row.serial = identity.serial
            if row.cert_sha256 is None and identity.cert_sha256 is not None:
                row.cert_sha256 = identity.cert_sha256
    session.flush()


class IdentityError(ValueError):
    """The identity cannot be accepted as asked (shown to the operator as is)."""


def accept_identity(
    session: Session, device_id: str, *, actor: str, reason: str, now: dt.datetime
) -> tuple[DeviceIdentity, DeviceIdentity]:
    """A person accepts the identity now answering for ``device_id``: it becomes the pin,
    and the decision is entered in the review register.  Returns (old, new)."""
    row = session.get(DeviceIdentityRow, device_id)
    if row is None:
        raise IdentityError(f"no identity pinned for device {device_id!r} yet")
    if row.seen_at is None:
        raise IdentityError(f"device {device_id} answers as pinned; nothing to accept")
    if not reason.strip():
        raise IdentityError("give the reason (e.g. the NVR was replaced, ticket number)")
    old = DeviceIdentity(row.serial, row.cert_sha256)
    new = DeviceIdentity(row.seen_serial, row.seen_cert_sha256)
    append(
        session,
        Entry(
            actor=actor,
            actor_role="operator",
            action="identity_accept",
            reason=reason.strip(),
            branch_id=row.device.branch_id if row.device is not None else None,
            details={
                "device": device_id,
                "old_serial": old.serial,
                "old_cert": old.cert_sha256,
                "new_serial": new.serial,
                "new_cert": new.cert_sha256,
            },
        ),
        now,
    )
    row.serial, row.cert_sha256 = new.serial, new.cert_sha256
    row.pinned_at, row.pinned_by = now, actor
    row.seen_serial = row.seen_cert_sha256 = row.seen_at = None
    session.flush()
    return old, new
