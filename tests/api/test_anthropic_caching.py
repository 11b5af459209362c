"""Prompt caching on /v1/messages, end to end: the official `anthropic` SDK as the client of an
llmrelay in front of the wire-level Anthropic stand-in. A `cache_control` put on a system block,
a message's block or a tool reaches Anthropic on exactly that block; the cache counts Anthropic
reports come back (messages.create, messages.stream()), and an OpenAI client of the same relay
sees them as OpenAI does (`prompt_tokens` every input token, `cached_tokens` the read ones), as
do the key's counts (/metrics); an OpenAI upstream's cached tokens come through the same way.
On a model with no prompt cache, `cache_control` is accepted
and the answer is the usual one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmrelay.app import create_app
from llmrelay.providers.base import TextPart, Tool, ToolCall
from llmrelay.providers.scripted import Script as ScriptedScript
from llmrelay.providers.scripted import ScriptedProvider, split_into_deltas
from tests.support.fake_anthropic import FakeAnthropic, Script
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_openai import Script as OpenAIScript
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.upstream import serve_anthropic_relay, serve_relay

KEY = "sk-ant-api03-caching-test-9f8e7d6c5b"
MODEL = "claude-haiku-4-5"
EPHEMERAL: Any = {"type": "ephemeral"}
HOUR: Any = {"type": "ephemeral", "ttl": "1h"}
SYSTEM: Any = [
    {"type": "text", "text": "You are a weather assistant."},
    {"type": "text", "text": "Long, stable instructions…", "cache_control": HOUR},
    {"type": "text", "text": "Today is Tuesday."},
]
WEATHER: Any = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME: Any = {
    "name": "get_time",
    "input_schema": {"type": "object", "properties": {}},
    "cache_control": EPHEMERAL,
}
HISTORY: Any = [
    {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {
                "type": "tool_use",
                "id": "toolu_01A",
                "name": "get_weather",
                "input": {"city": "Paris"},
                "cache_control": EPHEMERAL,
            },
        ],
    },
    {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_01A",
                "content": "sunny",
                "cache_control": EPHEMERAL,
            },
            {"type": "text", "text": "And in Lyon?"},
            {"type": "text", "text": "Briefly, please.", "cache_control": HOUR},
        ],
    },
]
# Anthropic's counts: input_tokens are the prompt's tokens outside the cache.
CACHED = Script(
    deltas=["Sunny", " too."], input_tokens=21, cache_creation_input_tokens=1000, cache_read_input_tokens=4000
)
EVERY_INPUT = 21 + 1000 + 4000


@pytest.fixture
def upstream(anthropic_upstream: tuple[FakeAnthropic, str]) -> FakeAnthropic:
    return anthropic_upstream[0].reset()


@pytest.fixture(scope="module")
def relay(anthropic_upstream: tuple[FakeAnthropic, str]) -> Iterator[str]:
    with serve_anthropic_relay(anthropic_upstream[1], KEY, max_output_tokens=4096) as url:
        yield url


@pytest.fixture
async def claude(relay: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=relay, api_key="unused", max_retries=0) as sdk:
        yield sdk


def marked(blocks: Any) -> list[tuple[int, str, Any]]:
    """Where cache_control sits among blocks: (position, type, the cache_control)."""
    return [
        (index, block.get("type", "tool"), block["cache_control"])
        for index, block in enumerate(blocks)
        if "cache_control" in block
    ]


def input_tokens_counted(relay: str) -> float:
    """The prompt tokens llmrelay has counted (/metrics, every model)."""
    text = httpx.get(f"{relay}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "llmrelay_tokens_total" and sample.labels.get("direction") == "in"
    )


async def test_cache_control_reaches_anthropic_on_the_block_it_was_put_on(
    upstream: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    upstream.script = CACHED
    await claude.messages.create(
        model=MODEL, max_tokens=256, system=SYSTEM, tools=[WEATHER, TIME], messages=HISTORY
    )
    sent = upstream.requests[-1].body
    # The system goes as its blocks, the breakpoint on the second one, as the client put it.
    assert sent["system"] == [
        {"type": "text", "text": block["text"]}
        | ({"cache_control": block["cache_control"]} if "cache_control" in block else {})
        for block in SYSTEM
    ]
    assert marked(sent["tools"]) == [(1, "tool", EPHEMERAL)]
    user, assistant, results = sent["messages"]
    assert marked(user["content"]) == []
    assert marked(assistant["content"]) == [(1, "tool_use", EPHEMERAL)]
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "sunny", "cache_control": EPHEMERAL},
        {"type": "text", "text": "And in Lyon?"},
        {"type": "text", "text": "Briefly, please.", "cache_control": HOUR},
    ]


async def test_an_image_breakpoint_and_a_plain_prompt(
    upstream: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    image: Any = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": pixel},
        "cache_control": EPHEMERAL,
    }
    await claude.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}],
    )
    content = upstream.requests[-1].body["messages"][0]["content"]
    assert marked(content) == [(0, "image", EPHEMERAL)]
    # With no breakpoint anywhere, the request is what it always was: the system one text.
    await claude.messages.create(
        model=MODEL,
        max_tokens=64,
        system=[{"type": "text", "text": "A."}, {"type": "text", "text": "B."}],
        messages=[{"role": "user", "content": "hi"}],
    )
    sent = upstream.requests[-1].body
    assert sent["system"] == "A.\n\nB."
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


async def test_the_cache_counts_come_back_whole_and_streamed(
    upstream: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    upstream.script = CACHED
    whole = await claude.messages.create(model=MODEL, max_tokens=256, system=SYSTEM, messages=HISTORY)
    assert (
        whole.usage.input_tokens,
        whole.usage.cache_creation_input_tokens,
        whole.usage.cache_read_input_tokens,
        whole.usage.output_tokens,
    ) == (21, 1000, 4000, 2)
    async with claude.messages.stream(model=MODEL, max_tokens=256, system=SYSTEM, messages=HISTORY) as stream:
        final = await stream.get_final_message()
    assert "".join(block.text for block in final.content if block.type == "text") == "Sunny too."
    assert (
        final.usage.input_tokens,
        final.usage.cache_creation_input_tokens,
        final.usage.cache_read_input_tokens,
        final.usage.output_tokens,
    ) == (21, 1000, 4000, 2)


async def test_an_openai_client_sees_every_input_token_and_the_cached_ones(
    upstream: FakeAnthropic, relay: str
) -> None:
    upstream.script = CACHED
    before = input_tokens_counted(relay)
    async with openai.AsyncOpenAI(base_url=f"{relay}/v1", api_key="unused", max_retries=0) as client:
        chat = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Weather?"}], max_tokens=64
        )
        assert chat.usage is not None and chat.usage.prompt_tokens_details is not None
        assert chat.usage.prompt_tokens == EVERY_INPUT
        assert chat.usage.prompt_tokens_details.cached_tokens == 4000
        assert chat.usage.total_tokens == EVERY_INPUT + 2
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Weather?"}],
            max_tokens=64,
            stream=True,
            stream_options={"include_usage": True},
        )
        usages = [chunk.usage async for chunk in stream if chunk.usage is not None]
        assert [
            (u.prompt_tokens, u.prompt_tokens_details and u.prompt_tokens_details.cached_tokens)
            for u in usages
        ] == [(EVERY_INPUT, 4000)]
        response = await client.responses.create(model=MODEL, input="Weather?", max_output_tokens=64)
        assert response.usage is not None
        assert response.usage.input_tokens == EVERY_INPUT
        assert response.usage.input_tokens_details.cached_tokens == 4000
    # What llmrelay counts of a prompt (limits, budgets, metrics) is all of it, cached or not.
    assert input_tokens_counted(relay) - before == 3 * EVERY_INPUT


def test_the_content_model_carries_the_breakpoints() -> None:
    """What translate.py makes of the blocks: each breakpoint on its part, the text still one."""
    from llmrelay.api.anthropic.schema import MessagesRequest
    from llmrelay.api.anthropic.translate import generation_request, prompt_messages

    body = MessagesRequest.model_validate(
        {"model": MODEL, "max_tokens": 64, "system": SYSTEM, "tools": [WEATHER, TIME], "messages": HISTORY}
    )
    request = generation_request(body, prompt_messages(body, 100_000))
    system, user, assistant, result, last = request.messages
    assert system.content == "You are a weather assistant.\n\nLong, stable instructions…\n\nToday is Tuesday."
    assert [part.cache for part in system.text_parts] == [None, HOUR, None]
    assert user.text_parts == ()
    assert assistant.tool_calls == (ToolCall("toolu_01A", "get_weather", '{"city":"Paris"}', EPHEMERAL),)
    assert (result.role, result.cache) == ("tool", EPHEMERAL)
    assert last.content == "And in Lyon?Briefly, please."
    assert last.text_parts == (TextPart("And in Lyon?"), TextPart("Briefly, please.", HOUR))
    assert request.tools[1] == Tool("get_time", None, {"type": "object", "properties": {}}, None, EPHEMERAL)


# -- a model with no prompt cache -----------------------------------------------------------------


@pytest.fixture
def scripted() -> ScriptedProvider:
    return ScriptedProvider(ScriptedScript(split_into_deltas("Hello there!")), model="scripted")


@pytest.fixture
async def on_scripted(scripted: ScriptedProvider) -> AsyncIterator[anthropic.AsyncAnthropic]:
    with serve(create_app(make_settings(), provider=scripted)) as url:
        async with anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0) as sdk:
            yield sdk


async def test_cache_control_on_a_model_without_a_cache_is_a_normal_answer(
    on_scripted: anthropic.AsyncAnthropic, scripted: ScriptedProvider
) -> None:
    messages: Any = [
        {"role": "user", "content": [{"type": "text", "text": "Say hello.", "cache_control": EPHEMERAL}]}
    ]
    whole = await on_scripted.messages.create(
        model="scripted", max_tokens=64, system=SYSTEM, messages=messages
    )
    assert [block.model_dump(exclude_none=True) for block in whole.content] == [
        {"type": "text", "text": "Hello there!"}
    ]
    assert (whole.usage.cache_creation_input_tokens, whole.usage.cache_read_input_tokens) == (0, 0)
    async with on_scripted.messages.stream(
        model="scripted", max_tokens=64, system=SYSTEM, messages=messages
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "Hello there!"
    assert final.usage.cache_read_input_tokens == 0
    # The scripted model read the same prompt it always would: the text, not the markers.
    assert scripted.requests[-1].messages[-1].content == "Say hello."


# -- OpenAI upstreams' cached tokens ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["openai", "openai-compatible"])
async def test_an_openai_upstreams_cached_tokens_come_through(
    kind: str, fake: FakeOpenAI, fake_url: str
) -> None:
    """OpenAI's prompt counts include the cached tokens (Responses' input_tokens_details,
    Chat's prompt_tokens_details): an OpenAI client sees them as they were, an Anthropic client
    as Anthropic counts them (input_tokens without the cached ones)."""
    fake.script = OpenAIScript(deltas=["Hi"], input_tokens=120, cached_tokens=100)
    with serve_relay(kind, fake_url, model="gpt-4o-mini") as relay:
        async with anthropic.AsyncAnthropic(base_url=relay, api_key="unused", max_retries=0) as sdk:
            whole = await sdk.messages.create(
                model="gpt-4o-mini", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
            )
        async with openai.AsyncOpenAI(base_url=f"{relay}/v1", api_key="unused", max_retries=0) as client:
            chat = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=64
            )
    assert (whole.usage.input_tokens, whole.usage.cache_read_input_tokens) == (20, 100)
    assert whole.usage.cache_creation_input_tokens == 0
    assert chat.usage is not None and chat.usage.prompt_tokens_details is not None
    assert (chat.usage.prompt_tokens, chat.usage.prompt_tokens_details.cached_tokens) == (120, 100)
