"""Tools, tool results, images, stop sequences and token counts through the `anthropic` backend,
against the wire-level stand-in for Anthropic: the provider alone (what reaches Anthropic,
what comes back), then a real llmrelay in front of it read by the official OpenAI SDK (Chat
Completions and Responses function tools) and the official anthropic SDK (a tool-use round trip
with `messages.stream`, whose `input_json_delta`s the SDK puts back together itself)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import openai
import pytest

from llmrelay.providers.anthropic.messages import AnthropicProvider
from llmrelay.providers.base import (
    BadGenerationRequest,
    ChatMessage,
    Finished,
    GenerationRequest,
    InvalidParameter,
    ProviderEvent,
    ResponseFormat,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    UpstreamAuthError,
    Usage,
)
from tests.support.fake_anthropic import FakeAnthropic, Script
from tests.support.fake_openai import FakeToolCall
from tests.support.upstream import serve_anthropic_relay

KEY = "sk-ant-api03-tools-test-4d5e6f7a8b"
MODEL = "claude-haiku-4-5"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = Tool("get_weather", "The weather in a city.", SCHEMA)
# Fragments of any size, an empty one too; the second call takes no input at all.
CALLS = (
    FakeToolCall("toolu_01A", "get_weather", ['{"ci', "", 'ty": "Par', 'is"}']),
    FakeToolCall("toolu_02B", "get_time", []),
)
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PNG_URL = f"data:image/png;base64,{PNG}"

OPENAI_WEATHER: Any = {
    "type": "function",
    "function": {"name": "get_weather", "description": "The weather in a city.", "parameters": SCHEMA},
}
OPENAI_TIME: Any = {"type": "function", "function": {"name": "get_time"}}
ANTHROPIC_WEATHER = {"name": "get_weather", "description": "The weather in a city.", "input_schema": SCHEMA}
ANTHROPIC_TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
ASK: Any = [{"role": "user", "content": "Weather and time in Paris?"}]


@pytest.fixture
def fake(anthropic_upstream: tuple[FakeAnthropic, str]) -> FakeAnthropic:
    return anthropic_upstream[0].reset()


@pytest.fixture
async def provider(anthropic_upstream: tuple[FakeAnthropic, str]) -> AsyncIterator[AnthropicProvider]:
    backend = AnthropicProvider(
        api_key=KEY, base_url=anthropic_upstream[1], model=MODEL, timeout=10, max_retries=0, max_tokens=64
    )
    yield backend
    await backend.aclose()


async def collect(provider: AnthropicProvider, request: GenerationRequest) -> list[ProviderEvent]:
    return [event async for event in provider.stream(request)]


# -- the provider: what reaches Anthropic ----------------------------------------------------------


async def test_calls_results_and_images_reach_anthropic_as_blocks_in_alternating_turns(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    history = [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "What is in these, and the weather?", images=(PNG_URL, "https://x.test/a.jpg")),
        ChatMessage(
            "assistant",
            "Let me look.",
            tool_calls=(
                ToolCall("toolu_01A", "get_weather", '{"city":"Paris"}'),
                ToolCall("toolu_02B", "get_time", ""),
            ),
        ),
        ChatMessage("tool", "sunny, 21 C", tool_call_id="toolu_01A"),
        ChatMessage("tool", "", tool_call_id="toolu_02B", images=(PNG_URL,)),
        ChatMessage("user", "And tomorrow?"),
    ]
    request = GenerationRequest(
        messages=history,
        tools=[WEATHER, Tool("get_time", strict=True)],
        tool_choice="required",
        parallel_tool_calls=False,
        response_format=ResponseFormat("json_schema", SCHEMA, "City", True),
    )
    await collect(provider, request)
    (sent,) = fake.requests
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    assert sent.body["system"] == "Be brief."
    assert sent.body["messages"] == [
        {
            "role": "user",
            "content": [
                image,
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                {"type": "text", "text": "What is in these, and the weather?"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_02B", "name": "get_time", "input": {}},
            ],
        },
        # Two tool messages and the user's next words are one user turn, the results first.
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "sunny, 21 C"},
                {"type": "tool_result", "tool_use_id": "toolu_02B", "content": [image]},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]
    assert sent.body["tools"] == [ANTHROPIC_WEATHER, {**ANTHROPIC_TIME, "strict": True}]
    assert sent.body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert sent.body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}


async def test_a_user_turn_merged_from_words_and_results_puts_the_results_first(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    call = ToolCall("toolu_01A", "get_weather", '{"city":"Paris"}')
    history = [
        ChatMessage("user", "Weather?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("user", "Hurry."),  # sent before the result: still one turn, result first
        ChatMessage("tool", "sunny", tool_call_id="toolu_01A"),
    ]
    await collect(provider, GenerationRequest(messages=history, tools=[WEATHER]))
    assert fake.requests[-1].body["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "sunny"},
            {"type": "text", "text": "Hurry."},
        ],
    }


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (None, None, None),  # the API's default (auto, parallel allowed): nothing sent
        (None, True, None),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("auto", None, {"type": "auto"}),
        ("none", False, {"type": "none"}),  # no call at all has no parallel flag
        ("required", None, {"type": "any"}),
        ("get_weather", False, {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}),
    ],
)
async def test_tool_choice_and_parallel_calls_in_anthropics_words(
    fake: FakeAnthropic,
    provider: AnthropicProvider,
    choice: str | None,
    parallel: bool | None,
    expected: dict[str, Any] | None,
) -> None:
    request = GenerationRequest(
        messages=[ChatMessage("user", "hi")],
        tools=[WEATHER],
        tool_choice=choice,
        parallel_tool_calls=parallel,
    )
    await collect(provider, request)
    assert fake.requests[-1].body.get("tool_choice") == expected


@pytest.mark.parametrize(
    ("request_", "error", "words"),
    [
        (
            GenerationRequest(
                messages=[ChatMessage("user", "hi")], response_format=ResponseFormat("json_object")
            ),
            InvalidParameter,
            "response_format",
        ),
        (
            GenerationRequest(messages=[ChatMessage("user", "hi")], tool_choice="required"),
            InvalidParameter,
            "tool_choice",
        ),
        (
            GenerationRequest(
                messages=[ChatMessage("assistant", "", tool_calls=(ToolCall("t1", "get_weather", "[1, 2]"),))]
            ),
            BadGenerationRequest,
            "not a JSON object",
        ),
        (
            GenerationRequest(messages=[ChatMessage("user", "look", images=("data:image/png,rawbytes",))]),
            BadGenerationRequest,
            "base64",
        ),
        (
            GenerationRequest(messages=[ChatMessage("tool", "sunny")]),
            BadGenerationRequest,
            "tool_call_id",
        ),
    ],
)
async def test_what_anthropic_cannot_take_is_refused_before_anything_is_sent(
    fake: FakeAnthropic,
    provider: AnthropicProvider,
    request_: GenerationRequest,
    error: type[BadGenerationRequest],
    words: str,
) -> None:
    with pytest.raises(error) as caught:
        await collect(provider, request_)
    assert caught.value.status == 400 and words in caught.value.message
    if isinstance(caught.value, InvalidParameter):
        assert caught.value.param == words
    assert fake.requests == []


# -- the provider: what comes back ----------------------------------------------------------------


async def test_streamed_tool_use_blocks_become_tool_call_deltas(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.script = Script(deltas=["Checking."], tool_uses=CALLS, input_tokens=30, output_tokens=12)
    events = await collect(provider, GenerationRequest(messages=[ChatMessage("user", "hi")], tools=[WEATHER]))
    assert events == [
        TextDelta("Checking."),
        ToolCallDelta(0, id="toolu_01A", name="get_weather"),
        ToolCallDelta(0, arguments='{"ci'),
        ToolCallDelta(0, arguments='ty": "Par'),
        ToolCallDelta(0, arguments='is"}'),
        ToolCallDelta(1, id="toolu_02B", name="get_time"),
        # A call that streamed no input took none: `{}`, as the SDKs read it.
        ToolCallDelta(1, arguments="{}"),
        Usage(30, 12),
        Finished("tool_calls"),
    ]


async def test_a_message_that_only_calls_a_tool_starts_its_call_at_block_zero(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.script = Script(deltas=[], tool_uses=CALLS[:1])
    events = await collect(provider, GenerationRequest(messages=[ChatMessage("user", "hi")], tools=[WEATHER]))
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert calls[0] == ToolCallDelta(0, id="toolu_01A", name="get_weather")
    assert "".join(c.arguments for c in calls) == CALLS[0].arguments
    assert not any(isinstance(e, TextDelta) for e in events)
    assert events[-1] == Finished("tool_calls")


async def test_the_matched_stop_sequence_comes_back_with_the_stop(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.script = Script(deltas=["one, two"], stop_reason="stop_sequence", stop_sequence=", three")
    events = await collect(
        provider, GenerationRequest(messages=[ChatMessage("user", "count")], stop=[", three"])
    )
    assert events[-1] == Finished("stop", stop_sequence=", three")
    assert fake.requests[-1].body["stop_sequences"] == [", three"]


async def test_count_prompt_asks_anthropics_count_tokens(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.script = Script(input_tokens=4242)
    request = GenerationRequest(
        messages=[ChatMessage("system", "Be brief."), ChatMessage("user", "Weather?", images=(PNG_URL,))],
        tools=[WEATHER],
        tool_choice="get_weather",
    )
    assert await provider.count_prompt(request) == 4242
    (sent,) = fake.requests
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.body["model"] == MODEL and sent.body["system"] == "Be brief."
    assert sent.body["tools"] == [ANTHROPIC_WEATHER]
    assert sent.body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert sent.body["messages"][0]["content"][0]["type"] == "image"
    assert not {"max_tokens", "stream"} & set(sent.body)  # the count takes no generation settings
    fake.script = Script(status=401)
    with pytest.raises(UpstreamAuthError) as caught:
        await provider.count_prompt(request)
    assert KEY not in caught.value.message


# -- the OpenAI SDK through llmrelay to Anthropic -------------------------------------------------


@pytest.fixture(scope="module")
def relay(anthropic_upstream: tuple[FakeAnthropic, str]) -> Iterator[str]:
    with serve_anthropic_relay(anthropic_upstream[1], KEY) as url:
        yield url


@pytest.fixture
def gpt(relay: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{relay}/v1", api_key="unused", max_retries=0) as client:
        yield client


def test_chat_tools_streamed_arrive_as_openai_tool_call_chunks(
    fake: FakeAnthropic, gpt: openai.OpenAI
) -> None:
    fake.script = Script(deltas=[], tool_uses=CALLS)
    stream = gpt.chat.completions.create(
        model=MODEL, messages=ASK, tools=[OPENAI_WEATHER, OPENAI_TIME], stream=True
    )
    openings: dict[int, Any] = {}
    pieces: dict[int, list[str]] = {}
    finish = None
    for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for call in choice.delta.tool_calls or ():
            if call.id is not None:
                assert call.index not in openings and call.type == "function"
                openings[call.index] = call
            else:
                assert call.index in openings
            pieces.setdefault(call.index, []).append((call.function and call.function.arguments) or "")
    assert finish == "tool_calls"
    assert {i: (c.id, c.function.name) for i, c in openings.items()} == {
        0: ("toolu_01A", "get_weather"),
        1: ("toolu_02B", "get_time"),
    }
    assert {i: json.loads("".join(p)) for i, p in pieces.items()} == {0: {"city": "Paris"}, 1: {}}
    sent = fake.requests[-1].body
    assert sent["tools"] == [ANTHROPIC_WEATHER, ANTHROPIC_TIME]
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": ASK[0]["content"]}]}]


def test_chat_tools_whole_and_a_tool_round_trip_reach_anthropic_as_tool_result(
    fake: FakeAnthropic, gpt: openai.OpenAI
) -> None:
    fake.queue = [Script(deltas=[], tool_uses=CALLS[:1]), Script(deltas=["It is sunny in Paris."])]
    first = gpt.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[OPENAI_WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    (choice,) = first.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.id == "toolu_01A"
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    assert fake.requests[0].body["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }

    second = gpt.chat.completions.create(
        model=MODEL,
        messages=[
            *ASK,
            choice.message.model_dump(exclude_none=True),  # the assistant's call, as the SDK read it
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
        ],
        tools=[OPENAI_WEATHER],
    )
    assert second.choices[0].message.content == "It is sunny in Paris."
    assert second.choices[0].finish_reason == "stop"
    assert fake.requests[1].body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "sunny, 21 C"}],
        },
    ]


def test_responses_function_tools_and_their_results_through_anthropic(
    fake: FakeAnthropic, gpt: openai.OpenAI
) -> None:
    tool: Any = {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": SCHEMA,
    }
    fake.queue = [Script(deltas=[], tool_uses=CALLS[:1]), Script(deltas=["Sunny."])]
    events = list(gpt.responses.create(model=MODEL, input="Weather in Paris?", tools=[tool], stream=True))
    added = [e for e in events if e.type == "response.output_item.added"]
    assert [(e.item.type, e.item.call_id, e.item.name) for e in added] == [  # type: ignore[union-attr]
        ("function_call", "toolu_01A", "get_weather")
    ]
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert "".join(deltas) == CALLS[0].arguments
    assert events[-1].type == "response.completed"
    assert fake.requests[0].body["tools"] == [ANTHROPIC_WEATHER]

    answer = gpt.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": "toolu_01A",
                "name": "get_weather",
                "arguments": CALLS[0].arguments,
            },
            {"type": "function_call_output", "call_id": "toolu_01A", "output": "sunny"},
        ],
        tools=[tool],
    )
    assert answer.output_text == "Sunny."
    assert fake.requests[1].body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "sunny"}],
        },
    ]


def test_an_image_data_url_reaches_anthropic_as_an_image_block(
    fake: FakeAnthropic, gpt: openai.OpenAI
) -> None:
    gpt.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": PNG_URL}},
                ],
            }
        ],
    )
    assert fake.requests[-1].body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "text", "text": "What is this?"},
    ]


def test_what_anthropic_lacks_is_a_400_naming_the_parameter(fake: FakeAnthropic, gpt: openai.OpenAI) -> None:
    for extra, param in (
        ({"seed": 7}, "seed"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
    ):
        with pytest.raises(openai.BadRequestError) as raised:
            gpt.chat.completions.create(model=MODEL, messages=ASK, **extra)  # type: ignore[arg-type]
        assert raised.value.body["param"] == param, extra  # type: ignore[index]
        assert param in raised.value.body["message"]  # type: ignore[index]
    assert fake.requests == []  # refused before anything reached the upstream


def test_a_json_schema_format_reaches_anthropic_as_output_config(
    fake: FakeAnthropic, gpt: openai.OpenAI
) -> None:
    fake.script = Script(deltas=['{"city": ', '"Paris"}'])
    answer = gpt.chat.completions.create(
        model=MODEL,
        messages=ASK,
        response_format={"type": "json_schema", "json_schema": {"name": "City", "schema": SCHEMA}},
    )
    assert json.loads(answer.choices[0].message.content or "") == {"city": "Paris"}
    assert fake.requests[-1].body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}


# -- the anthropic SDK through llmrelay to Anthropic ----------------------------------------------


@pytest.fixture
async def claude(relay: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=relay, api_key="unused", max_retries=0) as sdk:
        yield sdk


async def test_a_tool_use_round_trip_with_the_anthropic_sdk(
    fake: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    fake.queue = [
        Script(deltas=["Let me check."], tool_uses=CALLS),
        Script(deltas=["Sunny, and it is noon."]),
    ]
    tools: Any = [ANTHROPIC_WEATHER, ANTHROPIC_TIME]
    async with claude.messages.stream(
        model=MODEL, max_tokens=200, messages=ASK, tools=tools, tool_choice={"type": "any"}
    ) as stream:
        fragments = [e.partial_json async for e in stream if e.type == "input_json"]
        final = await stream.get_final_message()
    # The first call's fragments as Anthropic sent them, then the second's input: none, `{}`.
    assert "".join(fragments) == CALLS[0].arguments + "{}"
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    uses = [b for b in final.content if b.type == "tool_use"]
    # The SDK put each call's input back together from its input_json_delta fragments.
    assert [(b.id, b.name, b.input) for b in uses] == [
        ("toolu_01A", "get_weather", {"city": "Paris"}),
        ("toolu_02B", "get_time", {}),
    ]
    first = fake.requests[0].body
    assert first["tools"] == tools and first["tool_choice"] == {"type": "any"}

    answer = await claude.messages.create(
        model=MODEL,
        max_tokens=200,
        tools=tools,
        messages=[
            *ASK,
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "sunny"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_02B",
                        "content": [{"type": "text", "text": "12:00"}],
                    },
                ],
            },
        ],
    )
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].type == "text" and answer.content[0].text == "Sunny, and it is noon."
    assert fake.requests[1].body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_02B", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_02B", "content": "12:00"},
            ],
        },
    ]


async def test_a_whole_tool_use_message_with_the_anthropic_sdk(
    fake: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    fake.script = Script(deltas=[], tool_uses=CALLS[:1])
    message = await claude.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=ASK,
        tools=[ANTHROPIC_WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
    )
    assert message.stop_reason == "tool_use"
    (use,) = message.content
    assert use.type == "tool_use" and (use.id, use.input) == ("toolu_01A", {"city": "Paris"})
    assert fake.requests[-1].body["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }


async def test_an_image_block_reaches_anthropic_as_an_image_block(
    fake: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    await claude.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}],  # type: ignore[list-item]
    )
    assert fake.requests[-1].body["messages"][0]["content"] == [
        image,
        {"type": "text", "text": "What is this?"},
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_the_upstreams_stop_sequence_is_reported(
    fake: FakeAnthropic, claude: anthropic.AsyncAnthropic, stream: bool
) -> None:
    fake.script = Script(deltas=["one, two"], stop_reason="stop_sequence", stop_sequence=", three")
    asked: Any = {"model": MODEL, "max_tokens": 64, "messages": ASK, "stop_sequences": ["\n\n", ", three"]}
    if stream:
        async with claude.messages.stream(**asked) as streamed:
            message = await streamed.get_final_message()
    else:
        message = await claude.messages.create(**asked)
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", ", three")
    assert fake.requests[-1].body["stop_sequences"] == ["\n\n", ", three"]


async def test_count_tokens_is_anthropics_own_count(
    fake: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    fake.script = Script(input_tokens=987)
    counted = await claude.messages.count_tokens(
        model=MODEL,
        system="Be brief.",
        messages=ASK,
        tools=[ANTHROPIC_WEATHER],  # type: ignore[list-item]
    )
    assert counted.input_tokens == 987  # not an estimate: llmrelay's own would be a few tokens
    (sent,) = fake.requests
    assert sent.path == "/v1/messages/count_tokens"
    assert (sent.body["system"], sent.body["tools"]) == ("Be brief.", [ANTHROPIC_WEATHER])
    fake.script = Script(status=529)
    with pytest.raises(anthropic.OverloadedError):
        await claude.messages.count_tokens(model=MODEL, messages=ASK)
