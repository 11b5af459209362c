"""The OpenAI Agents SDK (`openai-agents`) as a client of llmrelay: an Agent with a
`function_tool`, on `OpenAIChatCompletionsModel` (/v1/chat/completions) and
`OpenAIResponsesModel` (/v1/responses), runs the tool and finishes — a whole loop against the
stand-in upstream, and on the embedded model a required call (grammar-constrained) whose result
is the answer, and a typed output through a JSON schema."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents.models.interface import Model
from openai import AsyncOpenAI
from pydantic import BaseModel

from tests.support.clients import CLIENT_KEY, Relay
from tests.support.fake_openai import FakeOpenAI, FakeToolCall, Script

set_tracing_disabled(True)  # the SDK would send traces to OpenAI

SURFACES = ["chat", "responses"]
ran: list[str] = []  # the tool's calls, as the SDK made them


@function_tool
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
async def sdk(request: pytest.FixtureRequest) -> AsyncIterator[AsyncOpenAI]:
    relay: Relay = request.getfixturevalue(request.node.callspec.params["relay_name"])
    async with AsyncOpenAI(base_url=relay.v1, api_key=CLIENT_KEY, max_retries=0, timeout=240) as client:
        yield client


def model_for(surface: str, relay: Relay, client: AsyncOpenAI) -> Model:
    if surface == "chat":
        return OpenAIChatCompletionsModel(model=relay.model, openai_client=client)
    return OpenAIResponsesModel(model=relay.model, openai_client=client)


# -- In front of the stand-in upstream: the whole loop --------------------------------------


def script_the_loop(fake: FakeOpenAI) -> None:
    call = FakeToolCall("call_w1", "get_weather", ['{"city":', ' "Paris"}'])
    fake.queue = [Script(deltas=(), tool_calls=(call,)), Script(deltas=("It is sunny", " in Paris."))]


@pytest.mark.parametrize("relay_name", ["upstream"])
@pytest.mark.parametrize("surface", SURFACES)
async def test_an_agent_runs_its_tool_and_finishes_with_text(
    fake: FakeOpenAI, upstream: Relay, sdk: AsyncOpenAI, surface: str, relay_name: str
) -> None:
    script_the_loop(fake)
    agent = Agent(
        name="weather",
        instructions="Answer with the weather tool.",
        tools=[get_weather],
        model=model_for(surface, upstream, sdk),
    )
    result = await Runner.run(agent, "What is the weather in Paris?", max_turns=3)
    assert result.final_output == "It is sunny in Paris."
    assert ran == ["Paris"]
    assert len(fake.requests) == 2
    # The second request carried the call and its result back to the upstream, in Chat's shape.
    messages = fake.requests[1].body["messages"]
    (assistant,) = [m for m in messages if m.get("tool_calls")]
    assert assistant["tool_calls"][0]["id"] == "call_w1"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    (tool,) = [m for m in messages if m["role"] == "tool"]
    assert tool["tool_call_id"] == "call_w1" and "Sunny" in tool["content"]


@pytest.mark.parametrize("relay_name", ["upstream"])
@pytest.mark.parametrize("surface", SURFACES)
async def test_a_streamed_agent_run_gives_the_tool_call_and_the_text(
    fake: FakeOpenAI, upstream: Relay, sdk: AsyncOpenAI, surface: str, relay_name: str
) -> None:
    script_the_loop(fake)
    agent = Agent(name="weather", tools=[get_weather], model=model_for(surface, upstream, sdk))
    run = Runner.run_streamed(agent, "What is the weather in Paris?", max_turns=3)
    kinds = [event.item.type async for event in run.stream_events() if event.type == "run_item_stream_event"]
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    assert run.final_output == "It is sunny in Paris."
    assert ran == ["Paris"]


# -- On the embedded model ------------------------------------------------------------------


@pytest.mark.model
@pytest.mark.parametrize("relay_name", ["local"])
@pytest.mark.parametrize("surface", SURFACES)
async def test_a_required_tool_on_the_embedded_model_runs(
    local: Relay, sdk: AsyncOpenAI, surface: str, relay_name: str
) -> None:
    # A 135M model cannot be trusted to stop calling on its own: the tool's result is the answer.
    agent = Agent(
        name="weather",
        tools=[get_weather],
        model=model_for(surface, local, sdk),
        model_settings=ModelSettings(tool_choice="required", temperature=0),
        tool_use_behavior="stop_on_first_tool",
    )
    result = await Runner.run(agent, "What is the weather in Paris?", max_turns=2)
    (city,) = ran
    assert isinstance(city, str)
    assert result.final_output == f"Sunny and 21 °C in {city}."


@pytest.mark.model
@pytest.mark.parametrize("relay_name", ["local"])
@pytest.mark.parametrize("surface", ["responses"])  # Chat's JSON schema: LangChain's, pydantic-ai's tests
async def test_a_typed_output_on_the_embedded_model_validates(
    local: Relay, sdk: AsyncOpenAI, surface: str, relay_name: str
) -> None:
    agent = Agent(
        name="geo",
        instructions="Describe the city asked about.",
        output_type=City,
        model=model_for(surface, local, sdk),
        model_settings=ModelSettings(temperature=0),
    )
    result = await Runner.run(agent, "Paris", max_turns=1)
    assert isinstance(result.final_output, City)
