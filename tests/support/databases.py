"""Real databases for tests: fresh PostgreSQL databases, and a raw dump of what a store wrote.

The `database_url` fixture (tests/conftest.py) gives a test an empty database on each backend:
a SQLite file in its tmp_path, or a PostgreSQL database of its own (CREATE DATABASE
llmrelay_test_<random> on the server, dropped after the test), so tests and concurrent runs
never see each other's rows or tables.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from llmrelay.store import database_url
from tests.support.settings import skip_or_fail

# Read once, at import: the per-test environment scrub removes LLMRELAY_* afterwards.
POSTGRES_ADMIN_DSN = os.environ.get("LLMRELAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
_postgres_unreachable: list[str] = []  # remembered, so later tests don't wait for the timeout again


async def _postgres_admin() -> asyncpg.Connection:
    if _postgres_unreachable:
        skip_or_fail(_postgres_unreachable[0])
    try:
        return await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        _postgres_unreachable.append(f"PostgreSQL at {POSTGRES_ADMIN_DSN} is unreachable: {exc}")
        skip_or_fail(_postgres_unreachable[0])
        raise  # unreachable: skip_or_fail raises


async def create_postgres_database() -> tuple[str, str]:
    """A new empty PostgreSQL database: (its name, its postgresql+asyncpg:// URL)."""
    name = f"llmrelay_test_{secrets.token_hex(6)}"
    admin = await _postgres_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(POSTGRES_ADMIN_DSN).set(drivername="postgresql+asyncpg", database=name)
    return name, url.render_as_string(hide_password=False)


async def drop_postgres_database(name: str) -> None:
    admin = await _postgres_admin()
    try:
        # FORCE: a test that failed may have left a connection open.
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A new empty PostgreSQL database; yields its postgresql+asyncpg:// URL, drops it after."""
    name, url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(name)


def table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def dump_all_rows(url: str) -> str:
    """Every value in every table, as text: what someone who stole the database would see."""
    engine = create_async_engine(database_url(url))
    lines: list[str] = []
    try:
        async with engine.connect() as conn:
            for name in sorted(await conn.run_sync(table_names)):
                result = await conn.exec_driver_sql(f'SELECT * FROM "{name}"')
                lines.extend(f"{name}: {tuple(row)!r}" for row in result)
    finally:
        await engine.dispose()
    return "\n".join(lines)
