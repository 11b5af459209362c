"""llmrelay.auth in-process: key lookups, against a real store (SQLite and PostgreSQL).

Keys enforced over HTTP: tests/api/test_keys.py and tests/api/openai/test_keys.py.
"""

from __future__ import annotations

import pytest

from llmrelay.auth import KeyLookup
from llmrelay.store import Store


async def test_key_lookups_are_remembered_briefly(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under load the store is asked at most once per lookup memory, not per request."""
    store = await Store.open(database_url, recover_interrupted=False)
    try:
        record, key = await store.create_api_key("load")
        calls = {"find": 0, "list": 0}
        find, listed = store.find_api_key, store.list_api_keys

        async def counting_find(token: str):  # type: ignore[no-untyped-def]
            calls["find"] += 1
            return await find(token)

        async def counting_list():  # type: ignore[no-untyped-def]
            calls["list"] += 1
            return await listed()

        monkeypatch.setattr(store, "find_api_key", counting_find)
        monkeypatch.setattr(store, "list_api_keys", counting_list)
        lookup = KeyLookup(store, ttl_seconds=60)
        for _ in range(1000):
            caller = await lookup.caller(key)
            assert caller is not None and caller.key_id == record.id
            assert await lookup.caller("sk-llmrelay-made-up") is None
            assert await lookup.any_key()
        assert calls == {"find": 2, "list": 1}
        expired = KeyLookup(store, ttl_seconds=0)
        await expired.caller(key)
        await expired.caller(key)
        assert calls["find"] == 4
    finally:
        await store.close()
