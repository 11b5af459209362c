"""The `openai-compatible` backend (Chat Completions) against the wire-level stand-in.

The provider alone, as for the `openai` backend (test_openai.py); what holds for both backends
is in test_openai_sdk_backends.py and test_backends_end_to_end.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

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
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.upstream import KEY, TRICKY, ask, collect, serve_relay

MODEL = "qwen2.5-0.5b-instruct"


@pytest.fixture
async def provider(fake_url: str) -> AsyncIterator[ChatCompletionsProvider]:
    backend = ChatCompletionsProvider(
        api_key=KEY, base_url=f"{fake_url}/v1", model=MODEL, timeout=10, max_retries=0, max_tokens=64
    )
    yield backend
    await backend.aclose()


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


async def test_a_finished_stream_leaves_its_connection_reusable(
    fake: FakeOpenAI, provider: ChatCompletionsProvider
) -> None:
    # The body is read to its end after `data: [DONE]` (its last chunk follows it), so the
    # next answer skips a new connection (and, with a real upstream, a TLS handshake).
    await collect(provider.stream(ask()))
    await collect(provider.stream(ask()))
    first, second = fake.requests
    assert first.client_port is not None and first.client_port == second.client_port


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


async def test_a_whole_answer_through_llmrelay_is_streamed_from_the_upstream(
    fake: FakeOpenAI, fake_url: str
) -> None:
    # A client asks llmrelay for a whole (non-streamed) completion; llmrelay still streams from
    # the upstream (asking it for usage), joins the deltas, and reports the upstream's counts.
    fake.script = Script(deltas=["Whole", " answer"], input_tokens=11, output_tokens=7)
    with serve_relay("openai-compatible", fake_url, model=MODEL) as relay:
        async with openai.AsyncOpenAI(api_key="unused", base_url=f"{relay}/v1", max_retries=0) as client:
            completion = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )
    assert completion.choices[0].message.content == "Whole answer"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 7)
    [sent] = fake.requests
    assert sent.path == "/v1/chat/completions" and sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["messages"] == [{"role": "user", "content": "hi"}]
