"""The cameras.yaml schema: branches, devices and channels, validated at load.

Every model forbids unknown keys and bounds its numbers (the Frigate config style): a typo
in a bank's inventory must fail loudly at load, never be silently ignored.  Passwords are
never literal in the file; they are references resolved in ``vidaudit.inventory.load``.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

Identifier = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="letters, digits, '_', '.', '-'; starts with a letter or digit",
    ),
]

#: ``${NAME}``: the password lives in the environment (or the inventory's env file).
ENV_REFERENCE = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}$")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


#: A job queue's name (distributed collection).
QueueName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="letters, digits, '_', '.', '-'; at most 64",
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelRole(StrEnum):
    """What a channel looks at; decides inspection items and may raise retention."""

    COUNTER = "counter"
    CASH_AREA = "cash_area"
    VAULT = "vault"
    ATM = "atm"
    ENTRANCE = "entrance"
    LOBBY = "lobby"
    DUTY_ROOM = "duty_room"
    OTHER = "other"


class DeviceKind(StrEnum):
    NVR = "nvr"
    CAMERA = "camera"


class Vendor(StrEnum):
    ONVIF = "onvif"  # generic: only what the ONVIF profiles promise
    HIKVISION = "hikvision"
    DAHUA = "dahua"
    UNIVIEW = "uniview"
    AXIS = "axis"
    MILESIGHT = "milesight"
    TIANDY = "tiandy"
    OTHER = "other"


class Playback(StrEnum):
    """How recorded video is pulled from the device."""

    ONVIF_REPLAY = "onvif-replay"
    HIKVISION_URL = "hikvision-url"
    DAHUA_URL = "dahua-url"


class AudioRequirement(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Asia/Shanghai')") from exc
    return value


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64)]


class OpenHours(Strict):
    """One business day's opening, branch local time, e.g. ``"08:30-17:00"``."""

    open: dt.time
    close: dt.time

    @classmethod
    def parse(cls, text: str) -> OpenHours:
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
        if not match:
            raise ValueError(f"expected 'HH:MM-HH:MM' or 'closed', got {text!r}")
        oh, om, ch, cm = (int(g) for g in match.groups())
        if not (0 <= oh <= 23 and 0 <= ch <= 23 and 0 <= om <= 59 and 0 <= cm <= 59):
            raise ValueError(f"hours out of range in {text!r}")
        opening, closing = dt.time(oh, om), dt.time(ch, cm)
        if closing <= opening:
            raise ValueError(f"closing time must be after opening time in {text!r}")
        return cls(open=opening, close=closing)

    def __str__(self) -> str:
        return f"{self.open:%H:%M}-{self.close:%H:%M}"


def _parse_day(value: object) -> OpenHours | None:
    if value is None or value == "closed":
        return None
    if isinstance(value, OpenHours):
        return value
    if isinstance(value, str):
        return OpenHours.parse(value)
    raise ValueError(f"expected 'HH:MM-HH:MM' or 'closed', got {value!r}")


class WeekHours(Strict):
    """Business hours per weekday; a day left out or set to ``closed`` is closed."""

    mon: OpenHours | None = None
    tue: OpenHours | None = None
    wed: OpenHours | None = None
    thu: OpenHours | None = None
    fri: OpenHours | None = None
    sat: OpenHours | None = None
    sun: OpenHours | None = None

    @field_validator(*WEEKDAYS, mode="before")
    @classmethod
    def _day(cls, value: object) -> OpenHours | None:
        return _parse_day(value)

    @model_validator(mode="after")
    def _some_day_open(self) -> Self:
        if all(getattr(self, day) is None for day in WEEKDAYS):
            raise ValueError("a branch must be open on at least one weekday")
        return self

    def for_weekday(self, weekday: int) -> OpenHours | None:
        """``weekday`` as ``date.weekday()``: 0 is Monday."""
        hours: OpenHours | None = getattr(self, WEEKDAYS[weekday])
        return hours


class DutyPolicy(Strict):
    """Review duties per branch per week (Art. 45, 49)."""

    admin_reviews_per_week: int = Field(2, ge=0, le=14)
    head_reviews_per_week: int = Field(1, ge=0, le=14)
    daily_check: bool = True


class Policy(Strict):
    retention_days: int = Field(30, ge=1, le=3650)
    #: Some banks require longer retention for particular roles (e.g. 90 days for vaults).
    retention_days_by_role: dict[ChannelRole, Annotated[int, Field(ge=1, le=3650)]] = Field(
        default_factory=dict
    )
    max_clock_drift_s: float = Field(60, gt=0, le=86400)
    record_before_open_min: int = Field(30, ge=0, le=720)
    record_after_close_min: int = Field(30, ge=0, le=720)
    duties: DutyPolicy = DutyPolicy()


class ChannelRef(Strict):
    """How a configured channel is found on the device; vendors differ.

    At least one is given.  ``channel`` is the 1-based channel number (Hikvision tracks
    ``101``, Dahua ``channel=1``); the tokens are ONVIF tokens as the device reports them.
    """

    channel: int | None = Field(None, ge=1, le=1024)
    profile: str | None = Field(None, min_length=1, max_length=128)
    source: str | None = Field(None, min_length=1, max_length=128)
    recording: str | None = Field(None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if not any((self.channel, self.profile, self.source, self.recording)):
            raise ValueError("give at least one of channel, profile, source, recording")
        return self


class Channel(Strict):
    id: Identifier
    name: str = Field(min_length=1, max_length=128)
    role: ChannelRole
    ref: ChannelRef
    retention_days: int | None = Field(None, ge=1, le=3650)
    audio: AudioRequirement = AudioRequirement.OPTIONAL


class Device(Strict):
    id: Identifier
    name: str | None = Field(None, max_length=128)
    kind: DeviceKind
    vendor: Vendor = Vendor.ONVIF
    onvif: AnyHttpUrl = Field(description="the ONVIF device-service URL")
    username: str = Field(min_length=1, max_length=128)
    #: ``${ENV_NAME}``; a literal password is refused (see ``password_is_reference``).
    password: str | None = Field(None, min_length=1, max_length=256)
    #: A file holding the password (first line), e.g. a mounted secret.
    password_file: str | None = Field(None, min_length=1, max_length=1024)
    playback: Playback = Playback.ONVIF_REPLAY
    #: RTSP port for vendor playback URLs (ONVIF replay takes its URI from the device).
    rtsp_port: int = Field(554, ge=1, le=65535)
    channels: list[Channel] = Field(min_length=1, max_length=1024)
    #: Distributed collection: the job queue this device's jobs go to (default: its
    #: branch's); ``vidaudit worker --queues`` serves some queues only.
    queue: QueueName | None = None

    @field_validator("password")
    @classmethod
    def password_is_reference(cls, value: str | None) -> str | None:
        if value is not None and not ENV_REFERENCE.match(value):
            # The literal is not echoed back: it must not reach a log or a terminal.
            raise ValueError(
                "a literal password is not allowed in the inventory; write an environment "
                "reference such as '${VIDAUDIT_PW_FY001}' or use password_file"
            )
        return value

    @model_validator(mode="after")
    def _one_secret_source(self) -> Self:
        if (self.password is None) == (self.password_file is None):
            raise ValueError("give exactly one of password (an ${ENV} reference) or password_file")
        return self

    @property
    def password_ref(self) -> str:
        """What may be stored and shown: the reference, never the secret."""
        if self.password is not None:
            return self.password
        return f"file:{self.password_file}"


class Branch(Strict):
    id: Identifier
    name: str = Field(min_length=1, max_length=128)
    timezone: TimeZoneName | None = None
    hours: WeekHours
    #: Public holidays and other days the branch stays shut.
    closed_dates: list[dt.date] = Field(default_factory=list)
    #: Days with unusual hours, e.g. a Saturday worked in exchange for a holiday (调休).
    special_days: dict[dt.date, OpenHours] = Field(default_factory=dict)
    devices: list[Device] = Field(min_length=1, max_length=256)
    #: Distributed collection: the job queue of the branch's devices, e.g. a region whose
    #: collectors stand in its network (default ``branch.<id>``).
    queue: QueueName | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)

    @field_validator("special_days", mode="before")
    @classmethod
    def _special(cls, value: object) -> object:
        if isinstance(value, dict):
            parsed = {}
            for day, hours in value.items():
                opening = _parse_day(hours)
                if opening is None:
                    raise ValueError(f"special day {day}: use closed_dates for a closed day")
                parsed[day] = opening
            return parsed
        return value

    def hours_on(self, day: dt.date) -> OpenHours | None:
        """Business hours on a given local date, or None when closed."""
        if day in self.special_days:
            return self.special_days[day]
        if day in self.closed_dates:
            return None
        return self.hours.for_weekday(day.weekday())


class Inventory(Strict):
    timezone: TimeZoneName = "Asia/Shanghai"
    #: Optional ``KEY=value`` file (relative to the inventory) for ``${KEY}`` references;
    #: the process environment wins over it.
    env_file: str | None = None
    policy: Policy = Policy()
    branches: list[Branch] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)

    def branch_timezone(self, branch: Branch) -> ZoneInfo:
        return ZoneInfo(branch.timezone or self.timezone)

    def required_days(self, channel: Channel) -> int:
        """Retention a channel must hold: its own override, else its role's, else policy."""
        if channel.retention_days is not None:
            return channel.retention_days
        return self.policy.retention_days_by_role.get(channel.role, self.policy.retention_days)

    def devices(self) -> list[tuple[Branch, Device]]:
        return [(branch, device) for branch in self.branches for device in branch.devices]

    def channels(self) -> list[tuple[Branch, Device, Channel]]:
        return [
            (branch, device, channel)
            for branch in self.branches
            for device in branch.devices
            for channel in device.channels
        ]

    def find_channel(self, channel_id: str) -> tuple[Branch, Device, Channel] | None:
        """The channel with this id, with its branch and device; None when not listed."""
        for found in self.channels():
            if found[2].id == channel_id:
                return found
        return None


class Credentials(BaseModel):
    """A device's resolved login; the password stays a SecretStr everywhere."""

    model_config = ConfigDict(frozen=True)

    username: str
    password: SecretStr
