"""Shared by the store's tests: a store on a fresh database, and a raw dump of its rows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from llmrelay.store import Store, database_url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A store opened on the `database_url` fixture's fresh database (SQLite, PostgreSQL)."""
    opened = await Store.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()


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
