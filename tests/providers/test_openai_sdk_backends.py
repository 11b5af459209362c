"""What holds for both OpenAI-SDK backends at provider level: closing the stream or cancelling
its consumer closes the upstream connection within a second, a stream cut short raises instead
of hanging, and HTTP errors become the matching `ProviderError`, never with the key."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from llmrelay.providers.base import (
    BadGenerationRequest,
    ProviderError,
    ProviderEvent,
    TextDelta,
    UpstreamAuthError,
    UpstreamRateLimited,
)
from llmrelay.providers.openai_sdk.chat import ChatCompletionsProvider
from llmrelay.providers.openai_sdk.client import OpenAISDKProvider
from llmrelay.providers.openai_sdk.responses import ResponsesProvider
from llmrelay.providers.openai_sdk.upstream_errors import CLOSED_EARLY
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.upstream import KEY, ask, collect, requests_sent_while


# Both HTTP transports: aiohttp (the default) and httpx2's own (an upstream URL with credentials).
@pytest.fixture(
    params=[
        (ResponsesProvider, "aiohttp"),
        (ChatCompletionsProvider, "aiohttp"),
        (ResponsesProvider, "httpx"),
        (ChatCompletionsProvider, "httpx"),
    ],
    ids=["openai", "openai-compatible", "openai-httpx", "openai-compatible-httpx"],
)
async def provider(request: pytest.FixtureRequest, fake_url: str) -> AsyncIterator[OpenAISDKProvider]:
    kind, transport = request.param
    backend = kind(
        api_key=KEY,
        base_url=f"{fake_url}/v1",
        model="m",
        timeout=10,
        max_retries=0,
        max_tokens=64,
        transport=transport,
    )
    assert backend.transport == transport
    yield backend
    await backend.aclose()


@pytest.mark.parametrize(
    "script", [Script(deltas=["a", "b"], drop_after=1), Script(deltas=["a", "b"], end_after=1)]
)
async def test_a_stream_cut_short_raises_instead_of_hanging(
    fake: FakeOpenAI, provider: OpenAISDKProvider, script: Script
) -> None:
    fake.script = script
    got: list[ProviderEvent] = []
    with pytest.raises(ProviderError) as caught:
        async with asyncio.timeout(5):
            async for item in provider.stream(ask()):
                got.append(item)
    assert got == [TextDelta("a")]
    assert caught.value.message == CLOSED_EARLY


@pytest.mark.parametrize(
    ("status", "error", "http"),
    [
        (401, UpstreamAuthError, 502),
        (403, UpstreamAuthError, 502),
        (429, UpstreamRateLimited, 429),
        (500, ProviderError, 502),
        (400, BadGenerationRequest, 400),
    ],
)
async def test_http_errors_become_provider_errors(
    fake: FakeOpenAI, provider: OpenAISDKProvider, status: int, error: type[ProviderError], http: int
) -> None:
    fake.script = Script(status=status)
    with pytest.raises(error) as caught:
        await collect(provider.stream(ask()))
    assert type(caught.value) is error
    assert caught.value.status == http
    assert KEY not in caught.value.message and "sk-" not in caught.value.message
    if status in (401, 403):
        assert "rejected llmrelay's key" in caught.value.message
    if status == 400:  # the upstream's reason is the useful part
        assert "Invalid value for 'temperature'" in caught.value.message


async def test_closing_the_stream_closes_the_upstream_connection(
    fake: FakeOpenAI, provider: OpenAISDKProvider
) -> None:
    fake.script = Script(deltas=["x"] * 100, delay_seconds=0.1)
    events = provider.stream(ask())
    assert await anext(events) == TextDelta("x")
    closed_at = time.monotonic()
    await events.aclose()
    gone = await fake.streams[-1].wait_disconnected(within=5)
    assert gone - closed_at < 1.0


async def test_cancelling_the_consumer_closes_the_upstream_connection(
    fake: FakeOpenAI, provider: OpenAISDKProvider
) -> None:
    fake.script = Script(deltas=["x"] * 100, delay_seconds=0.1)
    first = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(provider.stream(ask())) as events:
            async for _ in events:
                first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gone = await fake.streams[-1].wait_disconnected(within=5)
    assert gone - cancelled_at < 1.0


def test_an_upstream_url_with_credentials_is_sent_through_httpx2() -> None:
    """aiohttp refuses credentials in the URL beside the SDK's Authorization header."""
    backend = ChatCompletionsProvider(
        api_key=KEY,
        base_url="http://user:pw@127.0.0.1:9/v1",
        model="m",
        timeout=1,
        max_retries=0,
        max_tokens=8,
    )
    assert backend.transport == "httpx"
    plain = ChatCompletionsProvider(
        api_key=KEY, base_url="http://127.0.0.1:9/v1", model="m", timeout=1, max_retries=0, max_tokens=8
    )
    assert plain.transport == "aiohttp"


async def test_the_client_says_when_its_request_was_sent(
    fake: FakeOpenAI, provider: OpenAISDKProvider
) -> None:
    """The HTTP client's request hook notes the sending in the running stream's task: what the
    SDK did before it is llmrelay's own time (overhead.py), the wait after it the upstream's."""
    fake.script = Script(deltas=["a"])
    before, sent = await requests_sent_while(provider.stream(ask()))
    assert len(sent) == 1 and sent[0] > before
