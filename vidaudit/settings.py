"""One settings object for the whole process: environment first, then an optional TOML file.

Every knob is named ``VIDAUDIT_<FIELD>`` in the environment; the README's settings table is
this class.  Secrets (camera passwords) are not settings: they come through the inventory's
``${ENV}`` references.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from vidaudit.notify.config import NotifySettings

DEFAULT_SETTINGS_FILE = "vidaudit.toml"


def settings_file() -> str:
    """The settings file as named: ``VIDAUDIT_SETTINGS_FILE``, else ./vidaudit.toml (read
    when present).  One place, so the file read and the file named in errors are the same."""
    return os.environ.get("VIDAUDIT_SETTINGS_FILE", DEFAULT_SETTINGS_FILE)


if TYPE_CHECKING:
    from vidaudit.devicehttp.settings import HttpSettings
    from vidaudit.onvif.settings import OnvifSettings


class DeviceLimits(TypedDict):
    """The limits the ONVIF and the vendor-API clients both take from the collector's."""

    call_timeout_s: float
    connect_timeout_s: float
    device_deadline_s: float
    max_response_bytes: int
    max_connections: int


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDAUDIT_", extra="forbid")

    data_dir: Path = Field(Path("data"), description="where the SQLite database and evidence live")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; empty means sqlite:///<data_dir>/vidaudit.db "
        "(e.g. postgresql+psycopg://user:pw@host/vidaudit)",
    )
    inventory: Path = Field(Path("cameras.yaml"), description="the cameras.yaml to load")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    language: Literal["zh", "en"] = Field(
        "zh",
        description="the language the command line reports findings in (register "
        "verification); the web view uses each person's own",
    )
    db_statement_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="upper bound on one database statement"
    )

    collector_concurrency: int = Field(
        64,
        ge=1,
        le=4096,
        description="devices polled at the same time (shared by all polling processes)",
    )
    collector_processes: int = Field(
        0,
        ge=0,
        le=64,
        description="processes that poll and judge: 0 = one per core (up to 4) for runs "
        "of 200 devices or more, else one",
    )
    collector_device_deadline_s: float = Field(
        60.0, gt=0, le=3600, description="the whole probe of one device must end within this"
    )
    collector_call_timeout_s: float = Field(
        10.0, gt=0, le=300, description="one ONVIF call (connect, send, read the whole reply)"
    )
    collector_connect_timeout_s: float = Field(
        3.0, gt=0, le=60, description="TCP connect to a device; longer means unreachable"
    )
    collector_max_response_bytes: int = Field(
        4 * 1024 * 1024,
        ge=16 * 1024,
        le=256 * 1024 * 1024,
        description="largest ONVIF reply accepted (bigger ones are refused while reading)",
    )
    collector_full_read_hours: float = Field(
        24.0,
        ge=0,
        le=24 * 7,
        description="recorders read through ISAPI or the Dahua HTTP API are read in full "
        "(every file in the window) at least this often; runs in between ask only for "
        "footage since the last run and for the oldest footage (0: always in full)",
    )
    collector_lookback_days: int = Field(
        400,
        ge=1,
        le=3650,
        description="how far back the oldest footage is looked for on recorders read "
        "through ISAPI or the Dahua HTTP API",
    )

    inventory_check_s: float = Field(
        10.0,
        ge=1,
        le=3600,
        description="how often a running service (serve, gb serve) looks whether "
        "cameras.yaml was edited (a stat per file) and takes the edit up",
    )

    gb_query_timeout_s: float = Field(
        10.0,
        gt=0,
        le=120,
        description="GB/T 28181: one query to a recorder, all its answer MESSAGEs included",
    )
    gb_keepalive_timeout_s: float = Field(
        180.0,
        ge=10,
        le=3600,
        description="GB/T 28181: a recorder silent this long is no longer registered "
        "(keepalives come every 60 s; 3 missed)",
    )
    gb_oldest_search_days: int = Field(
        400,
        ge=1,
        le=3650,
        description="GB/T 28181: how far back RecordInfo looks for a channel's oldest footage",
    )
    gb_messages_per_s: float = Field(
        200.0,
        ge=1,
        le=10_000,
        description="GB/T 28181: SIP messages accepted per second from one address "
        "(bursts of 4x); more are dropped and logged.  A lower platform brings many "
        "recorders from one address, and a frame pull reads a clock back to back",
    )

    collector_round_deadline_s: float = Field(
        300.0,
        gt=0,
        le=86400,
        description="distributed rounds: devices not reported this long after the round "
        "opened are late, and the round finishes without them (schedule --every: at most "
        "the interval)",
    )
    collector_retry_attempts: int = Field(
        3,
        ge=1,
        le=20,
        description="distributed rounds: tries per device while it times out or is "
        "unreachable (back-off between tries, never past the round's deadline)",
    )
    collector_retry_wait_s: float = Field(
        5.0, gt=0, le=3600, description="distributed rounds: first back-off; doubles per try"
    )
    worker_batch_devices: int = Field(
        32,
        ge=1,
        le=1000,
        description="vidaudit worker: devices whose observations are written in one "
        "transaction (a batch is also written 1 s after its first device, or as soon as "
        "every job in hand waits for it)",
    )
    worker_heartbeat_s: float = Field(
        10.0, gt=0, le=600, description="vidaudit worker: how often it tells it is alive"
    )
    worker_stalled_after_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="a worker silent this long is dead: its jobs are retried elsewhere",
    )

    observations_keep_days: int = Field(
        90,
        ge=7,
        le=3650,
        description="channel observations older than this many days are rolled up to one "
        "per channel per day (vidaudit housekeep; collect --every runs it after each run)",
    )

    web_host: str = Field("127.0.0.1", description="address `vidaudit serve` listens on")
    web_port: int = Field(8000, ge=1, le=65535, description="port `vidaudit serve` listens on")
    web_session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="a login lasts this long (absolute, not sliding)"
    )
    web_secure_cookies: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Secure flag on cookies: auto = when the request came over https "
        "(directly or via a trusted proxy's X-Forwarded-Proto)",
    )
    web_login_attempts: int = Field(
        5,
        ge=1,
        le=1000,
        description="failed logins for one account (from any address) before each further "
        "attempt waits a doubling delay",
    )
    web_login_address_attempts: int = Field(
        20,
        ge=1,
        le=10000,
        description="failed logins from one client address (any account) before the same",
    )
    web_login_max_delay_s: float = Field(
        60.0, ge=1, le=3600, description="the longest a login waits after failures"
    )
    web_login_window_min: float = Field(
        15.0,
        gt=0,
        le=24 * 60,
        description="failures are forgotten after this many quiet minutes",
    )
    web_trusted_proxies: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="addresses of reverse proxies whose X-Forwarded-For/-Proto are believed "
        '(e.g. ["127.0.0.1"] behind nginx on this host); none by default',
    )
    web_max_body_bytes: int = Field(
        12 * 1024 * 1024,
        ge=64 * 1024,
        le=1024 * 1024 * 1024,
        description="largest request body accepted (the largest upload is 10 MiB)",
    )
    report_font: Path | None = Field(
        None,
        description="TrueType CJK font (.ttf/.ttc) the PDF reports embed; empty means "
        "Debian's fonts-wqy-zenhei",
    )

    notify: NotifySettings = Field(
        default_factory=NotifySettings,
        description="alerts: channels (WeCom, DingTalk, webhooks, e-mail), who hears of "
        "what, and when (the [notify] table of the settings file; see the README)",
    )

    register_key: str = Field(
        "",
        max_length=1024,
        description="the review register's Ed25519 private key: file:PATH (a 0600 PEM file) "
        "or ${ENV} (a variable holding the PEM); empty = <data_dir>/register-key.pem",
    )
    register_checkpoints: Path | None = Field(
        None,
        description="append-only file the signed checkpoints of the register head are also "
        "written to; empty = <data_dir>/register-checkpoints.txt",
    )
    register_checkpoint_minutes: float = Field(
        60.0,
        ge=0,
        le=24 * 60,
        description="the web server signs a checkpoint of the register head this often "
        "when it has moved (0 = only on request: the weekly report's button, "
        "`register checkpoint`)",
    )

    @property
    def checkpoints_file(self) -> Path:
        """Where signed checkpoints are appended, outside the database."""
        return self.register_checkpoints or self.data_dir / "register-checkpoints.txt"

    @property
    def evidence_dir(self) -> Path:
        """Where pulled frames and snapshots are kept, named by their sha256."""
        return self.data_dir / "evidence"

    @property
    def gb_control_file(self) -> Path:
        """Where the running GB/T 28181 service says how local processes reach it."""
        return self.data_dir / "gb28181-control.json"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vidaudit.db').resolve()}"

    def device_limits(self) -> DeviceLimits:
        """The collector's limits on one device, the same for every protocol's client."""
        return DeviceLimits(
            call_timeout_s=self.collector_call_timeout_s,
            connect_timeout_s=self.collector_connect_timeout_s,
            device_deadline_s=self.collector_device_deadline_s,
            max_response_bytes=self.collector_max_response_bytes,
            max_connections=max(self.collector_concurrency, 1),
        )

    def onvif(self) -> OnvifSettings:
        """The collector's limits as the ONVIF client takes them."""
        # Imported here: importing the settings must not load zeep and aiohttp.
        from vidaudit.onvif.settings import OnvifSettings

        return OnvifSettings(
            **self.device_limits(),
            # RecordingStatus from the search already says whether each recording is
            # running; one GetRecordingJobState per job would double an NVR's calls.
            job_states=False,
        )

    def device_http(self) -> HttpSettings:
        """The collector's limits as the vendor-API (ISAPI, Dahua HTTP) client takes them."""
        # Imported here: importing the settings must not load aiohttp.
        from vidaudit.devicehttp.settings import HttpSettings

        return HttpSettings(**self.device_limits())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file = Path(settings_file())
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=file))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
