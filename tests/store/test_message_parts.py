"""Messages beyond text (migration 0003): a question's images, an answer's tool calls, and an
answer replaced by a regenerated one. On SQLite and PostgreSQL (the `database_url` fixture).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from llmrelay.store import NO_KEY_OWNER, NotFound, NotReplaceable, Owner, Store, ToolCallRecord
from llmrelay.store import database_url as parse_url
from llmrelay.store.migrate import alembic_config
from llmrelay.store.tables import metadata

ME = Owner("key_me")
PIXEL = "data:image/png;base64,iVBORw0KGgo="


async def finish(store: Store, message_id: str, content: str, calls: tuple[ToolCallRecord, ...] = ()) -> None:
    await store.finish_message(
        message_id,
        content=content,
        status="complete",
        finish_reason="tool_calls" if calls else "stop",
        input_tokens=3,
        output_tokens=4,
        ttft_ms=1.0,
        duration_ms=2.0,
        error=None,
        tool_calls=calls,
    )


async def test_images_and_tool_calls_are_kept_with_their_messages(store: Store) -> None:
    conversation = await store.create_conversation(ME, "pictures")
    question = await store.add_message(conversation.id, "user", "What is this?", images=[PIXEL, PIXEL + "AA"])
    assert question.images == (PIXEL, PIXEL + "AA")
    answer = await store.add_message(conversation.id, "assistant", "", status="streaming", model="m")
    calls = (
        ToolCallRecord("call_1", "look_up", '{"q": "pixel"}'),
        ToolCallRecord("call_2", "zoom", '{"factor": 2, "note": "\\u00e9 ✓"}'),
    )
    await finish(store, answer.id, "Let me look.", calls)

    stored = await store.get_conversation(ME, conversation.id)
    assert stored is not None
    first, second = stored.messages
    assert (first.images, first.tool_calls) == ((PIXEL, PIXEL + "AA"), ())
    assert (second.images, second.tool_calls) == ((), calls)
    assert (await store.get_message(ME, answer.id)) == second
    assert [m.images for m in await store.history(conversation.id)] == [(PIXEL, PIXEL + "AA"), ()]


async def test_replacing_the_last_answer_keeps_the_question_and_the_place(store: Store) -> None:
    conversation = await store.create_conversation(ME, "again")
    question = await store.add_message(conversation.id, "user", "Say something.")
    old = await store.add_message(conversation.id, "assistant", "", status="streaming", model="a")
    await finish(store, old.id, "Something.", (ToolCallRecord("c", "f", "{}"),))

    new = await store.replace_answer(ME, old.id, provider="scripted", model="b")
    assert (new.status, new.content, new.model, new.position) == ("streaming", "", "b", old.position)
    assert new.id != old.id and new.tool_calls == ()
    assert await store.get_message(ME, old.id) is None
    stored = await store.get_conversation(ME, conversation.id)
    assert stored is not None
    assert [(m.id, m.status) for m in stored.messages] == [(question.id, "complete"), (new.id, "streaming")]

    # While it is being written it cannot be replaced; once finished, it can.
    with pytest.raises(NotReplaceable, match="still being written"):
        await store.replace_answer(ME, new.id, provider="scripted", model="b")
    await finish(store, new.id, "Something else.")
    again = await store.replace_answer(ME, new.id, provider="scripted", model="a")
    assert again.position == old.position


async def test_only_the_owners_last_answer_can_be_replaced(store: Store) -> None:
    conversation = await store.create_conversation(ME, "two turns")
    await store.add_message(conversation.id, "user", "one")
    first = await store.add_message(conversation.id, "assistant", "", status="streaming")
    await finish(store, first.id, "1")
    question = await store.add_message(conversation.id, "user", "two")
    last = await store.add_message(conversation.id, "assistant", "", status="streaming")
    await finish(store, last.id, "2")

    with pytest.raises(NotReplaceable, match="Only the last answer"):
        await store.replace_answer(ME, first.id, provider=None, model=None)
    with pytest.raises(NotFound):
        await store.replace_answer(ME, question.id, provider=None, model=None)  # a question
    with pytest.raises(NotFound):
        await store.replace_answer(Owner("key_other"), last.id, provider=None, model=None)
    with pytest.raises(NotFound):
        await store.replace_answer(ME, "msg_nope", provider=None, model=None)
    stored = await store.get_conversation(ME, conversation.id)
    assert stored is not None and [m.content for m in stored.messages] == ["one", "1", "two", "2"]


async def test_two_regenerations_at_once_replace_the_answer_once(store: Store) -> None:
    conversation = await store.create_conversation(ME, "race")
    await store.add_message(conversation.id, "user", "go")
    old = await store.add_message(conversation.id, "assistant", "", status="streaming")
    await finish(store, old.id, "first")

    results = await asyncio.gather(
        *(store.replace_answer(ME, old.id, provider=None, model=None) for _ in range(2)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, NotFound) for r in results) == 1, results
    stored = await store.get_conversation(ME, conversation.id)
    assert stored is not None and [m.role for m in stored.messages] == ["user", "assistant"]


def _upgrade_to(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


async def test_messages_from_before_0003_read_as_plain_text(database_url: str) -> None:
    engine = create_async_engine(parse_url(database_url))
    old = datetime(2026, 1, 1, tzinfo=UTC)
    columns = ("id", "conversation_id", "position", "role", "content", "status", "created_at")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_to, "0002")
            await conn.execute(
                insert(metadata.tables["conversations"]).values(
                    id="conv_old", owner=NO_KEY_OWNER, title="old", created_at=old, updated_at=old
                )
            )
            await conn.execute(
                insert(metadata.tables["messages"]).values(
                    **dict(
                        zip(
                            columns, ("msg_old", "conv_old", 0, "user", "hello", "complete", old), strict=True
                        )
                    )
                )
            )
    finally:
        await engine.dispose()

    upgraded = await Store.open(database_url)
    try:
        message = await upgraded.get_message(NO_KEY_OWNER, "msg_old")
        assert message is not None
        assert (message.content, message.images, message.tool_calls) == ("hello", (), ())
    finally:
        await upgraded.close()
