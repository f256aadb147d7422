"""Pins as storage keeps them (``collector.identity.record_identities``): a part the pin
lacks is pinned when the device first gives it, and checked from then on."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.collector.test_store import setup
from vidaudit.collector.identity import load_pins, record_identities
from vidaudit.compliance.identity import DeviceIdentity, identity_violation
from vidaudit.db.models import DeviceIdentityRow

T0 = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)
CERT_A, CERT_B = "a" * 64, "b" * 64


@pytest.fixture
def sessions(db_url: str) -> sessionmaker[Session]:
    return setup(db_url)  # the minimal inventory's one recorder, B1-NVR


def see(sessions: sessionmaker[Session], identity: DeviceIdentity, minutes: int) -> None:
    with sessions.begin() as s:
        record_identities(s, [("B1-NVR", identity)], T0 + dt.timedelta(minutes=minutes))


def pin(sessions: sessionmaker[Session]) -> DeviceIdentityRow:
    with sessions() as s:
        row = s.get(DeviceIdentityRow, "B1-NVR")
        assert row is not None
        s.expunge(row)
        return row


def test_a_certificate_the_pin_lacks_is_pinned_then_checked(
    sessions: sessionmaker[Session],
) -> None:
    # pinned by serial alone (over http, or over https before certificates were noted)
    see(sessions, DeviceIdentity("SN-1", None), 0)
    assert (pin(sessions).serial, pin(sessions).cert_sha256) == ("SN-1", None)

    see(sessions, DeviceIdentity("SN-1", CERT_A), 5)  # the same box, now its certificate
    row = pin(sessions)
    assert (row.serial, row.cert_sha256, row.pinned_by) == ("SN-1", CERT_A, "first contact")
    assert row.seen_at is None, "the pinned device answered: nothing to decide"

    # from then on the certificate is part of the pin: another one is another device
    impostor = DeviceIdentity("SN-1", CERT_B)
    see(sessions, impostor, 10)
    row = pin(sessions)
    assert (row.cert_sha256, row.seen_cert_sha256) == (CERT_A, CERT_B)
    with sessions() as s:
        pinned = load_pins(s)["B1-NVR"]
    violation = identity_violation(pinned, impostor)
    assert violation is not None and violation.rule == "R6.identity"


def test_a_device_that_no_longer_gives_its_certificate_is_not_the_same(
    sessions: sessionmaker[Session],
) -> None:
    see(sessions, DeviceIdentity("SN-1", CERT_A), 0)
    see(sessions, DeviceIdentity("SN-1", None), 5)  # e.g. now answering over http
    row = pin(sessions)
    assert row.cert_sha256 == CERT_A and row.seen_at is not None
