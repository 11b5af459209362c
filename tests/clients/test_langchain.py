"""LangChain (`langchain-openai`'s ChatOpenAI) as a client of llmrelay's /v1/chat/completions:
tools bound and a call coming back, structured output into a pydantic model, streaming —
against the stand-in upstream (a whole tool loop, deterministic) and the embedded model
(grammar-constrained: a named tool, a JSON schema)."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.support.clients import CLIENT_KEY, Relay
from tests.support.fake_openai import FakeOpenAI, FakeToolCall, Script


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"Sunny and 21 °C in {city}."


class City(BaseModel):
    name: str
    country: str
    population: int


def chat(relay: Relay, **options: object) -> ChatOpenAI:
    return ChatOpenAI(
        model=relay.model, base_url=relay.v1, api_key=CLIENT_KEY, max_retries=0, timeout=240, **options
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("streaming", [False, True])
def test_bind_tools_a_call_comes_back_and_the_result_gets_the_answer(
    fake: FakeOpenAI, upstream: Relay, streaming: bool
) -> None:
    fake.queue = [
        Script(deltas=(), tool_calls=(FakeToolCall("call_w1", "get_weather", ['{"city"', ': "Paris"}']),)),
        Script(deltas=("It is sunny", " in Paris.")),
    ]
    model = chat(upstream, streaming=streaming).bind_tools([get_weather])
    messages: list[object] = [HumanMessage("What is the weather in Paris?")]
    first = model.invoke(messages)  # type: ignore[arg-type]
    assert isinstance(first, AIMessage)
    (call,) = first.tool_calls
    assert (call["id"], call["name"], call["args"]) == ("call_w1", "get_weather", {"city": "Paris"})
    result = get_weather.invoke(call)
    assert isinstance(result, ToolMessage)
    final = model.invoke([*messages, first, result])  # type: ignore[list-item]
    assert final.content == "It is sunny in Paris."
    assert not final.tool_calls  # type: ignore[attr-defined]

    # What reached the upstream: the tool declared, then the call and its result in its place.
    declared = fake.requests[0].body["tools"]
    assert [t["function"]["name"] for t in declared] == ["get_weather"]
    assert declared[0]["function"]["parameters"]["required"] == ["city"]
    second = fake.requests[1].body["messages"]
    assert second[1]["tool_calls"][0]["id"] == "call_w1"
    assert json.loads(second[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert second[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "Sunny and 21 °C in Paris."}


def test_with_structured_output_parses_into_the_model(fake: FakeOpenAI, upstream: Relay) -> None:
    fake.script = Script(deltas=('{"name": "Paris", ', '"country": "France", "population": 2102650}'))
    city = chat(upstream).with_structured_output(City).invoke("Describe Paris.")
    assert city == City(name="Paris", country="France", population=2102650)
    sent = fake.requests[0].body["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "City"
    assert set(sent["json_schema"]["schema"]["properties"]) == {"name", "country", "population"}


def test_streaming_gives_the_text_in_chunks_and_the_usage(fake: FakeOpenAI, upstream: Relay) -> None:
    fake.script = Script(deltas=("Hello", " from", " upstream."))
    chunks = list(chat(upstream, stream_usage=True).stream("Say hello."))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(str(c.content) for c in chunks) == "Hello from upstream."
    assert sum(1 for c in chunks if c.content) >= 3  # streamed, not one lump
    whole = chunks[0]
    for c in chunks[1:]:
        whole = whole + c
    assert whole.usage_metadata is not None and whole.usage_metadata["output_tokens"] == 3


# -- The embedded model ---------------------------------------------------------------------


@pytest.mark.model
def test_a_named_tool_on_the_embedded_model_is_a_valid_call(local: Relay) -> None:
    model = chat(local, temperature=0).bind_tools([get_weather], tool_choice="get_weather")
    reply = model.invoke("What is the weather in Paris?")
    assert isinstance(reply, AIMessage)
    (call,) = reply.tool_calls
    assert call["name"] == "get_weather"
    assert isinstance(call["args"]["city"], str)
    assert call["id"] and call["id"].startswith("call_")
    # The call runs as LangChain runs it.
    assert get_weather.invoke(call).content.startswith("Sunny")


@pytest.mark.model
def test_structured_output_on_the_embedded_model_always_validates(local: Relay) -> None:
    structured = chat(local, temperature=0).with_structured_output(City)
    city = structured.invoke("Describe Tokyo.")
    assert isinstance(city, City)


@pytest.mark.model
def test_streaming_on_the_embedded_model(local: Relay) -> None:
    chunks = list(chat(local, temperature=0, max_tokens=16).stream("Say hello."))
    text = "".join(str(c.content) for c in chunks)
    assert text.strip()
    assert sum(1 for c in chunks if c.content) > 1
