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
    PrivateAttr,
    SecretStr,
    ValidationInfo,
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


#: One ``set`` per distinct combination of given field names, shared by every model
#: that was given exactly those (see ``Strict._share_fields_set``).
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _share_fields_set(self) -> Self:
        """Why: pydantic keeps, per instance, the set of field names the input gave; for a
        channel that set (728 bytes) outweighs its values, and a provincial inventory has
        50,000 channels in every collector worker.  The models are frozen, so the set is
        never changed after validation and equal sets can be one object."""
        given = self.__pydantic_fields_set__
        shared = _FIELDS_SETS.setdefault(frozenset(given), given)
        object.__setattr__(self, "__pydantic_fields_set__", shared)
        return self


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


class Api(StrEnum):
    """Which road the collector reads a recorder by."""

    ONVIF = "onvif"
    #: Hikvision's own HTTP API (``/ISAPI/...``).
    ISAPI = "isapi"
    #: Dahua's own HTTP API (``/cgi-bin/*.cgi``).
    DAHUA = "dahua"
    #: GB/T 28181: through the platform the device registers to (vidaudit standing where
    #: that platform stands).
    GB28181 = "gb28181"


#: The vendor each vendor HTTP API belongs to.
API_VENDOR = {Api.ISAPI: "hikvision", Api.DAHUA: "dahua"}
#: The playback URL scheme each vendor HTTP API's recorders serve.
API_PLAYBACK = {Api.ISAPI: "hikvision-url", Api.DAHUA: "dahua-url"}


class Playback(StrEnum):
    """How recorded video is pulled from the device."""

    ONVIF_REPLAY = "onvif-replay"
    HIKVISION_URL = "hikvision-url"
    DAHUA_URL = "dahua-url"


#: A GB/T 28181 ID: 20 digits (centre code, type code, serial; GB/T 28181-2016 Annex D).
GbId = Annotated[
    str,
    Field(pattern=r"^[0-9]{20}$", description="a 20-digit GB/T 28181 ID, quoted in YAML"),
]


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
    """Review duties per branch per week (Art. 45, 49) and the off-site ATM patrol (D9)."""

    admin_reviews_per_week: int = Field(2, ge=0, le=14)
    head_reviews_per_week: int = Field(1, ge=0, le=14)
    daily_check: bool = True
    #: D9: 离行式自助设备…每天不少于6次巡查 - rounds per off-site ATM per day (0: no duty)
    atm_patrol_rounds_per_day: int = Field(6, ge=0, le=48)
    #: a round counts only this long after the previous counted one, so six rounds are
    #: spread over the day rather than clicked through in one minute
    atm_patrol_min_gap_min: int = Field(60, ge=0, le=720)


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
    #: the channel's GB/T 28181 ID, for devices read with ``api: gb28181``
    gb_id: GbId | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if not any((self.channel, self.profile, self.source, self.recording, self.gb_id)):
            raise ValueError("give at least one of channel, profile, source, recording, gb_id")
        return self


class Channel(Strict):
    id: Identifier
    name: str = Field(min_length=1, max_length=128)
    role: ChannelRole
    ref: ChannelRef
    retention_days: int | None = Field(None, ge=1, le=3650)
    audio: AudioRequirement = AudioRequirement.OPTIONAL
    #: an off-site ATM (离行式自助设备, away from any branch's premises): patrolled at least
    #: ``policy.duties.atm_patrol_rounds_per_day`` times a day (D9).  Mark the one camera
    #: that shows the machine; only ATM channels can be off-site ATMs.
    offsite: bool = False

    @model_validator(mode="after")
    def _offsite_is_an_atm(self) -> Self:
        if self.offsite and self.role is not ChannelRole.ATM:
            raise ValueError(
                f"offsite: true marks an off-site ATM; this channel's role is "
                f"{self.role.value!r}, expected 'atm'"
            )
        return self


class Device(Strict):
    id: Identifier
    name: str | None = Field(None, max_length=128)
    kind: DeviceKind
    vendor: Vendor = Vendor.ONVIF
    #: ``onvif`` (default); the vendor's own HTTP API: ``isapi`` (Hikvision), ``dahua``
    #: (Dahua), where ``onvif`` is optional and fills in what the vendor API lacks; or
    #: ``gb28181``, through the inventory's ``gb28181`` platform the device registers to.
    api: Api = Api.ONVIF
    #: Base URL of the vendor HTTP API (``api: isapi|dahua``), ``http(s)://host[:port]``.
    url: AnyHttpUrl | None = Field(None, validate_default=True)
    onvif: AnyHttpUrl | None = Field(
        None, description="the ONVIF device-service URL", validate_default=True
    )
    #: Required but with ``api: gb28181`` (which takes none).
    username: str | None = Field(None, min_length=1, max_length=128, validate_default=True)
    #: GB/T 28181: the device's 20-digit ID (required with ``api: gb28181``); it registers
    #: to the inventory's ``gb28181`` platform with that platform's password
    gb_id: GbId | None = None
    #: ``${ENV_NAME}``; a literal password is refused (see ``password_is_reference``).
    password: str | None = Field(None, min_length=1, max_length=256)
    #: A file holding the password (first line), e.g. a mounted secret.
    password_file: str | None = Field(None, min_length=1, max_length=1024)
    #: Default: the vendor API's URL scheme (``isapi`` -> hikvision-url, ``dahua`` ->
    #: dahua-url), else ONVIF replay.
    playback: Playback = Field(None, validate_default=True)
    #: RTSP port for vendor playback URLs when the device does not report one (ONVIF
    #: replay takes its URI from the device; ISAPI and Dahua report their port).
    rtsp_port: int = Field(554, ge=1, le=65535)
    channels: list[Channel] = Field(min_length=1, max_length=1024)
    #: Distributed collection: the job queue this device's jobs go to (default: its
    #: branch's); ``vidaudit worker --queues`` serves some queues only.
    queue: QueueName | None = None

    @field_validator("api")
    @classmethod
    def _api_fits_vendor(cls, value: Api, info: ValidationInfo) -> Api:
        vendor = info.data.get("vendor")
        wanted = API_VENDOR.get(value)
        if wanted is not None and vendor is not None and vendor.value != wanted:
            raise ValueError(
                f"api {value.value} reads {wanted} recorders; this device's vendor is "
                f"{vendor.value} (set vendor: {wanted}, or api: onvif)"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url_for_vendor_api(cls, value: AnyHttpUrl | None, info: ValidationInfo) -> object:
        api = info.data.get("api")
        if api is None:
            return value
        if api not in API_VENDOR and value is not None:
            raise ValueError(
                "url is the vendor API's address, used with api: isapi or api: dahua; "
                f"api: {api.value} does not take it"
            )
        if api in API_VENDOR and value is None:
            raise ValueError(
                f"api: {api.value} needs url: the recorder's HTTP address, "
                "e.g. http://nvr1.fy001.bank.example"
            )
        return value

    @field_validator("onvif")
    @classmethod
    def _onvif_when_needed(cls, value: AnyHttpUrl | None, info: ValidationInfo) -> object:
        if info.data.get("api") is Api.ONVIF and value is None:
            raise ValueError(
                "required key is missing: the ONVIF device-service URL "
                "(or set api: isapi / api: dahua with url:)"
            )
        return value

    @field_validator("username")
    @classmethod
    def _username_when_needed(cls, value: str | None, info: ValidationInfo) -> str | None:
        api = info.data.get("api")
        if api is not None and api is not Api.GB28181 and value is None:
            raise ValueError(f"required key is missing: the user name api: {api.value} logs in as")
        return value

    @field_validator("playback", mode="before")
    @classmethod
    def _playback_fits(cls, value: object, info: ValidationInfo) -> object:
        # Unset (None): the vendor API's own scheme, else ONVIF replay.
        api = info.data.get("api")
        if value is None:
            return API_PLAYBACK.get(api, "onvif-replay") if api else "onvif-replay"
        vendor_api = api in API_VENDOR
        if value == Playback.ONVIF_REPLAY.value and vendor_api and info.data.get("onvif") is None:
            assert isinstance(api, Api)
            raise ValueError(
                f"playback: onvif-replay needs onvif: (the ONVIF address); with api: "
                f"{api.value} use playback: {API_PLAYBACK[api]} or add onvif:"
            )
        return value

    @field_validator("channels")
    @classmethod
    def _channel_numbers_for_vendor_api(
        cls, value: list[Channel], info: ValidationInfo
    ) -> list[Channel]:
        api = info.data.get("api")
        if api in API_VENDOR:
            for index, channel in enumerate(value):
                if channel.ref.channel is None:
                    raise ValueError(
                        f"channels[{index}] ({channel.id}): api {api.value} finds channels by "
                        "number: give ref: {channel: N}"
                    )
        return value

    @property
    def address(self) -> str:
        """What identifies the device: the URL it is read by, or its GB/T 28181 ID behind
        the platform."""
        if self.api is Api.GB28181:
            return f"gb28181:{self.gb_id}"
        return str(self.url if self.api in API_VENDOR else self.onvif)

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
    def _keys_for_api(self) -> Self:
        if self.api is Api.GB28181:
            extra = [
                key
                for key in ("url", "onvif", "username", "password", "password_file")
                if getattr(self, key) is not None
            ]
            if extra:
                raise ValueError(
                    f"api gb28181 takes no {', '.join(extra)}: the device registers to the "
                    "gb28181 platform with its gb_id and the platform's password"
                )
            if self.gb_id is None:
                raise ValueError("api gb28181 needs gb_id, the device's 20-digit ID")
            missing = [c.id for c in self.channels if c.ref.gb_id is None]
            if missing:
                raise ValueError(f"api gb28181: channels {missing} need ref.gb_id")
            return self
        if self.gb_id is not None:
            raise ValueError("gb_id is only for api gb28181")
        if (self.password is None) == (self.password_file is None):
            raise ValueError("give exactly one of password (an ${ENV} reference) or password_file")
        return self

    @property
    def password_ref(self) -> str:
        """What may be stored and shown: the reference, never the secret."""
        if self.password is not None:
            return self.password
        if self.password_file is not None:
            return f"file:{self.password_file}"
        return "gb28181"  # the platform's password, see Inventory.gb28181


#: a region's name as the bank writes it (城关片区); no line breaks or control characters
RegionName = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$"),
]


class Branch(Strict):
    id: Identifier
    name: str = Field(min_length=1, max_length=128)
    #: the group of branches the security department reports on together (/overview)
    region: RegionName | None = None
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

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("a region needs a name; leave the key out for none")
        return None if value is None else value.strip()

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


class Gb28181Platform(Strict):
    """vidaudit's own SIP identity as an upper platform (once per inventory)."""

    id: GbId
    #: the SIP domain (realm): the 10-digit centre code
    domain: str = Field(pattern=r"^[0-9]{10}$", description="10 digits")
    #: ``HOST:PORT`` to listen on, UDP and TCP (``[::]:5060`` for IPv6); port 0 takes any
    #: free port, which the service names in its log and control file (for trials and
    #: tests: recorders need to be given a fixed one)
    listen: str = Field("0.0.0.0:5060", min_length=3, max_length=128)
    #: ``${ENV}`` reference to the password devices register with
    password: str | None = Field(None, min_length=1, max_length=256)
    password_file: str | None = Field(None, min_length=1, max_length=1024)

    @field_validator("listen")
    @classmethod
    def _hostport(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"expected HOST:PORT such as 0.0.0.0:5060, got {value!r}")
        return value

    @field_validator("password")
    @classmethod
    def password_is_reference(cls, value: str | None) -> str | None:
        return Device.password_is_reference(value)

    @model_validator(mode="after")
    def _one_secret_source(self) -> Self:
        if (self.password is None) == (self.password_file is None):
            raise ValueError("give exactly one of password (an ${ENV} reference) or password_file")
        return self

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Inventory(Strict):
    timezone: TimeZoneName = "Asia/Shanghai"
    #: Optional ``KEY=value`` file (relative to the inventory) for ``${KEY}`` references;
    #: the process environment wins over it.
    env_file: str | None = None
    policy: Policy = Policy()
    #: vidaudit as a GB/T 28181 upper platform, for devices with ``api: gb28181``
    gb28181: Gb28181Platform | None = None
    branches: list[Branch] = Field(min_length=1)
    #: Where the branches were written (``load.Origins``), set by the loader: the main
    #: file and the files it includes.  Not a field: it is not part of what is checked.
    _origins: object = PrivateAttr(default=None)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)

    @model_validator(mode="after")
    def _gb_platform(self) -> Self:
        gb_devices = [d for _b, d in self.devices() if d.api is Api.GB28181]
        if gb_devices and self.gb28181 is None:
            raise ValueError(
                f"devices {[d.id for d in gb_devices][:5]} use api gb28181: add the top-level "
                "gb28181 section (id, domain, listen, password)"
            )
        seen: dict[str, str] = {}
        for device in gb_devices:
            for gb_id in (device.gb_id, *(c.ref.gb_id for c in device.channels)):
                assert gb_id is not None
                if gb_id in seen:
                    raise ValueError(f"GB/T 28181 ID {gb_id} is used twice ({seen[gb_id]})")
                seen[gb_id] = device.id
        return self

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
