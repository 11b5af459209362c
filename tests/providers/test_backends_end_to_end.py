"""End to end through a real llmrelay, for both OpenAI-SDK backends against the stand-in server.

The same promises hold for `openai` (Responses API) and `openai-compatible` (Chat Completions):
deltas arrive exactly, upstream failures become statuses or `error` then `end`, a client that
leaves closes the upstream, and the key never reaches a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from llmrelay.providers.openai_sdk.upstream_errors import CLOSED_EARLY
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.upstream import (
    KEY,
    TRICKY,
    as_received,
    assert_upstream_closes_when_client_leaves,
    read_stream,
    serve_relay,
    texts,
)


@dataclass(frozen=True)
class Backend:
    provider: str
    path: str  # the upstream endpoint it calls
    history_field: str  # where the conversation goes in its request body
    settings: tuple[tuple[str, str], ...] = ()


BACKENDS = [
    Backend("openai", "/v1/responses", "input"),
    Backend("openai-compatible", "/v1/chat/completions", "messages", (("model", "qwen2.5-0.5b-instruct"),)),
]


@pytest.fixture(scope="module", params=BACKENDS, ids=[b.provider for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def relay(backend: Backend, fake_upstream: tuple[FakeOpenAI, str]) -> Iterator[str]:
    """A real llmrelay in front of the session's stand-in (tests take `fake` to script it)."""
    with serve_relay(backend.provider, fake_upstream[1], **dict(backend.settings)) as url:
        yield url


async def test_chat_stream_reproduces_the_upstream_deltas_exactly(
    fake: FakeOpenAI, relay: str, backend: Backend
) -> None:
    fake.script = Script(deltas=TRICKY)
    response, events = await read_stream(relay, "tell me something tricky")
    assert response.status_code == 200
    assert [e.event for e in events[:1] + events[-1:]] == ["start", "end"]
    assert texts(events) == [as_received(d) for d in TRICKY]
    assert all(e.id for e in events)
    assert fake.requests[-1].body[backend.history_field] == [
        {"role": "user", "content": "tell me something tricky"}
    ]


async def test_chat_complete_returns_the_joined_text(fake: FakeOpenAI, relay: str, backend: Backend) -> None:
    fake.script = Script(deltas=["The", " whole", " 🎉 answer\n"])
    async with httpx.AsyncClient(base_url=relay, timeout=10) as client:
        response = await client.get("/chat-complete", params={"message": "hi"})
    assert response.status_code == 200
    assert response.json() == {"data": "The whole 🎉 answer\n"}


@pytest.mark.parametrize(("upstream", "ours"), [(401, 502), (429, 429), (500, 502)])
async def test_upstream_http_errors_become_statuses(
    fake: FakeOpenAI, relay: str, upstream: int, ours: int, caplog: pytest.LogCaptureFixture, backend: Backend
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.script = Script(status=upstream)
    response, events = await read_stream(relay, "hi")
    assert (response.status_code, events) == (ours, [])
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    assert KEY not in detail and "sk-" not in detail
    assert KEY not in caplog.text


async def test_a_failure_mid_stream_is_an_error_event_then_end(
    fake: FakeOpenAI, relay: str, backend: Backend
) -> None:
    fake.script = Script(deltas=["one", " two", " three"], fail_after=2, error_message="the model crashed")
    response, events = await read_stream(relay, "hi")
    assert response.status_code == 200
    assert [(e.event, e.data) for e in events[1:]] == [
        ("message", "one"),
        ("message", " two"),
        ("error", "The upstream failed while answering: the model crashed"),
        ("end", "[END]"),
    ]


async def test_a_dropped_upstream_connection_is_an_error_event_then_end(
    fake: FakeOpenAI, relay: str, backend: Backend
) -> None:
    fake.script = Script(deltas=["one", " two", " three"], drop_after=2)
    response, events = await read_stream(relay, "hi")
    assert response.status_code == 200
    assert [(e.event, e.data) for e in events[1:]] == [
        ("message", "one"),
        ("message", " two"),
        ("error", CLOSED_EARLY),
        ("end", "[END]"),
    ]


async def test_a_client_that_leaves_closes_the_upstream_within_a_second(
    fake: FakeOpenAI, relay: str, backend: Backend
) -> None:
    await assert_upstream_closes_when_client_leaves(fake, relay, backend.path)


async def test_the_key_never_reaches_the_logs(
    fake: FakeOpenAI, relay: str, caplog: pytest.LogCaptureFixture, backend: Backend
) -> None:
    caplog.set_level(logging.DEBUG)
    for script in (
        Script(),
        Script(status=401),
        Script(deltas=["a", "b"], fail_after=1),
        Script(drop_after=1),
    ):
        fake.script = script
        await read_stream(relay, "hi")
    assert len(fake.requests) == 4
    assert "finished: reason=" in caplog.text  # the generations were logged, and captured
    assert KEY not in caplog.text
    for record in caplog.records:
        assert KEY not in record.getMessage()
