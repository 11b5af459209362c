"""What every part of the store shares: the engine, its URL, the write transaction, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from llmrelay.store.engine import SQLITE_BEGIN
from llmrelay.store.urls import display_url, is_sqlite


class StoreError(Exception):
    """The database cannot be reached or used. The message is one sentence, without secrets."""


class NotFound(LookupError):
    """The conversation or message named does not exist."""


class NotReplaceable(Exception):
    """An answer that cannot be regenerated now; the message says why, to a person."""


class StoreBase:
    def __init__(self, engine: AsyncEngine, url: URL) -> None:
        self._engine = engine
        self._url = url

    @property
    def display_url(self) -> str:
        """The database URL with its password masked: the only form fit for a log line."""
        return display_url(self._url)

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._url.get_backend_name()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that will write: on SQLite it takes the write lock at BEGIN."""
        async with self._engine.connect() as conn:
            if is_sqlite(self._url):
                await conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            async with conn.begin():
                yield conn
