"""SQLAlchemy 2 typed models.  Tables change only through Alembic migrations.

Inventory rows are never deleted: findings, observations and register entries point at
channels long after a camera is removed, so a removed row is *retired* (``retired_at``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from vidaudit.db.types import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime, dict[str, Any]: JSON}


class BranchRow(Base):
    __tablename__ = "branches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64))
    #: Business hours as configured (weekday hours, closed and special days).
    hours: Mapped[dict[str, Any]] = mapped_column(JSON)
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
    onvif_url: Mapped[str] = mapped_column(String(512))
    username: Mapped[str] = mapped_column(String(128))
    #: The *reference* (``${ENV}`` or ``file:PATH``); the password itself is never stored.
    password_ref: Mapped[str] = mapped_column(String(1100))
    playback: Mapped[str] = mapped_column(String(32))
    first_seen_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    retired_at: Mapped[dt.datetime | None]

    branch: Mapped[BranchRow] = relationship(back_populates="devices")
    channels: Mapped[list[ChannelRow]] = relationship(back_populates="device")


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
