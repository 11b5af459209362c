"""With keys in force, every route that reaches a model needs one; usage is kept per key."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from llmrelay.store import NO_KEY_OWNER, Store
from tests.conftest import make_settings
from tests.servers import serve
from tests.sse_client import read_events

KEY = "sk-test-everywhere"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def keyed(database_url: str) -> Iterator[tuple[str, ScriptedProvider]]:
    provider = ScriptedProvider.replying("one two three")
    settings = make_settings(api_keys=KEY, database_url=database_url)
    with serve(create_app(settings, provider=provider)) as url:
        yield url, provider


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/chat-complete?message=hi", None),
        ("GET", "/chat-stream?message=hi", None),
        ("POST", "/chat-stream", {"message": "hi"}),
        ("POST", "/api/chat", {"message": "hi"}),
        ("GET", "/api/conversations", None),
        ("POST", "/chat-stream/gen_x/cancel", None),
    ],
)
def test_no_key_no_model(keyed: tuple[str, ScriptedProvider], method: str, path: str, body: object) -> None:
    url, provider = keyed
    response = httpx.request(method, f"{url}{path}", json=body)
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]
    wrong = httpx.request(method, f"{url}{path}", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert provider.requests == []


def test_open_routes_stay_open(keyed: tuple[str, ScriptedProvider]) -> None:
    url, _ = keyed
    assert httpx.get(f"{url}/").status_code == 200
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_with_the_key_everything_answers_and_usage_is_recorded(
    keyed: tuple[str, ScriptedProvider], database_url: str
) -> None:
    url, _ = keyed
    assert httpx.get(f"{url}/chat-complete", params={"message": "hi"}, headers=AUTH).json() == {
        "data": "one two three"
    }
    events = read_events(f"{url}/chat-stream", params={"message": "hi"}, headers=AUTH)
    assert events[-1].event == "end"
    chat = read_events(f"{url}/api/chat", method="POST", json={"message": "hi"}, headers=AUTH)
    assert json.loads(chat[-1].data) == {"finish_reason": "stop"}

    async def usage() -> list[tuple[str, int, int]]:
        store = await Store.open(database_url, recover_interrupted=False)
        try:
            async with store._engine.connect() as conn:  # the usage table, as recorded
                from sqlalchemy import select

                from llmrelay.store.tables import usage as usage_table

                rows = await conn.execute(
                    select(usage_table.c.route, usage_table.c.input_tokens, usage_table.c.output_tokens)
                )
                return sorted((r[0], r[1], r[2]) for r in rows)
        finally:
            await store.close()

    # Written in batches a fraction of a second after the answers end.
    expected = [("/api/chat", 1, 3), ("/chat-complete", 1, 3), ("/chat-stream", 1, 3)]
    deadline = time.monotonic() + 3
    while (rows := asyncio.run(usage())) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rows == expected


async def test_key_lookups_are_remembered_briefly(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under load the store is asked at most once per lookup memory, not per request."""
    from llmrelay.auth import KeyLookup

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


async def test_usage_rows_are_written_in_batches_and_flushed_on_close(database_url: str) -> None:
    from llmrelay.store import UsageRow
    from llmrelay.usage import UsageWriter

    store = await Store.open(database_url, recover_interrupted=False)
    try:
        writer = UsageWriter(store, interval=60, batch=100)
        writer.start()

        def add(count: int) -> None:
            for _ in range(count):
                writer.add(
                    UsageRow(
                        api_key_id=None,
                        owner=NO_KEY_OWNER,
                        route="/t",
                        model="m",
                        input_tokens=2,
                        output_tokens=1,
                    )
                )

        async def written() -> int:
            totals = await store.usage_by_key()
            return int(totals[-1]["requests"]) if totals else 0

        add(50)  # below a batch: waits for the interval (60 s here)
        await asyncio.sleep(0.3)
        assert await written() == 0
        add(60)  # a full batch is there: written now, with the rows before it
        await asyncio.sleep(0.3)
        assert await written() == 110
        add(5)
        await writer.aclose()  # what is left is written on close
        assert await written() == 115
    finally:
        await store.close()
