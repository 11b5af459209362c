"""Extended thinking on /v1/messages, end to end, with the official `anthropic` SDK as the client:
an Anthropic upstream (the wire-level stand-in) whose thinking blocks come back with their
signatures intact and go back to it exactly as Anthropic requires in a tool round trip; the
scripted model and an OpenAI-compatible server, which have no extended thinking (accepted, no
thinking block; their earlier thinking left out of the prompt) or show their reasoning_content
as a thinking block; `output_config` (format, effort); and the budget's rules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pytest

from llmrelay.app import create_app
from llmrelay.providers.anthropic import shapes as anthropic_shapes
from llmrelay.providers.anthropic.messages import AnthropicProvider
from llmrelay.providers.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    InvalidParameter,
    ProviderEvent,
    ReasoningBlock,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    TextDelta,
    Thinking,
    ToolCall,
    Usage,
)
from llmrelay.providers.scripted import Script as ScriptedScript
from llmrelay.providers.scripted import ScriptedProvider, split_into_deltas
from tests.support.fake_anthropic import FakeAnthropic, FakeThinking, Script
from tests.support.fake_openai import FakeOpenAI, FakeToolCall
from tests.support.fake_openai import Script as OpenAIScript
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.sse_client import messages_events
from tests.support.upstream import serve_anthropic_relay, serve_relay

KEY = "sk-ant-api03-thinking-test-1a2b3c4d5e"
MODEL = "claude-haiku-4-5"
# The relay's ceiling on max_tokens: above the budgets asked here, as Claude Code needs.
CEILING = 8192
THINK: Any = {"type": "enabled", "budget_tokens": 2048}
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]
THOUGHT = FakeThinking(("Paris in ", "spring:\n", " let me check."), signature="EqQBCkYIBxgCKkB+sig/1==")
LATER = FakeThinking(("It said sunny.",), signature="EqQBCkYIBxgCKkB+sig/2==")
REDACTED = FakeThinking(redacted="EmwKAhgBEgy3va3pzix/LafPsn4a")
CALL = FakeToolCall("toolu_01A", "get_weather", ['{"city": ', '"Paris"}'])
WEATHER: Any = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def upstream(anthropic_upstream: tuple[FakeAnthropic, str]) -> FakeAnthropic:
    return anthropic_upstream[0].reset()


@pytest.fixture(scope="module")
def relay(anthropic_upstream: tuple[FakeAnthropic, str]) -> Iterator[str]:
    with serve_anthropic_relay(anthropic_upstream[1], KEY, max_output_tokens=CEILING) as url:
        yield url


@pytest.fixture
async def claude(relay: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=relay, api_key="unused", max_retries=0) as sdk:
        yield sdk


def blocks(content: Any) -> list[dict[str, Any]]:
    """A message's content blocks as a client gives them back."""
    return [block.model_dump(exclude_none=True) for block in content]


# -- the provider: what Anthropic's thinking becomes, and what goes back --------------------------


async def test_thinking_blocks_are_read_as_reasoning_ended_by_their_signatures(
    upstream: FakeAnthropic, anthropic_upstream: tuple[FakeAnthropic, str]
) -> None:
    upstream.script = Script(deltas=["Sunny."], thinking=[THOUGHT, REDACTED, LATER])
    provider = AnthropicProvider(
        api_key=KEY, base_url=anthropic_upstream[1], model=MODEL, timeout=10, max_retries=0, max_tokens=4096
    )
    try:
        asked = GenerationRequest(
            messages=[ChatMessage("user", "hi")], max_tokens=4096, thinking=Thinking("enabled", 1024)
        )
        events: list[ProviderEvent] = [event async for event in provider.stream(asked)]
    finally:
        await provider.aclose()
    assert events == [
        *(ReasoningDelta(text) for text in THOUGHT.fragments),
        ReasoningSignature(THOUGHT.signature),
        RedactedReasoning(str(REDACTED.redacted)),
        ReasoningDelta("It said sunny."),
        ReasoningSignature(LATER.signature),
        TextDelta("Sunny."),
        Usage(17, 5),
        Finished("stop"),
    ]
    assert upstream.requests[-1].body["thinking"] == {"type": "enabled", "budget_tokens": 1024}


async def test_signed_reasoning_goes_back_before_the_calls_and_unsigned_reasoning_is_left_out(
    upstream: FakeAnthropic, anthropic_upstream: tuple[FakeAnthropic, str]
) -> None:
    upstream.issued[THOUGHT.signature] = THOUGHT.block  # as if it had sent it earlier
    provider = AnthropicProvider(
        api_key=KEY, base_url=anthropic_upstream[1], model=MODEL, timeout=10, max_retries=0, max_tokens=64
    )
    reasoning = (
        ReasoningBlock("from another model, unsigned"),
        ReasoningBlock("".join(THOUGHT.fragments), THOUGHT.signature),
    )
    asked = GenerationRequest(
        messages=[
            ChatMessage("user", "Weather in Paris?"),
            ChatMessage(
                "assistant",
                "Checking.",
                tool_calls=(ToolCall("toolu_01A", "get_weather", '{"city":"Paris"}'),),
                reasoning=reasoning,
            ),
            ChatMessage("tool", "sunny", tool_call_id="toolu_01A"),
        ]
    )
    try:
        assert [e async for e in provider.stream(asked)][-1] == Finished("stop")
    finally:
        await provider.aclose()
    assert upstream.requests[-1].body["messages"][1]["content"] == [
        THOUGHT.block,
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
    ]


def test_the_budget_stays_below_the_max_tokens_sent() -> None:
    provider = AnthropicProvider(
        api_key=KEY, base_url="http://127.0.0.1:9", model=MODEL, timeout=1, max_retries=0, max_tokens=CEILING
    )

    def asking(budget: int, max_tokens: int) -> GenerationRequest:
        return GenerationRequest(
            messages=[ChatMessage("user", "hi")], max_tokens=max_tokens, thinking=Thinking("enabled", budget)
        )

    # Below the request's max_tokens and the ceiling: as asked.
    assert provider.params(asking(2048, 4096))["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    # The ceiling lowered max_tokens: the budget, an upper bound, goes below it too.
    lowered = provider.params(asking(31999, 32000))
    assert (lowered["max_tokens"], lowered["thinking"]["budget_tokens"]) == (CEILING, CEILING - 1)
    with pytest.raises(InvalidParameter) as caught:
        provider.params(asking(4096, 4096))
    assert caught.value.param == "thinking.budget_tokens"
    assert str(caught.value) == "thinking.budget_tokens: must be less than max_tokens (4096 >= 4096)."


# -- the anthropic SDK through llmrelay to Anthropic ----------------------------------------------


async def test_the_stream_helper_gets_the_thinking_block_with_its_signature(
    upstream: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    upstream.script = Script(deltas=["It is ", "sunny."], thinking=[THOUGHT])
    async with claude.messages.stream(model=MODEL, max_tokens=4096, thinking=THINK, messages=ASK) as stream:
        thoughts = [e.thinking async for e in stream if e.type == "thinking"]
        final = await stream.get_final_message()
    assert thoughts == list(THOUGHT.fragments)
    assert blocks(final.content) == [THOUGHT.block, {"type": "text", "text": "It is sunny."}]
    sent = upstream.requests[-1].body
    assert (sent["thinking"], sent["max_tokens"]) == (THINK, 4096)


async def test_the_stream_is_anthropics_thinking_then_text(upstream: FakeAnthropic, relay: str) -> None:
    upstream.script = Script(deltas=["Sunny."], thinking=[THOUGHT])
    events = await messages_events(
        relay, {"model": MODEL, "max_tokens": 4096, "thinking": THINK, "messages": ASK}
    )
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    data = [d for _, d in events]
    assert data[1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    }
    assert [d["delta"] for d in data[3:7]] == [
        *({"type": "thinking_delta", "thinking": text} for text in THOUGHT.fragments),
        {"type": "signature_delta", "signature": THOUGHT.signature},
    ]
    assert {d["index"] for d in data[3:8]} == {0}
    assert data[8] == {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "text", "text": ""},
    }
    assert data[9]["index"] == data[10]["index"] == 1


async def test_a_whole_message_carries_its_thinking_and_redacted_blocks(
    upstream: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    upstream.script = Script(deltas=["Sunny."], thinking=[REDACTED, THOUGHT])
    message = await claude.messages.create(model=MODEL, max_tokens=4096, thinking=THINK, messages=ASK)
    assert blocks(message.content) == [REDACTED.block, THOUGHT.block, {"type": "text", "text": "Sunny."}]


async def test_a_tool_round_trip_gives_the_thinking_back_as_anthropic_requires(
    upstream: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    upstream.queue = [
        Script(deltas=["Let me check."], thinking=[THOUGHT], tool_uses=[CALL]),
        Script(deltas=["Sunny in Paris."], thinking=[LATER]),
    ]
    async with claude.messages.stream(
        model=MODEL, max_tokens=4096, thinking=THINK, tools=[WEATHER], messages=ASK
    ) as stream:
        first = await stream.get_final_message()
    assert first.stop_reason == "tool_use"
    assert [b.type for b in first.content] == ["thinking", "text", "tool_use"]
    history: Any = [
        *ASK,
        {"role": "assistant", "content": blocks(first.content)},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "sunny"}],
        },
    ]
    async with claude.messages.stream(
        model=MODEL, max_tokens=4096, thinking=THINK, tools=[WEATHER], messages=history
    ) as stream:
        second = await stream.get_final_message()
    assert blocks(second.content) == [LATER.block, {"type": "text", "text": "Sunny in Paris."}]
    # What reached Anthropic: the thinking block first, byte for byte, then the text and the call.
    assert upstream.requests[1].body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                THOUGHT.block,
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "sunny"}],
        },
    ]
    assert upstream.requests[1].body["thinking"] == THINK


async def test_the_stand_in_refuses_what_anthropic_refuses(
    upstream: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    """The stand-in's checks are live: the round trip above passes them, these do not."""
    history: Any = [
        *ASK,
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
    with pytest.raises(anthropic.BadRequestError) as caught:
        await claude.messages.create(
            model=MODEL, max_tokens=4096, thinking=THINK, tools=[WEATHER], messages=history
        )
    assert "Expected `thinking` or `redacted_thinking`, but found `tool_use`" in (
        caught.value.api_message or ""
    )
    # A thinking block changed on its way back: its signature no longer holds.
    upstream.issued[THOUGHT.signature] = THOUGHT.block
    history[1]["content"].insert(0, {**THOUGHT.block, "thinking": "something else"})
    with pytest.raises(anthropic.BadRequestError) as caught:
        await claude.messages.create(
            model=MODEL, max_tokens=4096, thinking=THINK, tools=[WEATHER], messages=history
        )
    assert "Invalid `signature`" in (caught.value.api_message or "")


async def test_a_budget_not_below_max_tokens_is_a_400_before_anything_is_sent(
    upstream: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await claude.messages.create(
            model=MODEL, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 2048}, messages=ASK
        )
    assert caught.value.status_code == 400 and caught.value.type == "invalid_request_error"
    assert caught.value.api_message == (
        "thinking.budget_tokens: must be less than max_tokens (2048 >= 2048); thinking tokens count toward max_tokens."
    )
    assert upstream.requests == []


async def test_a_ceiling_below_anthropics_least_budget_asks_without_thinking_and_says_so(
    upstream: FakeAnthropic,
    anthropic_upstream: tuple[FakeAnthropic, str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the default ceiling (512 output tokens) no budget fits: the answer is asked without
    thinking, as on a model that has none — never a 400 that would fail every request of a
    client that always asks for thinking."""
    monkeypatch.setattr(anthropic_shapes, "_warned_no_room", set())  # said once per process
    upstream.script = Script(deltas=["Plain."])
    with serve_anthropic_relay(anthropic_upstream[1], KEY, max_output_tokens=512) as url:
        async with anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0) as sdk:
            message = await sdk.messages.create(model=MODEL, max_tokens=16000, thinking=THINK, messages=ASK)
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Plain."  # type: ignore[union-attr]
    (sent,) = upstream.requests
    assert "thinking" not in sent.body and sent.body["max_tokens"] == 512
    assert any("leaves no room" in r.getMessage() and "512" in r.getMessage() for r in caplog.records)


async def test_output_config_and_other_kinds_of_thinking_reach_anthropic_as_given(
    upstream: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    schema: dict[str, object] = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }
    upstream.script = Script(deltas=['{"city": "Paris"}'])
    message = await claude.messages.create(
        model=MODEL,
        max_tokens=256,
        thinking={"type": "adaptive", "display": "omitted"},
        output_config={"effort": "low", "format": {"type": "json_schema", "schema": schema}},
        messages=ASK,
    )
    assert message.content[0].type == "text" and json.loads(message.content[0].text) == {"city": "Paris"}
    sent = upstream.requests[-1].body
    assert sent["thinking"] == {"type": "adaptive", "display": "omitted"}
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": schema}, "effort": "low"}
    await claude.messages.create(model=MODEL, max_tokens=256, thinking={"type": "disabled"}, messages=ASK)
    assert upstream.requests[-1].body["thinking"] == {"type": "disabled"}


# -- models without extended thinking -------------------------------------------------------------


@pytest.fixture
def scripted() -> ScriptedProvider:
    return ScriptedProvider(ScriptedScript(split_into_deltas("Hello there!")), model="scripted")


@pytest.fixture
async def on_scripted(scripted: ScriptedProvider) -> AsyncIterator[anthropic.AsyncAnthropic]:
    with serve(create_app(make_settings(), provider=scripted)) as url:
        async with anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0) as sdk:
            yield sdk


async def test_thinking_on_a_model_without_it_is_an_answer_with_no_thinking_block(
    on_scripted: anthropic.AsyncAnthropic, scripted: ScriptedProvider
) -> None:
    history: Any = [
        *ASK,
        {"role": "assistant", "content": [THOUGHT.block, REDACTED.block, {"type": "text", "text": "Sunny."}]},
        {"role": "user", "content": "And tomorrow?"},
    ]
    async with on_scripted.messages.stream(
        model="scripted", max_tokens=4096, thinking=THINK, messages=history
    ) as stream:
        final = await stream.get_final_message()
    assert blocks(final.content) == [{"type": "text", "text": "Hello there!"}]
    whole = await on_scripted.messages.create(model="scripted", max_tokens=4096, thinking=THINK, messages=ASK)
    assert blocks(whole.content) == [{"type": "text", "text": "Hello there!"}]
    # The earlier reasoning came along as the assistant's (a provider with no use for it leaves
    # it out of the prompt: the OpenAI-compatible test below shows what reaches such a server).
    assistant = scripted.requests[0].messages[1]
    assert (assistant.content, assistant.reasoning) == (
        "Sunny.",
        (
            ReasoningBlock("".join(THOUGHT.fragments), THOUGHT.signature),
            ReasoningBlock(redacted=REDACTED.redacted),
        ),
    )


@pytest.fixture
def compatible(fake_upstream: tuple[FakeOpenAI, str]) -> Iterator[str]:
    with serve_relay("openai-compatible", fake_upstream[1], model="reasoner") as url:
        yield url


async def test_an_openai_compatible_servers_reasoning_is_a_thinking_block(
    fake: FakeOpenAI, compatible: str
) -> None:
    fake.script = OpenAIScript(deltas=("Yes, ", "7 is prime."), reasoning=("Seven has ", "no divisors."))
    history: Any = [
        {"role": "user", "content": "Is 5 prime?"},
        {"role": "assistant", "content": [THOUGHT.block, {"type": "text", "text": "Yes."}]},
        {"role": "user", "content": "Is 7 prime?"},
    ]
    async with anthropic.AsyncAnthropic(base_url=compatible, api_key="unused", max_retries=0) as sdk:
        async with sdk.messages.stream(
            model="reasoner", max_tokens=4096, thinking=THINK, messages=history
        ) as stream:
            thoughts = [e.thinking async for e in stream if e.type == "thinking"]
            final = await stream.get_final_message()
        whole = await sdk.messages.create(model="reasoner", max_tokens=4096, messages=history)
    assert thoughts == ["Seven has ", "no divisors."]
    expected = [
        {"type": "thinking", "thinking": "Seven has no divisors.", "signature": ""},
        {"type": "text", "text": "Yes, 7 is prime."},
    ]
    assert blocks(final.content) == expected and blocks(whole.content) == expected
    # The earlier thinking is the model's own, not the user's words: left out of the prompt.
    sent = fake.requests[0].body
    assert sent["messages"][1] == {"role": "assistant", "content": "Yes."}
    assert "thinking" not in sent and "reasoning_effort" not in sent


async def test_unsigned_reasoning_streams_with_an_empty_signature_delta(
    fake: FakeOpenAI, compatible: str
) -> None:
    fake.script = OpenAIScript(deltas=("Yes.",), reasoning=("Hm.",))
    events = await messages_events(compatible, {"model": "reasoner", "max_tokens": 64, "messages": ASK})
    deltas = [(d["index"], d["delta"]) for name, d in events if name == "content_block_delta"]
    assert deltas == [
        (0, {"type": "thinking_delta", "thinking": "Hm."}),
        (0, {"type": "signature_delta", "signature": ""}),
        (1, {"type": "text_delta", "text": "Yes."}),
    ]
