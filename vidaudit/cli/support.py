"""What every command does first: load the inventory, open a current database, sync.

A bad cameras.yaml, a password reference that does not resolve or an out-of-date schema
is a usage error (exit 2) with the loader's, the resolver's or the migration check's own
message, reported before anything is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.db.engine import DatabaseMissing, make_engine
from vidaudit.db.migrate import SchemaOutOfDate, require_current_schema
from vidaudit.errors import ConfigError
from vidaudit.inventory import InventoryError, load_inventory
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Device, Inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.inventory.watch import InventoryWatch, Rejected, Reloaded, shown
from vidaudit.review.register import signed_sessions
from vidaudit.settings import Settings, settings_file
from vidaudit.web.i18n import Catalogue, Translator

USAGE_ERROR = 2
# soft_wrap: an error line names a file and a key path; wrapping it breaks copy and grep.
err = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False)
    return typer.Exit(USAGE_ERROR)


def settings_or_exit() -> Settings:
    """The settings, or one line per problem naming the settings file and the key path
    (e.g. ``notify.channels.mail.password``) and exit 2."""
    try:
        return Settings()
    except ValidationError as exc:
        source = settings_file()
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"] if "[" not in str(part))
            # the input is not echoed: it may be a secret someone wrote in by mistake
            err.print(f"{source}: {where}: {error['msg']}", markup=False, highlight=False)
        raise typer.Exit(USAGE_ERROR) from None


def inventory_or_exit(path: Path) -> Inventory:
    try:
        return load_inventory(path)
    except InventoryError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(USAGE_ERROR) from None


def refreshed(watch: InventoryWatch) -> Inventory:
    """Before each run or round of a long-running command (``--every``): the inventory
    to use.  The edited files' from now on once they load, said on stderr; otherwise the
    last good one, and why the edit cannot be used (the loader's own message, naming the
    file and the key path), said once per broken state.  The watch logs the same
    (actions ``inventory_reloaded``, ``inventory_rejected``)."""
    outcome = watch.refresh()
    if isinstance(outcome, Reloaded):
        inventory = outcome.inventory
        err.print(
            f"{watch.path}: edited; using it from now on (inventory {shown(outcome.digest)}: "
            f"{len(inventory.branches)} branches, {len(inventory.devices())} devices)",
            markup=False,
            highlight=False,
        )
    elif isinstance(outcome, Rejected):
        err.print(
            f"{watch.path}: edited, but cannot be used; still using the last good inventory "
            f"({shown(outcome.kept)}) until it is fixed:",
            markup=False,
            highlight=False,
        )
        err.print(str(outcome.error), markup=False, highlight=False)
    return watch.inventory


def credentials_or_exit(resolver: SecretResolver, devices: Iterable[Device]) -> None:
    """Every device's password reference must resolve before the command writes anything
    (a register entry, an inventory sync): a missing secret is one line and exit 2."""
    for device in devices:
        try:
            resolver.check(device)
        except ConfigError as exc:
            raise fail(str(exc)) from None


def engine_or_exit(settings: Settings) -> Engine:
    """The settings' database, which must exist and have this code's schema."""
    try:
        engine = make_engine(settings, create=False)
    except DatabaseMissing as exc:
        raise fail(
            f"no vidaudit database at {exc.path} (VIDAUDIT_DATA_DIR={settings.data_dir}, "
            f"looked from {Path.cwd()}): run the command in the project's folder, set "
            "VIDAUDIT_DATA_DIR or VIDAUDIT_DATABASE_URL, or create one here with "
            "`vidaudit db upgrade`"
        ) from None
    try:
        require_current_schema(engine)
    except SchemaOutOfDate as exc:
        raise fail(str(exc)) from None
    return engine


def sessions_or_exit(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the settings' database, whose schema must match this code; register
    entries they append are signed with the settings' key."""
    return signed_sessions(settings, engine_or_exit(settings))


def messages(settings: Settings) -> Translator:
    """The web view's zh/en catalogues in the settings' language: findings the command
    line reports to a person read as they do on the web page."""
    from vidaudit.web.state import WEB_ROOT  # the web's folder, in a checkout or the wheel

    return Catalogue.load(WEB_ROOT / "locales").translator(settings.language)


def sync_from(
    sessions: sessionmaker[Session], inventory: Inventory, path: Path, now: dt.datetime
) -> None:
    """Rows for the inventory's channels must exist before anything points at them."""
    with sessions.begin() as session:
        sync_inventory(
            session,
            inventory,
            source=str(path.resolve()),
            now=now,
        )


def alert_texts() -> Callable[[str], Callable[..., str]]:
    """The alerts' words: the web's zh/en catalogues (web/locales/*.alerts.json)."""
    # Imported here: only commands that send alerts read the catalogues.
    from vidaudit.web.i18n import Catalogue
    from vidaudit.web.state import WEB_ROOT

    return Catalogue.load(WEB_ROOT / "locales").translator
