"""The `openai-compatible` backend (Chat Completions) against a wire-level stand-in.

Two levels, as for the `openai` backend: the provider alone, and a real llmrelay server with
`provider=openai-compatible` pointing at the stand-in, read by a real SSE client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest

from llmrelay.providers.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    ProviderError,
    ProviderEvent,
    TextDelta,
    Usage,
)
from llmrelay.providers.openai_sdk.chat import ChatCompletionsProvider
from tests.fake_openai import FakeOpenAI, Script
from tests.test_provider_openai import (
    KEY,
    TRICKY,
    collect,
    reset,
    serve_fake,
    serve_relay,
)

MODEL = "qwen2.5-0.5b-instruct"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[FakeOpenAI, str]]:
    with serve_fake() as served:
        yield served


@pytest.fixture
def fake(fake_server: tuple[FakeOpenAI, str]) -> FakeOpenAI:
    return reset(fake_server[0])


@pytest.fixture
async def provider(fake_server: tuple[FakeOpenAI, str]) -> AsyncIterator[ChatCompletionsProvider]:
    backend = ChatCompletionsProvider(
        api_key=KEY, base_url=f"{fake_server[1]}/v1", model=MODEL, timeout=10, max_retries=0, max_tokens=64
    )
    yield backend
    await backend.aclose()


@pytest.fixture(scope="module")
def relay(fake_server: tuple[FakeOpenAI, str]) -> Iterator[str]:
    with serve_relay("openai-compatible", fake_server[1], model=MODEL) as url:
        yield url


def ask(text: str = "hi", **options: object) -> GenerationRequest:
    return GenerationRequest(messages=[ChatMessage("user", text)], **options)  # type: ignore[arg-type]


# -- the provider ------------------------------------------------------------------------------


async def test_streams_the_deltas_then_usage_then_stop(
    fake: FakeOpenAI, provider: ChatCompletionsProvider
) -> None:
    fake.script = Script(deltas=TRICKY, input_tokens=21, output_tokens=9)
    events = await collect(provider.stream(ask()))
    # The role-only first chunk (content "") carries no text and is not passed on.
    assert events == [*(TextDelta(d) for d in TRICKY), Usage(21, 9), Finished("stop")]


async def test_sends_history_options_and_asks_for_usage(
    fake: FakeOpenAI, provider: ChatCompletionsProvider
) -> None:
    history = [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Name a colour."),
        ChatMessage("assistant", "Blue."),
        ChatMessage("user", "Another?"),
    ]
    request = GenerationRequest(messages=history, temperature=0.3, top_p=0.8, stop=["\n\n"], max_tokens=7)
    await collect(provider.stream(request))
    await collect(provider.stream(ask()))
    first, second = fake.requests
    assert first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.body["messages"] == [{"role": m.role, "content": m.content} for m in history]
    assert first.body["model"] == MODEL
    assert first.body["stream"] is True
    assert first.body["stream_options"] == {"include_usage": True}
    assert (first.body["max_tokens"], first.body["temperature"], first.body["top_p"]) == (7, 0.3, 0.8)
    assert first.body["stop"] == ["\n\n"]
    assert second.body["max_tokens"] == 64
    assert not {"temperature", "top_p", "stop"} & second.body.keys()


@pytest.mark.parametrize(
    ("reason", "finish"), [("max_output_tokens", "length"), ("content_filter", "content_filter")]
)
async def test_the_finish_reason_is_passed_on(
    fake: FakeOpenAI, provider: ChatCompletionsProvider, reason: str, finish: str
) -> None:
    fake.script = Script(deltas=["cut"], incomplete_reason=reason, input_tokens=3, output_tokens=1)
    events = await collect(provider.stream(ask()))
    assert events == [TextDelta("cut"), Usage(3, 1), Finished(finish)]  # type: ignore[arg-type]


async def test_an_error_chunk_mid_stream_raises_a_readable_error(
    fake: FakeOpenAI, provider: ChatCompletionsProvider
) -> None:
    fake.script = Script(deltas=["a", "b", "c"], fail_after=2, error_message="out of KV cache")
    got: list[ProviderEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for item in provider.stream(ask()):
            got.append(item)
    assert got == [TextDelta("a"), TextDelta("b")]
    assert caught.value.message == "The upstream failed while answering: out of KV cache"


async def test_the_fake_answers_non_streamed_requests_too(
    fake: FakeOpenAI, fake_server: tuple[FakeOpenAI, str]
) -> None:
    fake.script = Script(deltas=["Whole", " answer"])
    async with openai.AsyncOpenAI(api_key=KEY, base_url=f"{fake_server[1]}/v1", max_retries=0) as client:
        completion = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert completion.choices[0].message.content == "Whole answer"
    assert completion.usage is not None and completion.usage.completion_tokens == 2
