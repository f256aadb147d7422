"""What every command does first: load the inventory, open a current database, sync.

A bad cameras.yaml or an out-of-date schema is a usage error (exit 2) with the loader's
or the migration check's own message.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.db.engine import DatabaseMissing, make_engine
from vidaudit.db.migrate import SchemaOutOfDate, require_current_schema
from vidaudit.inventory import InventoryError, load_inventory
from vidaudit.inventory.schema import Inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.settings import Settings

USAGE_ERROR = 2
# soft_wrap: an error line names a file and a key path; wrapping it breaks copy and grep.
err = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False)
    return typer.Exit(USAGE_ERROR)


def inventory_or_exit(path: Path) -> Inventory:
    try:
        return load_inventory(path)
    except InventoryError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(USAGE_ERROR) from None


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
    from vidaudit.review.register import signed_sessions

    return signed_sessions(settings, engine_or_exit(settings))


def sync_from(
    sessions: sessionmaker[Session], inventory: Inventory, path: Path, now: dt.datetime
) -> None:
    """Rows for the inventory's channels must exist before anything points at them."""
    with sessions.begin() as session:
        sync_inventory(
            session,
            inventory,
            source=str(path.resolve()),
            text=path.read_text(encoding="utf-8"),
            now=now,
        )
