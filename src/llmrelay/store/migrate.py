"""Alembic, driven from code: the store runs the migrations in `migrations/versions/`.

Alembic is synchronous; the store calls these functions through `AsyncConnection.run_sync`,
so they get a sync `Connection` that lives on the async engine.

Alembic is imported inside the functions, after its logger is quieted: it logs a handful of
INFO lines on import and on every run, even with nothing to do. The store logs one line when
it actually migrates instead. A level someone set on the "alembic" logger is left alone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _quiet_alembic() -> None:
    alembic_log = logging.getLogger("alembic")
    if alembic_log.level == logging.NOTSET:
        alembic_log.setLevel(logging.WARNING)


def alembic_config(connection: Connection | None = None) -> Config:
    """A Config without an ini file: where the scripts are, and the connection to use."""
    _quiet_alembic()
    from alembic.config import Config

    config = Config()
    # configparser interpolates %, and a path may contain one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(connection: Connection) -> tuple[str | None, str | None]:
    """Upgrade; returns the revisions before and after."""
    config = alembic_config(connection)
    from alembic import command

    before = current_revision(connection)
    command.upgrade(config, "head")
    return before, current_revision(connection)


def current_revision(connection: Connection) -> str | None:
    _quiet_alembic()
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    config = alembic_config()
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config).get_current_head()
