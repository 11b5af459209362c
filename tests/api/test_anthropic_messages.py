"""Anthropic's Messages API at /v1/messages, used as its users would: through the official
`anthropic` SDK (and raw HTTP where the wire itself is the point), against a real llmrelay
server on a scripted model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.limiter import InProcessLimiter
from llmrelay.providers.base import ProviderError, ToolCall, UpstreamRateLimited, UpstreamUnavailable
from llmrelay.providers.scripted import Script, ScriptedProvider, split_into_deltas
from llmrelay.wire import sse
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.sse_client import messages_events
from tests.support.wait import eventually

REPLY = "Hello there, world!"
USER: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider(Script(split_into_deltas(REPLY)), model="scripted")


@pytest.fixture
def url(provider: ScriptedProvider) -> Iterator[str]:
    with serve(create_app(make_settings(), provider=provider)) as base:
        yield base


@pytest.fixture
async def client(url: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    # No retries: a test that expects an error must see the first answer, not a retry's.
    async with anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0) as sdk:
        yield sdk


# -- answers ------------------------------------------------------------------------------------


async def test_create_answers_with_a_whole_message(
    client: anthropic.AsyncAnthropic, provider: ScriptedProvider
) -> None:
    message = await client.messages.create(
        model="scripted", max_tokens=64, system="Be brief.", messages=USER, metadata={"user_id": "u-1"}
    )
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert [(b.type, b.text) for b in message.content if b.type == "text"] == [("text", REPLY)]
    assert message.model == "scripted"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.output_tokens == 3 and message.usage.input_tokens == 3
    (asked,) = provider.requests
    assert [(m.role, m.content) for m in asked.messages] == [("system", "Be brief."), ("user", "hi")]
    assert asked.max_tokens == 64


async def test_stream_helper_text_stream_and_final_message(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(model="scripted", max_tokens=64, messages=USER) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert pieces == ["Hello", " there,", " world!"]
    assert final.content[0].type == "text" and final.content[0].text == REPLY
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (1, 3)


async def test_the_stream_is_exactly_anthropics_event_sequence(url: str) -> None:
    events = await messages_events(url, {"model": "scripted", "max_tokens": 64, "messages": USER})
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["role"] == "assistant"
    assert events[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert [d["delta"] for _, d in events[3:6]] == [
        {"type": "text_delta", "text": t} for t in ("Hello", " there,", " world!")
    ]
    delta = events[7][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 3 and delta["usage"]["input_tokens"] == 1


async def test_max_tokens_stops_with_stop_reason_max_tokens(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(model="scripted", max_tokens=1, messages=USER)
    assert message.stop_reason == "max_tokens"
    assert message.content[0].type == "text" and message.content[0].text == "Hello"


async def test_a_stop_sequence_ends_the_answer_and_is_reported(client: anthropic.AsyncAnthropic) -> None:
    # "e, w" spans two of the script's deltas (" there," and " world!"): held back, never shown.
    message = await client.messages.create(
        model="scripted", max_tokens=64, messages=USER, stop_sequences=["\n\n", "e, w"]
    )
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "e, w")
    assert message.content[0].type == "text" and message.content[0].text == "Hello ther"
    async with client.messages.stream(
        model="scripted", max_tokens=64, messages=USER, stop_sequences=["e, w"]
    ) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert pieces == ["Hello", " ther"]
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "e, w")
    # A stop sequence the answer never reached: it ended on its own.
    plain = await client.messages.create(
        model="scripted", max_tokens=64, messages=USER, stop_sequences=["zz"]
    )
    assert (plain.stop_reason, plain.stop_sequence) == ("end_turn", None)


async def test_the_stop_sequence_on_the_wire(url: str) -> None:
    events = await messages_events(
        url, {"model": "scripted", "max_tokens": 64, "messages": USER, "stop_sequences": [" world"]}
    )
    (delta,) = [data for name, data in events if name == "message_delta"]
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": " world"}
    texts = [data["delta"]["text"] for name, data in events if name == "content_block_delta"]
    assert "".join(texts) == "Hello there,"


async def test_system_blocks_stop_sequences_and_sampling_reach_the_model(
    client: anthropic.AsyncAnthropic, provider: ScriptedProvider
) -> None:
    await client.messages.create(
        model="scripted",
        max_tokens=64,
        system=[{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in French."}],
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "Name "}, {"type": "text", "text": "a colour."}],
            },
            {"role": "assistant", "content": "Bleu."},
            {"role": "user", "content": "Another?"},
        ],
        stop_sequences=["\n\n"],
        # The SDK (since 1.0) sends sampling parameters only as extra body fields.
        extra_body={"temperature": 0.5, "top_p": 0.9},
    )
    (asked,) = provider.requests
    assert [(m.role, m.content) for m in asked.messages] == [
        ("system", "You are terse.\n\nAnswer in French."),
        ("user", "Name a colour."),
        ("assistant", "Bleu."),
        ("user", "Another?"),
    ]
    assert (asked.stop, asked.temperature, asked.top_p, asked.top_k) == (("\n\n",), 0.5, 0.9, None)


async def test_count_tokens(client: anthropic.AsyncAnthropic) -> None:
    counted = await client.messages.count_tokens(model="scripted", system="Be brief.", messages=USER)
    assert counted.input_tokens == 3  # the scripted model counts words
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.count_tokens(model="claude-nope", messages=USER)


# -- refusals and errors ---------------------------------------------------------------------------


async def test_an_unknown_model_is_not_found(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        await client.messages.create(model="claude-nope", max_tokens=8, messages=USER)
    assert caught.value.type == "not_found_error"
    assert caught.value.api_message == "model: claude-nope (this server has: scripted)"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": USER}, "max_tokens: Field required"),
        ({"max_tokens": 0, "messages": USER}, "max_tokens: Input should be greater than or equal to 1"),
        (
            {"max_tokens": 8, "messages": []},
            "messages: List should have at least 1 item after validation, not 0",
        ),
        (
            {"max_tokens": 8, "messages": USER, "temperature": 1.5},
            "temperature: Input should be less than or equal to 1",
        ),
        (
            {"max_tokens": 8, "messages": USER, "frequency_penalty": 1},
            "frequency_penalty: Extra inputs are not permitted",
        ),
        (
            {"max_tokens": 8, "messages": [{"role": "system", "content": "hi"}]},
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            {"max_tokens": 8, "messages": [{"role": "user", "content": " "}]},
            "messages.0: all messages must have non-empty content except for the optional final assistant message",
        ),
        (
            {"max_tokens": 8, "messages": USER, "top_k": 5},
            "top_k: the model 'scripted' (provider scripted) cannot honour top_k; send the request without it.",
        ),
        (
            {"max_tokens": 8, "messages": USER, "tools": [{"name": "get_weather", "input_schema": {}}]},
            "tools: the model 'scripted' (provider scripted) cannot honour tools; send the request without it.",
        ),
        (
            {"max_tokens": 8, "messages": USER, "thinking": {"type": "enabled", "budget_tokens": 1024}},
            "thinking.budget_tokens: must be less than max_tokens (1024 >= 8); thinking tokens count "
            "toward max_tokens.",
        ),
        (
            {"max_tokens": 2048, "messages": USER, "thinking": {"type": "enabled", "budget_tokens": 1000}},
            "thinking.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            {"max_tokens": 2048, "messages": USER, "thinking": {"type": "enabled"}},
            "thinking.budget_tokens: Field required",
        ),
        (
            {"max_tokens": 8, "messages": USER, "thinking": {"type": "sometimes"}},
            "thinking.type: Input should be 'enabled', 'adaptive', 'disabled' or 'between_tools'",
        ),
        (
            {
                "max_tokens": 8,
                "messages": [
                    {"role": "user", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"}]}
                ],
            },
            "messages.0.content.0: thinking blocks belong in an assistant message.",
        ),
        (
            {
                "max_tokens": 8,
                "messages": [
                    *USER,
                    {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm"}]},
                ],
            },
            "messages.1.content.0.signature: Field required",
        ),
        (
            {
                "max_tokens": 8,
                "messages": USER,
                "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
            },
            "output_config.format: the model 'scripted' (provider scripted) cannot honour "
            "output_config.format; send the request without it.",
        ),
        (
            {"max_tokens": 8, "messages": USER, "output_config": {"effort": "extreme"}},
            "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'",
        ),
        (
            {
                "max_tokens": 8,
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}],
                    }
                ],
            },
            "messages.0.content.0: this model cannot see images; send text, or use a model that sees.",
        ),
        (
            {
                "max_tokens": 8,
                "messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "text"}}]}],
            },
            "messages.0.content.0: document blocks are not supported: send the document's text as a text block.",
        ),
        (
            {
                "max_tokens": 8,
                "messages": USER,
                "tools": [{"name": "web_search", "type": "web_search_20250305"}],
            },
            "tools.0: server tools ('web_search_20250305') are not supported; only client tools are.",
        ),
        (
            {
                "max_tokens": 8,
                "messages": USER,
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "tool", "name": "get_time"},
            },
            "tool_choice.name: 'get_time' is none of the tools (get_weather).",
        ),
    ],
)
async def test_bad_or_unsupported_requests_are_400_invalid_request_error(
    url: str, provider: ScriptedProvider, body: dict[str, Any], message: str
) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post("/v1/messages", json={"model": "scripted", **body})
    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": message},
        "request_id": response.headers["x-request-id"],
    }
    assert provider.requests == []  # nothing was asked of the model


async def test_the_sdk_raises_bad_request_error(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(model="scripted", max_tokens=8, messages=USER, extra_body={"top_k": 3})
    assert caught.value.type == "invalid_request_error" and "top_k" in (caught.value.api_message or "")


async def test_a_body_that_is_not_json_and_an_unknown_path(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        broken = await http.post(
            "/v1/messages", content=b"{nope", headers={"content-type": "application/json"}
        )
        missing = await http.post("/v1/messages/batches")
        openai_side = await http.post("/v1/chat/completions", json={})
    assert broken.status_code == 400 and broken.json()["error"] == {
        "type": "invalid_request_error",
        "message": "The request body is not valid JSON.",
    }
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    # The rest of /v1 keeps OpenAI's error shape.
    assert openai_side.status_code == 400 and "type" not in openai_side.json()
    assert openai_side.json()["error"]["type"] == "invalid_request_error"


async def test_a_message_over_the_limit_is_413_request_too_large(provider: ScriptedProvider) -> None:
    with serve(create_app(make_settings(max_message_chars=10), provider=provider)) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.post(
                "/v1/messages",
                json={
                    "model": "scripted",
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": "x" * 11}],
                },
            )
    assert response.status_code == 413
    assert response.json()["error"] == {
        "type": "request_too_large",
        "message": "messages.0 is 11 characters; the limit is 10 (LLMRELAY_MAX_MESSAGE_CHARS).",
    }


@pytest.mark.parametrize(
    ("error", "exception", "status", "kind"),
    [
        (
            UpstreamRateLimited("The upstream API is rate limiting llmrelay."),
            anthropic.RateLimitError,
            429,
            "rate_limit_error",
        ),
        (
            UpstreamUnavailable("The upstream API is overloaded.", kind="overloaded"),
            anthropic.OverloadedError,
            529,
            "overloaded_error",
        ),
        (UpstreamUnavailable("Could not connect."), anthropic.ServiceUnavailableError, 503, "api_error"),
        (
            ProviderError("The upstream API failed (HTTP 500)."),
            anthropic.InternalServerError,
            502,
            "api_error",
        ),
    ],
)
async def test_provider_failures_before_the_answer_raise_the_sdks_exceptions(
    client: anthropic.AsyncAnthropic,
    provider: ScriptedProvider,
    error: ProviderError,
    exception: type[anthropic.APIStatusError],
    status: int,
    kind: str,
) -> None:
    provider.script = Script(["never"], error=error, fail_after=0)
    for streamed in (False, True):
        with pytest.raises(exception) as caught:
            if streamed:
                async with client.messages.stream(model="scripted", max_tokens=8, messages=USER) as stream:
                    await stream.get_final_message()
            else:
                await client.messages.create(model="scripted", max_tokens=8, messages=USER)
        assert (caught.value.status_code, caught.value.type) == (status, kind)
        assert caught.value.api_message == error.message


async def test_a_failure_mid_stream_is_an_error_event(url: str, provider: ScriptedProvider) -> None:
    provider.script = Script(
        ["Hello", " there"], error=ProviderError("The upstream failed while answering: boom"), fail_after=1
    )
    events = await messages_events(url, {"model": "scripted", "max_tokens": 64, "messages": USER})
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "error",
    ]
    assert events[-1][1]["error"] == {
        "type": "api_error",
        "message": "The upstream failed while answering: boom",
    }
    async with (
        anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0) as client,
        client.messages.stream(model="scripted", max_tokens=64, messages=USER) as stream,
    ):
        with pytest.raises(anthropic.APIStatusError) as caught:
            async for _ in stream.text_stream:
                pass
    assert caught.value.type == "api_error"


async def test_pings_keep_an_idle_stream_open(
    provider: ScriptedProvider, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse, "PING_SECONDS", 0.2)  # 15 s in production
    provider.script = Script(["slow", " answer"], delay_seconds=0.7)
    events = await messages_events(url, {"model": "scripted", "max_tokens": 64, "messages": USER})
    between = [name for name, _ in events[3:]]
    assert between.count("ping") >= 2 and between[-1] == "message_stop"
    assert all(data == {"type": "ping"} for name, data in events if name == "ping")


async def test_a_client_leaving_stops_the_generation(url: str, provider: ScriptedProvider) -> None:
    provider.script = Script(["tick "] * 200, delay_seconds=0.05)
    async with (
        anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0) as client,
        client.messages.stream(model="scripted", max_tokens=500, messages=USER) as stream,
    ):
        seen = 0
        async for _ in stream.text_stream:
            seen += 1
            if seen == 2:
                break
    # Grace 0, as everywhere on /v1: nobody resumes a Messages stream.
    await eventually(lambda: provider.cancelled == 1 and provider.active == 0, within=1.0)


async def test_a_client_leaving_a_whole_answer_stops_it_too(url: str, provider: ScriptedProvider) -> None:
    provider.script = Script(["tick "] * 200, delay_seconds=0.05)
    async with httpx.AsyncClient(base_url=url) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                "/v1/messages", json={"model": "scripted", "max_tokens": 500, "messages": USER}, timeout=0.3
            )
    await eventually(lambda: provider.cancelled == 1 and provider.active == 0, within=1.0)


# -- keys ----------------------------------------------------------------------------------------


async def test_keys_as_x_api_key_or_bearer_and_anthropic_shaped_401(provider: ScriptedProvider) -> None:
    settings = make_settings(api_keys="sk-llmrelay-right")
    body = {"model": "scripted", "max_tokens": 8, "messages": USER}
    version = {"anthropic-version": "2023-06-01"}
    with serve(create_app(settings, provider=provider)) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            by_header = await http.post(
                "/v1/messages", json=body, headers={"x-api-key": "sk-llmrelay-right", **version}
            )
            missing = await http.post("/v1/messages", json=body, headers=version)
            wrong = await http.post("/v1/messages/count_tokens", json=body, headers={"x-api-key": "sk-wrong"})
        async with anthropic.AsyncAnthropic(
            base_url=base, api_key="sk-llmrelay-right", max_retries=0
        ) as good:
            answer = await good.messages.create(model="scripted", max_tokens=8, messages=USER)
        async with anthropic.AsyncAnthropic(base_url=base, api_key="sk-wrong", max_retries=0) as bad:
            with pytest.raises(anthropic.AuthenticationError) as refused:
                await bad.messages.create(model="scripted", max_tokens=8, messages=USER)
    assert by_header.status_code == 200 and by_header.json()["content"][0]["text"] == REPLY
    assert answer.content[0].type == "text" and answer.content[0].text == REPLY
    assert missing.status_code == 401 and missing.json()["error"] == {
        "type": "authentication_error",
        "message": "Missing API key: send it as 'x-api-key: <key>' (or 'Authorization: Bearer <key>').",
    }
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    assert refused.value.type == "authentication_error"
    assert "sk-wrong" not in wrong.text
    assert len(provider.requests) == 2  # only the two with the right key reached the model


# -- limits --------------------------------------------------------------------------------------


async def test_a_keys_request_limit_is_an_anthropic_rate_limit_error() -> None:
    key = "sk-env-key-one-request-a-window"
    settings = make_settings(api_keys=key, default_rpm=1)
    app = create_app(
        settings,
        provider=ScriptedProvider.replying(REPLY),
        limiter=InProcessLimiter(settings.default_limits(), window_seconds=1),
    )
    with serve(app) as base:
        async with anthropic.AsyncAnthropic(base_url=base, api_key=key, max_retries=0) as client:
            first = await client.messages.create(model="scripted", max_tokens=8, messages=USER)
            with pytest.raises(anthropic.RateLimitError) as limited:
                await client.messages.create(model="scripted", max_tokens=8, messages=USER)
    assert first.content[0].type == "text"
    assert limited.value.type == "rate_limit_error"
    assert "requests per minute" in (limited.value.api_message or "")
    assert limited.value.response.headers["retry-after"]
    assert key not in str(limited.value.body)


# -- tools ---------------------------------------------------------------------------------------

WEATHER: Any = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def caller_of_tools() -> ScriptedProvider:
    call = ToolCall("toolu_01", "get_weather", '{"city": "Paris"}')
    return ScriptedProvider(Script(["Let me check."], tool_calls=[call]), model="scripted")


async def test_a_tool_use_round_trip(caller_of_tools: ScriptedProvider) -> None:
    asked: Any = [{"role": "user", "content": "Weather in Paris?"}]
    with serve(create_app(make_settings(), provider=caller_of_tools)) as base:
        async with anthropic.AsyncAnthropic(base_url=base, api_key="unused", max_retries=0) as client:
            first = await client.messages.create(
                model="scripted", max_tokens=64, messages=asked, tools=[WEATHER], tool_choice={"type": "any"}
            )
            async with client.messages.stream(
                model="scripted", max_tokens=64, messages=asked, tools=[WEATHER]
            ) as stream:
                streamed = await stream.get_final_message()
            events = await messages_events(
                base, {"model": "scripted", "max_tokens": 64, "messages": asked, "tools": [WEATHER]}
            )
            use = first.content[1]
            assert use.type == "tool_use"
            await client.messages.create(
                model="scripted",
                max_tokens=64,
                tools=[WEATHER],
                messages=[
                    *asked,
                    {"role": "assistant", "content": [block.model_dump() for block in first.content]},
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": use.id, "content": "Sunny, 21 degrees."},
                            {"type": "text", "text": "And tomorrow?"},
                        ],
                    },
                ],
            )
    assert first.stop_reason == "tool_use"
    assert first.content[0].type == "text" and first.content[0].text == "Let me check."
    assert (use.id, use.name, use.input) == ("toolu_01", "get_weather", {"city": "Paris"})
    # The stream helper puts the call together from its input_json_delta pieces.
    assert streamed.stop_reason == "tool_use"
    streamed_use = streamed.content[1]
    assert streamed_use.type == "tool_use" and streamed_use.input == {"city": "Paris"}
    assert [(name, data.get("index")) for name, data in events if name.startswith("content_block")] == [
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
    ]
    start = next(data for name, data in events if name == "content_block_start" and data["index"] == 1)
    assert start["content_block"] == {
        "type": "tool_use",
        "id": "toolu_01",
        "name": "get_weather",
        "input": {},
    }
    piece = next(data for name, data in events if name == "content_block_delta" and data["index"] == 1)
    assert piece["delta"] == {"type": "input_json_delta", "partial_json": '{"city": "Paris"}'}
    # What reached the model: the tools, the choice, then the whole exchange in llmrelay's terms.
    first_request, _, _, last_request = caller_of_tools.requests
    assert first_request.tools[0].name == "get_weather" and first_request.tool_choice == "required"
    assert first_request.tools[0].parameters == WEATHER["input_schema"]
    turns = [(m.role, m.content, m.tool_calls, m.tool_call_id) for m in last_request.messages]
    assert turns == [
        ("user", "Weather in Paris?", (), None),
        ("assistant", "Let me check.", (ToolCall("toolu_01", "get_weather", '{"city":"Paris"}'),), None),
        ("tool", "Sunny, 21 degrees.", (), "toolu_01"),
        ("user", "And tomorrow?", (), None),
    ]
