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
from llmrelay.store import Store
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.sse_client import read_events

KEY = "sk-test-everywhere"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def keyed(database_url: str) -> Iterator[tuple[str, ScriptedProvider]]:
    provider = ScriptedProvider.replying("one two three")
    settings = make_settings(api_keys=KEY, database_url=database_url)
    with serve(create_app(settings, provider=provider)) as url:
        yield url, provider


@pytest.mark.parametrize(
    "method, path, body, with_key, asks_model",
    [
        ("GET", "/chat-complete?message=hi", None, 200, True),
        ("GET", "/chat-stream?message=hi", None, 200, True),
        ("POST", "/chat-stream", {"message": "hi"}, 200, True),
        ("POST", "/api/chat", {"message": "hi"}, 200, True),
        # These two never call a model: that they are guarded shows in the answer with the
        # key (the route's own 200 / 404), which the 401s without it never reached.
        ("GET", "/api/conversations", None, 200, False),
        ("POST", "/chat-stream/gen_x/cancel", None, 404, False),
    ],
)
def test_no_key_no_model(
    keyed: tuple[str, ScriptedProvider],
    method: str,
    path: str,
    body: object,
    with_key: int,
    asks_model: bool,
) -> None:
    url, provider = keyed
    response = httpx.request(method, f"{url}{path}", json=body)
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]
    wrong = httpx.request(method, f"{url}{path}", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "API key" in wrong.json()["detail"]
    assert provider.requests == []
    # The same request with the key gets past the guard to the route itself.
    allowed = httpx.request(method, f"{url}{path}", json=body, headers=AUTH)
    assert allowed.status_code == with_key
    if with_key == 404:
        assert "gen_x" in allowed.json()["detail"]
    assert len(provider.requests) == (1 if asks_model else 0)


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
