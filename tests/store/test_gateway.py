"""The gateway's tables (API keys, usage, /v1/responses) on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from llmrelay.store import (
    NO_KEY_OWNER,
    ResponseRecord,
    Store,
)
from tests.support.databases import dump_all_rows


async def test_api_keys_are_stored_as_hashes_found_by_key_and_refused_once_revoked(
    store: Store, database_url: str
) -> None:
    ci, ci_key = await store.create_api_key("ci")
    laptop, laptop_key = await store.create_api_key("laptop")
    assert ci_key.startswith("sk-llmrelay-") and len(ci_key) > 40 and ci_key != laptop_key
    assert ci.id.startswith("key_") and not ci.revoked

    # Nothing in the database gives the key back: not the key, not its secret part.
    rows = await dump_all_rows(database_url)
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
        api_key_id=team.id,
        owner=team.owner,
        route="/v1/responses",
        model="m",
        input_tokens=10,
        output_tokens=5,
    )
    await store.record_usage(
        api_key_id=team.id,
        owner=team.owner,
        route="/v1/chat/completions",
        model="m",
        input_tokens=7,
        output_tokens=None,
    )
    await store.record_usage(
        api_key_id=None, owner=NO_KEY_OWNER, route="/api/chat", model="m", input_tokens=1, output_tokens=2
    )
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
        owner=key.owner,
    )
    assert first.id.startswith("resp_") and first.created_at.tzinfo is not None
    await store.save_response(first)
    follow_up = ResponseRecord(
        previous_response_id=first.id,
        model="gpt-4o-mini",
        input_json=json.dumps([{"role": "user", "content": "Again"}]),
        output_text="",
        status="in_progress",
        owner=key.owner,
    )
    await store.save_response(follow_up)

    got = await store.get_response(key.owner, first.id)
    assert got == first
    assert got is not None and json.loads(got.input_json) == messages
    assert await store.get_response(key.owner, "resp_nope") is None

    finished = dataclasses.replace(follow_up, output_text="Hi again!", status="completed", output_tokens=3)
    await store.save_response(finished)
    assert await store.get_response(key.owner, follow_up.id) == finished
