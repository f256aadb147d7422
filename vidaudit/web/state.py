"""What one app instance holds (built by ``create_app``, read by dependencies)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from fastapi import FastAPI, Request
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.inventory.schema import Inventory
from vidaudit.review.checkpoints import Checkpoint, read_file
from vidaudit.review.signing import PublicKeys, SignerSource
from vidaudit.settings import Settings
from vidaudit.web.auth import LoginLimiter
from vidaudit.web.i18n import Catalogue


def _web_root() -> Path:
    """The folder with templates/, static/ and locales/.

    In a checkout it is ``web/`` at the repository root (where a designer looks); the
    wheel carries the same folder inside the package as ``vidaudit/_web``
    (pyproject.toml's ``force-include``), since nothing beside site-packages is ours.
    """
    package = Path(__file__).resolve().parents[1]
    packaged = package / "_web"
    return packaged if packaged.is_dir() else package.parent / "web"


WEB_ROOT = _web_root()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class WebState:
    settings: Settings
    sessions: sessionmaker[Session]
    catalogue: Catalogue
    templates: jinja2.Environment
    limiter: LoginLimiter
    web_root: Path
    #: the wall clock (UTC); tests replace it to expire sessions
    clock: Callable[[], dt.datetime] = utc_now
    #: cameras.yaml's last good reading (policy, business hours, time zones, passwords'
    #: references for frame pulls): loaded at start, replaced within
    #: ``inventory_check_s`` of a good edit; None when the settings' inventory file is
    #: absent.  A request reads it once, so one page is judged by one inventory.
    inventory: Inventory | None = None
    inventory_path: Path | None = None
    #: the review register's key (signing appends, checkpoints, the server's verify)
    signer: SignerSource = field(default_factory=lambda: SignerSource.fixed(None))

    def public_keys(self) -> PublicKeys:
        signer = self.signer.get()
        return PublicKeys([signer.public] if signer is not None else [])

    def kept_checkpoints(self) -> list[Checkpoint]:
        path = self.settings.checkpoints_file
        try:
            return read_file(path)[0]
        except FileNotFoundError:
            return []


def web_state(app_or_request: FastAPI | Request) -> WebState:
    app = app_or_request.app if isinstance(app_or_request, Request) else app_or_request
    state = app.state.web
    assert isinstance(state, WebState), "the app was not built by create_app"
    return state
