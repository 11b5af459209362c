"""The async engine, with what each backend needs to behave.

SQLite: foreign keys are off unless asked for on every connection (cascade deletes need
them); WAL lets the page read while an answer is written. Python's sqlite3 driver also starts
transactions late and never for DDL, so SQLAlchemy emits BEGIN itself (the recipe in
SQLAlchemy's SQLite docs): migrations become transactional, and a write transaction can ask
for `BEGIN IMMEDIATE`, taking the write lock up front instead of failing with "database is
locked" when two writers upgrade their read locks at the same time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from llmrelay.store.urls import is_sqlite

# Execution option read by the SQLite `begin` hook: "IMMEDIATE" for write transactions.
SQLITE_BEGIN = "llmrelay_sqlite_begin"
SQLITE_BUSY_TIMEOUT_SECONDS = 15.0
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10.0


def create_engine(url: URL) -> AsyncEngine:
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    # pre_ping: a pooled connection may have died with a PostgreSQL restart.
    return create_async_engine(
        url, pool_pre_ping=True, connect_args={"timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
    )


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver stops emitting BEGIN; `_sqlite_begin` does
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL is durable against application crashes (not power loss), and fast.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")
