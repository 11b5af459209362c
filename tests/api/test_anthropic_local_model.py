"""The Anthropic SDK on the embedded model (SmolLM2-135M): an Anthropic client needs no
Anthropic upstream. Whole messages, the stream helper, top_k (which llama.cpp honours),
count_tokens, the SDK's exceptions, extended thinking asked of a model that has none (as Claude
Code asks it) and `output_config.format` (JSON constrained by grammar), through a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pytest
from pydantic import BaseModel, ConfigDict

from llmrelay.app import create_app
from llmrelay.providers.local import default_model_path
from tests.support.servers import serve
from tests.support.settings import make_settings

pytestmark = pytest.mark.model

MODEL = default_model_path().stem


@pytest.fixture(scope="module")
def model_server() -> Iterator[str]:
    with serve(create_app(make_settings(provider="local", max_output_tokens=48))) as url:
        yield url


@pytest.fixture
async def client(model_server: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=model_server, api_key="unused", max_retries=0) as sdk:
        yield sdk


async def test_create_answers_with_the_embedded_model(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model=MODEL,
        max_tokens=24,
        system="You are a helpful assistant.",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        extra_body={"temperature": 0.0, "top_k": 1},
    )
    assert message.content[0].type == "text" and message.content[0].text.strip()
    assert message.stop_reason in ("end_turn", "max_tokens")
    # The model's own tokenizer counted both sides.
    assert message.usage.input_tokens > 5 and 0 < message.usage.output_tokens <= 24


async def test_stream_helper_on_the_embedded_model(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model=MODEL,
        max_tokens=4,
        messages=[{"role": "user", "content": "Write a long story about a dragon."}],
    ) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) > 1
    assert final.content[0].type == "text" and final.content[0].text == "".join(pieces)
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 4


async def test_count_tokens_uses_the_models_tokenizer(client: anthropic.AsyncAnthropic) -> None:
    short = await client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    long = await client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "Hi, how are you doing on this fine morning?"}]
    )
    assert 0 < short.input_tokens < long.input_tokens


async def test_the_sdks_exceptions_on_the_embedded_model(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.create(
            model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(
            model=MODEL,
            max_tokens=8,
            messages=[{"role": "user", "content": "x"}],
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
    # Anthropic's rule holds on every model: the budget is part of max_tokens.
    assert caught.value.type == "invalid_request_error"
    assert (caught.value.api_message or "").startswith("thinking.budget_tokens: must be less than max_tokens")


WEATHER: Any = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


async def test_a_tool_use_round_trip_on_the_embedded_model(client: anthropic.AsyncAnthropic) -> None:
    asked: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
    # A named tool: the grammar makes the model call it, with input that fits its schema.
    first = await client.messages.create(
        model=MODEL,
        max_tokens=48,
        messages=asked,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        extra_body={"temperature": 0.0},
    )
    assert first.stop_reason == "tool_use"
    (use,) = [block for block in first.content if block.type == "tool_use"]
    assert (
        use.name == "get_weather" and isinstance(use.input, dict) and isinstance(use.input.get("city"), str)
    )
    answer = await client.messages.create(
        model=MODEL,
        max_tokens=24,
        tools=[WEATHER],
        tool_choice={"type": "none"},
        messages=[
            *asked,
            {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny, 21 C."}],
            },
        ],
    )
    assert answer.stop_reason in ("end_turn", "max_tokens")
    assert answer.content[0].type == "text" and answer.content[0].text.strip()


GREEDY: Any = {"temperature": 0.0, "top_k": 1}


async def test_a_stop_sequence_on_the_embedded_model_is_reported(client: anthropic.AsyncAnthropic) -> None:
    asked: Any = [{"role": "user", "content": "Name five colours."}]
    free = await client.messages.create(model=MODEL, max_tokens=32, messages=asked, extra_body=GREEDY)
    assert free.content[0].type == "text"
    text = free.content[0].text
    # A stop sequence from the middle of what greedy decoding writes: the same answer ends there.
    words = text.split()
    assert len(words) >= 4, text
    stop = " " + words[len(words) // 2]
    cut = text[: text.index(stop)]
    stopped = await client.messages.create(
        model=MODEL, max_tokens=32, messages=asked, stop_sequences=[stop], extra_body=GREEDY
    )
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", stop)
    assert stopped.content[0].type == "text" and stopped.content[0].text == cut
    async with client.messages.stream(
        model=MODEL, max_tokens=32, messages=asked, stop_sequences=[stop], extra_body=GREEDY
    ) as stream:
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(pieces) == cut and stop not in "".join(pieces)
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", stop)


async def test_count_tokens_is_the_prompt_the_model_reads(client: anthropic.AsyncAnthropic) -> None:
    # Counted over the chat template, the tools described: what the answer reports as its input.
    prompt: Any = {
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [WEATHER],
    }
    counted = await client.messages.count_tokens(model=MODEL, **prompt)
    answer = await client.messages.create(model=MODEL, max_tokens=4, **prompt)
    assert counted.input_tokens == answer.usage.input_tokens
    bare = await client.messages.count_tokens(model=MODEL, messages=prompt["messages"])
    assert bare.input_tokens < counted.input_tokens  # the system text and the tools take tokens


THINK: Any = {"type": "enabled", "budget_tokens": 1024}


async def test_thinking_on_the_embedded_model_is_an_answer_with_no_thinking_block(
    client: anthropic.AsyncAnthropic,
) -> None:
    """As Claude Code asks: thinking on, and an earlier turn's thinking block given back."""
    thought = {
        "type": "thinking",
        "thinking": "They want a city. Paris.",
        "signature": "EqQBCkYIBxgCKkB+sig==",
    }
    said = {"type": "text", "text": "Paris is the capital of France."}
    turns: Any = [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": [thought, said]},
        {"role": "user", "content": "And of Italy?"},
    ]
    async with client.messages.stream(
        model=MODEL, max_tokens=2048, thinking=THINK, messages=turns, extra_body=GREEDY
    ) as stream:
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    # No thinking is within any budget: the answer is its text alone.
    assert [block.type for block in final.content] == ["text"]
    assert final.content[0].type == "text" and final.content[0].text == "".join(pieces) != ""
    # The earlier thinking is the model's own, not the user's: the prompt it read leaves it out.
    without: Any = [turns[0], {"role": "assistant", "content": [said]}, turns[2]]
    counted = await client.messages.count_tokens(model=MODEL, messages=turns, thinking=THINK)
    assert (
        counted.input_tokens
        == (await client.messages.count_tokens(model=MODEL, messages=without)).input_tokens
    )


class Count(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    answer: int


async def test_output_config_format_is_json_that_validates(client: anthropic.AsyncAnthropic) -> None:
    schema = Count.model_json_schema()
    for question in ("What is 2 + 2?", "How many legs has a cat?"):
        message = await client.messages.create(
            model=MODEL,
            max_tokens=48,
            messages=[{"role": "user", "content": question}],
            # An effort level changes nothing a model with one way of answering does: accepted.
            output_config={"format": {"type": "json_schema", "schema": schema}, "effort": "low"},
            extra_body=GREEDY,
        )
        assert message.content[0].type == "text"
        # Validated against the model the schema came from (strict: an integer, and nothing else).
        Count.model_validate_json(message.content[0].text)
