"""The store against real SQLite files and a real PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from llmrelay.store import (
    DEFAULT_TITLE,
    NO_KEY_OWNER,
    NotFound,
    Store,
)
from llmrelay.store.migrate import head_revision
from llmrelay.store.tables import metadata
from tests.support.databases import dump_all_rows, table_names

ME = NO_KEY_OWNER  # these tests are about one tenant; test_store_tenants.py is about several

TABLES = {"conversations", "messages", "responses", "api_keys", "usage", "alembic_version"}


# -- migrations ------------------------------------------------------------------------------


async def test_migrations_create_the_schema_on_an_empty_database_and_can_run_again(database_url: str) -> None:
    first = await Store.open(database_url)
    try:
        assert await first.revision() == head_revision() is not None
        kept = await first.create_conversation(ME, "kept across upgrades")
    finally:
        await first.close()

    second = await Store.open(database_url)
    try:
        await second.upgrade()  # nothing left to do: no error, no change
        await second.upgrade()
        assert await second.revision() == head_revision()
        found = await second.get_conversation(ME, kept.id)
        assert found is not None and found.title == "kept across upgrades"
    finally:
        await second.close()

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(table_names) == TABLES
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
    first = await store.create_conversation(ME)
    second = await store.create_conversation(ME, "  Trip to Lisbon  ")
    third = await store.create_conversation(ME, "Taxes")
    assert first.title == DEFAULT_TITLE
    assert second.title == "Trip to Lisbon"
    assert first.id.startswith("conv_") and len({first.id, second.id, third.id}) == 3
    assert first.created_at.tzinfo is not None and first.created_at.utcoffset() == timedelta(0)

    assert [c.id for c in await store.list_conversations(ME)] == [third.id, second.id, first.id]
    # A new message is activity: the conversation moves to the top.
    await store.add_message(first.id, "user", "hello again")
    listed = await store.list_conversations(ME)
    assert [c.id for c in listed] == [first.id, third.id, second.id]
    assert listed[0].updated_at > first.updated_at
    assert listed[0].messages == []  # listings do not carry messages
    assert [c.id for c in await store.list_conversations(ME, limit=2)] == [first.id, third.id]
    assert [c.id for c in await store.list_conversations(ME, limit=2, offset=2)] == [second.id]

    renamed = await store.rename_conversation(ME, third.id, " Taxes 2025 ")
    assert renamed is not None and renamed.title == "Taxes 2025"
    assert (await store.get_conversation(ME, third.id)).title == "Taxes 2025"  # type: ignore[union-attr]
    # Renaming is not activity: the order stays.
    assert [c.id for c in await store.list_conversations(ME)] == [first.id, third.id, second.id]
    with pytest.raises(ValueError, match="title"):
        await store.rename_conversation(ME, third.id, "   ")
    with pytest.raises(ValueError, match="title"):
        await store.rename_conversation(ME, third.id, "x" * 201)

    assert await store.delete_conversation(ME, second.id) is True
    assert await store.delete_conversation(ME, second.id) is False
    assert await store.get_conversation(ME, second.id) is None
    assert [c.id for c in await store.list_conversations(ME)] == [first.id, third.id]


async def test_unknown_ids_are_none_false_or_not_found(store: Store) -> None:
    assert await store.get_conversation(ME, "conv_nope") is None
    assert await store.rename_conversation(ME, "conv_nope", "x") is None
    assert await store.delete_conversation(ME, "conv_nope") is False
    assert await store.get_message(ME, "msg_nope") is None
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
    conversation = await store.create_conversation(ME)
    with pytest.raises(ValueError, match="role"):
        await store.add_message(conversation.id, "robot", "hi")
    with pytest.raises(ValueError, match="status"):
        await store.add_message(conversation.id, "user", "hi", status="done")


async def test_messages_keep_their_order_and_every_field(store: Store) -> None:
    conversation = await store.create_conversation(ME)
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
    found = await store.get_conversation(ME, conversation.id)
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
    assert await store.get_message(ME, done.id) == done
    # Finishing the answer is activity too.
    assert found.updated_at == done.completed_at


async def test_a_cancelled_or_failed_answer_keeps_what_there_was_and_why(store: Store) -> None:
    conversation = await store.create_conversation(ME)
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
    got = await store.get_message(ME, cancelled.id)
    assert got is not None and (got.status, got.content, got.output_tokens) == ("cancelled", "one two", 2)
    got = await store.get_message(ME, failed.id)
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
    conversation = await store.create_conversation(ME)
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
    doomed = await store.create_conversation(ME)
    kept = await store.create_conversation(ME)
    doomed_ids = [(await store.add_message(doomed.id, "user", f"m{i}")).id for i in range(3)]
    kept_message = await store.add_message(kept.id, "user", "stays")

    assert await store.delete_conversation(ME, doomed.id)
    for message_id in doomed_ids:
        assert await store.get_message(ME, message_id) is None
    assert await store.get_message(ME, kept_message.id) is not None
    # Gone from the database itself, not only from what the store shows.
    rows = await dump_all_rows(database_url)
    assert doomed.id not in rows and kept.id in rows


async def test_concurrent_writers_to_one_conversation_get_distinct_positions(store: Store) -> None:
    conversation = await store.create_conversation(ME)
    written = await asyncio.gather(
        *(store.add_message(conversation.id, "user", f"message {i}") for i in range(20))
    )
    assert sorted(m.position for m in written) == list(range(20))
    found = await store.get_conversation(ME, conversation.id)
    assert found is not None and [m.position for m in found.messages] == list(range(20))


async def test_an_answer_left_streaming_by_a_killed_server_is_interrupted_on_open(database_url: str) -> None:
    before = await Store.open(database_url)
    try:
        conversation = await before.create_conversation(ME)
        question = await before.add_message(conversation.id, "user", "Tell me a story")
        answer = await before.add_message(conversation.id, "assistant", "", status="streaming", model="m")
    finally:
        await before.close()  # the server dies: finish_message never runs

    # A CLI command beside a live server must not touch answers being written.
    beside = await Store.open(database_url, recover_interrupted=False)
    try:
        still = await beside.get_message(ME, answer.id)
        assert still is not None and still.status == "streaming"
    finally:
        await beside.close()

    after = await Store.open(database_url)
    try:
        found = await after.get_conversation(ME, conversation.id)
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
    conversation = await store.create_conversation(ME, "a\x00b")
    message = await store.add_message(conversation.id, "user", "before\x00after")
    found = await store.get_conversation(ME, conversation.id)
    assert found is not None and found.title == "a\ufffdb"
    assert found.messages[0].content == "before\ufffdafter" == message.content
    # A lone surrogate (what JSON's "\ud800" decodes to) cannot be encoded by any driver.
    odd = await store.add_message(conversation.id, "user", "x\ud800y")
    stored = await store.get_message(ME, odd.id)
    assert stored is not None and stored.content == "x\ufffdy"
