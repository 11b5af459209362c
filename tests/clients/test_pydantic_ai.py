"""pydantic-ai as a client of llmrelay, through its OpenAI models (Chat Completions and
Responses) with a provider pointed at llmrelay: a tool run in the agent's loop, structured
output as an output tool (its default) and as native JSON schema output — against the
stand-in upstream (whole loops, deterministic) and the embedded model (grammar-constrained)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI
from pydantic import BaseModel
from pydantic_ai import Agent, NativeOutput
from pydantic_ai.models import Model
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.support.clients import CLIENT_KEY, Relay
from tests.support.fake_openai import FakeOpenAI, FakeToolCall, Script

SURFACES = ["chat", "responses"]
ran: list[str] = []


def get_weather(city: str) -> str:
    """The current weather in a city."""
    ran.append(city)
    return f"Sunny and 21 °C in {city}."


class City(BaseModel):
    name: str
    country: str


@pytest.fixture(autouse=True)
def _no_calls_yet() -> None:
    ran.clear()


@pytest.fixture
async def sdk() -> AsyncIterator[list[AsyncOpenAI]]:
    """The SDK clients a test made, closed after it (pydantic-ai leaves its own open)."""
    made: list[AsyncOpenAI] = []
    yield made
    for client in made:
        await client.close()


def model_for(surface: str, relay: Relay, sdk: list[AsyncOpenAI]) -> Model:
    client = AsyncOpenAI(base_url=relay.v1, api_key=CLIENT_KEY, max_retries=0, timeout=240)
    sdk.append(client)
    provider = OpenAIProvider(openai_client=client)
    if surface == "chat":
        return OpenAIChatModel(relay.model, provider=provider)
    return OpenAIResponsesModel(relay.model, provider=provider)


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_runs_in_the_loop_and_the_text_answers(
    fake: FakeOpenAI, upstream: Relay, sdk: list[AsyncOpenAI], surface: str, stream: bool
) -> None:
    call = FakeToolCall("call_w1", "get_weather", ['{"city": "Pa', 'ris"}'])
    fake.queue = [Script(deltas=(), tool_calls=(call,)), Script(deltas=("It is sunny", " in Paris."))]
    agent = Agent(
        model_for(surface, upstream, sdk), tools=[get_weather], instructions="Use the weather tool."
    )
    if stream:
        async with agent.run_stream("What is the weather in Paris?") as run:
            pieces = [piece async for piece in run.stream_text(delta=True)]
        assert "".join(pieces) == "It is sunny in Paris."
    else:
        result = await agent.run("What is the weather in Paris?")
        assert result.output == "It is sunny in Paris."
    assert ran == ["Paris"]
    assert len(fake.requests) == 2
    messages = fake.requests[1].body["messages"]
    (tool,) = [m for m in messages if m["role"] == "tool"]
    assert tool["tool_call_id"] == "call_w1" and tool["content"] == "Sunny and 21 °C in Paris."


@pytest.mark.parametrize("surface", SURFACES)
async def test_structured_output_through_the_output_tool(
    fake: FakeOpenAI, upstream: Relay, sdk: list[AsyncOpenAI], surface: str
) -> None:
    answer = FakeToolCall("call_o1", "final_result", ['{"name": "Paris",', ' "country": "France"}'])
    fake.script = Script(deltas=(), tool_calls=(answer,))
    result = await Agent(model_for(surface, upstream, sdk), output_type=City).run("Describe Paris.")
    assert result.output == City(name="Paris", country="France")
    body = fake.requests[0].body
    assert [t["function"]["name"] for t in body["tools"]] == ["final_result"]
    assert body["tool_choice"] == "required"  # pydantic-ai allows no text answer here


@pytest.mark.parametrize("surface", SURFACES)
async def test_native_structured_output_through_a_json_schema(
    fake: FakeOpenAI, upstream: Relay, sdk: list[AsyncOpenAI], surface: str
) -> None:
    fake.script = Script(deltas=('{"name": "Lima", ', '"country": "Peru"}'))
    result = await Agent(model_for(surface, upstream, sdk), output_type=NativeOutput(City)).run(
        "A city in Peru?"
    )
    assert result.output == City(name="Lima", country="Peru")
    sent = fake.requests[0].body["response_format"]
    assert sent["type"] == "json_schema"
    assert json.dumps(sent["json_schema"]["schema"]["required"]) == '["name", "country"]'


# -- On the embedded model ------------------------------------------------------------------


# One surface each: grammar-constrained decoding is slow on 2 cores, and the other surface's
# request shape is covered against the upstream above.
@pytest.mark.model
@pytest.mark.parametrize("surface", ["chat"])
async def test_the_output_tool_on_the_embedded_model_validates(
    local: Relay, sdk: list[AsyncOpenAI], surface: str
) -> None:
    agent = Agent(model_for(surface, local, sdk), output_type=City, model_settings={"temperature": 0})
    result = await agent.run("Describe Paris.")
    assert isinstance(result.output, City)


@pytest.mark.model
@pytest.mark.parametrize("surface", ["responses"])
async def test_native_output_on_the_embedded_model_validates(
    local: Relay, sdk: list[AsyncOpenAI], surface: str
) -> None:
    agent = Agent(
        model_for(surface, local, sdk), output_type=NativeOutput(City), model_settings={"temperature": 0}
    )
    result = await agent.run("Describe Tokyo.")
    assert isinstance(result.output, City)
