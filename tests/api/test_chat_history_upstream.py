"""History reaches the upstream: the stand-in OpenAI server records what each turn sent."""

from __future__ import annotations

import json

import pytest

from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.sse_client import read_events
from tests.support.upstream import serve_relay


def chat(url: str, message: str, conversation_id: str | None = None) -> dict[str, str]:
    body = {"message": message, **({"conversation_id": conversation_id} if conversation_id else {})}
    events = read_events(f"{url}/api/chat", method="POST", json=body)
    assert events[-1].event == "end", events
    start: dict[str, str] = json.loads(events[0].data)
    return start


@pytest.mark.parametrize(
    "provider, path, field",
    [("openai", "/v1/responses", "input"), ("openai-compatible", "/v1/chat/completions", "messages")],
)
def test_the_second_turn_sends_the_first(
    fake: FakeOpenAI, fake_url: str, provider: str, path: str, field: str, database_url: str
) -> None:
    extra = {"model": "upstream-model"} if provider == "openai-compatible" else {}
    with serve_relay(provider, fake_url, database_url=database_url, **extra) as url:
        fake.script = Script(deltas=["Nice to meet you,", " Ada."])
        first = chat(url, "My name is Ada.")
        fake.script = Script(deltas=["Your name is Ada."])
        chat(url, "What is my name?", first["conversation_id"])
    bodies = [r.body for r in fake.requests if r.path == path]
    assert len(bodies) == 2
    sent = [(m["role"], m["content"]) for m in bodies[1][field]]
    assert sent == [
        ("user", "My name is Ada."),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "What is my name?"),
    ]
    assert bodies[1]["stream"] is True
