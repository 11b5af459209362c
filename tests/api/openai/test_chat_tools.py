"""Tools, structured output and images through /v1/chat/completions to an upstream, with the
official OpenAI SDK as the client and the wire-level stand-in as the upstream — speaking Chat
Completions (openai-compatible) or the Responses API (openai): llmrelay translates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from llmrelay.app import create_app
from tests.support.fake_openai import FakeOpenAI, FakeToolCall, Script
from tests.support.servers import serve
from tests.support.settings import make_settings

KEY = "sk-upstream-tools-test"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
    },
}
# Fragments of any size, empty ones too, and two calls interleaved by index.
CALLS = (
    FakeToolCall("call_a1", "get_weather", ['{"ci', "", 'ty": "Par', 'is"}']),
    FakeToolCall("call_b2", "get_time", ["", '{"tz":', ' "Europe/Paris"', "}"]),
)
ASK = [{"role": "user", "content": "Weather and time in Paris?"}]


@pytest.fixture(scope="module", params=["openai-compatible", "openai"])
def served(
    request: pytest.FixtureRequest, fake_upstream: tuple[FakeOpenAI, str]
) -> Iterator[tuple[FakeOpenAI, str, str]]:
    """A real llmrelay in front of the session's stand-in (tests take `fake` to script it)."""
    fake, fake_url = fake_upstream
    settings = make_settings(
        provider=request.param,
        model="upstream-model",
        openai_api_key=KEY,
        openai_base_url=f"{fake_url}/v1",
        upstream_max_retries=0,
    )
    with serve(create_app(settings)) as url:
        yield fake, url, request.param


@pytest.fixture
def client(served: tuple[FakeOpenAI, str, str]) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{served[1]}/v1", api_key="x", max_retries=0) as client:
        yield client


def upstream_kind(served: tuple[FakeOpenAI, str, str]) -> str:
    return served[2]


def test_streamed_parallel_tool_calls_arrive_whole_in_openais_chunk_shape(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script = Script(deltas=(), tool_calls=CALLS, interleave=True)
    stream = client.chat.completions.create(
        model="upstream-model", messages=ASK, tools=[WEATHER, TIME], stream=True
    )  # type: ignore[list-item]
    pieces: dict[int, list[str]] = {}
    openings: dict[int, Any] = {}
    finish = None
    for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for call in choice.delta.tool_calls or ():
            if call.id is not None:
                # The first piece of a call carries index, id, type and name.
                assert call.index not in openings
                openings[call.index] = call
                assert call.type == "function"
                assert call.function is not None and call.function.name
            else:
                assert call.index in openings  # later pieces come after the opening one
            pieces.setdefault(call.index, []).append((call.function and call.function.arguments) or "")
    assert finish == "tool_calls"
    assert {i: (c.id, c.function.name) for i, c in openings.items()} == {
        0: ("call_a1", "get_weather"),
        1: ("call_b2", "get_time"),
    }
    assert {i: "".join(p) for i, p in pieces.items()} == {0: CALLS[0].arguments, 1: CALLS[1].arguments}
    assert json.loads(CALLS[0].arguments) == {"city": "Paris"}


def test_the_sdk_stream_helper_and_a_whole_answer_give_the_calls(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script = Script(deltas=(), tool_calls=CALLS)
    with client.chat.completions.stream(
        model="upstream-model", messages=ASK, tools=[WEATHER, TIME]
    ) as stream:  # type: ignore[list-item]
        for _ in stream:
            pass
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        (call.id, call.name, call.arguments) for call in CALLS
    ]
    whole = client.chat.completions.create(model="upstream-model", messages=ASK, tools=[WEATHER, TIME])  # type: ignore[list-item]
    assert whole.choices[0].finish_reason == "tool_calls"
    assert whole.choices[0].message.content is None
    got = whole.choices[0].message.tool_calls or []
    assert [(c.id, c.function.arguments) for c in got] == [(c.id, c.arguments) for c in CALLS]  # type: ignore[union-attr]


def test_tools_and_a_tool_round_trip_reach_the_upstream_in_its_own_shape(
    fake: FakeOpenAI, client: openai.OpenAI, served: tuple[FakeOpenAI, str, str]
) -> None:
    fake.script = Script(deltas=("It is sunny.",))
    messages = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_a1", "content": "sunny, 21 C"},
    ]
    reply = client.chat.completions.create(
        model="upstream-model",
        messages=messages,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    assert reply.choices[0].message.content == "It is sunny."
    sent = fake.requests[-1].body
    if upstream_kind(served) == "openai-compatible":
        assert sent["tools"] == [WEATHER]
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
        assert sent["parallel_tool_calls"] is False
        assert sent["messages"][1]["tool_calls"] == messages[1]["tool_calls"]  # type: ignore[index]
        assert sent["messages"][2] == {"role": "tool", "content": "sunny, 21 C", "tool_call_id": "call_a1"}
    else:  # the Responses API: function tools flat, calls and results as their own items
        assert sent["tools"] == [{"type": "function", **WEATHER["function"]}]  # type: ignore[dict-item]
        assert sent["tool_choice"] == {"type": "function", "name": "get_weather"}
        assert sent["input"][1:] == [
            {
                "type": "function_call",
                "call_id": "call_a1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call_output", "call_id": "call_a1", "output": "sunny, 21 C"},
        ]


class City(BaseModel):
    name: str
    population: int


def test_parse_with_a_pydantic_model_sends_the_schema_and_parses_the_answer(
    fake: FakeOpenAI, client: openai.OpenAI, served: tuple[FakeOpenAI, str, str]
) -> None:
    fake.script = Script(deltas=('{"name": "Paris",', ' "population": 2100000}'))
    parsed = client.chat.completions.parse(model="upstream-model", messages=ASK, response_format=City)  # type: ignore[arg-type]
    assert parsed.choices[0].message.parsed == City(name="Paris", population=2100000)
    sent = fake.requests[-1].body
    if upstream_kind(served) == "openai-compatible":
        assert sent["response_format"]["type"] == "json_schema"
        assert sent["response_format"]["json_schema"]["name"] == "City"
        assert sent["response_format"]["json_schema"]["schema"]["required"] == ["name", "population"]
    else:
        assert sent["text"]["format"]["type"] == "json_schema"
        assert sent["text"]["format"]["schema"]["required"] == ["name", "population"]


def test_an_image_reaches_an_upstream_that_may_see(
    fake: FakeOpenAI, client: openai.OpenAI, served: tuple[FakeOpenAI, str, str]
) -> None:
    url = "data:image/png;base64,iVBORw0KGgo="
    client.chat.completions.create(
        model="upstream-model",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    )
    sent = fake.requests[-1].body
    if upstream_kind(served) == "openai-compatible":
        assert sent["messages"][0]["content"] == [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": url}},
        ]
    else:
        assert sent["input"][0]["content"] == [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": url},
        ]


def test_what_the_upstreams_api_lacks_is_refused_naming_the_parameter(
    fake: FakeOpenAI, client: openai.OpenAI, served: tuple[FakeOpenAI, str, str]
) -> None:
    for extra in ({"stop": ["\n"]}, {"seed": 7}, {"presence_penalty": 0.5}):
        if upstream_kind(served) == "openai-compatible":
            client.chat.completions.create(model="upstream-model", messages=ASK, **extra)  # type: ignore[arg-type]
            ((name, value),) = extra.items()
            assert fake.requests[-1].body[name] == value
        else:
            with pytest.raises(openai.BadRequestError) as raised:
                client.chat.completions.create(model="upstream-model", messages=ASK, **extra)  # type: ignore[arg-type]
            assert raised.value.body["param"] == next(iter(extra))  # type: ignore[index]
    if upstream_kind(served) == "openai":
        assert fake.requests == []  # refused before anything reached the upstream


def test_a_tool_choice_naming_no_tool_is_refused(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="upstream-model",
            messages=ASK,
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    assert raised.value.body["param"] == "tool_choice"  # type: ignore[index]
    assert fake.requests == []
