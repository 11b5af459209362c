"""Database URLs and secrets, SQLite's settings, and `llmrelay db` / `llmrelay keys`."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from llmrelay.store import (
    NO_KEY_OWNER,
    DatabaseUrlError,
    Store,
    StoreError,
    database_url,
    display_url,
)
from llmrelay.store.migrate import head_revision
from tests.support.databases import fresh_postgres_database
from tests.support.environment import subprocess_env


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "sqlite+aiosqlite:///./llmrelay.db"),
        ("  ", "sqlite+aiosqlite:///./llmrelay.db"),
        ("sqlite:///data/chat.db", "sqlite+aiosqlite:///data/chat.db"),
        ("sqlite+aiosqlite:////abs/chat.db", "sqlite+aiosqlite:////abs/chat.db"),
        ("postgresql://u:pw@db:5432/relay", "postgresql+asyncpg://u:pw@db:5432/relay"),
        ("postgres://u@db/relay", "postgresql+asyncpg://u@db/relay"),
        ("postgresql+asyncpg://u@db/relay", "postgresql+asyncpg://u@db/relay"),
    ],
)
def test_database_urls_are_mapped_to_the_async_drivers(given: str | None, expected: str) -> None:
    assert database_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("mysql://root:s3cret-pw@db/relay", "'mysql', which llmrelay does not support"),
        ("postgresql+psycopg2://root:s3cret-pw@db/relay", "does not support"),
        ("not a url s3cret-pw", "is not a database URL"),
        ("postgresql://root:s3cret-pw@db", "names no database"),
    ],
)
def test_a_bad_database_url_is_one_sentence_without_the_password(given: str, says: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        database_url(given)
    message = str(caught.value)
    assert says in message and "LLMRELAY_DATABASE_URL" in message
    assert "s3cret-pw" not in message


async def test_an_unreachable_database_is_a_store_error_without_the_password() -> None:
    # Port 1 on localhost: nothing listens, the connection is refused at once.
    with pytest.raises(StoreError) as caught:
        await Store.open("postgresql://relay:s3cret-pw@127.0.0.1:1/relay")
    message = str(caught.value)
    assert "postgresql+asyncpg://relay:***@127.0.0.1:1/relay" in message
    assert "s3cret-pw" not in message


@pytest.mark.postgres
async def test_the_password_in_the_url_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with fresh_postgres_database() as url:
        # The server trusts local connections, so any password is accepted (and must not show).
        with_password = make_url(url).set(password="s3cret-pw")
        store = await Store.open(with_password.render_as_string(hide_password=False))
        try:
            await store.create_conversation(NO_KEY_OWNER)
            assert store.display_url == display_url(with_password)
            assert "s3cret-pw" not in store.display_url and "***" in store.display_url
        finally:
            await store.close()
    assert "store ready" in caplog.text  # the start-up line was logged, and captured
    assert "s3cret-pw" not in caplog.text


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    store = await Store.open(f"sqlite:///{path}")
    try:
        await store.create_conversation(NO_KEY_OWNER)
    finally:
        await store.close()
    # journal_mode=WAL is kept in the file itself: any later reader sees it.
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# -- the command line --------------------------------------------------------------------------


def _llmrelay(*args: str, cwd: Path, database: str) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a user would, with nothing from the developer's environment."""
    env = subprocess_env(LLMRELAY_DATABASE_URL=database)
    return subprocess.run(
        [sys.executable, "-m", "llmrelay", *args],
        cwd=cwd,  # no .env there
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_db_upgrade_on_the_command_line_migrates_a_fresh_database(
    database_url: str, tmp_path: Path
) -> None:
    # The plain sqlite:// / postgresql:// spellings, as a user would write them.
    plain = database_url.replace("+aiosqlite", "").replace("+asyncpg", "")
    done = await asyncio.to_thread(_llmrelay, "db", "upgrade", cwd=tmp_path, database=plain)
    assert done.returncode == 0, done.stderr
    assert f"revision {head_revision()}" in done.stdout
    again = await asyncio.to_thread(_llmrelay, "db", "upgrade", cwd=tmp_path, database=plain)
    assert again.returncode == 0, again.stderr

    store = await Store.open(database_url)
    try:
        assert await store.revision() == head_revision()
    finally:
        await store.close()


def test_db_upgrade_with_a_bad_url_says_so_in_one_line(tmp_path: Path) -> None:
    done = _llmrelay("db", "upgrade", cwd=tmp_path, database="postgresql://relay:s3cret-pw@127.0.0.1:1/relay")
    assert done.returncode == 2
    assert "cannot use the database at postgresql+asyncpg://relay:***@127.0.0.1:1/relay" in done.stderr
    assert "Traceback" not in done.stderr and "s3cret-pw" not in done.stderr + done.stdout


async def test_keys_on_the_command_line_create_list_and_revoke(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    created = _llmrelay("keys", "create", "build server", cwd=tmp_path, database=url)
    assert created.returncode == 0, created.stderr
    plain = created.stdout.strip()
    assert plain.startswith("sk-llmrelay-") and "\n" not in plain  # alone on stdout: $(…) works
    assert "cannot be shown again" in created.stderr

    store = await Store.open(url)
    try:
        found = await store.find_api_key(plain)
        assert found is not None and found.name == "build server"
    finally:
        await store.close()

    listed = _llmrelay("keys", "list", cwd=tmp_path, database=url)
    assert listed.returncode == 0 and found.id in listed.stdout and "active" in listed.stdout
    assert plain not in listed.stdout

    revoked = _llmrelay("keys", "revoke", "build server", cwd=tmp_path, database=url)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in _llmrelay("keys", "list", cwd=tmp_path, database=url).stdout
    missing = _llmrelay("keys", "revoke", "build server", cwd=tmp_path, database=url)
    assert missing.returncode == 1 and "no active key" in missing.stderr

    store = await Store.open(url)
    try:
        assert await store.find_api_key(plain) is None
    finally:
        await store.close()
