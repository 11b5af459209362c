"""Keys as tenants, across every route: another tenant's id is 404 (as a missing one), and nothing
of it changes.

The routes are not listed here: the test walks the app's own routes, finds those with path
parameters and fills each parameter with one of Alice's ids, so a route added later is covered
without editing this file (a parameter nobody has classified below fails the test, on purpose).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from llmrelay.store import Store
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.sse_client import read_events

ENV_KEY = "sk-bob-from-the-environment-0123456789"
# A long answer, slowly: it is still running while the other tenants try it.
REPLY = " ".join(f"word{i}" for i in range(60))

# What each path parameter names, as one of Alice's ids; parameters naming what nobody owns.
UNOWNED_PARAMS = {"model"}  # /v1/models/{model}: the server's models, the same for everyone


@dataclass
class Alice:
    key: str
    key_id: str
    conversation_id: str
    user_message_id: str
    message_id: str  # her answer, still running
    generation_id: str  # her /chat-stream answer, still running
    response_id: str

    def ids(self) -> dict[str, str]:
        return {
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "generation_id": self.generation_id,
            "response_id": self.response_id,
            "key_id": self.key_id,
        }


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _keys(url: str) -> dict[str, tuple[str, str]]:
    store = await Store.open(url)
    try:
        made = {}
        for name in ("alice", "carol"):
            record, plain = await store.create_api_key(name)
            made[name] = (record.id, plain)
        return made
    finally:
        await store.close()


@pytest.fixture
def tenants() -> Iterator[tuple[str, FastAPI, dict[str, tuple[str, str]], str]]:
    settings = make_settings(
        api_keys=ENV_KEY, detach_grace_seconds=60, stream_retention_seconds=300, scripted_delay_seconds=0
    )
    keys = asyncio.run(_keys(settings.database_url or ""))
    app = create_app(settings, provider=ScriptedProvider.replying(REPLY, delay_seconds=0.1))
    with serve(app) as url:
        yield url, app, keys, settings.database_url or ""


def _alice(url: str, key: str, key_id: str) -> Alice:
    started = read_events(
        f"{url}/api/chat", method="POST", json={"message": "my secret plan"}, headers=auth(key), limit=2
    )
    start = json.loads(started[0].data)
    tutorial = read_events(f"{url}/chat-stream", params={"message": "hello"}, headers=auth(key), limit=2)
    generation_id = tutorial[0].id.rsplit(".", 1)[0]
    with openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0) as client:
        response = client.responses.create(model="scripted", input="remember this", max_output_tokens=3)
    return Alice(
        key=key,
        key_id=key_id,
        conversation_id=start["conversation_id"],
        user_message_id=start["user_message_id"],
        message_id=start["message_id"],
        generation_id=generation_id,
        response_id=response.id,
    )


def _routes_with_ids(app: FastAPI) -> list[tuple[str, str, list[str]]]:
    """(method, path template, path parameters) of every route with a path parameter.

    Read from the app's OpenAPI description, which FastAPI builds from its routes (with
    FastAPI 0.165 `app.routes` holds included routers, whose routes are private): every route
    of ours is in it, and the admin router too."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            if params:
                found.append((method.upper(), path, params))
    return sorted(found)


BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/conversations/{conversation_id}"): {"title": "taken over"},
    ("PATCH", "/admin/keys/{key_id}"): {"rpm": 1},
}


def _snapshot(url: str, alice: Alice) -> dict[str, Any]:
    """What Alice sees of her things (not a generation's progress: that moves on its own)."""
    conversation = httpx.get(f"{url}/api/conversations/{alice.conversation_id}", headers=auth(alice.key))
    assert conversation.status_code == 200
    body = conversation.json()
    response = httpx.get(f"{url}/v1/responses/{alice.response_id}", headers=auth(alice.key))
    assert response.status_code == 200
    return {
        "title": body["title"],
        "messages": [m["id"] for m in body["messages"]],
        "listed": [c["id"] for c in httpx.get(f"{url}/api/conversations", headers=auth(alice.key)).json()],
        "response": response.json()["output"],
    }


def test_another_tenants_ids_are_404_on_every_route_and_change_nothing(
    tenants: tuple[str, FastAPI, dict[str, tuple[str, str]], str],
) -> None:
    url, app, keys, database = tenants
    alice = _alice(url, keys["alice"][1], keys["alice"][0])
    before = _snapshot(url, alice)
    routes = _routes_with_ids(app)
    assert {path for _, path, _ in routes} >= {
        "/api/conversations/{conversation_id}",
        "/api/messages/{message_id}/events",
        "/api/messages/{message_id}/cancel",
        "/chat-stream/{generation_id}/cancel",
        "/v1/responses/{response_id}",
        "/admin/keys/{key_id}",
    }
    ids = alice.ids()
    # Bob holds an LLMRELAY_API_KEYS key, Carol a stored one: both are tenants of their own.
    for intruder in (ENV_KEY, keys["carol"][1]):
        for method, path, params in routes:
            unknown = set(params) - set(ids) - UNOWNED_PARAMS
            assert not unknown, f"{path}: say whose id {unknown} is (ids or UNOWNED_PARAMS above)"
            if set(params) & UNOWNED_PARAMS:
                continue
            target = path.format(**{p: ids[p] for p in params})
            answer = httpx.request(
                method, f"{url}{target}", json=BODIES.get((method, path)), headers=auth(intruder), timeout=30
            )
            assert answer.status_code == 404, (method, target, answer.status_code, answer.text)
            # The same as for an id that does not exist: nothing in the answer tells them apart.
            missing = path.format(**{p: ids[p][:-4] + "0000" for p in params})
            unknown_answer = httpx.request(
                method, f"{url}{missing}", json=BODIES.get((method, path)), headers=auth(intruder), timeout=30
            )
            assert unknown_answer.status_code == 404
            fake = ids[params[0]][:-4] + "0000"
            assert answer.text.replace(ids[params[0]], "ID") == unknown_answer.text.replace(fake, "ID")

        # Routes that take an id elsewhere than the path.
        chat = httpx.post(
            f"{url}/api/chat",
            json={"message": "continue it", "conversation_id": alice.conversation_id},
            headers=auth(intruder),
        )
        assert chat.status_code == 404
        resume = httpx.get(
            f"{url}/chat-stream", headers={**auth(intruder), "Last-Event-ID": f"{alice.generation_id}.1"}
        )
        assert resume.status_code == 204  # exactly what an answer the server does not have gives
        after = httpx.get(
            f"{url}/api/messages/{alice.message_id}/events", params={"after": 1}, headers=auth(intruder)
        )
        assert after.status_code == 404
        with openai.OpenAI(base_url=f"{url}/v1", api_key=intruder, max_retries=0) as client:
            with pytest.raises(openai.BadRequestError) as raised:
                client.responses.create(
                    model="scripted", input="and then?", previous_response_id=alice.response_id
                )
            assert raised.value.code == "previous_response_not_found"
            with pytest.raises(openai.NotFoundError):
                client.responses.retrieve(alice.response_id)
        assert httpx.get(f"{url}/api/conversations", headers=auth(intruder)).json() == []

    # Alice's things are as they were, and her answers ran to their end, uncancelled.
    assert _snapshot(url, alice) == before
    assert before["title"] == "my secret plan" and before["listed"] == [alice.conversation_id]
    answer = read_events(f"{url}/api/messages/{alice.message_id}/events", headers=auth(alice.key))
    assert json.loads(answer[-1].data) == {"finish_reason": "stop"}
    tutorial = read_events(
        f"{url}/chat-stream", headers={**auth(alice.key), "Last-Event-ID": f"{alice.generation_id}.1"}
    )
    assert tutorial[-1].event == "end" and not any(e.event == "error" for e in tutorial)
    # Nor did PATCH /admin/keys/{id} from keys that are not admin keys.
    assert asyncio.run(_key_limits(database))[alice.key_id] is None


async def _key_limits(url: str) -> dict[str, int | None]:
    store = await Store.open(url, recover_interrupted=False)
    try:
        return {k.id: k.limits.rpm for k in await store.list_api_keys()}
    finally:
        await store.close()
