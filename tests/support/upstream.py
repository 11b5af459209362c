"""llmrelay in front of the OpenAI stand-in (tests.support.fake_openai), and how tests read it.

Shared by the provider tests and the end-to-end tests of both OpenAI-SDK backends. The stand-in
itself is one fixture, `fake` (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

from llmrelay.app import create_app
from llmrelay.providers.base import ChatMessage, GenerationRequest, ProviderEvent, note_requests_sent
from llmrelay.settings import Settings
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.servers import serve
from tests.support.settings import make_settings

KEY = "sk-test-llmrelay-5f3c9a0e7b1d4c2a"
# Deltas that break naive SSE framing: line breaks, leading spaces, field-like text, emoji.
TRICKY = (
    "Hello",
    " world",
    "\nline two\r\nline three\n",
    "  two leading spaces",
    " 🎉 emoji",
    "data: x",
    "event: end",
    ":comment",
    "\r",
    "id: 7\n\n",
)


def as_received(delta: str) -> str:
    """What any SSE client gets for `delta`: the format cannot carry a CR, so it becomes LF."""
    return delta.replace("\r\n", "\n").replace("\r", "\n")


def ask(text: str = "hi", **options: object) -> GenerationRequest:
    """A one-message request, as a provider receives it."""
    return GenerationRequest(messages=[ChatMessage("user", text)], **options)  # type: ignore[arg-type]


async def collect(events: AsyncIterator[ProviderEvent]) -> list[ProviderEvent]:
    return [event async for event in events]


async def requests_sent_while(events: AsyncIterator[ProviderEvent]) -> tuple[float, list[float]]:
    """Reads `events` in a task of its own, as a generation does: (when reading began, the times
    its HTTP client noted its requests as sent, providers.base.request_sent)."""
    sent: list[float] = []

    async def run() -> float:
        note_requests_sent(sent)
        before = time.perf_counter()
        await collect(events)
        return before

    return await asyncio.create_task(run()), sent


@contextlib.contextmanager
def serve_anthropic_relay(base_url: str, api_key: str, **values: object) -> Iterator[str]:
    """A real llmrelay whose upstream is the Anthropic stand-in at `base_url`; no retries
    (`values`: other settings)."""
    settings = make_settings(
        provider="anthropic",
        anthropic_api_key=api_key,
        anthropic_base_url=base_url,
        upstream_max_retries=0,
        upstream_timeout_seconds=10,
        **values,
    )
    with serve(create_app(settings)) as url:
        yield url


def relay_settings(provider: str, fake_url: str, **settings: object) -> Settings:
    """Settings of an llmrelay whose upstream is the fake (`provider` one of the two OpenAI-SDK
    kinds); no retries, so 429/500 tests are quick. `settings` override or add."""
    values: dict[str, object] = {
        "provider": provider,
        "openai_api_key": KEY,
        "openai_base_url": f"{fake_url}/v1",
        "upstream_max_retries": 0,
        "upstream_timeout_seconds": 10,
    }
    values.update(settings)
    return make_settings(**values)


@contextlib.contextmanager
def serve_relay(provider: str, fake_url: str, **settings: object) -> Iterator[str]:
    """A real llmrelay whose upstream is the fake (`relay_settings`), no detach grace."""
    with serve(
        create_app(relay_settings(provider, fake_url, **{"detach_grace_seconds": 0, **settings}))
    ) as url:
        yield url


async def read_stream(base: str, message: str) -> tuple[httpx.Response, list[ServerSentEvent]]:
    """GET /chat-stream as an SSE client would: the response, and its events if it is a stream."""
    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as client,
        aconnect_sse(client, "GET", "/chat-stream", params={"message": message}) as source,
    ):
        if source.response.status_code != 200:
            await source.response.aread()
            return source.response, []
        return source.response, [event async for event in source.aiter_sse()]


def texts(events: Sequence[ServerSentEvent]) -> list[str]:
    """The deltas of a tutorial stream: its unnamed events."""
    return [e.data for e in events if e.event == "message"]


async def assert_upstream_closes_when_client_leaves(fake: FakeOpenAI, relay: str, path: str) -> None:
    """Read two deltas of a slow answer, hang up, and see the upstream connection close."""
    fake.script = Script(deltas=["tick "] * 200, delay_seconds=0.1)
    async with (
        httpx.AsyncClient(base_url=relay, timeout=10) as client,
        aconnect_sse(client, "GET", "/chat-stream", params={"message": "count"}) as source,
    ):
        seen = 0
        async for event in source.aiter_sse():
            seen += event.event == "message"
            if seen == 2:
                break
    left_at = time.monotonic()
    (stream,) = [s for s in fake.streams if s.path == path]
    closed_at = await stream.wait_disconnected(within=5)
    assert closed_at - left_at < 1.0, f"the upstream stream stayed open {closed_at - left_at:.2f}s"
    assert stream.finished_at is None
