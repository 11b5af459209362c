"""Tenants in the store (migration 0002): owners, admin keys, visible prefixes, limits, usage per day.

On SQLite and PostgreSQL (the `database_url` fixture), against real databases.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Insert, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from llmrelay.store import (
    NO_KEY_OWNER,
    KeyLimits,
    Owner,
    ResponseRecord,
    Store,
    UsageRow,
    env_key_owner,
)
from llmrelay.store import (
    database_url as parse_url,
)
from llmrelay.store.migrate import alembic_config
from llmrelay.store.tables import messages, metadata
from tests.support.databases import dump_all_rows

ALICE = Owner("key_alice")
BOB = Owner("key_bob")


async def test_another_owners_ids_behave_exactly_like_missing_ones(store: Store) -> None:
    mine = await store.create_conversation(ALICE, "Alice's plans")
    question = await store.add_message(mine.id, "user", "what now?")
    theirs = await store.create_conversation(BOB, "Bob's")

    assert [c.id for c in await store.list_conversations(ALICE)] == [mine.id]
    assert [c.id for c in await store.list_conversations(BOB)] == [theirs.id]
    assert [c.id for c in await store.list_conversations(NO_KEY_OWNER)] == []

    # Bob, with Alice's ids: what a missing id gives, and nothing of hers changes.
    assert await store.get_conversation(BOB, mine.id) is None
    assert await store.rename_conversation(BOB, mine.id, "taken over") is None
    assert await store.delete_conversation(BOB, mine.id) is False
    assert await store.get_message(BOB, question.id) is None
    found = await store.get_conversation(ALICE, mine.id)
    assert found is not None and found.title == "Alice's plans" and found.owner == ALICE
    assert [m.id for m in found.messages] == [question.id]
    assert await store.get_message(ALICE, question.id) == found.messages[0]

    kept = ResponseRecord(model="m", input_json="[]", output_text="hi", status="completed", owner=ALICE)
    await store.save_response(kept)
    assert await store.get_response(BOB, kept.id) is None
    assert await store.get_response(ALICE, kept.id) == kept

    assert await store.delete_conversation(ALICE, mine.id) is True
    assert await store.get_conversation(BOB, theirs.id) is not None


def test_an_env_keys_owner_is_stable_and_is_not_the_key() -> None:
    key = "sk-my-env-key-0123456789"
    owner = env_key_owner(key)
    assert owner == env_key_owner(key) != env_key_owner(key + "x")
    assert owner.startswith("env_") and len(owner) <= 40
    assert key not in owner and "0123456789" not in owner


async def test_keys_carry_admin_flag_prefix_and_limits_and_log_without_the_secret(
    store: Store, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llmrelay.keys")
    admin, admin_key = await store.create_api_key("ops", is_admin=True)
    user, user_key = await store.create_api_key(
        "app", limits=KeyLimits(rpm=60, tpm=0, max_streams=2, budget_tokens=1000, budget_period="month")
    )
    assert admin.is_admin and not user.is_admin
    assert user.prefix == user_key[: len("sk-llmrelay-") + 4] and user.shown_prefix == f"{user.prefix}…"
    # 0 is no limit of its own: stored as none.
    assert user.limits == KeyLimits(rpm=60, max_streams=2, budget_tokens=1000, budget_period="month")
    assert await store.find_api_key(user_key) == user
    assert await store.get_api_key(admin.id) == admin

    changed = await store.set_api_key_limits("app", {"rpm": 0, "tpm": 500})
    assert changed is not None and changed.limits.rpm is None and changed.limits.tpm == 500
    assert changed.limits.max_streams == 2  # what was not named stays
    assert await store.get_api_key(user.id) == changed
    assert await store.set_api_key_limits("nobody", {"rpm": 1}) is None
    with pytest.raises(ValueError, match="rpm"):
        await store.set_api_key_limits("app", {"rpm": -1})
    with pytest.raises(ValueError, match="budget_period"):
        await store.set_api_key_limits("app", {"budget_period": "week"})
    with pytest.raises(ValueError, match="not a limit"):
        await store.set_api_key_limits("app", {"is_admin": 1})
    assert await store.revoke_api_key(user.id) is True
    assert await store.set_api_key_limits(user.id, {"rpm": 5}) is None  # revoked: no more changes

    lines = [r.getMessage() for r in caplog.records if r.name == "llmrelay.keys"]
    assert [line.split(":")[0] for line in lines] == [
        "api key created",
        "api key created",
        "api key limits changed",
        "api key revoked",
    ]
    assert all(f"{user.prefix}…" in line for line in lines[1:])
    for secret in (admin_key, user_key):
        assert secret not in caplog.text and secret.removeprefix("sk-llmrelay-") not in caplog.text
    assert user_key not in await dump_all_rows(database_url)


async def test_usage_per_day_and_tokens_spent_per_owner(store: Store) -> None:
    key, _ = await store.create_api_key("team")
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    rows = [
        UsageRow(
            api_key_id=key.id,
            owner=key.owner,
            route="/v1/responses",
            model="a",
            input_tokens=3,
            output_tokens=4,
            created_at=yesterday,
        ),
        UsageRow(
            api_key_id=key.id,
            owner=key.owner,
            route="/api/chat",
            model="a",
            input_tokens=1,
            output_tokens=None,
            created_at=now,
        ),
        UsageRow(
            api_key_id=key.id,
            owner=key.owner,
            route="/api/chat",
            model="b",
            input_tokens=2,
            output_tokens=2,
            created_at=now,
        ),
        UsageRow(
            api_key_id=None,
            owner=env_key_owner("sk-env"),
            route="/api/chat",
            model="a",
            input_tokens=10,
            output_tokens=10,
            created_at=now,
        ),
    ]
    await store.record_usage_many(rows)

    assert await store.tokens_spent(key.owner) == 12
    assert await store.tokens_spent(key.owner, since=now - timedelta(seconds=5)) == 5
    assert await store.tokens_spent(env_key_owner("sk-env")) == 20
    assert await store.tokens_spent(BOB) == 0

    days = await store.usage_by_day()
    shown = [(d.day, d.key_name, d.model, d.requests, d.input_tokens, d.output_tokens) for d in days]
    today, before = now.date(), yesterday.date()
    assert (before, "team", "a", 1, 3, 4) in shown
    assert (today, "team", "a", 1, 1, 0) in shown
    assert (today, "team", "b", 1, 2, 2) in shown
    assert (today, None, "a", 1, 10, 10) in shown
    assert len(shown) == 4
    recent = await store.usage_by_day(since=today)
    assert all(d.day == today for d in recent) and len(recent) == 3
    assert await store.usage_by_day(since=date(2999, 1, 1)) == []


def _upgrade_to(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


async def test_the_migration_gives_existing_rows_an_owner(database_url: str) -> None:
    """Rows from before 0002: conversations (and their messages) go to the no-key tenant;
    responses and usage to the stored key that made them, else to the no-key tenant."""
    engine = create_async_engine(parse_url(database_url))
    old = datetime(2025, 6, 1, tzinfo=UTC)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_to, "0001")
            await conn.execute(
                _raw_insert("conversations", id="conv_old", title="old", created_at=old, updated_at=old)
            )
            await conn.execute(
                _raw_insert(
                    "messages",
                    id="msg_old",
                    conversation_id="conv_old",
                    position=0,
                    role="user",
                    content="hello",
                    status="complete",
                    created_at=old,
                )
            )
            await conn.execute(
                _raw_insert("api_keys", id="key_old", name="old", key_hash="0" * 64, created_at=old)
            )
            for rid, key_id in (("resp_keyed", "key_old"), ("resp_open", None)):
                await conn.execute(
                    _raw_insert(
                        "responses",
                        id=rid,
                        model="m",
                        input_json="[]",
                        output_text="",
                        status="completed",
                        api_key_id=key_id,
                        created_at=old,
                    )
                )
            await conn.execute(
                _raw_insert("usage", api_key_id="key_old", route="/v1/responses", model="m", created_at=old)
            )
            await conn.execute(
                _raw_insert("usage", api_key_id=None, route="/api/chat", model="m", created_at=old)
            )
    finally:
        await engine.dispose()

    upgraded = await Store.open(database_url)
    try:
        listed = await upgraded.list_conversations(NO_KEY_OWNER)
        assert [c.id for c in listed] == ["conv_old"]
        assert await upgraded.get_message(NO_KEY_OWNER, "msg_old") is not None
        assert await upgraded.get_response(Owner("key_old"), "resp_keyed") is not None
        assert await upgraded.get_response(NO_KEY_OWNER, "resp_open") is not None
        assert await upgraded.get_response(NO_KEY_OWNER, "resp_keyed") is None
        assert (await upgraded.get_api_key("key_old")) is not None
        old_key = await upgraded.get_api_key("key_old")
        assert old_key is not None and not old_key.is_admin and old_key.prefix is None
        assert old_key.limits == KeyLimits()
        by_owner = {(d.owner, d.api_key_id) for d in await upgraded.usage_by_day()}
        assert by_owner == {("key_old", "key_old"), ("nokey", None)}
        async with upgraded._engine.connect() as conn:
            kept = (await conn.execute(select(messages.c.id))).scalars().all()
        assert kept == ["msg_old"]  # nothing was rebuilt away (SQLite's table rebuild cascades)
    finally:
        await upgraded.close()


def _raw_insert(table: str, **values: object) -> Insert:
    """An INSERT into the 0001 schema: only the columns 0001 has are named (the typed columns of
    tables.py, so times are stored as the store stores them)."""
    return insert(metadata.tables[table]).values(**values)
