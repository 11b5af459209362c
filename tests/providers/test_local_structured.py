"""Structured output and tools on the real embedded model (SmolLM2-135M), through grammars,
with the official OpenAI SDK as the client: JSON that always parses, calls that are always valid."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from pydantic import BaseModel

from llmrelay.app import create_app
from tests.support.servers import serve
from tests.support.settings import make_settings

pytestmark = pytest.mark.model

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
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
        "description": "The time in a timezone.",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def client() -> Iterator[tuple[openai.OpenAI, str]]:
    with serve(create_app(make_settings(provider="local", max_output_tokens=96))) as url:
        with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
            model = client.models.list().data[0].id
            yield client, model


class City(BaseModel):
    name: str
    country: str
    population: int


def test_a_json_schema_answer_always_validates(client: tuple[openai.OpenAI, str]) -> None:
    sdk, model = client
    for question in ("Describe Paris.", "Tell me about Tokyo.", "A city in Peru?"):
        parsed = sdk.chat.completions.parse(
            model=model,
            messages=[{"role": "user", "content": question}],
            response_format=City,
            temperature=0,
        )
        city = parsed.choices[0].message.parsed
        assert isinstance(city, City)


def test_json_mode_answers_a_json_object(client: tuple[openai.OpenAI, str]) -> None:
    sdk, model = client
    reply = sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "A JSON object with a cat's name and age, nothing else."}],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=96,
    )
    # Complete (not cut at max_tokens), so the grammar's object is whole and parses.
    assert reply.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


@pytest.mark.parametrize("stream", [False, True])
def test_a_required_tool_call_is_always_a_valid_call(client: tuple[openai.OpenAI, str], stream: bool) -> None:
    sdk, model = client
    params = dict(model=model, messages=ASK, tools=[WEATHER, TIME], tool_choice="required", temperature=0)
    if stream:
        with sdk.chat.completions.stream(**params) as events:  # type: ignore[arg-type]
            for _ in events:
                pass
            final = events.get_final_completion()
    else:
        final = sdk.chat.completions.create(**params)  # type: ignore[call-overload]
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.id.startswith("call_")
    assert call.function.name in ("get_weather", "get_time")  # type: ignore[union-attr]
    arguments = json.loads(call.function.arguments)  # type: ignore[union-attr]
    required = {"get_weather": "city", "get_time": "tz"}[call.function.name]  # type: ignore[union-attr]
    assert isinstance(arguments[required], str)


def test_a_named_tool_is_the_one_called(client: tuple[openai.OpenAI, str]) -> None:
    sdk, model = client
    reply = sdk.chat.completions.create(
        model=model,
        messages=ASK,
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        temperature=0,
    )
    (call,) = reply.choices[0].message.tool_calls or []
    assert call.function.name == "get_time"  # type: ignore[union-attr]
    assert isinstance(json.loads(call.function.arguments)["tz"], str)  # type: ignore[union-attr]


def test_auto_lets_the_model_choose_and_a_tool_result_goes_back(client: tuple[openai.OpenAI, str]) -> None:
    sdk, model = client
    first = sdk.chat.completions.create(model=model, messages=ASK, tools=[WEATHER], temperature=0)  # type: ignore[list-item]
    choice = first.choices[0]
    # Either way the answer is well-formed: a valid call, or text.
    if choice.finish_reason == "tool_calls":
        (call,) = choice.message.tool_calls or []
        assert call.function.name == "get_weather"  # type: ignore[union-attr]
        json.loads(call.function.arguments)  # type: ignore[union-attr]
    else:
        assert choice.message.content
    # A round trip: the call and its result as history; the model answers in text.
    after = sdk.chat.completions.create(
        model=model,
        messages=[
            *ASK,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 degrees."},
        ],  # type: ignore[list-item]
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="none",
        temperature=0,
    )
    assert after.choices[0].finish_reason in ("stop", "length")
    assert after.choices[0].message.content


def test_an_image_is_refused_naming_the_part(client: tuple[openai.OpenAI, str]) -> None:
    sdk, model = client
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(
            model=model,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    ],
                }
            ],
        )
    assert raised.value.body["param"] == "messages[0].content[1].type"  # type: ignore[index]
    assert "cannot see images" in raised.value.message
