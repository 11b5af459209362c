"""The `openai` backend (Responses API) against the wire-level stand-in for OpenAI.

Mostly the provider alone (its events, what it sends, how it fails and stops); what holds for
both OpenAI-SDK backends is in test_openai_sdk_backends.py, and a real llmrelay in front of
them in test_backends_end_to_end.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

import openai
import pytest

from llmrelay.providers.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    ProviderError,
    ProviderEvent,
    TextDelta,
    UpstreamTimeout,
    UpstreamUnavailable,
    Usage,
)
from llmrelay.providers.openai_sdk.responses import ResponsesProvider
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.servers import free_socket
from tests.support.upstream import KEY, TRICKY, ask, collect, serve_relay


@pytest.fixture
async def provider(fake_url: str) -> AsyncIterator[ResponsesProvider]:
    backend = ResponsesProvider(
        api_key=KEY, base_url=f"{fake_url}/v1", model="gpt-4o-mini", timeout=10, max_retries=0, max_tokens=64
    )
    yield backend
    await backend.aclose()


# -- the provider ------------------------------------------------------------------------------


async def test_streams_the_deltas_then_usage_then_stop(fake: FakeOpenAI, provider: ResponsesProvider) -> None:
    fake.script = Script(deltas=TRICKY, input_tokens=21, output_tokens=9)
    events = await collect(provider.stream(ask()))
    assert events == [*(TextDelta(d) for d in TRICKY), Usage(21, 9), Finished("stop")]


async def test_sends_the_history_as_a_message_list(fake: FakeOpenAI, provider: ResponsesProvider) -> None:
    history = [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Name a colour."),
        ChatMessage("assistant", "Blue."),
        ChatMessage("user", "Another?"),
    ]
    await collect(provider.stream(GenerationRequest(messages=history, temperature=0.2, top_p=0.9)))
    await collect(provider.stream(ask("plain", max_tokens=5, model="gpt-4.1-nano")))
    first, second = fake.requests
    assert first.path == "/v1/responses"
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.body["input"] == [{"role": m.role, "content": m.content} for m in history]
    assert first.body["model"] == "gpt-4o-mini"
    assert first.body["stream"] is True
    assert first.body["max_output_tokens"] == 64
    assert (first.body["temperature"], first.body["top_p"]) == (0.2, 0.9)
    assert (second.body["model"], second.body["max_output_tokens"]) == ("gpt-4.1-nano", 5)
    assert "temperature" not in second.body and "top_p" not in second.body


async def test_a_finished_stream_leaves_its_connection_reusable(
    fake: FakeOpenAI, provider: ResponsesProvider
) -> None:
    # The body is read to its end after response.completed, so the next answer skips a
    # new connection (and, with OpenAI, a TLS handshake).
    await collect(provider.stream(ask()))
    await collect(provider.stream(ask()))
    first, second = fake.requests
    assert first.client_port is not None and first.client_port == second.client_port


@pytest.mark.parametrize(
    ("reason", "finish"), [("max_output_tokens", "length"), ("content_filter", "content_filter")]
)
async def test_an_incomplete_response_says_why(
    fake: FakeOpenAI, provider: ResponsesProvider, reason: str, finish: str
) -> None:
    fake.script = Script(deltas=["cut", " short"], incomplete_reason=reason, input_tokens=3, output_tokens=2)
    events = await collect(provider.stream(ask()))
    assert events == [TextDelta("cut"), TextDelta(" short"), Usage(3, 2), Finished(finish)]  # type: ignore[arg-type]


@pytest.mark.parametrize("event", ["response.failed", "error"])
async def test_a_failure_event_mid_stream_raises_a_readable_error(
    fake: FakeOpenAI, provider: ResponsesProvider, event: Literal["response.failed", "error"]
) -> None:
    fake.script = Script(
        deltas=["a", "b", "c"], fail_after=2, failure_event=event, error_message="GPU on fire"
    )
    got: list[ProviderEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for item in provider.stream(ask()):
            got.append(item)
    assert got == [TextDelta("a"), TextDelta("b")]
    assert caught.value.message == "The upstream failed while answering: GPU on fire"


async def test_an_unreachable_upstream_is_503_and_its_url_shows_no_credentials() -> None:
    with free_socket() as sock:  # bound, never listening: connections are refused
        port = sock.getsockname()[1]
        backend = ResponsesProvider(
            api_key=KEY,
            base_url=f"http://proxyuser:hunter2@127.0.0.1:{port}/v1",
            model="m",
            timeout=5,
            max_retries=0,
            max_tokens=8,
        )
        with pytest.raises(UpstreamUnavailable) as caught:
            await collect(backend.stream(ask()))
        await backend.aclose()
    assert caught.value.status == 503
    assert caught.value.message == f"Could not connect to the upstream API at http://127.0.0.1:{port}."
    assert backend.info.extra["base_url"] == f"http://127.0.0.1:{port}/v1"


async def test_a_silent_upstream_times_out(fake: FakeOpenAI, fake_url: str) -> None:
    fake.script = Script(deltas=["late"], delay_seconds=3)
    backend = ResponsesProvider(
        api_key=KEY, base_url=f"{fake_url}/v1", model="m", timeout=0.3, max_retries=0, max_tokens=8
    )
    with pytest.raises(UpstreamTimeout) as caught:
        await collect(backend.stream(ask()))
    await backend.aclose()
    assert caught.value.status == 504


def test_count_tokens_is_a_rough_estimate(provider: ResponsesProvider) -> None:
    assert provider.count_tokens("") == 0
    assert provider.count_tokens("four score and seven years ago") == 8
    assert provider.info.name == "openai" and provider.info.model == "gpt-4o-mini"


async def test_a_whole_answer_through_llmrelay_is_streamed_from_the_upstream(
    fake: FakeOpenAI, fake_url: str
) -> None:
    # A client asks llmrelay for a whole (non-streamed) response; llmrelay still streams from
    # the upstream, joins the deltas, and reports the upstream's own token counts.
    fake.script = Script(deltas=["Whole", " answer"], input_tokens=11, output_tokens=7)
    with serve_relay("openai", fake_url) as relay:
        async with openai.AsyncOpenAI(api_key="unused", base_url=f"{relay}/v1", max_retries=0) as client:
            response = await client.responses.create(model="gpt-4o-mini", input="hi")
    assert response.output_text == "Whole answer"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)
    [sent] = fake.requests
    assert sent.path == "/v1/responses" and sent.body["stream"] is True
    assert sent.body["input"] == [{"role": "user", "content": "hi"}]
