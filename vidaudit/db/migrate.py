"""Alembic, driven from code: the migrations ship inside the package.

The application refuses to work on a schema older (or newer) than its code; only
``vidaudit db upgrade`` changes the schema.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


class SchemaOutOfDate(RuntimeError):
    """The database's schema is not the one this code expects."""


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", "vidaudit.db:migrations")
    # env.py uses this engine instead of building one from a URL (no password in config).
    config.attributes["engine"] = engine
    return config


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def schema_state(engine: Engine) -> SchemaState:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert head is not None, "no migrations found in the package"
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return SchemaState(current=current, head=head)


def upgrade(engine: Engine, revision: str = "head") -> SchemaState:
    command.upgrade(alembic_config(engine), revision)
    return schema_state(engine)


def require_current_schema(engine: Engine) -> None:
    state = schema_state(engine)
    if state.up_to_date:
        return
    if state.current is None:
        detail = "the database has no vidaudit schema yet"
    else:
        detail = f"the database schema is at revision {state.current}, this code needs {state.head}"
    raise SchemaOutOfDate(f"{detail}; run `vidaudit db upgrade` first")
