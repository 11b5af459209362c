"""The store against real SQLite files and a real PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from llmrelay.store import (
    DEFAULT_TITLE,
    DatabaseUrlError,
    NotFound,
    ResponseRecord,
    Store,
    StoreError,
    database_url,
    display_url,
)
from llmrelay.store.migrate import head_revision
from llmrelay.store.tables import metadata
from tests.conftest import fresh_postgres_database

TABLES = {"conversations", "messages", "responses", "api_keys", "usage", "alembic_version"}


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()


def _table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def _dump_all_rows(url: str) -> str:
    """Every value in every table, as text: what someone who stole the database would see."""
    engine = create_async_engine(database_url(url))
    lines: list[str] = []
    try:
        async with engine.connect() as conn:
            for name in sorted(await conn.run_sync(_table_names)):
                result = await conn.exec_driver_sql(f'SELECT * FROM "{name}"')
                lines.extend(f"{name}: {tuple(row)!r}" for row in result)
    finally:
        await engine.dispose()
    return "\n".join(lines)


# -- migrations ------------------------------------------------------------------------------


async def test_migrations_create_the_schema_on_an_empty_database_and_can_run_again(database_url: str) -> None:
    first = await Store.open(database_url)
    try:
        assert await first.revision() == head_revision() is not None
        kept = await first.create_conversation("kept across upgrades")
    finally:
        await first.close()

    second = await Store.open(database_url)
    try:
        await second.upgrade()  # nothing left to do: no error, no change
        await second.upgrade()
        assert await second.revision() == head_revision()
        found = await second.get_conversation(kept.id)
        assert found is not None and found.title == "kept across upgrades"
    finally:
        await second.close()

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_table_names) == TABLES
    finally:
        await engine.dispose()


def _schema_differences(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_build_exactly_the_tables_the_code_uses(store: Store, database_url: str) -> None:
    # A column added to tables.py without a migration would break every existing database.
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_differences) == []
    finally:
        await engine.dispose()


# -- conversations and messages --------------------------------------------------------------


async def test_conversations_are_created_listed_newest_activity_first_renamed_and_deleted(
    store: Store,
) -> None:
    first = await store.create_conversation()
    second = await store.create_conversation("  Trip to Lisbon  ")
    third = await store.create_conversation("Taxes")
    assert first.title == DEFAULT_TITLE
    assert second.title == "Trip to Lisbon"
    assert first.id.startswith("conv_") and len({first.id, second.id, third.id}) == 3
    assert first.created_at.tzinfo is not None and first.created_at.utcoffset() == timedelta(0)

    assert [c.id for c in await store.list_conversations()] == [third.id, second.id, first.id]
    # A new message is activity: the conversation moves to the top.
    await store.add_message(first.id, "user", "hello again")
    listed = await store.list_conversations()
    assert [c.id for c in listed] == [first.id, third.id, second.id]
    assert listed[0].updated_at > first.updated_at
    assert listed[0].messages == []  # listings do not carry messages
    assert [c.id for c in await store.list_conversations(limit=2)] == [first.id, third.id]
    assert [c.id for c in await store.list_conversations(limit=2, offset=2)] == [second.id]

    renamed = await store.rename_conversation(third.id, " Taxes 2025 ")
    assert renamed is not None and renamed.title == "Taxes 2025"
    assert (await store.get_conversation(third.id)).title == "Taxes 2025"  # type: ignore[union-attr]
    # Renaming is not activity: the order stays.
    assert [c.id for c in await store.list_conversations()] == [first.id, third.id, second.id]
    with pytest.raises(ValueError, match="title"):
        await store.rename_conversation(third.id, "   ")
    with pytest.raises(ValueError, match="title"):
        await store.rename_conversation(third.id, "x" * 201)

    assert await store.delete_conversation(second.id) is True
    assert await store.delete_conversation(second.id) is False
    assert await store.get_conversation(second.id) is None
    assert [c.id for c in await store.list_conversations()] == [first.id, third.id]


async def test_unknown_ids_are_none_false_or_not_found(store: Store) -> None:
    assert await store.get_conversation("conv_nope") is None
    assert await store.rename_conversation("conv_nope", "x") is None
    assert await store.delete_conversation("conv_nope") is False
    assert await store.get_message("msg_nope") is None
    assert await store.history("conv_nope") == []
    with pytest.raises(NotFound):
        await store.add_message("conv_nope", "user", "hi")
    with pytest.raises(NotFound):
        await store.finish_message(
            "msg_nope",
            content="x",
            status="complete",
            finish_reason="stop",
            input_tokens=None,
            output_tokens=None,
            ttft_ms=None,
            duration_ms=None,
            error=None,
        )
    conversation = await store.create_conversation()
    with pytest.raises(ValueError, match="role"):
        await store.add_message(conversation.id, "robot", "hi")
    with pytest.raises(ValueError, match="status"):
        await store.add_message(conversation.id, "user", "hi", status="done")


async def test_messages_keep_their_order_and_every_field(store: Store) -> None:
    conversation = await store.create_conversation()
    system = await store.add_message(conversation.id, "system", "Be brief.")
    question = await store.add_message(conversation.id, "user", "Zwei Zeilen:\nÄpfel 🍎 & <b>\r\n")
    answer = await store.add_message(
        conversation.id, "assistant", "", status="streaming", provider="scripted", model="echo-1"
    )
    assert [system.position, question.position, answer.position] == [0, 1, 2]
    assert answer.status == "streaming" and answer.completed_at is None
    assert question.status == "complete" and question.completed_at is not None

    await store.finish_message(
        answer.id,
        content="Two lines:\napples 🍎",
        status="complete",
        finish_reason="stop",
        input_tokens=17,
        output_tokens=5,
        ttft_ms=12.5,
        duration_ms=340.25,
        error=None,
    )
    found = await store.get_conversation(conversation.id)
    assert found is not None
    assert [m.id for m in found.messages] == [system.id, question.id, answer.id]
    assert found.messages[1].content == "Zwei Zeilen:\nÄpfel 🍎 & <b>\r\n"
    done = found.messages[2]
    assert (done.role, done.content, done.status, done.finish_reason) == (
        "assistant",
        "Two lines:\napples 🍎",
        "complete",
        "stop",
    )
    assert (done.provider, done.model, done.input_tokens, done.output_tokens) == ("scripted", "echo-1", 17, 5)
    assert (done.ttft_ms, done.duration_ms, done.error) == (12.5, 340.25, None)
    assert done.completed_at is not None and done.completed_at >= done.created_at
    for stamp in (done.created_at, done.completed_at, found.created_at, found.updated_at):
        assert stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0)
        assert abs(stamp - datetime.now(UTC)) < timedelta(minutes=1)
    assert await store.get_message(done.id) == done
    # Finishing the answer is activity too.
    assert found.updated_at == done.completed_at


async def test_a_cancelled_or_failed_answer_keeps_what_there_was_and_why(store: Store) -> None:
    conversation = await store.create_conversation()
    await store.add_message(conversation.id, "user", "Count to ten")
    cancelled = await store.add_message(conversation.id, "assistant", "", status="streaming")
    await store.finish_message(
        cancelled.id,
        content="one two",
        status="cancelled",
        finish_reason="cancelled",
        input_tokens=None,
        output_tokens=2,
        ttft_ms=3.0,
        duration_ms=50.0,
        error=None,
    )
    failed = await store.add_message(conversation.id, "assistant", "", status="streaming")
    await store.finish_message(
        failed.id,
        content="",
        status="error",
        finish_reason=None,
        input_tokens=None,
        output_tokens=None,
        ttft_ms=None,
        duration_ms=10.0,
        error="upstream failed: 502 Bad Gateway",
    )
    got = await store.get_message(cancelled.id)
    assert got is not None and (got.status, got.content, got.output_tokens) == ("cancelled", "one two", 2)
    got = await store.get_message(failed.id)
    assert got is not None and (got.status, got.error) == ("error", "upstream failed: 502 Bad Gateway")
    with pytest.raises(ValueError, match="status"):
        await store.finish_message(
            failed.id,
            content="",
            status="streaming",
            finish_reason=None,
            input_tokens=None,
            output_tokens=None,
            ttft_ms=None,
            duration_ms=None,
            error=None,
        )


async def test_history_is_what_the_model_should_see_in_order(store: Store) -> None:
    conversation = await store.create_conversation()
    kinds = [
        ("system", "Be brief.", "complete"),
        ("user", "first question", "complete"),
        ("assistant", "first answer", "complete"),
        ("user", "second question", "complete"),
        ("assistant", "half an ans", "cancelled"),  # the user saw it: kept
        ("user", "third question", "complete"),
        ("assistant", "", "error"),  # failed before any text: nothing to keep
        ("user", "fourth question", "complete"),
        ("assistant", "being written", "streaming"),  # the answer in progress
    ]
    for role, content, status in kinds:
        await store.add_message(conversation.id, role, content, status=status)
    history = await store.history(conversation.id)
    assert [(m.role, m.content) for m in history] == [
        ("system", "Be brief."),
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "second question"),
        ("assistant", "half an ans"),
        ("user", "third question"),
        ("user", "fourth question"),
    ]


async def test_deleting_a_conversation_deletes_its_messages(store: Store, database_url: str) -> None:
    doomed = await store.create_conversation()
    kept = await store.create_conversation()
    doomed_ids = [(await store.add_message(doomed.id, "user", f"m{i}")).id for i in range(3)]
    kept_message = await store.add_message(kept.id, "user", "stays")

    assert await store.delete_conversation(doomed.id)
    for message_id in doomed_ids:
        assert await store.get_message(message_id) is None
    assert await store.get_message(kept_message.id) is not None
    # Gone from the database itself, not only from what the store shows.
    rows = await _dump_all_rows(database_url)
    assert doomed.id not in rows and kept.id in rows


async def test_concurrent_writers_to_one_conversation_get_distinct_positions(store: Store) -> None:
    conversation = await store.create_conversation()
    written = await asyncio.gather(
        *(store.add_message(conversation.id, "user", f"message {i}") for i in range(20))
    )
    assert sorted(m.position for m in written) == list(range(20))
    found = await store.get_conversation(conversation.id)
    assert found is not None and [m.position for m in found.messages] == list(range(20))


async def test_an_answer_left_streaming_by_a_killed_server_is_interrupted_on_open(database_url: str) -> None:
    before = await Store.open(database_url)
    try:
        conversation = await before.create_conversation()
        question = await before.add_message(conversation.id, "user", "Tell me a story")
        answer = await before.add_message(conversation.id, "assistant", "", status="streaming", model="m")
    finally:
        await before.close()  # the server dies: finish_message never runs

    # A CLI command beside a live server must not touch answers being written.
    beside = await Store.open(database_url, recover_interrupted=False)
    try:
        still = await beside.get_message(answer.id)
        assert still is not None and still.status == "streaming"
    finally:
        await beside.close()

    after = await Store.open(database_url)
    try:
        found = await after.get_conversation(conversation.id)
        assert found is not None
        assert [m.status for m in found.messages] == ["complete", "interrupted"]
        interrupted = found.messages[1]
        assert interrupted.error and "stopped" in interrupted.error
        assert interrupted.completed_at is not None
        assert found.messages[0] == question
        assert await after.mark_interrupted() == 0
    finally:
        await after.close()


async def test_nul_characters_are_stored_on_every_backend(store: Store) -> None:
    # PostgreSQL text cannot hold NUL; the store replaces it rather than failing a whole answer.
    conversation = await store.create_conversation("a\x00b")
    message = await store.add_message(conversation.id, "user", "before\x00after")
    found = await store.get_conversation(conversation.id)
    assert found is not None and found.title == "a\ufffdb"
    assert found.messages[0].content == "before\ufffdafter" == message.content
    # A lone surrogate (what JSON's "\ud800" decodes to) cannot be encoded by any driver.
    odd = await store.add_message(conversation.id, "user", "x\ud800y")
    stored = await store.get_message(odd.id)
    assert stored is not None and stored.content == "x\ufffdy"


# -- the gateway's tables ----------------------------------------------------------------------


async def test_api_keys_are_stored_as_hashes_found_by_key_and_refused_once_revoked(
    store: Store, database_url: str
) -> None:
    ci, ci_key = await store.create_api_key("ci")
    laptop, laptop_key = await store.create_api_key("laptop")
    assert ci_key.startswith("sk-llmrelay-") and len(ci_key) > 40 and ci_key != laptop_key
    assert ci.id.startswith("key_") and not ci.revoked

    # Nothing in the database gives the key back: not the key, not its secret part.
    rows = await _dump_all_rows(database_url)
    assert ci.id in rows  # the dump does see the keys table
    for plain in (ci_key, laptop_key):
        assert plain not in rows and plain.removeprefix("sk-llmrelay-") not in rows
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                assert ci_key.removeprefix("sk-llmrelay-").encode() not in file.read_bytes()

    assert await store.find_api_key(ci_key) == ci
    assert await store.find_api_key(laptop_key) == laptop
    assert await store.find_api_key(ci_key[:-1] + ("0" if ci_key[-1] != "0" else "1")) is None
    assert await store.find_api_key("") is None
    assert await store.find_api_key("Bearer " + ci_key) is None

    with pytest.raises(ValueError, match="exists"):
        await store.create_api_key("ci")  # two active keys with one name: revoke by name is ambiguous
    with pytest.raises(ValueError, match="name"):
        await store.create_api_key("   ")

    assert await store.revoke_api_key("ci") is True  # by name
    assert await store.revoke_api_key("ci") is False  # nothing active left with that name
    assert await store.find_api_key(ci_key) is None
    assert await store.find_api_key(laptop_key) == laptop
    assert await store.revoke_api_key(laptop.id) is True  # by id
    assert await store.find_api_key(laptop_key) is None

    listed = await store.list_api_keys()
    assert [(k.id, k.name, k.revoked) for k in listed] == [(ci.id, "ci", True), (laptop.id, "laptop", True)]
    # The name is free again once its key is revoked.
    again, again_key = await store.create_api_key("ci")
    assert await store.find_api_key(again_key) == again


async def test_usage_is_totalled_per_key(store: Store) -> None:
    team, _ = await store.create_api_key("team")
    idle, _ = await store.create_api_key("idle")
    await store.record_usage(
        api_key_id=team.id, route="/v1/responses", model="m", input_tokens=10, output_tokens=5
    )
    await store.record_usage(
        api_key_id=team.id, route="/v1/chat/completions", model="m", input_tokens=7, output_tokens=None
    )
    await store.record_usage(api_key_id=None, route="/api/chat", model="m", input_tokens=1, output_tokens=2)
    await store.revoke_api_key("team")  # revoked keys keep their history

    assert await store.usage_by_key() == [
        {
            "api_key_id": team.id,
            "name": "team",
            "revoked": True,
            "requests": 2,
            "input_tokens": 17,
            "output_tokens": 5,
        },
        {
            "api_key_id": idle.id,
            "name": "idle",
            "revoked": False,
            "requests": 0,
            "input_tokens": 0,
            "output_tokens": 0,
        },
        {
            "api_key_id": None,
            "name": None,
            "revoked": False,
            "requests": 1,
            "input_tokens": 1,
            "output_tokens": 2,
        },
    ]


async def test_responses_are_saved_fetched_and_replaced_by_id(store: Store) -> None:
    key, _ = await store.create_api_key("sdk")
    messages = [{"role": "user", "content": "Say hi ✨"}]
    first = ResponseRecord(
        model="gpt-4o-mini",
        input_json=json.dumps(messages),
        output_text="Hi!",
        status="completed",
        input_tokens=9,
        output_tokens=2,
        api_key_id=key.id,
    )
    assert first.id.startswith("resp_") and first.created_at.tzinfo is not None
    await store.save_response(first)
    follow_up = ResponseRecord(
        previous_response_id=first.id,
        model="gpt-4o-mini",
        input_json=json.dumps([{"role": "user", "content": "Again"}]),
        output_text="",
        status="in_progress",
    )
    await store.save_response(follow_up)

    got = await store.get_response(first.id)
    assert got == first
    assert got is not None and json.loads(got.input_json) == messages
    assert await store.get_response("resp_nope") is None

    finished = dataclasses.replace(follow_up, output_text="Hi again!", status="completed", output_tokens=3)
    await store.save_response(finished)
    assert await store.get_response(follow_up.id) == finished


# -- URLs, secrets, SQLite settings ------------------------------------------------------------


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
            await store.create_conversation()
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
        await store.create_conversation()
    finally:
        await store.close()
    # journal_mode=WAL is kept in the file itself: any later reader sees it.
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# -- the command line --------------------------------------------------------------------------


def _llmrelay(*args: str, cwd: Path, database: str) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a user would, with nothing from the developer's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMRELAY_", "OPENAI_"))}
    env["LLMRELAY_DATABASE_URL"] = database
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
