"""The OpenAI Python SDK's typed helpers against llmrelay, beyond the calls
tests/test_openai_v1_tools.py and tests/test_local_structured.py make: `responses.parse`
with `text_format`, `chat.completions.stream` parsing a pydantic `response_format` as it
streams, and `pydantic_function_tool` calls parsed into their model (Chat and Responses) —
in front of the stand-in upstream and on the embedded model."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from pydantic import BaseModel

from tests.support.clients import CLIENT_KEY, Relay, upstream_relay
from tests.support.fake_openai import FakeOpenAI, FakeToolCall, Script


class City(BaseModel):
    name: str
    country: str


class GetWeather(BaseModel):
    """The current weather in a city."""

    city: str


def sdk(relay: Relay) -> openai.OpenAI:
    return openai.OpenAI(base_url=relay.v1, api_key=CLIENT_KEY, max_retries=0, timeout=240)


@pytest.fixture(scope="module", params=["openai-compatible", "openai"])
def upstream(request: pytest.FixtureRequest, fake_upstream: tuple[FakeOpenAI, str]) -> Iterator[Relay]:
    """Here also in front of an upstream speaking the Responses API (llmrelay translates)."""
    with upstream_relay(fake_upstream[1], request.param) as relay:
        yield relay


def test_responses_parse_gives_the_text_format_model(fake: FakeOpenAI, upstream: Relay) -> None:
    fake.script = Script(deltas=('{"name": "Lima",', ' "country": "Peru"}'))
    with sdk(upstream) as client:
        parsed = client.responses.parse(model=upstream.model, input="A city in Peru?", text_format=City)
    assert parsed.output_parsed == City(name="Lima", country="Peru")


def test_the_chat_stream_helper_parses_the_response_format(fake: FakeOpenAI, upstream: Relay) -> None:
    fake.script = Script(deltas=('{"name": "Lima",', ' "country": "Peru"}'))
    with (
        sdk(upstream) as client,
        client.chat.completions.stream(
            model=upstream.model,
            messages=[{"role": "user", "content": "A city in Peru?"}],
            response_format=City,
        ) as stream,
    ):
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()
    assert {"content.delta", "content.done"} <= kinds
    assert final.choices[0].message.parsed == City(name="Lima", country="Peru")


def test_a_pydantic_function_tool_call_is_parsed_into_its_model(fake: FakeOpenAI, upstream: Relay) -> None:
    fake.script = Script(
        deltas=(), tool_calls=(FakeToolCall("call_w1", "GetWeather", ['{"city": "Paris"}']),)
    )
    with sdk(upstream) as client:
        chat = client.chat.completions.parse(
            model=upstream.model,
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[openai.pydantic_function_tool(GetWeather)],
        )
        (call,) = chat.choices[0].message.tool_calls or []
        assert call.function.parsed_arguments == GetWeather(city="Paris")
        response = client.responses.parse(
            model=upstream.model, input="Weather in Paris?", tools=[openai.pydantic_function_tool(GetWeather)]
        )
    (item,) = [i for i in response.output if i.type == "function_call"]
    assert item.parsed_arguments == GetWeather(city="Paris")  # type: ignore[union-attr]


# -- On the embedded model ------------------------------------------------------------------


@pytest.mark.model
def test_responses_parse_on_the_embedded_model(local: Relay) -> None:
    with sdk(local) as client:
        parsed = client.responses.parse(
            model=local.model, input="Describe Paris.", text_format=City, temperature=0
        )
    assert isinstance(parsed.output_parsed, City)


@pytest.mark.model
def test_a_pydantic_function_tool_on_the_embedded_model_is_parsed(local: Relay) -> None:
    with sdk(local) as client:
        chat = client.chat.completions.parse(
            model=local.model,
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[openai.pydantic_function_tool(GetWeather)],
            tool_choice="required",
            temperature=0,
        )
    (call,) = chat.choices[0].message.tool_calls or []
    assert isinstance(call.function.parsed_arguments, GetWeather)
