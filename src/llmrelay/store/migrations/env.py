"""Alembic's entry point, run by `Store.upgrade` with a connection already open.

The store opens the (async) connection and calls alembic inside `connection.run_sync`, handing
the sync connection over in `config.attributes["connection"]`; this file only runs the
revisions on it. It does not touch logging: the app's logging is already configured.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from llmrelay.store.tables import metadata

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite can hardly ALTER TABLE; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "llmrelay's migrations run through `llmrelay db upgrade` (or Store.upgrade), "
        "not the alembic command line"
    )
run_migrations(connection)
