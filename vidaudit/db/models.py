"""SQLAlchemy 2 typed models.  Tables change only through Alembic migrations.

Inventory rows are never deleted: findings, observations and register entries point at
channels long after a camera is removed, so a removed row is *retired* (``retired_at``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from vidaudit.db.types import UTCDateTime

#: The rows of ``collection_runs`` the one-open-round index covers.
OPEN_ROUND = "status = 'running' AND kind = 'round'"


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class BranchRow(Base):
    __tablename__ = "branches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64))
    #: Business hours as configured (weekday hours, closed and special days).
    hours: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: the group of branches the security department reports on together (e.g. 城关片区)
    region: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    retired_at: Mapped[dt.datetime | None]

    devices: Mapped[list[DeviceRow]] = relationship(back_populates="branch")


class DeviceRow(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    vendor: Mapped[str] = mapped_column(String(32))
    #: onvif | isapi | dahua: which road the collector reads the device by.
    api: Mapped[str] = mapped_column(String(16), server_default="onvif")
    #: The vendor API's base URL (api isapi/dahua); ``onvif_url`` is then optional.
    api_url: Mapped[str | None] = mapped_column(String(512))
    onvif_url: Mapped[str | None] = mapped_column(String(512))
    username: Mapped[str] = mapped_column(String(128))
    #: The *reference* (``${ENV}`` or ``file:PATH``); the password itself is never stored.
    password_ref: Mapped[str] = mapped_column(String(1100))
    playback: Mapped[str] = mapped_column(String(32))
    first_seen_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    retired_at: Mapped[dt.datetime | None]

    branch: Mapped[BranchRow] = relationship(back_populates="devices")
    channels: Mapped[list[ChannelRow]] = relationship(back_populates="device")


class DeviceIdentityRow(Base):
    """The hardware pinned for a configured device (collector/identity.py), and the other
    identity last seen at its address while nobody has accepted it."""

    __tablename__ = "device_identities"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    serial: Mapped[str | None] = mapped_column(String(128))
    cert_sha256: Mapped[str | None] = mapped_column(String(64))
    pinned_at: Mapped[dt.datetime]
    #: "first contact" or the person who accepted it
    pinned_by: Mapped[str] = mapped_column(String(128))
    seen_serial: Mapped[str | None] = mapped_column(String(128))
    seen_cert_sha256: Mapped[str | None] = mapped_column(String(64))
    seen_at: Mapped[dt.datetime | None]

    device: Mapped[DeviceRow | None] = relationship()


class ChannelRow(Base):
    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), index=True)
    #: How the channel is found on the device: channel number and/or ONVIF tokens.
    ref: Mapped[dict[str, Any]] = mapped_column(JSON)
    required_days: Mapped[int] = mapped_column(Integer)
    audio: Mapped[str] = mapped_column(String(16))
    #: an off-site ATM (离行式自助设备): role atm, patrolled at least N times a day (D9)
    offsite: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    first_seen_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    retired_at: Mapped[dt.datetime | None]

    device: Mapped[DeviceRow] = relationship(back_populates="channels")


class InventorySyncRow(Base):
    """One ``inventory sync``: which file, its digest, and what changed."""

    __tablename__ = "inventory_syncs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    synced_at: Mapped[dt.datetime]
    source: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    #: {"added": [...], "changed": [...], "retired": [...], "restored": [...]} of "kind:id".
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)


class CollectionRunRow(Base):
    """One poll of the fleet: ``vidaudit collect`` (kind ``collect``) or a round deferred to
    workers (kind ``round``, ``vidaudit schedule``)."""

    __tablename__ = "collection_runs"
    __table_args__ = (
        # At most one round open at a time: an overlapping round is refused, never doubled.
        Index(
            "ux_collection_runs_one_open_round",
            "kind",
            unique=True,
            postgresql_where=text(OPEN_ROUND),
            sqlite_where=text(OPEN_ROUND),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[dt.datetime] = mapped_column(index=True)
    finished_at: Mapped[dt.datetime | None]
    #: running | completed | aborted
    status: Mapped[str] = mapped_column(String(16))
    #: collect | round
    kind: Mapped[str] = mapped_column(String(16), default="collect", server_default="collect")
    #: a round: devices not reported by then are late and the round is finished without them
    deadline_at: Mapped[dt.datetime | None]
    #: a round: the devices it deferred a job for
    devices_expected: Mapped[int | None] = mapped_column(Integer)
    devices_late: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: the ticket changes finishing the run made (None until it finished)
    tickets_opened: Mapped[int | None] = mapped_column(Integer)
    tickets_updated: Mapped[int | None] = mapped_column(Integer)
    tickets_closed: Mapped[int | None] = mapped_column(Integer)
    tickets_reopened: Mapped[int | None] = mapped_column(Integer)
    devices: Mapped[int] = mapped_column(Integer, default=0)
    devices_down: Mapped[int] = mapped_column(Integer, default=0)
    channels: Mapped[int] = mapped_column(Integer, default=0)
    channels_compliant: Mapped[int] = mapped_column(Integer, default=0)
    violations: Mapped[int] = mapped_column(Integer, default=0)
    #: the policy in force for this run, so old verdicts can be re-read in context
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: when housekeeping rolled this run's day of channel observations up to one per
    #: channel (``collector.housekeeping``); None while the day is kept whole
    observations_rolled_up_at: Mapped[dt.datetime | None]


class DeviceObservationRow(Base):
    __tablename__ = "device_observations"
    __table_args__ = (
        Index("ix_device_obs_device_time", "device_id", "observed_at"),
        # one per device per run: a retried job can never store a device twice
        Index("ux_device_obs_run_device", "run_id", "device_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("collection_runs.id"))
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    branch_id: Mapped[str] = mapped_column(String(64), index=True)
    observed_at: Mapped[dt.datetime]
    online: Mapped[bool]
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    clock_drift_s: Mapped[float | None]
    manufacturer: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(128))
    firmware: Mapped[str | None] = mapped_column(String(128))
    services: Mapped[list[str]] = mapped_column(JSON)
    violations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: optional calls that failed: fact -> [call, error kind, message]
    unknown: Mapped[dict[str, list[str]] | None] = mapped_column(JSON)
    #: Every disk the recorder listed: [{"id", "status", "state", "capacity_bytes",
    #: "free_bytes"}]; NULL when it was not read (ONVIF, or the recorder would not say).
    storage: Mapped[list[Any] | None] = mapped_column(JSON)
    serial: Mapped[str | None] = mapped_column(String(128))


class ChannelObservationRow(Base):
    __tablename__ = "channel_observations"
    __table_args__ = (
        # "retention trend of channel X" and "latest observation per channel"
        Index("ix_channel_obs_channel_time", "channel_id", "observed_at"),
        # one per channel per run: a retried job can never store a channel twice
        Index("ux_channel_obs_run_channel", "run_id", "channel_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("collection_runs.id"))
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id"))
    device_id: Mapped[str] = mapped_column(String(64))
    branch_id: Mapped[str] = mapped_column(String(64), index=True)
    observed_at: Mapped[dt.datetime]
    recording_state: Mapped[str] = mapped_column(String(16))
    earliest: Mapped[dt.datetime | None]
    #: the earliest footage a pulled frame proved (R1 verified), when one did
    verified_earliest: Mapped[dt.datetime | None]
    #: facts a failed optional call left unknown: fact -> [call, error kind, message]
    unknown: Mapped[dict[str, list[str]] | None] = mapped_column(JSON)
    latest: Mapped[dt.datetime | None]
    retention_days: Mapped[float | None]
    required_days: Mapped[int] = mapped_column(Integer)
    verified: Mapped[bool]
    occupancy: Mapped[float | None]
    #: [[start, end], ...] ISO 8601 UTC, inside the required window
    gaps: Mapped[list[Any] | None] = mapped_column(JSON)
    #: the business days in the window that recording did not cover:
    #: [{"date", "covered": false, "missing_min"}, ...] (rows stored before 2026-11-22 list
    #: every business day, covered ones with "covered": true; readers filter on it)
    business_days: Mapped[list[Any]] = mapped_column(JSON)
    business_hours_covered: Mapped[bool | None]
    audio: Mapped[bool | None]
    compliant: Mapped[bool]
    violations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class RoundDeviceRow(Base):
    """A device a round expects: ``pending`` until its job stores its observation
    (``reported``), or ``late`` when the round's deadline passed first."""

    __tablename__ = "round_devices"
    __table_args__ = (Index("ix_round_devices_run_state", "run_id", "state"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("collection_runs.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    branch_id: Mapped[str] = mapped_column(String(64))
    #: the job queue the device's job went to (its branch's, its region's, its service's)
    queue: Mapped[str] = mapped_column(String(128))
    #: procrastinate's job id
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    #: pending | reported | late
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reported_at: Mapped[dt.datetime | None]
    #: which worker stored it (host:pid)
    worker: Mapped[str | None] = mapped_column(String(128))


class BranchResultRow(Base):
    """A branch's verdict in one run: makes "when did branch Y last comply" one index seek."""

    __tablename__ = "branch_results"
    __table_args__ = (
        Index("ix_branch_results_branch_ok_time", "branch_id", "compliant", "observed_at"),
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("collection_runs.id"), primary_key=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    observed_at: Mapped[dt.datetime]
    compliant: Mapped[bool]
    devices_down: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    channels_compliant: Mapped[int] = mapped_column(Integer)
    violations: Mapped[int] = mapped_column(Integer)


class FaultTicketRow(Base):
    """R7: a failing check opens a ticket naming who must act; it closes itself only when
    the same check on the same subject passes again."""

    __tablename__ = "fault_tickets"
    __table_args__ = (
        Index("ix_tickets_subject_open", "subject_id", "rule", "closed_at"),
        Index("ix_tickets_branch_open", "branch_id", "closed_at"),
        Index("ix_tickets_state", "state", "branch_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"))
    #: device | channel
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: who must act (Art. 47: report to the branch head and the security department)
    owner_role: Mapped[str] = mapped_column(String(32))
    notify_roles: Mapped[list[str]] = mapped_column(JSON)
    opened_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    opened_run_id: Mapped[int] = mapped_column(ForeignKey("collection_runs.id"))
    closed_run_id: Mapped[int | None] = mapped_column(ForeignKey("collection_runs.id"))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    #: open | acknowledged | assigned | reopened | closed (``review.tickets`` moves it)
    state: Mapped[str] = mapped_column(String(16), default="open")
    #: bumped by every change a person or the check makes to the state (not by a run
    #: that only sees the fault again), so a person's stale form is refused, never applied
    version: Mapped[int] = mapped_column(Integer, default=1)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[dt.datetime | None]
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[dt.datetime | None]
    #: when the ticket passed its due time still open (the alert went to the head and 保卫部)
    escalated_at: Mapped[dt.datetime | None]
    #: who closed it by hand (None: closed because the check passed again) and why
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    close_reason: Mapped[str | None] = mapped_column(Text)
    #: how often the check failed again after the ticket was closed
    reopened: Mapped[int] = mapped_column(Integer, default=0)


class TicketEventRow(Base):
    """Every change of a fault ticket: who (None: vidaudit itself), when, what (kept)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("fault_tickets.id"), index=True)
    at: Mapped[dt.datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: acknowledged | assigned | comment | evidence | escalated | closed | auto_closed |
    #: reopened
    action: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    evidence_sha256: Mapped[str | None] = mapped_column(ForeignKey("evidence.sha256"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer)
    #: the register entry of a person's action
    register_seq: Mapped[int | None] = mapped_column(ForeignKey("register_entries.seq"))


class RegisterHeadRow(Base):
    """The review register's chain head: one row, moved forward by every append.

    Appending reads and updates this row in the same transaction, which serialises
    appends on both backends (a row lock on PostgreSQL, the write lock on SQLite), so two
    appends can never chain onto the same predecessor.  A trigger allows only that step
    (seq + 1, then the new entry's hash): it cannot be moved back, zeroed or replaced.
    """

    __tablename__ = "register_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class RegisterEntryRow(Base):
    """D4: every playback, frame pull and review, append-only, hash-chained and signed.

    ``hash = sha256(prev_hash + canonical JSON of the entry)``, signed with the register's
    Ed25519 key (``signature``, by key ``key_id``); database triggers refuse UPDATE,
    DELETE and REPLACE, and ``vidaudit register verify`` recomputes and checks it all.
    """

    __tablename__ = "register_entries"
    __table_args__ = (
        Index("ix_register_channel_time", "channel_id", "at"),
        Index("ix_register_branch_time", "branch_id", "at"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(128))
    actor_role: Mapped[str] = mapped_column(String(32))
    #: frame_pull | playback | review | approval_request | approval | finding | …
    action: Mapped[str] = mapped_column(String(32))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    range_start: Mapped[dt.datetime | None]
    range_end: Mapped[dt.datetime | None]
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: fingerprint of the key that signed ``hash``; None when no key was configured
    key_id: Mapped[str | None] = mapped_column(String(16))
    #: base64 Ed25519 signature of the entry's hash (see review/signing.py)
    signature: Mapped[str | None] = mapped_column(String(128))


class RegisterCheckpointRow(Base):
    """A signed checkpoint of the register head (review/checkpoints.py); append-only.
    The same checkpoints go to a file outside the database and onto weekly reports."""

    __tablename__ = "register_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime]
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))


class EvidenceRow(Base):
    """A content-addressed evidence file (a pulled frame, a snapshot) under the data dir."""

    __tablename__ = "evidence"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(64))
    #: path relative to the evidence root
    path: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime]
    #: where it came from: channel, requested and actual instants, source kind
    origin: Mapped[dict[str, Any]] = mapped_column(JSON)


class SpotCheckPlanRow(Base):
    """D5/D6: a plan of spot-checks; random plans keep the seed that re-derives them."""

    __tablename__ = "spot_check_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(128))
    #: random | targeted
    kind: Mapped[str] = mapped_column(String(16))
    #: random plans: the CSPRNG seed and the algorithm version that drew the tasks
    seed: Mapped[str | None] = mapped_column(String(32))
    algorithm: Mapped[str | None] = mapped_column(String(64))
    #: period, roles, count, window, branches; targeted: the CSV's name and sha256
    params: Mapped[dict[str, Any]] = mapped_column(JSON)


class SpotCheckTaskRow(Base):
    __tablename__ = "spot_check_tasks"
    __table_args__ = (Index("ix_tasks_branch_status", "branch_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("spot_check_plans.id"), index=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"))
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id"))
    start: Mapped[dt.datetime]
    end: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    event_at: Mapped[dt.datetime | None]
    frames_wanted: Mapped[int] = mapped_column(Integer)
    #: planned | pulled | reviewed
    status: Mapped[str] = mapped_column(String(16))


class TaskFrameRow(Base):
    """A frame pulled for a spot-check task (or ad hoc), with its diagnostics."""

    __tablename__ = "task_frames"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("spot_check_tasks.id"), index=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id"), index=True)
    requested: Mapped[dt.datetime]
    actual: Mapped[dt.datetime | None]
    delta_ms: Mapped[float | None]
    evidence_sha256: Mapped[str | None] = mapped_column(ForeignKey("evidence.sha256"))
    diagnostics: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    pulled_at: Mapped[dt.datetime]
    register_seq: Mapped[int] = mapped_column(ForeignKey("register_entries.seq"))


class UserRow(Base):
    """A person who uses the web view.  Roles: security, inspector, branch_head,
    administrator, auditor; branch-bound roles carry their branch."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    #: argon2id hash (never the password)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    branch_id: Mapped[str | None] = mapped_column(ForeignKey("branches.id"))
    locale: Mapped[str] = mapped_column(String(8), default="zh")
    created_at: Mapped[dt.datetime]
    disabled_at: Mapped[dt.datetime | None]
    #: where e-mail alerts reach the person (optional; ``vidaudit user email``)
    email: Mapped[str | None] = mapped_column(String(254))


class WebSessionRow(Base):
    """A login: the cookie carries a random token, the table only its sha256."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class ReviewRow(Base):
    """A submitted review of footage (D2/D3/D5): never edited once submitted."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_branch_time", "branch_id", "submitted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("spot_check_tasks.id"), index=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"))
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: the reviewer's role at the time: administrator / branch_head / inspector / security
    reviewer_role: Mapped[str] = mapped_column(String(32))
    window_start: Mapped[dt.datetime]
    window_end: Mapped[dt.datetime]
    submitted_at: Mapped[dt.datetime]
    #: {item code: {"verdict": pass|fail|not_visible, "note": str, "frames": [sha256]}}
    items: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    register_seq: Mapped[int] = mapped_column(ForeignKey("register_entries.seq"))


class FindingRow(Base):
    """D7: a problem a review found, with an owner, a deadline and a status.

    ``version`` is bumped by every change; a change that names an older version is
    refused, so two people saving the same finding cannot overwrite each other.
    """

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_branch_status", "branch_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"))
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id"))
    item_code: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text)
    frames: Mapped[list[Any]] = mapped_column(JSON)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    deadline: Mapped[dt.date]
    #: open | fixed | closed | reopened
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)


class FindingEventRow(Base):
    """Every change of a finding, with who and when (kept, never edited)."""

    __tablename__ = "finding_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), index=True)
    at: Mapped[dt.datetime]
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: created | assigned | fixed | closed | reopened | comment | deadline
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    evidence_sha256: Mapped[str | None] = mapped_column(ForeignKey("evidence.sha256"))
    version: Mapped[int] = mapped_column(Integer)


class ApprovalRow(Base):
    """D4: viewing outside one's own branch or business needs the branch head's consent."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_branch_status", "branch_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"))
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id"))
    range_start: Mapped[dt.datetime]
    range_end: Mapped[dt.datetime]
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[dt.datetime]
    #: pending | approved | denied
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="")


class DailyCheckRow(Base):
    """D1: a branch's daily check, one row per branch and branch-local day (unique).

    The people's confirmations are their own rows (``DailyCheckConfirmationRow``),
    appended, never rewritten; this row says who confirmed first and when, and the day's
    outcome: ``problems`` once anyone reported problems."""

    __tablename__ = "daily_checks"
    __table_args__ = (Index("uq_daily_checks_branch_day", "branch_id", "day", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"))
    #: branch-local calendar day checked
    day: Mapped[dt.date]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    confirmed_at: Mapped[dt.datetime]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("collection_runs.id"))
    #: ok | problems
    outcome: Mapped[str] = mapped_column(String(16))


class DailyCheckConfirmationRow(Base):
    """One person's confirmation of a daily check: who, when, what they found, their note."""

    __tablename__ = "daily_check_confirmations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("daily_checks.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime]
    #: ok | problems
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    #: the collector run the person was looking at
    run_id: Mapped[int | None] = mapped_column(ForeignKey("collection_runs.id"))


class SnapshotRow(Base):
    """A live snapshot of a channel (daily check R4, video-wall patrol D8), diagnosed."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_channel_time", "channel_id", "taken_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id"))
    taken_at: Mapped[dt.datetime]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("collection_runs.id"))
    evidence_sha256: Mapped[str | None] = mapped_column(ForeignKey("evidence.sha256"))
    #: {"verdict", "primary", "checks": {name: {"verdict", "score"}}} as in task frames
    diagnostics: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: why no picture was taken (device error kind and message)
    error: Mapped[str | None] = mapped_column(Text)


class RetentionCheckRow(Base):
    """R1 proven by footage: a frame pulled from (now − required days) at ``checked_at``."""

    __tablename__ = "retention_checks"
    __table_args__ = (Index("ix_retention_checks_channel_time", "channel_id", "checked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id"))
    checked_at: Mapped[dt.datetime]
    required_days: Mapped[int] = mapped_column(Integer)
    #: the instant asked for and the instant the frame really shows (None: no footage)
    requested: Mapped[dt.datetime]
    actual: Mapped[dt.datetime | None]
    ok: Mapped[bool]
    evidence_sha256: Mapped[str | None] = mapped_column(ForeignKey("evidence.sha256"))
    register_seq: Mapped[int | None] = mapped_column(ForeignKey("register_entries.seq"))
    error: Mapped[str | None] = mapped_column(Text)


class AlertOutboxRow(Base):
    """An alert waiting to be sent, or sent, or given up on (with why).

    Alerts are written here in the same transaction that decides them and sent by a
    separate drainer (``alerts.sender``), so a slow mail server never holds a collection
    up.  The channel is named, never its webhook URL or password (those are secrets,
    resolved only when sending).
    """

    __tablename__ = "alert_outbox"
    __table_args__ = (Index("ix_alert_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    #: device_offline | disk_failed | ticket_escalated | rectification_overdue |
    #: approval_waiting | daily_check_missing | weekly_report
    event: Mapped[str] = mapped_column(String(32))
    #: the channel's name in the settings' notify section, and its kind
    channel: Mapped[str] = mapped_column(String(64))
    channel_kind: Mapped[str] = mapped_column(String(16))
    #: an e-mail address, or "" for a group robot / webhook
    recipient: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(8))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    #: the message as the channels take it: {"lines": [{"text", "link", "key", "branch",
    #: "subject"}], "link_label"}; ``body`` is the same as plain text, for people
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: pending | sent | failed
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime]
    last_attempt_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    #: why the last attempt failed (kind: message; never a URL or secret)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: a drainer holds the row while it sends (two processes never send one row at once)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]


class AlertThrottleRow(Base):
    """When an alert about one thing (a ticket, an approval, a branch-day) last went out:
    the one place that stops repeats more often than the settings allow."""

    __tablename__ = "alert_throttle"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_at: Mapped[dt.datetime]
    times: Mapped[int] = mapped_column(Integer)


class PatrolRoundRow(Base):
    """D9: one patrol round of an ATM channel - who, when, the picture seen and its
    diagnosis, and what the person judged.  Written once, never edited; the register holds
    the same facts in its verifiable chain."""

    __tablename__ = "patrol_rounds"
    __table_args__ = (
        Index("ix_patrol_rounds_channel_time", "channel_id", "at"),
        Index("ix_patrol_rounds_branch_time", "branch_id", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id"))
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime]
    #: the live snapshot the person looked at (None: none was available)
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id"))
    evidence_sha256: Mapped[str | None] = mapped_column(ForeignKey("evidence.sha256"))
    #: the snapshot's diagnosis as it was shown ({"verdict", "failed": [...]})
    diagnostics: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: normal | abnormal
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    register_seq: Mapped[int] = mapped_column(ForeignKey("register_entries.seq"))


class TaskClipRow(Base):
    """A short clip of recorded video pulled for a spot-check task (or ad hoc), kept as
    content-addressed MP4 evidence, as recorded (no re-encoding)."""

    __tablename__ = "task_clips"
    __table_args__ = (
        Index("ix_task_clips_task", "task_id"),
        Index("ix_task_clips_evidence", "evidence_sha256"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("spot_check_tasks.id"))
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id"))
    requested_start: Mapped[dt.datetime]
    requested_end: Mapped[dt.datetime]
    #: the instants (true time) of the clip's first and last frames
    first_at: Mapped[dt.datetime | None]
    last_at: Mapped[dt.datetime | None]
    frames: Mapped[int] = mapped_column(Integer)
    #: h264 | hevc, as recorded
    codec: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    evidence_sha256: Mapped[str | None] = mapped_column(ForeignKey("evidence.sha256"))
    pulled_at: Mapped[dt.datetime]
    register_seq: Mapped[int] = mapped_column(ForeignKey("register_entries.seq"))


class IndicatorDayRow(Base):
    """One branch's O&M indicator counts for one ended day (the inventory's time zone),
    summarised from the day's observations and snapshots before housekeeping rolls them
    up (``collector.indicators``).  Rates are sums of these over days, branches, regions."""

    __tablename__ = "indicator_days"
    __table_args__ = (Index("ix_indicator_days_day", "day"),)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    computed_at: Mapped[dt.datetime]
    device_polls: Mapped[int] = mapped_column(Integer)
    device_online: Mapped[int] = mapped_column(Integer)
    clock_polls: Mapped[int] = mapped_column(Integer)
    clock_ok: Mapped[int] = mapped_column(Integer)
    record_channels: Mapped[int] = mapped_column(Integer)
    record_required_min: Mapped[float]
    record_missing_min: Mapped[float]
    retention_channels: Mapped[int] = mapped_column(Integer)
    retention_ok: Mapped[int] = mapped_column(Integer)
    picture_channels: Mapped[int] = mapped_column(Integer)
    picture_ok: Mapped[int] = mapped_column(Integer)


class SettledFootageRow(Base):
    """What the last read of a channel through a vendor API (ISAPI, Dahua) settled, so the
    next run asks the recorder only for what changed (``readings.KnownFootage``).  One row
    per channel, replaced by every run that read it; a cache the collector can always
    rebuild by reading the channel in full, never a record of anything."""

    __tablename__ = "settled_footage"

    channel_id: Mapped[str] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    #: What the channel was read through and as: a different device, API or channel
    #: number in the inventory makes the row useless.
    device_id: Mapped[str] = mapped_column(String(64))
    api: Mapped[str] = mapped_column(String(16))
    number: Mapped[int] = mapped_column(Integer)
    #: Device-clock UTC, as the recorder stamps its footage.
    settled_until: Mapped[dt.datetime]
    #: [[start, end], ...] as seconds since the epoch (device clock), merged.
    segments: Mapped[list[Any]] = mapped_column(JSON)
    earliest: Mapped[dt.datetime | None]
    earliest_bounded: Mapped[bool]
    disks: Mapped[str | None] = mapped_column(Text)
    read_in_full_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class GbRegistrationRow(Base):
    """A GB/T 28181 device registered to vidaudit's SIP service (``vidaudit gb serve``).

    Kept so that registrations survive the service's restart: a recorder re-registers only
    when its registration nears expiry (often an hour), and must not look offline until
    then.  Written only by the service."""

    __tablename__ = "gb_registrations"

    gb_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    transport: Mapped[str] = mapped_column(String(8))
    #: where its messages come from (what the service sends to)
    host: Mapped[str] = mapped_column(String(64))
    port: Mapped[int] = mapped_column(Integer)
    contact: Mapped[str] = mapped_column(String(256))
    registered_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
