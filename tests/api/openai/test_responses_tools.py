"""Function tools through /v1/responses, with the official OpenAI SDK as the client and the
wire-level stand-in as the upstream (Chat Completions or the Responses API): streamed
`function_call` items, their argument deltas, results sent back, and chains that include them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from llmrelay.app import create_app
from tests.support.fake_openai import FakeOpenAI, FakeToolCall, Script
from tests.support.servers import serve
from tests.support.upstream import relay_settings

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CALL = FakeToolCall("call_w1", "get_weather", ['{"city"', "", ': "Paris"}'])


@pytest.fixture(scope="module", params=["openai-compatible", "openai"])
def served(
    request: pytest.FixtureRequest, fake_upstream: tuple[FakeOpenAI, str]
) -> Iterator[tuple[FakeOpenAI, str, str]]:
    """A real llmrelay in front of the session's stand-in (tests take `fake` to script it)."""
    fake, fake_url = fake_upstream
    settings = relay_settings(request.param, fake_url, model="upstream-model")
    with serve(create_app(settings)) as url:
        yield fake, url, request.param


@pytest.fixture
def client(served: tuple[FakeOpenAI, str, str]) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{served[1]}/v1", api_key="x", max_retries=0) as client:
        yield client


def test_a_streamed_function_call_comes_as_its_items_and_argument_deltas(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script = Script(deltas=(), tool_calls=(CALL,))
    events = list(
        client.responses.create(
            model="upstream-model", input="Weather in Paris?", tools=[WEATHER], stream=True
        )
    )  # type: ignore[list-item]
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    added = [e for e in events if e.type == "response.output_item.added"]
    assert [e.item.type for e in added] == ["function_call"]  # type: ignore[attr-defined]
    assert added[0].item.name == "get_weather" and added[0].item.call_id == "call_w1"  # type: ignore[attr-defined]
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]  # type: ignore[attr-defined]
    assert "".join(deltas) == CALL.arguments
    (done,) = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done.arguments == CALL.arguments  # type: ignore[attr-defined]
    assert [e.sequence_number for e in events] == list(range(len(events)))  # type: ignore[attr-defined]
    final = events[-1].response  # type: ignore[attr-defined]
    (item,) = final.output
    assert (item.type, item.call_id, item.name, item.arguments) == (
        "function_call",
        "call_w1",
        "get_weather",
        CALL.arguments,
    )


def test_the_stream_helper_and_a_whole_response_and_a_chain_with_the_result(
    fake: FakeOpenAI, client: openai.OpenAI, served: tuple[FakeOpenAI, str, str]
) -> None:
    fake.script = Script(deltas=(), tool_calls=(CALL,))
    with client.responses.stream(
        model="upstream-model", input="Weather in Paris?", tools=[WEATHER]
    ) as stream:  # type: ignore[list-item]
        for _ in stream:
            pass
        streamed = stream.get_final_response()
    (call,) = [i for i in streamed.output if i.type == "function_call"]
    assert json.loads(call.arguments) == {"city": "Paris"}

    first = client.responses.create(model="upstream-model", input="Weather in Paris?", tools=[WEATHER])  # type: ignore[list-item]
    (call,) = [i for i in first.output if i.type == "function_call"]
    assert call.call_id == "call_w1"
    # Kept: it reads back with its call.
    kept = client.responses.retrieve(first.id)
    assert [i.type for i in kept.output] == ["function_call"]

    fake.script = Script(deltas=("Sunny in Paris.",))
    second = client.responses.create(
        model="upstream-model",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": "call_w1", "output": "sunny"}],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert second.output_text == "Sunny in Paris."
    sent = fake.requests[-1].body
    if served[2] == "openai-compatible":
        assert sent["messages"][-2]["tool_calls"][0]["function"] == {
            "name": "get_weather",
            "arguments": CALL.arguments,
        }
        assert sent["messages"][-1] == {"role": "tool", "content": "sunny", "tool_call_id": "call_w1"}
    else:
        assert sent["input"][-2:] == [
            {
                "type": "function_call",
                "call_id": "call_w1",
                "name": "get_weather",
                "arguments": CALL.arguments,
            },
            {"type": "function_call_output", "call_id": "call_w1", "output": "sunny"},
        ]


def test_text_format_json_schema_reaches_the_upstream(
    fake: FakeOpenAI, client: openai.OpenAI, served: tuple[FakeOpenAI, str, str]
) -> None:
    fake.script = Script(deltas=('{"city": "Paris"}',))
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    reply = client.responses.create(
        model="upstream-model",
        input="A city?",
        text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}},
    )
    assert json.loads(reply.output_text) == {"city": "Paris"}
    sent = fake.requests[-1].body
    if served[2] == "openai-compatible":
        assert sent["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "city", "schema": schema, "strict": True},
        }
    else:
        assert sent["text"] == {
            "format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}
        }


def test_a_result_for_no_call_is_refused(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(
            model="upstream-model", input=[{"type": "function_call_output", "call_id": "nope", "output": "x"}]
        )
    assert raised.value.body["param"] == "input"  # type: ignore[index]
    assert "nope" in raised.value.message
    assert fake.requests == []
