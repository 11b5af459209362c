from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from llmrelay.settings import Settings
from tests.servers import serve

# On CI every test must run: a missing PostgreSQL or chromium is a failure there, not a skip.
REQUIRE_ALL = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (CI=true: nothing may be skipped)")
    pytest.skip(reason)


def make_settings(**values: object) -> Settings:
    """Settings for a test: nothing read from the developer's .env or environment."""
    base: dict[str, object] = {
        "provider": "scripted",
        "detach_grace_seconds": 0,
        # A fresh SQLite file per app, never ./llmrelay.db of whoever runs the tests.
        "database_url": f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='llmrelay-test-')}/llmrelay.db",
    }
    base.update(values)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@pytest.fixture
def scripted() -> ScriptedProvider:
    return ScriptedProvider.replying("Hello there, world!")


@pytest.fixture
def scripted_server(scripted: ScriptedProvider) -> Iterator[str]:
    with serve(create_app(make_settings(), provider=scripted)) as url:
        yield url


# -- Databases ------------------------------------------------------------------------------
# `database_url`: a fresh, empty database for one test, on each backend. PostgreSQL gets a
# database of its own (CREATE DATABASE llmrelay_test_<random> on the server, dropped after the
# test), so tests and concurrent runs never see each other's rows or tables.

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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database for this test: a SQLite file in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'llmrelay.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


# The browser fixtures live with the browser helpers; importing them here shares them.
from tests.browser import browser, page  # noqa: E402, F401
