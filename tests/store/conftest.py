"""The store's tests get a store opened on a fresh database of each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from llmrelay.store import Store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A store opened on the `database_url` fixture's fresh database (SQLite, PostgreSQL)."""
    opened = await Store.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()
