"""`n` answers to one request on /v1/chat/completions and /v1/completions, through the official
OpenAI SDK: on the scripted model, on the embedded model, and in front of the stand-in upstream
(one answer failing, the client leaving); the tokens of all n counted against a key's limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import openai
import pytest

from llmrelay.app import create_app
from llmrelay.limiter import InProcessLimiter
from llmrelay.providers.scripted import Script, ScriptedProvider, split_into_deltas
from llmrelay.store import KeyLimits, Store
from tests.support.clients import Relay, local_relay
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_openai import Script as FakeScript
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.upstream import serve_relay

REPLY = "one two three four"
USER = [{"role": "user", "content": "count"}]


@pytest.fixture(scope="module")
def scripted_url() -> Iterator[str]:
    # A pause before each delta: the n answers run at once, so their chunks interleave.
    provider = ScriptedProvider(Script(split_into_deltas(REPLY), delay_seconds=0.03), model="scripted")
    with serve(create_app(make_settings(), provider=provider)) as url:
        yield url


@pytest.fixture
def client(scripted_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{scripted_url}/v1", api_key="x", max_retries=0) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def local() -> Iterator[Relay]:
    with local_relay(max_output_tokens=24) as relay:
        yield relay


def test_n_streamed_chunks_carry_each_answers_index_interleaved_with_one_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="scripted", messages=USER, n=3, stream=True, stream_options={"include_usage": True}
        )
    )
    texts: dict[int, str] = {}
    finishes: dict[int, str] = {}
    order: list[int] = []
    for chunk in chunks[:-1]:
        (choice,) = chunk.choices
        assert chunk.usage is None
        if choice.delta.role:
            assert choice.delta.role == "assistant"
        texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
        if choice.delta.content:
            order.append(choice.index)
        if choice.finish_reason:
            assert choice.index not in finishes  # each answer ends once
            finishes[choice.index] = choice.finish_reason
    assert texts == {0: REPLY, 1: REPLY, 2: REPLY}
    assert finishes == {0: "stop", 1: "stop", 2: "stop"}
    assert order != sorted(order), "the answers' chunks should interleave as they come"
    # The last chunk: no choices, the usage of all three (each answer read the prompt).
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert (usage_chunk.usage.prompt_tokens, usage_chunk.usage.completion_tokens) == (3 * 1, 3 * 4)
    assert len({chunk.id for chunk in chunks}) == 1


def test_n_whole_gives_n_choices_and_their_summed_usage(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="scripted", messages=USER, n=2, max_tokens=3)
    assert [c.index for c in whole.choices] == [0, 1]
    assert [c.message.content for c in whole.choices] == ["one two three"] * 2
    assert [c.finish_reason for c in whole.choices] == ["length", "length"]
    assert whole.usage is not None
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens, whole.usage.total_tokens) == (2, 6, 8)
    one = client.chat.completions.create(model="scripted", messages=USER, n=1)
    assert len(one.choices) == 1 and one.choices[0].index == 0


def test_n_on_legacy_completions_streamed_and_whole(client: openai.OpenAI) -> None:
    whole = client.completions.create(model="scripted", prompt="Go", n=3, echo=True)
    assert [c.index for c in whole.choices] == [0, 1, 2]
    assert {c.text for c in whole.choices} == {"Go" + REPLY}
    assert whole.usage is not None and whole.usage.completion_tokens == 3 * 4
    texts: dict[int, str] = {}
    finishes: dict[int, str | None] = {}
    for chunk in client.completions.create(model="scripted", prompt="Go", n=2, stream=True):
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts == {0: REPLY, 1: REPLY} and finishes == {0: "stop", 1: "stop"}


@pytest.mark.model
def test_n_answers_on_the_embedded_model_streamed_and_whole(local: Relay) -> None:
    with openai.OpenAI(base_url=local.v1, api_key="x", max_retries=0) as sdk:
        ask = [{"role": "user", "content": "Name a colour."}]
        one = sdk.chat.completions.create(model=local.model, messages=ask, max_tokens=4)  # type: ignore[arg-type]
        assert one.usage is not None
        whole = sdk.chat.completions.create(
            model=local.model, messages=ask, max_tokens=6, n=3, temperature=1.2
        )  # type: ignore[arg-type]
        assert [c.index for c in whole.choices] == [0, 1, 2]
        assert all(c.message.content for c in whole.choices)
        assert all(c.finish_reason in ("stop", "length") for c in whole.choices)
        assert whole.usage is not None
        assert whole.usage.prompt_tokens == 3 * one.usage.prompt_tokens
        assert 3 <= whole.usage.completion_tokens <= 3 * 6

        texts: dict[int, str] = {}
        ends: dict[int, str] = {}
        usage = None
        stream = sdk.chat.completions.create(
            model=local.model,
            messages=ask,  # type: ignore[arg-type]
            max_tokens=6,
            n=2,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
                if choice.finish_reason:
                    ends[choice.index] = choice.finish_reason
        assert set(texts) == {0, 1} and all(texts.values())
        assert set(ends) == {0, 1}
        assert usage is not None and usage.prompt_tokens == 2 * one.usage.prompt_tokens


@pytest.mark.model
def test_with_a_seed_answer_i_is_the_one_seed_plus_i_gives(local: Relay) -> None:
    """n copies of one answer would not be n answers: choice i is sampled with seed + i."""
    with openai.OpenAI(base_url=local.v1, api_key="x", max_retries=0) as sdk:
        ask = [{"role": "user", "content": "Tell me a word."}]

        def answer(n: int, seed: int) -> list[str | None]:
            got = sdk.chat.completions.create(
                model=local.model,
                messages=ask,  # type: ignore[arg-type]
                max_tokens=6,
                n=n,
                seed=seed,
                temperature=1.5,
            )
            return [c.message.content for c in got.choices]

        both = answer(2, 41)
        assert both == answer(1, 41) + answer(1, 42)


def test_one_answer_failing_mid_stream_ends_the_stream_with_the_error_and_stops_the_other(
    fake: FakeOpenAI, fake_url: str
) -> None:
    with serve_relay("openai-compatible", fake_url, model="upstream-model") as url:
        fake.queue = [
            FakeScript(deltas=["tick "] * 100, delay_seconds=0.05),
            FakeScript(deltas=["a", "b", "c"], fail_after=2, delay_seconds=0.05),
        ]
        with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as sdk:
            stream = sdk.chat.completions.create(model="upstream-model", messages=USER, n=2, stream=True)
            with pytest.raises(openai.APIError) as raised:
                for _ in stream:
                    pass
            assert "error" in raised.value.message.lower()
        long = next(s for s in fake.streams if s.path == "/v1/chat/completions" and s.finished_at is None)
        asyncio.run(long.wait_disconnected(within=5))

        # Whole: the failure is the answer (a status, OpenAI's error body).
        fake.queue = [FakeScript(deltas=["fine"]), FakeScript(status=429)]
        with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as sdk:
            with pytest.raises(openai.RateLimitError):
                sdk.chat.completions.create(model="upstream-model", messages=USER, n=2)


def test_the_client_leaving_stops_every_answer(fake: FakeOpenAI, fake_url: str) -> None:
    with serve_relay("openai-compatible", fake_url, model="upstream-model") as url:
        fake.script = FakeScript(deltas=["tick "] * 200, delay_seconds=0.05)
        with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as sdk:
            stream = sdk.chat.completions.create(model="upstream-model", messages=USER, n=3, stream=True)
            for seen, _ in enumerate(stream):
                if seen == 6:
                    break
            stream.close()
        left_at = time.monotonic()
        upstream = [s for s in fake.streams if s.path == "/v1/chat/completions"]
        assert len(upstream) == 3  # three answers, three upstream generations
        for record in upstream:
            closed_at = asyncio.run(record.wait_disconnected(within=5))
            assert closed_at - left_at < 1.5
        # Each request carried the prompt as the client sent it; the upstream got no `n`.
        assert all("n" not in r.body for r in fake.requests)


def test_limits_count_the_tokens_of_all_n_answers() -> None:
    settings = make_settings()
    app = create_app(
        settings,
        provider=ScriptedProvider.replying("one two three"),
        limiter=InProcessLimiter(settings.default_limits(), window_seconds=30),
    )
    database = settings.database_url or ""

    async def make_key() -> str:
        store = await Store.open(database)
        try:
            return (await store.create_api_key("choices", limits=KeyLimits(tpm=10)))[1]
        finally:
            await store.close()

    async def spent() -> int:
        store = await Store.open(database, recover_interrupted=False)
        try:
            keys = {k.name: k for k in await store.list_api_keys()}
            return await store.tokens_spent(keys["choices"].owner)
        finally:
            await store.close()

    key = asyncio.run(make_key())
    with serve(app) as url, openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0) as sdk:
        ask = [{"role": "user", "content": "hi"}]
        # One answer with max_tokens=3 reserves 1 + 3 tokens; three of them 12, over 10 per minute.
        with pytest.raises(openai.RateLimitError) as raised:
            sdk.chat.completions.create(model="scripted", messages=ask, n=3, max_tokens=3)  # type: ignore[arg-type]
        assert "about 12 tokens" in raised.value.message
        # Two answers cost (1 + 3) each: 8 of the 10, settled when the last ends.
        whole = sdk.chat.completions.create(model="scripted", messages=ask, n=2)  # type: ignore[arg-type]
        assert whole.usage is not None and whole.usage.total_tokens == 8
        sdk.chat.completions.create(model="scripted", messages=ask, n=2)  # type: ignore[arg-type]  # reserves 2: fits
        with pytest.raises(openai.RateLimitError):
            sdk.chat.completions.create(model="scripted", messages=ask)  # type: ignore[arg-type]  # 16 spent
        deadline = time.monotonic() + 5
        while asyncio.run(spent()) < 16:  # each answer's usage row, written in batches
            assert time.monotonic() < deadline, "the usage of every answer should be recorded"
            time.sleep(0.1)
        assert asyncio.run(spent()) == 16
