"""The ``[notify]`` section of the settings file (vidaudit.toml): channels, who each one
reaches, the alert rules and their timing.  Validated when the settings load, every
number bounded and unknown keys refused, like cameras.yaml.

Secrets (a robot's webhook URL carries its access key; DingTalk's signing secret; an SMTP
password; a webhook's bearer token) are never written here: only references,
``${ENV_NAME}`` or ``file:/run/secrets/…``, resolved when a message is sent.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

#: ``${NAME}`` (environment) or ``file:PATH`` (first line of a file)
SECRET_REFERENCE = re.compile(r"^(\$\{[A-Za-z_][A-Za-z0-9_]*\}|file:.+)$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

Role = Literal["security", "inspector", "branch_head", "administrator", "auditor"]
Language = Literal["zh", "en"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ChannelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


def _reference(value: str) -> str:
    if not SECRET_REFERENCE.match(value):
        # the value is not repeated: it may be the secret itself, written in by mistake
        raise ValueError("write a reference, ${ENV_NAME} or file:PATH, never the secret itself")
    return value


SecretRef = Annotated[
    str,
    Field(min_length=4, max_length=1100, description="${ENV_NAME} or file:PATH"),
    AfterValidator(_reference),
]
HHMM = Annotated[str, Field(pattern=_HHMM.pattern, description="HH:MM, branch-local")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reach(Strict):
    """People a channel reaches: a role, at some branches (none given: every branch)."""

    role: Role
    branches: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=1000
    )

    def covers(self, role: str, branch_id: str | None) -> bool:
        return self.role == role and (
            self.branches is None or branch_id is None or branch_id in self.branches
        )


class _Channel(Strict):
    reaches: list[Reach] = Field(min_length=1, max_length=100)
    #: the language of a group channel's messages (an account's e-mail uses its own)
    language: Language = "zh"
    timeout_s: float = Field(10.0, gt=0, le=120)

    def reaches_any(self, roles: frozenset[str], branch_id: str | None) -> bool:
        return any(r.covers(role, branch_id) for r in self.reaches for role in roles)


class WeComChannel(_Channel):
    """A WeCom group robot (群机器人): markdown messages to one group."""

    kind: Literal["wecom"]
    #: the robot's webhook URL (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…):
    #: the key in it is the secret, so the whole URL is a reference
    webhook: SecretRef


class DingTalkChannel(_Channel):
    """A DingTalk custom robot (自定义机器人) with 加签 (signing) security."""

    kind: Literal["dingtalk"]
    #: https://oapi.dingtalk.com/robot/send?access_token=… (the token is the secret)
    webhook: SecretRef
    #: the SEC… signing secret of the robot's 加签 setting; without it no signature is
    #: sent (a robot secured by keywords or an IP list instead)
    secret: SecretRef | None = None


class WebhookChannel(_Channel):
    """Any receiver of a JSON POST (an O&M platform, a ticket system)."""

    kind: Literal["webhook"]
    #: http(s) URL, or a reference when the URL itself carries a key
    url: Annotated[str, Field(min_length=8, max_length=1100)]
    #: sent as ``Authorization: Bearer …``
    token: SecretRef | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not (value.startswith(("http://", "https://")) or SECRET_REFERENCE.match(value)):
            raise ValueError("expected an http(s) URL or a ${ENV_NAME} reference")
        return value


class EmailChannel(_Channel):
    """E-mail over SMTP: to each reached account's own address (in its language) and to
    any fixed addresses in ``to`` (in the channel's language)."""

    kind: Literal["email"]
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(587, ge=1, le=65535)
    #: starttls (submission, 587) | tls (implicit, 465) | none (a relay on this host)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = Field(None, min_length=1, max_length=254)
    password: SecretRef | None = None
    sender: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(
        default_factory=list, max_length=100
    )
    #: also each reached account's own address (``vidaudit user email``)
    accounts: bool = True
    #: a CA bundle for a bank's own mail server certificate (else the system's)
    tls_ca_file: Path | None = None

    @model_validator(mode="after")
    def _login_only_encrypted(self) -> Self:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        if self.username is not None and self.security == "none":
            raise ValueError("a login needs security = 'starttls' or 'tls' (never in clear)")
        return self


Channel = Annotated[
    WeComChannel | DingTalkChannel | WebhookChannel | EmailChannel,
    Field(discriminator="kind"),
]

#: The alerts and, by default, who hears of each (see the README's alert rules).
EVENTS: dict[str, tuple[Role, ...]] = {
    # immediately, repeated while the ticket stays open (repeat_hours)
    "device_offline": ("administrator", "security"),
    "disk_failed": ("administrator", "security"),
    # a ticket past its due time, once per due time
    "ticket_escalated": ("branch_head", "security"),
    # once a day at daily_at, per branch with overdue rectifications
    "rectification_overdue": ("branch_head", "security"),
    # as soon as it is asked, repeated while it waits
    "approval_waiting": ("branch_head",),
    # a business day's check not confirmed by daily_check_by
    "daily_check_missing": ("administrator", "branch_head"),
    # the finished week's report, weekly_report_day at weekly_report_at
    "weekly_report": ("branch_head",),
}
Event = Literal[
    "device_offline",
    "disk_failed",
    "ticket_escalated",
    "rectification_overdue",
    "approval_waiting",
    "daily_check_missing",
    "weekly_report",
]


class Rule(Strict):
    enabled: bool = True
    #: who hears of it; omitted: the default in ``EVENTS``
    to: list[Role] | None = Field(None, max_length=5)


class NotifySettings(Strict):
    #: where people open vidaudit (links in every message), e.g. https://vidaudit.bank.example
    base_url: str | None = Field(None, max_length=512, pattern=r"^https?://[^\s?#]+$")
    #: an alert about the same open ticket or waiting approval is repeated at most this often
    repeat_hours: float = Field(24.0, ge=0.25, le=24 * 30)
    daily_at: HHMM = "08:30"
    daily_check_by: HHMM = "10:00"
    weekly_report_day: Weekday = "mon"
    weekly_report_at: HHMM = "09:00"
    #: sending: attempts before a message is given up (recorded as failed, with why),
    #: and the back-off between them (doubling from retry_base_s up to retry_max_s)
    max_attempts: int = Field(8, ge=1, le=50)
    retry_base_s: float = Field(30.0, ge=1, le=3600)
    retry_max_s: float = Field(3600.0, ge=1, le=86400)
    #: how long one `vidaudit collect` (without --every) waits for its alerts to go out
    send_budget_s: float = Field(30.0, ge=0, le=600)
    channels: dict[ChannelName, Channel] = Field(default_factory=dict, max_length=200)
    rules: dict[Event, Rule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _links_need_a_base(self) -> Self:
        if self.channels and not self.base_url:
            raise ValueError("base_url is required once a channel is configured (links)")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.channels)

    def recipients(self, event: str) -> frozenset[str] | None:
        """The roles that hear of ``event``, or None when it is switched off."""
        rule = self.rules.get(event, Rule())  # type: ignore[call-overload]
        if not rule.enabled:
            return None
        return frozenset(rule.to if rule.to is not None else EVENTS[event])

    def link(self, path: str) -> str:
        assert self.base_url, "base_url is validated whenever a channel exists"
        return self.base_url.rstrip("/") + path


def hhmm(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))
